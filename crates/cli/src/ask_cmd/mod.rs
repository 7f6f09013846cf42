//! `dtr1 ask`: answer a query about an image, a video (file or frame directory) or a twin
//! JSON with the policy, and show everything a user needs to trust or distrust the answer —
//! the task chosen and why, the decoded answer (mask RLE, box, text) and its picture, the
//! `<twin>` and `<think>` the model wrote, the reward's structure check of that rollout, the
//! self-consistency vote over `--samples` rollouts, and the time each stage took.
//!
//! The JSON output (`--json`) follows `docs/ask.schema.json`.
//!
//! The parts, in the order a query passes them: [`args`] (the arguments and the request),
//! [`perceive`] (the input twin), [`load`] (the policy and generation), [`check`] (the
//! structure check), [`vote`] (candidates and self-consistency), [`draw`] (pictures),
//! [`output`] (JSON and the human report), [`bench`] (`--bench`).

mod args;
mod bench;
mod check;
mod draw;
mod load;
mod output;
mod perceive;
mod vote;

pub use args::AskArgs;

use crate::ask::{infer_task, TaskKind, Vote};
use anyhow::{Context, Result};
use args::{request, Request};
use bench::bench;
use check::check_rollout;
use draw::{pictures, Pictures};
use dtr1_data::Task;
use dtr1_policy::SamplingParams;
use dtr1_reward::answer;
use dtr1_serve::ask::AskAnswer;
use dtr1_twin::Twin;
use load::{generate, load_policy, Loaded};
use output::{human, to_json};
use perceive::{timed_twin, TwinInput};
use std::time::{Duration, Instant};
use vote::{vote, Candidate};

/// Version of the `--json` output (docs/ask.schema.json); bumped when a field changes.
pub const OUTPUT_VERSION: u32 = 2;

/// Longest query accepted, in characters: longer text is not a query but a pasted document,
/// and would crowd the twin out of the small model's context.
pub const MAX_QUERY_CHARS: usize = 2000;

/// The task, chosen by flag or by the rule.
fn choose_task(req: &Request, twin: &Twin) -> Result<(Task, &'static str, String)> {
    let video = matches!(twin, Twin::Video(_));
    match req.task_flag {
        Some(k) => {
            let task = k.task(video).with_context(|| match k {
                TaskKind::Summary => {
                    "--task summary needs a video (there is no image summary task)".to_string()
                }
                _ => "--task grounding needs an image (on a video, ask --task reasonseg: the per-frame masks locate the object)".to_string(),
            })?;
            Ok((task, "flag", format!("--task {}", req_task_name(k))))
        }
        None => {
            let inf = infer_task(&req.query, video);
            Ok((inf.task, "auto", inf.reason))
        }
    }
}

fn req_task_name(k: TaskKind) -> &'static str {
    match k {
        TaskKind::Reasonseg => "reasonseg",
        TaskKind::Grounding => "grounding",
        TaskKind::Vqa => "vqa",
        TaskKind::Summary => "summary",
    }
}

/// Timings of one ask, in milliseconds.
#[derive(Debug, Clone, Default)]
struct Timings {
    twin_build_ms: f64,
    model_load_ms: f64,
    prompt_tokens: Option<usize>,
    generation_ms: f64,
    generated_tokens: Option<usize>,
    total_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Everything one ask produced.
struct Outcome {
    input: TwinInput,
    task: Task,
    chosen_by: &'static str,
    reason: String,
    cands: Vec<Candidate>,
    vote: Vote,
    timings: Timings,
}

fn ask_once(
    req: &Request,
    a: &AskArgs,
    policy: &mut Loaded,
    input: TwinInput,
    twin_build: Duration,
) -> Result<Outcome> {
    let t0 = Instant::now();
    let (task, chosen_by, reason) = choose_task(req, &input.twin)?;
    let messages = dtr1_policy::chat(dtr1_prompt::build(
        policy.version(a),
        task,
        &req.query,
        &input.twin,
    ));
    let greedy = a.samples == 1;
    let params = SamplingParams {
        max_new_tokens: a.max_new_tokens,
        temperature: if greedy { 0.0 } else { a.temperature },
        seed: a.seed,
        stop: vec!["<|im_end|>".into()],
        ..Default::default()
    };
    let t1 = Instant::now();
    let (outs, prompt_tokens) = generate(policy, &messages, &params, a.samples)?;
    let generation = t1.elapsed();
    let cands: Vec<Candidate> = outs
        .into_iter()
        .map(|(text, tokens)| {
            let reading = answer::read(task, &input.twin, &text);
            Candidate {
                check: check_rollout(task, &input.twin, &reading),
                decoded: AskAnswer::new(text.clone(), &reading),
                reading,
                completion: text,
                tokens,
            }
        })
        .collect();
    let v = vote(task, &cands);
    let generated_tokens = cands.iter().map(|c| c.tokens).sum::<Option<usize>>();
    Ok(Outcome {
        input,
        task,
        chosen_by,
        reason,
        cands,
        vote: v,
        timings: Timings {
            twin_build_ms: ms(twin_build),
            prompt_tokens,
            generation_ms: ms(generation),
            generated_tokens,
            total_ms: ms(twin_build + t0.elapsed()),
            ..Default::default()
        },
    })
}

/// Runs `dtr1 ask`.
pub fn run(a: &AskArgs) -> Result<()> {
    let start = Instant::now();
    let req = request(a)?;
    // The twin first: bad media fails before the model is loaded.
    let (input, twin_build) = timed_twin(&req, a, a.out.is_some() && !a.bench)?;
    choose_task(&req, &input.twin)?;
    let t = Instant::now();
    let (mut policy, note) = load_policy(a)?;
    let load_ms = ms(t.elapsed());
    if a.bench {
        return bench(&req, a, &mut policy, &note, load_ms, (input, twin_build));
    }
    let mut o = ask_once(&req, a, &mut policy, input, twin_build)?;
    let pics = match &a.out {
        Some(dir) => pictures(dir, &o, &req.query)?,
        None => Pictures::default(),
    };
    o.timings.model_load_ms = load_ms;
    o.timings.total_ms = ms(start.elapsed());
    let v = to_json(&req, a, &o, &note, &policy, &pics);
    if let Some(dir) = &a.out {
        let text = serde_json::to_string_pretty(&v)? + "\n";
        dtr1_data::dataset::write_atomic(&dir.join("answer.json"), text.as_bytes())
            .with_context(|| format!("cannot write {}", dir.join("answer.json").display()))?;
    }
    if a.json {
        crate::out(&(serde_json::to_string_pretty(&v)? + "\n"))
    } else {
        crate::out(&human(&req, a, &o, &note, &pics))
    }
}
