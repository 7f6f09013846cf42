//! Token budget per benchmark and prompt version with the default policy's tokenizer
//! (SmolLM2, from the GGUF that set-up fetches): prompt tokens (ChatML-rendered system +
//! user, with the generation prompt) and solver-trace tokens, mean and max over every split
//! of a generated suite. Run with
//! `cargo test -p dtr1-prompt --test token_budget -- --nocapture` to see the table.
//!
//! Version 2 is held to the contract's budget (issue 22): mean prompt ≤ 320 tokens and max
//! ≤ 480 over all splits together; mean trace ≤ 60 and max ≤ 160 over the benchmarks other
//! than summaries (whose answer is a reference summary, reported on its own row). Version 1
//! keeps its old caps.

use dtr1_data::{dataset, Task};
use dtr1_policy::{ChatMessage, GgufFile, Tokenizer};
use dtr1_prompt::{build, load_input_twin, solver, PromptVersion};
use dtr1_twinbench::{scene::SceneConfig, suite};
use std::collections::BTreeMap;

/// Most prompt tokens any version 1 prompt may need (15 objects at ~39 tokens each).
const V1_PROMPT_CAP: usize = 820;
/// Most tokens a version 1 trace may need.
const V1_TRACE_CAP: usize = 320;
/// Version 2's budget.
const V2_PROMPT_MEAN: f64 = 320.0;
const V2_PROMPT_MAX: usize = 480;
const V2_TRACE_MEAN: f64 = 60.0;
const V2_TRACE_MAX: usize = 160;
/// A summary trace carries a reference summary: bounded, but not by the trace budget.
const V2_SUMMARY_TRACE_MAX: usize = 240;

fn tokenizer() -> Tokenizer {
    let p = dtr1_policy::default_model_path();
    assert!(
        p.is_file(),
        "model not found at {}: run `scripts/fetch_model.sh` (or set DTR1_MODEL)",
        p.display()
    );
    Tokenizer::from_gguf(&GgufFile::open(&p).unwrap()).unwrap()
}

fn mean(v: &[usize]) -> f64 {
    v.iter().sum::<usize>() as f64 / v.len() as f64
}

#[test]
fn prompts_and_traces_fit_the_token_budget() {
    let tok = tokenizer();
    let dir = tempfile::tempdir().unwrap();
    // The default suite size of `dtr1 data generate` (50 scenes, 10 clips), seed 0.
    suite::generate(
        dir.path(),
        50,
        10,
        0,
        3,
        &SceneConfig::default(),
        &mut |_| {},
    )
    .unwrap();
    let mut samples = Vec::new();
    for split in ["train", "val", "test", "heldout"] {
        for s in dataset::read_split(dir.path(), split).unwrap() {
            let twin = load_input_twin(dir.path(), &s).unwrap();
            samples.push((s, twin));
        }
    }
    println!(
        "SmolLM2 tokenizer, every split of TwinBench (50 scenes, 10 clips, seed 0), {} samples",
        samples.len()
    );
    println!(
        "| version | benchmark | samples | prompt mean | prompt max | trace mean | trace max |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for version in PromptVersion::ALL {
        let mut stats: BTreeMap<Task, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (s, twin) in &samples {
            let msgs: Vec<ChatMessage> = dtr1_policy::chat(build(version, s.task, &s.query, twin));
            let p = tok.encode_chat(&msgs, true).unwrap().len();
            let t = tok
                .encode(&solver::solve(version, s, twin).unwrap().completion())
                .unwrap()
                .len();
            let e = stats.entry(s.task).or_default();
            e.0.push(p);
            e.1.push(t);
        }
        assert_eq!(stats.len(), 6, "every benchmark is covered");
        for (task, (p, t)) in &stats {
            println!(
                "| {version} | {} | {} | {:.0} | {} | {:.0} | {} |",
                task.name(),
                p.len(),
                mean(p),
                p.iter().max().unwrap(),
                mean(t),
                t.iter().max().unwrap()
            );
        }
        let prompts: Vec<usize> = stats.values().flat_map(|(p, _)| p.clone()).collect();
        let traces: Vec<usize> = stats
            .iter()
            .filter(|(task, _)| **task != Task::VideoSummary)
            .flat_map(|(_, (_, t))| t.clone())
            .collect();
        let summaries = &stats[&Task::VideoSummary].1;
        let (pm, px) = (mean(&prompts), *prompts.iter().max().unwrap());
        let (tm, tx) = (mean(&traces), *traces.iter().max().unwrap());
        println!(
            "| {version} | all | {} | {pm:.0} | {px} | {tm:.0} (summaries apart) | {tx} |",
            prompts.len()
        );
        match version {
            PromptVersion::V1 => {
                assert!(px <= V1_PROMPT_CAP, "v1: prompt of {px} tokens");
                assert!(tx <= V1_TRACE_CAP, "v1: trace of {tx} tokens");
            }
            PromptVersion::V2 => {
                assert!(pm <= V2_PROMPT_MEAN, "v2: mean prompt {pm:.1} tokens");
                assert!(px <= V2_PROMPT_MAX, "v2: prompt of {px} tokens");
                assert!(tm <= V2_TRACE_MEAN, "v2: mean trace {tm:.1} tokens");
                assert!(tx <= V2_TRACE_MAX, "v2: trace of {tx} tokens");
                let sx = *summaries.iter().max().unwrap();
                assert!(
                    sx <= V2_SUMMARY_TRACE_MAX,
                    "v2: summary trace of {sx} tokens"
                );
            }
        }
    }
}
