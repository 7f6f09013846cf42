//! `dtr1 bench-policy`: speed and memory of the policy on this machine — prefill, decode at
//! batch 1 and 8 (one shared prompt, the GRPO rollout path), a GRPO-sized forward+backward,
//! and one whole GRPO step on TwinBench — printed as a Markdown table.
//!
//! Peak memory is the process's resident high-water mark (`VmHWM`), reset before each row
//! through `/proc/self/clear_refs`, so each row reports its own peak (model weights
//! included).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Tensor;
use dtr1_policy::{group_logprobs, Kernels, KvCache, LoraConfig, Model, Target};

/// `dtr1 bench-policy`.
#[derive(clap::Args)]
pub struct BenchPolicyArgs {
    /// GGUF model (default: the SmolLM2 GGUF set-up fetched).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// TwinBench dataset for the GRPO-step row (skipped when absent).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Decode steps timed per decode row.
    #[arg(long, default_value_t = 64)]
    pub decode_tokens: usize,
    /// Only the prefill and decode rows (skip the training rows).
    #[arg(long)]
    pub decode_only: bool,
    /// Only the GRPO-step row (needs --data): the cost of one training step on a quiet machine.
    #[arg(long, conflicts_with = "decode_only", requires = "data")]
    pub grpo_step_only: bool,
    /// Decode rows for the int8 sampling kernels, the exact f32 kernels, or both.
    #[arg(long, value_parser = ["int8", "f32", "both"], default_value = "both")]
    pub kernels: String,
}

fn reset_peak() {
    // "5" resets the peak RSS counter (Linux ≥ 4.0); elsewhere the rows report the
    // process-wide peak so far.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_gb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(f64::NAN)
}

fn argmax_rows(logits: &Tensor) -> Result<Vec<u32>> {
    let rows: Vec<Vec<f32>> = logits.to_vec2()?;
    Ok(rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0 as u32
        })
        .collect())
}

/// Greedy decode of `steps` tokens for `b` streams continuing one shared prompt; returns
/// (prefill seconds, decode seconds).
fn decode_run(
    m: &Model,
    prompt: &[u32],
    b: usize,
    steps: usize,
    kernels: Kernels,
) -> Result<(f64, f64)> {
    let dev = m.device().clone();
    let t0 = Instant::now();
    let mut cache = KvCache::new();
    let toks = Tensor::new(prompt, &dev)?.unsqueeze(0)?;
    let logits = m.forward_last_with(&toks, Some(&mut cache), true, kernels)?;
    let prefill = t0.elapsed().as_secs_f64();
    cache.expand_batch(b)?;
    let mut next = argmax_rows(&logits.repeat((b, 1))?)?;
    let t1 = Instant::now();
    for _ in 0..steps {
        let t = Tensor::from_vec(next.clone(), (b, 1), &dev)?;
        let l = m.forward_last_with(&t, Some(&mut cache), true, kernels)?;
        next = argmax_rows(&l)?;
    }
    Ok((prefill, t1.elapsed().as_secs_f64()))
}

/// Runs the benchmark and prints the table.
pub fn run(args: &BenchPolicyArgs) -> Result<()> {
    if args.decode_tokens == 0 || args.decode_tokens > 4096 {
        anyhow::bail!(
            "--decode-tokens {} must be within 1..=4096",
            args.decode_tokens
        );
    }
    let (mut m, tok) = crate::train_cmd::load_model(args.model.as_deref())?;
    let threads = candle_core::utils::get_num_threads();
    let text =
        "The digital twin lists every object with its label, colour, size, depth and position. "
            .repeat(40);
    let mut prompt = tok.encode(&text)?;
    prompt.truncate(512);
    let mut rows: Vec<(String, String, String)> = Vec::new();
    // Rows are echoed to stderr as they finish, so a long run shows progress.
    let note =
        |r: &(String, String, String)| eprintln!("bench-policy: {} — {} — {}", r.0, r.1, r.2);
    if let (true, Some(dir)) = (args.grpo_step_only, &args.data) {
        rows.push(grpo_step_row(&m, &tok, dir)?);
        note(rows.last().expect("pushed"));
        return print_table(&rows, threads);
    }

    // Prefill and decode without an adapter (what inference and rollouts of the base do),
    // on the quantised kernels generation uses, then on the exact f32 kernels for comparison.
    let short = &prompt[..320.min(prompt.len())];
    // Warm-up: the first forward pass pays for page faults and allocator growth.
    decode_run(
        &m,
        &prompt[..64.min(prompt.len())],
        1,
        2,
        Kernels::Quantized,
    )?;
    for (kernels, what) in [
        (Kernels::Quantized, "int8 kernels"),
        (Kernels::Exact, "f32 kernels"),
    ]
    .into_iter()
    .filter(|(k, _)| match args.kernels.as_str() {
        "int8" => *k == Kernels::Quantized,
        "f32" => *k == Kernels::Exact,
        _ => true,
    }) {
        reset_peak();
        let (prefill, d1) = decode_run(&m, &prompt, 1, args.decode_tokens, kernels)?;
        rows.push((
            format!("prefill, {}-token prompt, batch 1, {what}", prompt.len()),
            format!("{:.0} tokens/s", prompt.len() as f64 / prefill),
            format!("{:.2} GB", peak_gb()),
        ));
        note(rows.last().expect("pushed"));
        rows.push((
            format!(
                "decode, batch 1, {} tokens after the prompt, {what}",
                args.decode_tokens
            ),
            format!("{:.1} tokens/s", args.decode_tokens as f64 / d1),
            format!("{:.2} GB", peak_gb()),
        ));
        note(rows.last().expect("pushed"));
        reset_peak();
        let (_, d8) = decode_run(&m, short, 8, args.decode_tokens, kernels)?;
        rows.push((
            format!(
                "decode, batch 8 sharing a {}-token prompt (GRPO group), {} tokens each, {what}",
                short.len(),
                args.decode_tokens
            ),
            format!(
                "{:.1} tokens/s aggregate",
                8.0 * args.decode_tokens as f64 / d8
            ),
            format!("{:.2} GB", peak_gb()),
        ));
        note(rows.last().expect("pushed"));
    }

    if args.decode_only {
        return print_table(&rows, threads);
    }

    // GRPO-sized forward+backward: 8 sequences of 512 tokens (448 shared + 64 each), LoRA
    // r=16 on every linear layer of every block.
    m.add_lora(
        &LoraConfig {
            rank: 16,
            alpha: 32.0,
            targets: Target::ALL.to_vec(),
            layers: None,
        },
        1,
    )?;
    let p = &prompt[..448.min(prompt.len())];
    let comps: Vec<Vec<u32>> = (0..8).map(|i| prompt[i..i + 64].to_vec()).collect();
    reset_peak();
    let t = Instant::now();
    let lps = group_logprobs(&m, p, &comps, true, 16)?;
    let parts: Vec<Tensor> = lps
        .iter()
        .map(|x| x.sum_all())
        .collect::<candle_core::Result<_>>()?;
    let loss = Tensor::stack(&parts, 0)?.sum_all()?;
    let grads = loss.backward()?;
    let secs = t.elapsed().as_secs_f64();
    drop(grads);
    rows.push((
        "forward+backward, 8 × 512 tokens (shared 448-token prompt), LoRA r=16 on all linears of all 30 blocks".into(),
        format!("{secs:.1} s"),
        format!("{:.2} GB", peak_gb()),
    ));
    note(rows.last().expect("pushed"));
    m.clear_lora();

    // One GRPO step on TwinBench (4 prompts × G = 8, ≤ 64 new tokens).
    if let Some(dir) = &args.data {
        rows.push(grpo_step_row(&m, &tok, dir)?);
        note(rows.last().expect("pushed"));
    }

    print_table(&rows, threads)
}

/// One GRPO step on TwinBench (4 prompts × G = 8, ≤ 64 new tokens) with the default
/// configuration, timed and split into its phases.
fn grpo_step_row(
    m: &dtr1_policy::Model,
    tok: &dtr1_policy::Tokenizer,
    dir: &std::path::Path,
) -> Result<(String, String, String)> {
    let cfg = dtr1_grpo::TrainConfig::from_toml(
        "[grpo]\nsteps = 1\nprompts_per_step = 4\ngroup_size = 8\nmax_completion_tokens = 64\ncheckpoint_every = 0\n",
    )?;
    let samples = dtr1_grpo::twinbench::load_samples(dir, "train", &[], 0)?;
    let env = dtr1_grpo::twinbench::TwinBenchEnv::new(
        samples,
        tok,
        dtr1_grpo::twinbench::RolloutMode::Full,
        dtr1_reward::RewardConfig::default(),
    )?;
    let run = std::env::temp_dir().join(format!("dtr1-bench-grpo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    reset_peak();
    let mut tr = dtr1_grpo::GrpoTrainer::new(m.clone(), tok, &env, cfg.clone(), &run, None, false)?;
    let t = Instant::now();
    let ms = tr.run(Some(1), false)?;
    let total = t.elapsed().as_secs_f64();
    let s = ms.first().context("no step ran")?;
    let _ = std::fs::remove_dir_all(&run);
    Ok((
        format!(
            "GRPO step: 4 prompts × G=8, ≤64 new tokens (mean prompt {} tokens, mean completion {:.0}), LoRA r={} {} on top {} blocks, β={}",
            (0..4)
                .map(|k| dtr1_grpo::Environment::item(&env, dtr1_grpo::trainer::data_index(cfg.grpo.seed, dtr1_grpo::Environment::len(&env), k)).map(|i| i.prompt.len()))
                .sum::<Result<usize, _>>()? / 4,
            s.completion_len,
            cfg.lora.rank,
            cfg.lora.targets.join(","),
            cfg.lora.top_layers,
            cfg.grpo.beta
        ),
        format!(
            "{total:.1} s (rollout {:.1} s at {:.0} tok/s, reward {:.3} s, log-probs + update {:.1} s)",
            s.t_rollout, s.rollout_tok_s, s.t_reward, s.t_update
        ),
        format!("{:.2} GB", peak_gb()),
    ))
}

fn print_table(rows: &[(String, String, String)], threads: usize) -> Result<()> {
    let mut out = format!(
        "SmolLM2-135M (GGUF Q4_1 dequantised to f32 for training; int8 copies for sampling), {threads} threads\n\n| what | speed | peak RSS |\n|---|---:|---:|\n"
    );
    for (a, b, c) in rows {
        out.push_str(&format!("| {a} | {b} | {c} |\n"));
    }
    crate::out(&out)
}
