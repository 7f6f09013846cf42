//! `--bench`: the whole query several times with the model loaded once.

use super::args::{AskArgs, Request};
use super::load::Loaded;
use super::output::secs;
use super::perceive::{timed_twin, TwinInput};
use super::{ask_once, Timings};
use anyhow::Result;
use dtr1_twin::Twin;
use serde_json::json;
use std::time::Duration;

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `--bench`: the whole query (perception, prompt, generation, decoding and the check)
/// `--bench-runs` times with the model loaded once; a Markdown table per run and the median.
pub(super) fn bench(
    req: &Request,
    a: &AskArgs,
    policy: &mut Loaded,
    note: &str,
    load_ms: f64,
    first: (TwinInput, Duration),
) -> Result<()> {
    let mut rows = Vec::new();
    let mut last = None;
    let mut first = Some(first);
    for _ in 0..a.bench_runs {
        let (input, took) = match first.take() {
            Some(f) => f,
            None => timed_twin(req, a, false)?,
        };
        let o = ask_once(req, a, policy, input, took)?;
        rows.push(o.timings.clone());
        last = Some(o);
    }
    let o = last.expect("at least one run");
    let frames = match &o.input.twin {
        Twin::Video(v) => format!(", {} frames", v.frames),
        Twin::Image(t) => format!(", {}x{} image", t.width, t.height),
    };
    let mut s = format!(
        "dtr1 ask --bench: {} ({}{}), {} rollout(s), max {} new tokens\npolicy: {note}; model load {}\n\n",
        o.task.name(),
        o.input.source,
        frames,
        a.samples,
        a.max_new_tokens,
        secs(load_ms)
    );
    s += "| run | twin build | prompt tokens | generation (prefill + decode) | generated tokens | tok/s incl. prefill | total |\n|---|---|---|---|---|---|---|\n";
    let cell = |n: Option<usize>| n.map_or("-".into(), |n| n.to_string());
    let tps = |t: &Timings| {
        t.generated_tokens.map_or("-".into(), |n| {
            format!("{:.1}", n as f64 / (t.generation_ms / 1000.0).max(1e-9))
        })
    };
    for (i, t) in rows.iter().enumerate() {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            i + 1,
            secs(t.twin_build_ms),
            cell(t.prompt_tokens),
            secs(t.generation_ms),
            cell(t.generated_tokens),
            tps(t),
            secs(t.total_ms)
        );
    }
    s += &format!(
        "| median | {} | {} | {} | | | {} |\n",
        secs(median(rows.iter().map(|t| t.twin_build_ms).collect())),
        cell(rows[0].prompt_tokens),
        secs(median(rows.iter().map(|t| t.generation_ms).collect())),
        secs(median(rows.iter().map(|t| t.total_ms).collect()))
    );
    if a.json {
        let v = json!({
            "task": o.task.name(),
            "model_load_ms": load_ms,
            "runs": rows.iter().map(|t| json!({
                "twin_build_ms": t.twin_build_ms,
                "prompt_tokens": t.prompt_tokens,
                "generation_ms": t.generation_ms,
                "generated_tokens": t.generated_tokens,
                "total_ms": t.total_ms,
            })).collect::<Vec<_>>(),
        });
        return crate::out(&(serde_json::to_string_pretty(&v)? + "\n"));
    }
    crate::out(&s)
}
