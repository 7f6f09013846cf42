//! `dtr1 bench-policy`: speed and memory of the policy on this machine — prefill, decode at
//! batch 1 and 8 (one shared prompt, the GRPO rollout path), a GRPO-sized forward+backward,
//! and one whole GRPO step on TwinBench — printed as a Markdown table. Beside them, the
//! machine's own sgemm rate on the policy's shapes (through the same products the policy
//! uses: OpenBLAS when loaded, else candle's kernel, and candle's `Tensor::matmul` for
//! comparison), the SFT update throughput on a committed `sft.toml`, and the GRPO update
//! throughput, each with its achieved GFLOP/s as a fraction of that sgemm rate.
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
    /// SFT configuration of the SFT-throughput row (needs --data).
    #[arg(long, default_value = "adapters/dtr1-smollm2-135m/sft.toml")]
    pub sft_config: PathBuf,
    /// Updates timed in the SFT-throughput row (after one untimed warm-up update).
    #[arg(long, default_value_t = 4)]
    pub sft_updates: usize,
}

/// The sgemm shapes `m × k × n` of the policy: 512 and 2048 rows through the 576 → 1536
/// projections (gate, up) and 2048 rows back through 1536 → 576 (down).
const SGEMM_SHAPES: [(usize, usize, usize); 3] =
    [(512, 576, 1536), (2048, 576, 1536), (2048, 1536, 576)];

/// Best GFLOP/s of `x Wᵀ` for `x (m, k)`, `W (n, k)` over `repeats` runs of `f`.
fn gflops(
    m: usize,
    k: usize,
    n: usize,
    repeats: usize,
    f: impl Fn() -> Result<Tensor>,
) -> Result<f64> {
    let mut best = f64::INFINITY;
    f()?;
    for _ in 0..repeats {
        let t = Instant::now();
        std::hint::black_box(f()?);
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(2.0 * (m * n * k) as f64 / best / 1e9)
}

/// The sgemm rows, and the machine's sgemm rate: the mean over the shapes of the products the
/// policy runs on.
fn sgemm_rows(rows: &mut Vec<(String, String, String)>) -> Result<f64> {
    let mut rates = Vec::new();
    for (m, k, n) in SGEMM_SHAPES {
        let rand =
            |r: usize, c: usize| Tensor::rand(-0.5f32, 0.5, (r, c), &candle_core::Device::Cpu);
        let (x, w) = (rand(m, k)?, rand(n, k)?);
        let ours = gflops(m, k, n, 5, || Ok(dtr1_policy::blas::matmul(&x, &w.t()?)?))?;
        let candle = gflops(m, k, n, 5, || Ok(x.matmul(&w.t()?)?))?;
        rates.push(ours);
        rows.push((
            format!("sgemm {m}×{k}×{n} (x·Wᵀ), best of 5: the policy's products (candle `Tensor::matmul` in brackets)"),
            format!("{ours:.0} GFLOP/s ({candle:.0})"),
            String::new(),
        ));
    }
    Ok(rates.iter().sum::<f64>() / rates.len() as f64)
}

/// FLOPs of the policy's training passes, counted from the architecture: every product that
/// does useful work (causal attention counts the keys a query may see, padding counts
/// nothing), the adapters included, frozen weights' gradients excluded (never computed).
struct Flops {
    d: f64,
    layers: f64,
    /// Blocks with adapters (the backward runs through these only).
    adapted: f64,
    vocab: f64,
    /// `2 ×` the weights of one block's linears: forward FLOPs per token per block.
    block: f64,
    /// Forward FLOPs per token of one adapted block's LoRA factors.
    lora: f64,
}

impl Flops {
    fn new(m: &Model) -> Self {
        let c = &m.config;
        let (d, f) = (c.hidden_size as f64, c.intermediate_size as f64);
        let kvd = (c.num_kv_heads * c.head_dim()) as f64;
        let adapted = m
            .layers
            .iter()
            .filter(|l| Target::ALL.iter().any(|&t| l.linear(t).lora.is_some()))
            .count();
        let lora = m
            .layers
            .iter()
            .flat_map(|l| {
                Target::ALL
                    .iter()
                    .filter_map(move |&t| l.linear(t).lora.as_ref().map(|p| (l.linear(t), p)))
            })
            .map(|(lin, p)| 2.0 * p.a.dims()[0] as f64 * (lin.in_dim() + lin.out_dim()) as f64)
            .sum::<f64>()
            / adapted.max(1) as f64;
        Self {
            d,
            layers: c.num_layers as f64,
            adapted: adapted as f64,
            vocab: c.vocab_size as f64,
            block: 2.0 * (2.0 * d * d + 2.0 * d * kvd + 3.0 * d * f),
            lora,
        }
    }

    /// Attention forward of one block for `n` new tokens after `past` cached ones (QKᵀ and
    /// PV over the keys each query sees).
    fn attn(&self, past: f64, n: f64) -> f64 {
        4.0 * self.d * (n * past + n * (n + 1.0) / 2.0)
    }

    /// A training forward+backward of `n` tokens after `past` (whose K/V it attends to),
    /// `scored` of them projected to the vocabulary. The backward runs through the adapted
    /// blocks: input gradients of the frozen products (as many FLOPs as their forward),
    /// twice the attention, and both factors of each adapter.
    fn train(&self, past: f64, n: f64, scored: f64) -> f64 {
        let fwd =
            self.layers * (self.block * n + self.attn(past, n)) + self.adapted * self.lora * n;
        let bwd = self.adapted * (self.block * n + 2.0 * self.attn(past, n) + 2.0 * self.lora * n);
        fwd + bwd + 2.0 * 2.0 * self.d * self.vocab * scored
    }

    /// A forward without gradient through the adapted blocks only (GRPO's reference pass
    /// shares the blocks below), `scored` rows to the vocabulary.
    fn reference(&self, past: f64, n: f64, scored: f64) -> f64 {
        self.adapted * (self.block * n + self.attn(past, n)) + 2.0 * self.d * self.vocab * scored
    }
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
    eprintln!(
        "bench-policy: products on {}",
        dtr1_policy::blas::describe()
    );
    let sgemm = sgemm_rows(&mut rows)?;
    rows.iter().for_each(note);
    if let (true, Some(dir)) = (args.grpo_step_only, &args.data) {
        rows.push(grpo_step_row(&m, &tok, dir, sgemm)?);
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
    let fl = Flops::new(&m);
    let flop = fl.train(0.0, p.len() as f64, 0.0) + 8.0 * fl.train(p.len() as f64, 64.0, 64.0);
    rows.push((
        "forward+backward, 8 × 512 tokens (shared 448-token prompt), LoRA r=16 on all linears of all 30 blocks".into(),
        format!("{secs:.1} s ({})", of_sgemm(flop / secs, sgemm)),
        format!("{:.2} GB", peak_gb()),
    ));
    note(rows.last().expect("pushed"));
    m.clear_lora();

    if let Some(dir) = &args.data {
        rows.push(sft_row(
            &m,
            &tok,
            dir,
            &args.sft_config,
            args.sft_updates,
            sgemm,
        )?);
        note(rows.last().expect("pushed"));
        // One GRPO step on TwinBench (4 prompts × G = 8, ≤ 64 new tokens).
        rows.push(grpo_step_row(&m, &tok, dir, sgemm)?);
        note(rows.last().expect("pushed"));
    }

    print_table(&rows, threads)
}

/// `GFLOP/s` achieved and its share of the sgemm rate.
fn of_sgemm(flop_s: f64, sgemm: f64) -> String {
    format!(
        "{:.0} GFLOP/s = {:.0}% of sgemm",
        flop_s / 1e9,
        100.0 * flop_s / 1e9 / sgemm
    )
}

/// SFT update throughput: `updates` updates (after one untimed warm-up) of the configuration
/// in `config` on solver traces of the dataset's train split, through `dtr1_grpo::train_sft`
/// itself. Tokens/s counts prompt and completion tokens, as the SFT progress line does.
fn sft_row(
    m: &Model,
    tok: &dtr1_policy::Tokenizer,
    dir: &std::path::Path,
    config: &std::path::Path,
    updates: usize,
    sgemm: f64,
) -> Result<(String, String, String)> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let mut cfg = dtr1_grpo::TrainConfig::from_toml(&text)?;
    cfg.sft.epochs = 1;
    cfg.sft.checkpoint_every = 0;
    let bs = cfg.sft.batch_size;
    let want = bs * (updates + 1);
    // Twice as many samples as needed: the solver cannot trace every one.
    let samples = dtr1_grpo::twinbench::load_samples(dir, "train", &[], 2 * want)?;
    let (examples, _) =
        crate::train_cmd::sft_examples(&samples, tok, dtr1_prompt::PromptVersion::V1)?;
    let mut examples: Vec<_> = examples
        .into_iter()
        .filter(|e| e.prompt.len() + e.completion.len() <= cfg.sft.max_tokens)
        .collect();
    if examples.len() < want {
        anyhow::bail!(
            "the SFT row needs {want} traces, the dataset gave {}",
            examples.len()
        );
    }
    examples.truncate(want);
    let run = std::env::temp_dir().join(format!("dtr1-bench-sft-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    let mut model = m.clone();
    reset_peak();
    let metrics = dtr1_grpo::train_sft(&mut model, &examples, &cfg, &run, None, false, false)?;
    let _ = std::fs::remove_dir_all(&run);
    // Per update: seconds from its tokens/s, FLOPs from its examples. The batches are the
    // run's own seeded order, so recompute it the same way: from the metrics' token counts.
    let lora = cfg.lora_config(model.layers.len());
    model.clear_lora();
    model.add_lora(&lora, 0)?;
    let fl = Flops::new(&model);
    let order = dtr1_grpo::sft::batch_order(examples.len(), bs, 1, cfg.sft.seed);
    let (mut tokens, mut secs, mut flop) = (0.0, 0.0, 0.0);
    for (mt, (_, idx)) in metrics.iter().zip(&order).skip(1) {
        let n: usize = idx
            .iter()
            .map(|&i| examples[i].prompt.len() + examples[i].completion.len())
            .sum();
        tokens += n as f64;
        secs += n as f64 / mt.tok_s;
        flop += idx
            .iter()
            .map(|&i| {
                let (p, c) = (
                    examples[i].prompt.len() as f64,
                    examples[i].completion.len() as f64,
                );
                fl.train(0.0, p + c, c)
            })
            .sum::<f64>();
    }
    let mean_len = tokens / (bs * (metrics.len() - 1)) as f64;
    Ok((
        format!(
            "SFT update, `{}`: batch {bs}, mean {mean_len:.0} tokens per example, LoRA r={} on {} of the top {} blocks; {} updates after 1 warm-up",
            config.display(),
            lora.rank,
            cfg.lora.targets.join(","),
            cfg.lora.top_layers,
            metrics.len() - 1
        ),
        format!("{:.0} tokens/s ({})", tokens / secs, of_sgemm(flop / secs, sgemm)),
        format!("{:.2} GB", peak_gb()),
    ))
}

/// One GRPO step on TwinBench (4 prompts × G = 8, ≤ 64 new tokens) with the default
/// configuration, timed and split into its phases; the update phase's tokens/s and GFLOP/s.
fn grpo_step_row(
    m: &dtr1_policy::Model,
    tok: &dtr1_policy::Tokenizer,
    dir: &std::path::Path,
    sgemm: f64,
) -> Result<(String, String, String)> {
    let cfg = dtr1_grpo::TrainConfig::from_toml(
        "[grpo]\nsteps = 1\nprompts_per_step = 4\ngroup_size = 8\nmax_completion_tokens = 64\ncheckpoint_every = 0\n",
    )?;
    let samples = dtr1_grpo::twinbench::load_samples(dir, "train", &[], 0)?;
    let env = dtr1_grpo::twinbench::TwinBenchEnv::new(
        samples,
        tok,
        dtr1_grpo::twinbench::RolloutMode::Full,
        // Version 1 prompts, as when the figures in docs/benchmarks.md were recorded, so that
        // the GRPO step stays comparable across runs (version 2's are about a third shorter).
        dtr1_prompt::PromptVersion::V1,
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
    // The update's FLOPs: per group the policy pass (prompt once, completions after it) and,
    // with β > 0 and one inner epoch, the reference pass through the adapted blocks.
    let fl = Flops::new(&tr.model);
    let mut flop = 0.0;
    for (p, comps) in tr.last_groups() {
        let p = *p as f64;
        // Completions are right-padded to the longest; each counts at its own length.
        let mut f = fl.train(0.0, p, 0.0)
            + comps
                .iter()
                .map(|&c| fl.train(p, c as f64, c as f64))
                .sum::<f64>();
        if cfg.grpo.beta > 0.0 && cfg.grpo.mu == 1 {
            f += fl.reference(0.0, p, 0.0)
                + comps
                    .iter()
                    .map(|&c| fl.reference(p, c as f64, c as f64))
                    .sum::<f64>();
        }
        flop += f * cfg.grpo.mu as f64;
    }
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
            "{total:.1} s (rollout {:.1} s at {:.0} tok/s, reward {:.3} s, log-probs + update {:.1} s at {:.0} tokens/s, {})",
            s.t_rollout, s.rollout_tok_s, s.t_reward, s.t_update, s.update_tok_s, of_sgemm(flop / s.t_update, sgemm)
        ),
        format!("{:.2} GB", peak_gb()),
    ))
}

fn print_table(rows: &[(String, String, String)], threads: usize) -> Result<()> {
    let mut out = format!(
        "SmolLM2-135M (GGUF Q4_1 dequantised to f32 for training; int8 copies for sampling), {threads} threads; f32 products on {}\n\n| what | speed | peak RSS |\n|---|---:|---:|\n",
        dtr1_policy::blas::describe()
    );
    for (a, b, c) in rows {
        out.push_str(&format!("| {a} | {b} | {c} |\n"));
    }
    crate::out(&out)
}
