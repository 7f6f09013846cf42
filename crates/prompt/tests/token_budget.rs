//! Token budget per benchmark with the default policy's tokenizer (SmolLM2, from the GGUF
//! that set-up fetches): prompt tokens (ChatML-rendered system + user, with the generation
//! prompt) and solver-trace tokens, mean and max over TwinBench val. Run with
//! `cargo test -p dtr1-prompt --test token_budget -- --nocapture` to see the table.

use dtr1_data::{dataset, scene::SceneConfig, suite, Task};
use dtr1_policy::{ChatMessage, GgufFile, Tokenizer};
use dtr1_prompt::{build, load_input_twin, solver, PROMPT_VERSION};
use std::collections::BTreeMap;

/// Most prompt tokens any TwinBench sample may need. Scenes have up to 15 objects at ~39
/// tokens each (SmolLM2 splits numbers into single digits; a depth `d=0.13[0.12,0.14]`
/// alone costs 17), so the largest image prompts need ~800 tokens; val's largest is ~590.
const PROMPT_CAP: usize = 820;
/// Most tokens a solver trace may need (the GRPO budget for new tokens must fit it).
const TRACE_CAP: usize = 320;

fn tokenizer() -> Tokenizer {
    let p = dtr1_policy::default_model_path();
    assert!(
        p.is_file(),
        "model not found at {}: run `scripts/fetch_model.sh` (or set DTR1_MODEL)",
        p.display()
    );
    Tokenizer::from_gguf(&GgufFile::open(&p).unwrap()).unwrap()
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
    let val = dataset::read_split(dir.path(), "val").unwrap();
    let mut stats: BTreeMap<Task, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for s in &val {
        let twin = load_input_twin(dir.path(), s).unwrap();
        let msgs: Vec<ChatMessage> = build(s.task, &s.query, &twin)
            .into_iter()
            .map(|m| ChatMessage::new(m.role, m.content))
            .collect();
        let p = tok.encode_chat(&msgs, true).unwrap().len();
        let t = tok
            .encode(&solver::solve(s, &twin).unwrap().completion())
            .unwrap()
            .len();
        let e = stats.entry(s.task).or_default();
        e.0.push(p);
        e.1.push(t);
    }
    println!("prompt version {PROMPT_VERSION}, SmolLM2 tokenizer, TwinBench val (50 scenes, 10 clips, seed 0)");
    println!("| benchmark | samples | prompt mean | prompt max | trace mean | trace max |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    for (task, (p, t)) in &stats {
        println!(
            "| {} | {} | {:.0} | {} | {:.0} | {} |",
            task.name(),
            p.len(),
            mean(p),
            p.iter().max().unwrap(),
            mean(t),
            t.iter().max().unwrap()
        );
    }
    // The largest scenes anywhere in the suite (up to 15 objects), for the cap.
    let mut worst: BTreeMap<Task, (usize, usize)> = BTreeMap::new();
    for split in ["train", "val", "test", "heldout"] {
        for s in dataset::read_split(dir.path(), split).unwrap() {
            let twin = load_input_twin(dir.path(), &s).unwrap();
            let n = match &twin {
                dtr1_twin::Twin::Image(t) => t.objects.len(),
                dtr1_twin::Twin::Video(v) => v.tracks.len(),
            };
            let msgs: Vec<ChatMessage> = build(s.task, &s.query, &twin)
                .into_iter()
                .map(|m| ChatMessage::new(m.role, m.content))
                .collect();
            let p = tok.encode_chat(&msgs, true).unwrap().len();
            let w = worst.entry(s.task).or_default();
            if p > w.0 {
                *w = (p, n);
            }
        }
    }
    println!("largest prompt over every split:");
    for (task, (p, n)) in &worst {
        println!("- {}: {p} tokens ({n} objects/tracks)", task.name());
        assert!(*p <= PROMPT_CAP, "{}: prompt of {p} tokens", task.name());
    }
    assert_eq!(stats.len(), 6, "val covers every benchmark");
    for (task, (p, t)) in &stats {
        let (pm, tm) = (*p.iter().max().unwrap(), *t.iter().max().unwrap());
        assert!(pm <= PROMPT_CAP, "{}: prompt of {pm} tokens", task.name());
        assert!(tm <= TRACE_CAP, "{}: trace of {tm} tokens", task.name());
    }
}
