//! The output: `--json` (docs/ask.schema.json) and the human-readable report.

use super::args::{AskArgs, Request};
use super::check::{block, Check};
use super::draw::Pictures;
use super::load::Loaded;
use super::{Outcome, OUTPUT_VERSION};
use dtr1_twin::Twin;
use serde_json::{json, Value};
use std::path::PathBuf;

pub(super) fn opt_path(p: &Option<PathBuf>) -> Value {
    p.as_ref()
        .map_or(Value::Null, |p| json!(p.display().to_string()))
}

pub(super) fn check_json(c: &Check) -> Value {
    json!({
        "format_ok": c.format_ok,
        "format_problems": c.format_problems,
        "structure": c.structure,
        "structure_checks": c.checks,
        "problems": c.problems,
    })
}

pub(super) fn to_json(
    req: &Request,
    a: &AskArgs,
    o: &Outcome,
    policy_note: &str,
    policy: &Loaded,
    pics: &Pictures,
) -> Value {
    let c = &o.cands[o.vote.winner];
    let (w, h, frames) = match &o.input.twin {
        Twin::Image(t) => (t.width, t.height, Value::Null),
        Twin::Video(v) => (v.width, v.height, json!(v.frames)),
    };
    let (pkind, adapter) = match policy {
        Loaded::Local { adapter, .. } => ("local", opt_path(adapter)),
        Loaded::Remote(..) => ("remote", Value::Null),
    };
    let d = &c.decoded;
    json!({
        "version": OUTPUT_VERSION,
        "query": req.query,
        "input": {
            "media": req.media.as_ref().map(|(p, _)| p.display().to_string()),
            "kind": if o.task.is_video() { "video" } else { "image" },
            "twin_source": o.input.source,
            "width": w,
            "height": h,
            "frames": frames,
            "objects": match &o.input.twin { Twin::Image(t) => t.objects.len(), Twin::Video(v) => v.tracks.len() },
        },
        "task": {
            "name": o.task.name(),
            "chosen_by": o.chosen_by,
            "reason": o.reason,
        },
        "policy": {
            "kind": pkind,
            "description": policy_note,
            "adapter": adapter,
            "prompt_version": policy.version(a).to_string(),
        },
        "sampling": {
            "samples": a.samples,
            "temperature": if a.samples == 1 { 0.0 } else { f64::from(a.temperature) },
            "seed": a.seed,
            "max_new_tokens": a.max_new_tokens,
        },
        "answer": {
            "valid": c.has_answer(),
            "summary": c.short(),
            "ids": c.ids(),
            "mask": d.mask,
            "masks": d.masks.as_ref().map(|m| m.iter().map(|(f, r)| (f.to_string(), json!(r))).collect::<serde_json::Map<_, _>>()),
            "box": d.bbox,
            "text": d.text,
        },
        "rollout": {
            "completion": c.completion,
            "twin": block(&c.completion, "twin"),
            "think": block(&c.completion, "think"),
            "answer": block(&c.completion, "answer"),
            "check": check_json(&c.check),
        },
        "vote": {
            "method": o.vote.method,
            "winner": o.vote.winner,
            "agreement": o.vote.agreement,
            "candidates": o.cands.iter().map(|k| json!({
                "answer": k.short(),
                "valid": k.has_answer(),
                "format_ok": k.check.format_ok,
                "structure": k.check.structure,
                "generated_tokens": k.tokens,
            })).collect::<Vec<_>>(),
        },
        "pictures": {
            "overlay": opt_path(&pics.overlay),
            "mask": opt_path(&pics.mask),
            "masks_dir": opt_path(&pics.masks_dir),
            "mask_frames": pics.frames_written,
            "contact_sheet": opt_path(&pics.contact_sheet),
        },
        "timings": {
            "twin_build_ms": o.timings.twin_build_ms,
            "model_load_ms": o.timings.model_load_ms,
            "prompt_tokens": o.timings.prompt_tokens,
            "generation_ms": o.timings.generation_ms,
            "generated_tokens": o.timings.generated_tokens,
            "total_ms": o.timings.total_ms,
        },
    })
}

pub(super) fn secs(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

pub(super) fn human(
    req: &Request,
    a: &AskArgs,
    o: &Outcome,
    policy_note: &str,
    pics: &Pictures,
) -> String {
    let c = &o.cands[o.vote.winner];
    let mut s = String::new();
    let what = match &o.input.twin {
        Twin::Image(t) => format!("{} objects, {}x{}", t.objects.len(), t.width, t.height),
        Twin::Video(v) => format!(
            "{} tracks, {} frames, {}x{}, {} events",
            v.tracks.len(),
            v.frames,
            v.width,
            v.height,
            v.events.len()
        ),
    };
    s += &format!("query:  {}\n", req.query);
    s += &format!(
        "task:   {} ({}: {})\n",
        o.task.name(),
        o.chosen_by,
        o.reason
    );
    s += &format!("twin:   {} — {what}\n", o.input.source);
    s += &format!("policy: {policy_note}\n");
    s += &format!("\nanswer: {}\n", c.short());
    if let Some(m) = &c.decoded.mask {
        s += &format!(
            "mask (COCO RLE, {}x{}): {}\n",
            m.size()[1],
            m.size()[0],
            serde_json::to_string(m).unwrap_or_default()
        );
    }
    if let Some(p) = &pics.overlay {
        s += &format!("picture: {}\n", p.display());
    }
    if let Some(p) = &pics.mask {
        s += &format!("mask picture: {}\n", p.display());
    }
    if let Some(p) = &pics.masks_dir {
        s += &format!(
            "per-frame masks: {} ({} PNGs)\n",
            p.display(),
            pics.frames_written
        );
    }
    if let Some(p) = &pics.contact_sheet {
        s += &format!("contact sheet: {}\n", p.display());
    }
    s += &format!(
        "\n--- <twin> the model wrote ---\n{}\n",
        block(&c.completion, "twin").unwrap_or_else(|| "(none)".into())
    );
    s += &format!(
        "--- <think> ---\n{}\n",
        block(&c.completion, "think").unwrap_or_else(|| "(none)".into())
    );
    s += "--- structure check of the rollout ---\n";
    s += &format!(
        "format: {}\n",
        if c.check.format_ok {
            "ok".to_string()
        } else {
            c.check.format_problems.join("; ")
        }
    );
    let checks: Vec<String> = c
        .check
        .checks
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}"))
        .collect();
    s += &format!(
        "structure: {:.2}{}\n",
        c.check.structure,
        if checks.is_empty() {
            String::new()
        } else {
            format!(" ({})", checks.join(", "))
        }
    );
    for p in &c.check.problems {
        s += &format!("  - {p}\n");
    }
    if c.check.format_ok && c.check.problems.is_empty() {
        s += "  no problems\n";
    }
    if o.cands.len() > 1 {
        s += &format!(
            "--- self-consistency: {} rollouts at temperature {}, seed {} ---\n",
            o.cands.len(),
            a.temperature,
            a.seed
        );
        s += &format!(
            "winner #{} by {} (agreement {:.2})\n",
            o.vote.winner + 1,
            o.vote.method,
            o.vote.agreement
        );
        for (i, k) in o.cands.iter().enumerate() {
            s += &format!(
                "  #{} {} (format {}, structure {:.2})\n",
                i + 1,
                k.short(),
                if k.check.format_ok { "ok" } else { "broken" },
                k.check.structure
            );
        }
    }
    if !c.check.format_ok && !c.completion.is_empty() {
        s += &format!("--- raw completion ---\n{}\n", c.completion.trim());
    }
    let t = &o.timings;
    s += &format!(
        "\ntimings: twin build {}, model load {}, prompt {} tokens, generation {}{}, total {}\n",
        secs(t.twin_build_ms),
        secs(t.model_load_ms),
        t.prompt_tokens
            .map_or("(remote: not counted)".into(), |n| n.to_string()),
        secs(t.generation_ms),
        t.generated_tokens
            .map(|n| format!(
                " ({n} tokens, {:.1} tok/s)",
                n as f64 / (t.generation_ms / 1000.0).max(1e-9)
            ))
            .unwrap_or_default(),
        secs(t.total_ms)
    );
    s
}
