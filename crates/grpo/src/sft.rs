//! Supervised cold start: teach the adapter the rollout format from solver traces.
//!
//! The loss is the mean negative log-likelihood of the completion tokens (prompt tokens are
//! context only), averaged over all completion tokens of the batch. The same optimiser,
//! schedule, checkpoints and resume as GRPO.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::Tensor;
use dtr1_policy::{completion_logprobs, LoraConfig, LoraDropout, Model};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, TrainerState};
use crate::config::TrainConfig;
use crate::error::{GrpoError, Result};
use crate::optim::{lr_at, AdamW, GradAccumulator};
use crate::progress::Progress;
use crate::trainer::{append_jsonl, mix, truncate_metrics};

/// One supervised example.
#[derive(Debug, Clone, PartialEq)]
pub struct SftExample {
    /// Prompt tokens (chat template and generation prompt applied).
    pub prompt: Vec<u32>,
    /// Target completion tokens, ending with the end-of-turn token so the model learns to stop.
    pub completion: Vec<u32>,
}

/// One line of an SFT run's `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SftMetrics {
    /// Update number (0-based); named `step` like GRPO's so the plotting code reads both.
    pub step: usize,
    /// Epoch of this update.
    pub epoch: usize,
    /// Mean NLL per completion token.
    pub loss: f64,
    /// Learning rate.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Training tokens (prompt + completion) per second.
    pub tok_s: f64,
}

/// The SFT run's order of examples: seeded per-epoch permutations of `n` examples, cut into
/// batches of `bs`, as `(epoch, indices)` per update (the benchmark reads which examples an
/// update trained on from it).
pub fn batch_order(n: usize, bs: usize, epochs: usize, seed: u64) -> Vec<(usize, Vec<usize>)> {
    let mut out = Vec::new();
    for e in 0..epochs {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(mix(
            seed,
            0x5F7 + e as u64,
        )));
        for chunk in order.chunks(bs) {
            out.push((e, chunk.to_vec()));
        }
    }
    out
}

/// Train `model`'s adapter on `examples`, writing checkpoints and metrics into `run_dir`.
/// With `resume`, continues from the newest checkpoint there. `init_adapter` starts from an
/// existing adapter instead of a fresh one. Returns the metrics of the updates run now.
pub fn train_sft(
    model: &mut Model,
    examples: &[SftExample],
    cfg: &TrainConfig,
    run_dir: &Path,
    init_adapter: Option<&Path>,
    resume: bool,
    progress: bool,
) -> Result<Vec<SftMetrics>> {
    cfg.validate()?;
    let s = &cfg.sft;
    let kept: Vec<&SftExample> = examples
        .iter()
        .filter(|e| !e.prompt.is_empty() && !e.completion.is_empty())
        .filter(|e| e.prompt.len() + e.completion.len() <= s.max_tokens)
        .collect();
    if kept.is_empty() {
        return Err(GrpoError::NoSftExample {
            max_tokens: s.max_tokens,
            given: examples.len(),
        });
    }
    std::fs::create_dir_all(run_dir).map_err(|e| GrpoError::io(run_dir, e))?;
    let config_toml = toml::to_string(cfg).map_err(|e| GrpoError::Config(e.to_string()))?;
    let found = checkpoint::latest(run_dir)?;
    if found.is_some() && !resume {
        return Err(GrpoError::Config(format!(
            "{} already holds a run; pass --resume to continue it or choose another directory",
            run_dir.display()
        )));
    }
    model.clear_lora();
    let mut lora: LoraConfig = match init_adapter {
        Some(p) => model.load_lora(p)?,
        None => {
            let l = cfg.lora_config(model.layers.len());
            model.add_lora(&l, mix(s.seed, 0x10BA))?;
            l
        }
    };
    let mut opt = AdamW::new(cfg.optim.clone(), &model.trainable_vars())?;
    let mut state = TrainerState {
        kind: "sft".into(),
        step: 0,
        updates: 0,
        data_cursor: 0,
        config_toml: config_toml.clone(),
    };
    if let (true, Some(dir)) = (resume, found) {
        let (st, l) = checkpoint::load(&dir, model, &mut opt)?;
        if st.kind != "sft" || st.config_toml != config_toml {
            return Err(GrpoError::Checkpoint {
                path: dir,
                reason: "was written by a run with a different configuration".into(),
            });
        }
        lora = l;
        state = st;
    }
    checkpoint::write_atomic(&run_dir.join("config.toml"), config_toml.as_bytes())?;
    let metrics_path = run_dir.join("metrics.jsonl");
    truncate_metrics(&metrics_path, state.step)?;
    let vars = model.trainable_vars();
    let plan = batch_order(kept.len(), s.batch_size, s.epochs, s.seed);
    let total = plan.len();
    let bar = Progress::new("SFT", total, state.step, progress, Duration::from_secs(60));
    let mut out = Vec::new();
    let mut acc = GradAccumulator::new(vars.len());
    let mut last_checkpoint = Instant::now();
    for (epoch, idx) in plan.iter().skip(state.step) {
        let t0 = Instant::now();
        let batch: Vec<(Vec<u32>, Vec<u32>)> = idx
            .iter()
            .map(|&i| (kept[i].prompt.clone(), kept[i].completion.clone()))
            .collect();
        let ntok: usize = batch.iter().map(|(_, c)| c.len()).sum();
        // Masks per update, from the SFT seed: a resumed run draws the same ones.
        model.lora_dropout = (cfg.lora.dropout > 0.0).then(|| LoraDropout {
            p: cfg.lora.dropout as f32,
            seed: mix(s.seed ^ 0x5F7_D20F, state.step as u64),
        });
        let lps = completion_logprobs(model, &batch, true, 32);
        model.lora_dropout = None;
        let lps = lps?;
        let sums: Vec<Tensor> = lps
            .iter()
            .map(|t| t.sum_all())
            .collect::<candle_core::Result<_>>()?;
        let loss = (Tensor::stack(&sums, 0)?.sum_all()?.neg()? / ntok as f64)?;
        let lv = loss.to_scalar::<f32>()? as f64;
        if !lv.is_finite() {
            return Err(GrpoError::Diverged {
                step: state.step,
                what: format!("SFT loss {lv}"),
            });
        }
        acc.add(&vars, &loss.backward()?)?;
        let lr = lr_at(&cfg.optim, state.updates, total);
        let norm = opt.step(&vars, &acc, lr)?;
        acc.clear();
        state.updates += 1;
        state.step += 1;
        state.data_cursor += idx.len();
        let all_tokens: usize = batch.iter().map(|(p, c)| p.len() + c.len()).sum();
        let m = SftMetrics {
            step: state.step - 1,
            epoch: *epoch,
            loss: lv,
            lr,
            grad_norm: norm,
            tok_s: all_tokens as f64 / t0.elapsed().as_secs_f64().max(1e-9),
        };
        append_jsonl(&metrics_path, &m)?;
        bar.set_message(format!("loss {lv:.4} lr {lr:.2e} {:.0} tok/s", m.tok_s));
        bar.inc(1);
        out.push(m);
        let timed = s.checkpoint_minutes > 0.0
            && last_checkpoint.elapsed().as_secs_f64() >= s.checkpoint_minutes * 60.0;
        if (s.checkpoint_every > 0 && state.step % s.checkpoint_every == 0)
            || timed
            || state.step == total
        {
            checkpoint::save(run_dir, model, &lora, &opt, &state)?;
            last_checkpoint = Instant::now();
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

/// The adapter directory of the newest checkpoint of a finished or interrupted run.
pub fn latest_adapter(run_dir: &Path) -> Result<PathBuf> {
    match checkpoint::latest(run_dir)? {
        Some(d) => Ok(d.join("adapter")),
        None => Err(GrpoError::Checkpoint {
            path: run_dir.to_path_buf(),
            reason: "no checkpoint found (no `latest` file)".into(),
        }),
    }
}
