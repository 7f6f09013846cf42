//! The GRPO loop.
//!
//! One step: take `prompts_per_step` prompts from the data stream; for each, sample a group
//! of `G` completions from one shared prefill ([`dtr1_policy::generate_group`]); score them;
//! turn the group's rewards into advantages; then, `mu` times, run one shared-prompt training
//! forward per group ([`dtr1_policy::group_logprobs`]), backpropagate its share of the loss,
//! and take an AdamW step. Groups whose rewards are all equal carry no policy gradient and
//! are skipped unless the KL term needs them.
//!
//! Everything random derives from `grpo.seed` and the step number (data order per epoch,
//! the sampling stream of every group), so a run resumed from a checkpoint continues exactly
//! as an uninterrupted one would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{Tensor, Var};
use dtr1_policy::{
    generate_group, group_logprobs, group_logprobs_pair, Generation, Kernels, LoraConfig,
    LoraDropout, Model, SamplingParams, Tokenizer,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::advantage::{group_advantages, group_kept};
use crate::checkpoint::{self, TrainerState};
use crate::config::{GroupFilter, TrainConfig};
use crate::env::{EnvItem, Environment, Score};
use crate::error::{GrpoError, Result};
use crate::loss::{grpo_loss, CompletionTerms, LossStats};
use crate::optim::{lr_at, AdamW, GradAccumulator};
use crate::progress::Progress;

/// The seed mixer shared with the policy crate (its LoRA-dropout masks derive from it too).
pub use dtr1_policy::mix;

/// The item index at position `pos` of an endless stream of seeded per-epoch permutations
/// of `0..n`.
pub fn data_index(seed: u64, n: usize, pos: usize) -> usize {
    let epoch = pos / n;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(mix(seed, 0xDA7A_0000 + epoch as u64));
    order.shuffle(&mut rng);
    order[pos % n]
}

/// Per-task averages of one step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Completions scored.
    pub n: usize,
    /// Mean total reward.
    pub reward: f64,
    /// Mean accuracy.
    pub accuracy: f64,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Step number (0-based).
    pub step: usize,
    /// Learning rate of the step's last update.
    pub lr: f64,
    /// Mean total reward over the step's completions.
    pub reward: f64,
    /// Mean within-group standard deviation of the reward.
    pub reward_std: f64,
    /// Mean accuracy.
    pub accuracy: f64,
    /// Fraction of completions meeting the output contract.
    pub format: f64,
    /// Mean structure score.
    pub structure: f64,
    /// Mean k3 KL per token to the reference (0 when β = 0).
    pub kl: f64,
    /// Fraction of tokens where the clip was active.
    pub clip_frac: f64,
    /// Policy-gradient part of the loss.
    pub loss: f64,
    /// Gradient norm before clipping (last update of the step).
    pub grad_norm: f64,
    /// Mean completion length in tokens.
    pub completion_len: f64,
    /// Drawn groups whose rewards were all equal (no signal).
    pub flat_groups: usize,
    /// Drawn groups left out of the update by `grpo.filter_groups`.
    #[serde(default)]
    pub filtered_groups: usize,
    /// Groups drawn this step: `prompts_per_step`, plus refills of filtered ones.
    #[serde(default)]
    pub drawn_groups: usize,
    /// Rollout throughput (generated tokens per second).
    pub rollout_tok_s: f64,
    /// Seconds spent sampling.
    pub t_rollout: f64,
    /// Seconds spent scoring.
    pub t_reward: f64,
    /// Seconds spent in log-probs, backward and updates.
    pub t_update: f64,
    /// Update throughput: prompt and completion tokens of the groups trained on (once per
    /// inner epoch) per second of `t_update`. Absent (0) in metrics written before it existed.
    #[serde(default)]
    pub update_tok_s: f64,
    /// Per-task breakdown.
    pub tasks: std::collections::BTreeMap<String, TaskMetrics>,
}

/// A GRPO run: the policy with its adapter, the optimiser, and where it writes.
pub struct GrpoTrainer<'a, E: Environment> {
    /// The policy; its LoRA adapter is what is trained.
    pub model: Model,
    tok: &'a Tokenizer,
    env: &'a E,
    cfg: TrainConfig,
    lora: LoraConfig,
    vars: Vec<Var>,
    opt: AdamW,
    acc: GradAccumulator,
    state: TrainerState,
    run_dir: PathBuf,
    /// The last step's trained groups: prompt length and completion lengths.
    last_groups: Vec<(usize, Vec<usize>)>,
}

impl<'a, E: Environment> GrpoTrainer<'a, E> {
    /// Prepare a run in `run_dir`. With `resume`, the newest checkpoint there is loaded
    /// (and its configuration must equal `cfg`); otherwise the adapter starts from
    /// `init_adapter` (e.g. the SFT cold start) or fresh from the seed.
    pub fn new(
        mut model: Model,
        tok: &'a Tokenizer,
        env: &'a E,
        cfg: TrainConfig,
        run_dir: &Path,
        init_adapter: Option<&Path>,
        resume: bool,
    ) -> Result<Self> {
        cfg.validate()?;
        if env.is_empty() {
            return Err(GrpoError::NoPrompts);
        }
        std::fs::create_dir_all(run_dir).map_err(|e| GrpoError::io(run_dir, e))?;
        let config_toml = toml::to_string(&cfg).map_err(|e| GrpoError::Config(e.to_string()))?;
        let found = if resume {
            checkpoint::latest(run_dir)?
        } else {
            None
        };
        if !resume && checkpoint::latest(run_dir)?.is_some() {
            return Err(GrpoError::Config(format!(
                "{} already holds a run; pass --resume to continue it or choose another directory",
                run_dir.display()
            )));
        }
        model.clear_lora();
        let lora = match init_adapter {
            Some(p) if found.is_none() => model.load_lora(p)?,
            _ => {
                let l = cfg.lora_config(model.layers.len());
                model.add_lora(&l, mix(cfg.grpo.seed, 0x10BA))?;
                l
            }
        };
        let mut opt = AdamW::new(cfg.optim.clone(), &model.trainable_vars())?;
        let mut state = TrainerState {
            kind: "grpo".into(),
            step: 0,
            updates: 0,
            data_cursor: 0,
            config_toml: config_toml.clone(),
        };
        let mut lora = lora;
        if let Some(dir) = found {
            let (st, l) = checkpoint::load(&dir, &mut model, &mut opt)?;
            if st.kind != "grpo" || st.config_toml != config_toml {
                return Err(GrpoError::Checkpoint {
                    path: dir,
                    reason: "was written by a run with a different configuration; resume with the same config file".into(),
                });
            }
            lora = l;
            state = st;
        }
        // After a resume the adapter's variables are the loaded ones.
        let vars = model.trainable_vars();
        let acc = GradAccumulator::new(vars.len());
        crate::checkpoint::write_atomic(&run_dir.join("config.toml"), config_toml.as_bytes())?;
        truncate_metrics(&run_dir.join("metrics.jsonl"), state.step)?;
        Ok(Self {
            model,
            tok,
            env,
            cfg,
            lora,
            vars,
            opt,
            acc,
            state,
            run_dir: run_dir.to_path_buf(),
            last_groups: Vec::new(),
        })
    }

    /// Steps completed so far.
    pub fn step(&self) -> usize {
        self.state.step
    }

    /// Run until `grpo.steps` (or `stop_after` more steps, for tests that simulate a kill),
    /// checkpointing every `checkpoint_every` steps, after `checkpoint_minutes` without one,
    /// and at the end.
    pub fn run(&mut self, stop_after: Option<usize>, progress: bool) -> Result<Vec<StepMetrics>> {
        let total = self.cfg.grpo.steps;
        let bar = Progress::new("GRPO", total, self.state.step, progress, Duration::ZERO);
        let mut out = Vec::new();
        let mut done = 0;
        let mut last_checkpoint = Instant::now();
        while self.state.step < total && stop_after.map_or(true, |n| done < n) {
            let m = self.train_step()?;
            bar.set_message(format!(
                "reward {:.3} acc {:.3} kl {:.4} rollout {:.0} tok/s update {:.0} tok/s",
                m.reward, m.accuracy, m.kl, m.rollout_tok_s, m.update_tok_s
            ));
            bar.inc(1);
            append_jsonl(&self.run_dir.join("metrics.jsonl"), &m)?;
            out.push(m);
            done += 1;
            let every = self.cfg.grpo.checkpoint_every;
            let minutes = self.cfg.grpo.checkpoint_minutes;
            let timed = minutes > 0.0 && last_checkpoint.elapsed().as_secs_f64() >= minutes * 60.0;
            // Only between optimiser updates: accumulated gradients are not checkpointed.
            let at_boundary = self.state.step % self.cfg.grpo.grad_accum_steps == 0;
            if at_boundary
                && ((every > 0 && self.state.step % every == 0)
                    || timed
                    || self.state.step == total)
            {
                self.checkpoint()?;
                last_checkpoint = Instant::now();
            }
        }
        bar.finish_and_clear();
        Ok(out)
    }

    /// The groups the last step trained on (once per inner epoch): prompt length and
    /// completion lengths — what a FLOP count of its update needs.
    pub fn last_groups(&self) -> &[(usize, Vec<usize>)] {
        &self.last_groups
    }

    /// Write a checkpoint now.
    pub fn checkpoint(&self) -> Result<PathBuf> {
        checkpoint::save(
            &self.run_dir,
            &self.model,
            &self.lora,
            &self.opt,
            &self.state,
        )
    }

    /// Save the current adapter (PEFT format) to `dir`.
    pub fn save_adapter(&self, dir: &Path) -> Result<()> {
        Ok(self.model.save_lora(dir, &self.lora)?)
    }

    /// Mean reward (and accuracy) of the current policy over every prompt of the
    /// environment, `samples` completions each, sampled with the rollout settings and
    /// `seed`: a fixed yardstick for before/after comparisons, unlike the per-step rewards,
    /// which depend on the step's batch.
    pub fn mean_reward(&self, samples: usize, seed: u64) -> Result<(f64, f64)> {
        let g = &self.cfg.grpo;
        let (mut r, mut a, mut n) = (0.0, 0.0, 0usize);
        for i in 0..self.env.len() {
            let item = self.env.item(i)?;
            let params = SamplingParams {
                max_new_tokens: g.max_completion_tokens,
                temperature: g.temperature as f32,
                top_p: g.top_p as f32,
                top_k: g.top_k,
                seed: mix(seed, i as u64),
                stop: Vec::new(),
                kernels: rollout_kernels(g),
            };
            for gen in generate_group(&self.model, self.tok, &item.prompt, samples, &params, true)?
            {
                let s = self.env.score(i, &gen.text)?;
                r += s.total;
                a += s.accuracy;
                n += 1;
            }
        }
        Ok((r / n.max(1) as f64, a / n.max(1) as f64))
    }

    fn total_updates(&self) -> usize {
        let g = &self.cfg.grpo;
        (g.steps * g.mu).div_ceil(g.grad_accum_steps)
    }

    /// One GRPO step: rollouts and rewards, then the policy update(s).
    pub fn train_step(&mut self) -> Result<StepMetrics> {
        let step = self.state.step;
        let mut m = StepMetrics {
            step,
            ..Default::default()
        };
        let drawn = self.rollout_groups(step, &mut m)?;
        self.update(step, &drawn, &mut m)?;
        self.state.step += 1;
        self.state.data_cursor += drawn.drawn;
        Ok(m)
    }

    /// Rollouts and rewards, a group at a time (one shared prefill per group). With a group
    /// filter, dropped groups are replaced by further prompts of the data stream, at most
    /// `max_refill_groups` extra a step (DAPO's dynamic sampling). Every drawn group counts
    /// in the step's reward and accuracy; only the kept ones enter the update.
    fn rollout_groups(&self, step: usize, m: &mut StepMetrics) -> Result<DrawnGroups> {
        let g = &self.cfg.grpo;
        let mut groups = Vec::with_capacity(g.prompts_per_step);
        let mut advs = Vec::with_capacity(g.prompts_per_step);
        let mut all: Vec<Score> = Vec::new();
        let mut std_sum = 0.0;
        let mut generated = 0usize;
        let mut drawn = 0usize;
        let limit = g.prompts_per_step
            + match g.filter_groups {
                GroupFilter::None => 0,
                _ => g.max_refill_groups,
            };
        while groups.len() < g.prompts_per_step && drawn < limit {
            let k = drawn;
            drawn += 1;
            let t0 = Instant::now();
            let (idx, item, gens) = self.sample_group(step, k)?;
            generated += gens.iter().map(|x| x.tokens.len()).sum::<usize>();
            m.t_rollout += t0.elapsed().as_secs_f64();

            let t1 = Instant::now();
            let (rewards, accuracies) = self.score_group(idx, &item, &gens, m, &mut all)?;
            let mean = rewards.iter().sum::<f64>() / rewards.len() as f64;
            std_sum += (rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>()
                / rewards.len() as f64)
                .sqrt();
            let flat = rewards.iter().all(|&r| r == rewards[0]);
            m.flat_groups += usize::from(flat);
            m.t_reward += t1.elapsed().as_secs_f64();
            if !group_kept(g.filter_groups, flat, &accuracies) {
                m.filtered_groups += 1;
                continue;
            }
            advs.push(group_advantages(&rewards, g.scale_rewards, 1e-4));
            groups.push((idx, item, gens));
        }
        m.drawn_groups = drawn;
        m.rollout_tok_s = generated as f64 / m.t_rollout.max(1e-9);
        let cnt = all.len().max(1) as f64;
        m.reward = all.iter().map(|s| s.total).sum::<f64>() / cnt;
        m.accuracy = all.iter().map(|s| s.accuracy).sum::<f64>() / cnt;
        m.format = all.iter().map(|s| s.format).sum::<f64>() / cnt;
        m.structure = all.iter().map(|s| s.structure).sum::<f64>() / cnt;
        m.reward_std = std_sum / drawn.max(1) as f64;
        for t in m.tasks.values_mut() {
            t.reward /= t.n.max(1) as f64;
            t.accuracy /= t.n.max(1) as f64;
        }
        Ok(DrawnGroups {
            groups,
            advs,
            drawn,
        })
    }

    /// Scores one group's completions: returns their rewards and accuracies, adds them to
    /// the step's per-task sums in `m`, and appends every score to `all`. A non-finite reward
    /// is an environment error, not something to train on.
    fn score_group(
        &self,
        idx: usize,
        item: &EnvItem,
        gens: &[Generation],
        m: &mut StepMetrics,
        all: &mut Vec<Score>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let mut rewards = Vec::with_capacity(gens.len());
        let mut accuracies = Vec::with_capacity(gens.len());
        for gen in gens {
            let s = self.env.score(idx, &gen.text)?;
            if !s.total.is_finite() {
                return Err(GrpoError::NonFiniteReward {
                    index: idx,
                    reward: s.total,
                });
            }
            let t = m.tasks.entry(item.task.clone()).or_default();
            t.n += 1;
            t.reward += s.total;
            t.accuracy += s.accuracy;
            rewards.push(s.total);
            accuracies.push(s.accuracy);
            all.push(s);
        }
        Ok((rewards, accuracies))
    }

    /// The policy update(s) of a step: `mu` inner epochs over the kept groups, each group's
    /// loss backpropagated on its own, with an optimiser step per epoch (or per
    /// `grad_accum_steps` steps when `mu == 1`).
    fn update(&mut self, step: usize, drawn: &DrawnGroups, m: &mut StepMetrics) -> Result<()> {
        let g = self.cfg.grpo.clone();
        let DrawnGroups { groups, advs, .. } = drawn;
        let t2 = Instant::now();
        let step_tokens: usize = groups
            .iter()
            .flat_map(|(_, _, gs)| gs.iter().map(|x| x.tokens.len()))
            .sum();
        let step_seqs = groups.len() * g.group_size;
        m.completion_len = step_tokens as f64 / step_seqs.max(1) as f64;
        let comps: Vec<Vec<Vec<u32>>> = groups
            .iter()
            .map(|(_, _, gs)| gs.iter().map(|x| x.tokens.clone()).collect())
            .collect();
        let needed = |a: &Vec<f64>| g.beta > 0.0 || a.iter().any(|&x| x != 0.0);
        let old = if g.mu > 1 {
            Some(self.fixed_logprobs(groups, &comps, true)?)
        } else {
            None
        };
        // With one inner epoch the reference log-probs come out of the policy's own pass,
        // sharing the blocks below the adapters; with several they are computed once here.
        let ref_in_pass = g.beta > 0.0 && g.mu == 1;
        let refs = if g.beta > 0.0 && !ref_in_pass {
            Some(self.fixed_logprobs(groups, &comps, false)?)
        } else {
            None
        };
        let plan = UpdatePlan {
            step,
            step_tokens,
            step_seqs,
            ref_in_pass,
            old,
            refs,
        };
        let mut totals = UpdateTotals::default();
        self.last_groups.clear();
        for epoch in 0..g.mu {
            for (gi, ((_, item, _), c)) in groups.iter().zip(&comps).enumerate() {
                if !needed(&advs[gi]) {
                    continue;
                }
                self.train_group(&plan, epoch, gi, &item.prompt, c, &advs[gi], &mut totals)?;
            }
            self.optimizer_step(step, m)?;
        }
        if totals.kl_tokens > 0 {
            m.kl = totals.stats.kl / totals.kl_tokens as f64;
            m.clip_frac = totals.stats.clip_frac / totals.kl_tokens as f64;
        }
        m.loss = totals.stats.pg / g.mu as f64;
        m.t_update = t2.elapsed().as_secs_f64();
        m.update_tok_s = totals.trained_tokens as f64 / m.t_update.max(1e-9);
        Ok(())
    }

    /// Log-probabilities of every kept group, computed once before the inner epochs: under
    /// the adapter as it is now (`adapter`; the "old" policy of the clipped ratio, detached)
    /// or under the frozen base (the KL reference).
    fn fixed_logprobs(
        &self,
        groups: &[(usize, EnvItem, Vec<Generation>)],
        comps: &[Vec<Vec<u32>>],
        adapter: bool,
    ) -> Result<Vec<Vec<Tensor>>> {
        let chunk = self.cfg.grpo.logprob_chunk;
        let mut v = Vec::new();
        for ((_, item, _), c) in groups.iter().zip(comps) {
            let lp = group_logprobs(&self.model, &item.prompt, c, adapter, chunk)?;
            v.push(if adapter {
                lp.into_iter().map(|t| t.detach()).collect()
            } else {
                lp
            });
        }
        Ok(v)
    }

    /// One group's training forward in inner epoch `epoch`: its loss, backpropagated into
    /// the gradient accumulator, and its statistics added to `totals`.
    #[allow(clippy::too_many_arguments)]
    fn train_group(
        &mut self,
        plan: &UpdatePlan,
        epoch: usize,
        gi: usize,
        prompt: &[u32],
        c: &[Vec<u32>],
        adv: &[f64],
        totals: &mut UpdateTotals,
    ) -> Result<()> {
        let g = &self.cfg.grpo;
        let step = plan.step;
        // LoRA dropout masks per (step, epoch, group): a resumed run draws the same.
        let p = self.cfg.lora.dropout;
        self.model.lora_dropout = (p > 0.0).then(|| LoraDropout {
            p: p as f32,
            seed: mix(
                mix(mix(g.seed ^ 0xD50F, step as u64), epoch as u64),
                gi as u64,
            ),
        });
        let lp = if plan.ref_in_pass {
            group_logprobs_pair(&self.model, prompt, c, g.logprob_chunk)
                .map(|(on, off)| (on, Some(off)))
        } else {
            group_logprobs(&self.model, prompt, c, true, g.logprob_chunk).map(|on| (on, None))
        };
        self.model.lora_dropout = None;
        totals.trained_tokens += prompt.len() + c.iter().map(Vec::len).sum::<usize>();
        if epoch == 0 {
            self.last_groups
                .push((prompt.len(), c.iter().map(Vec::len).collect()));
        }
        let (lp, pass_ref) = lp?;
        let group_ref = pass_ref.as_ref().or(plan.refs.as_ref().map(|r| &r[gi]));
        let olds: Vec<Tensor> = match &plan.old {
            Some(o) => o[gi].clone(),
            None => lp.iter().map(|t| t.detach()).collect(),
        };
        let terms: Vec<CompletionTerms<'_>> = lp
            .iter()
            .enumerate()
            .map(|(i, t)| CompletionTerms {
                logp: t,
                logp_old: &olds[i],
                logp_ref: group_ref.map(|r| &r[i]),
                advantage: adv[i],
            })
            .collect();
        let (loss, st) = grpo_loss(&terms, g, plan.step_tokens, plan.step_seqs)?;
        let lv = loss.to_scalar::<f32>()?;
        if !lv.is_finite() {
            return Err(GrpoError::Diverged {
                step,
                what: format!("loss {lv}"),
            });
        }
        self.acc.add(&self.vars, &loss.backward()?)?;
        totals.stats.pg += st.pg;
        totals.stats.kl += st.kl * st.tokens as f64;
        totals.stats.clip_frac += st.clip_frac * st.tokens as f64;
        totals.kl_tokens += st.tokens;
        Ok(())
    }

    /// The optimiser step closing an inner epoch: taken every epoch when `mu > 1`, else only
    /// at a gradient-accumulation boundary.
    fn optimizer_step(&mut self, step: usize, m: &mut StepMetrics) -> Result<()> {
        let g = &self.cfg.grpo;
        let boundary = (step + 1) % g.grad_accum_steps == 0;
        if g.mu > 1 || boundary {
            let lr = lr_at(&self.cfg.optim, self.state.updates, self.total_updates());
            m.grad_norm = self.opt.step(&self.vars, &self.acc, lr)?;
            m.lr = lr;
            self.acc.clear();
            self.state.updates += 1;
        }
        Ok(())
    }

    /// Samples the group of the step's `k`-th drawn prompt: its data index, the item, and
    /// `group_size` completions from one shared prefill. Seeded by (step, k), so a resumed
    /// run draws the same.
    fn sample_group(&self, step: usize, k: usize) -> Result<(usize, EnvItem, Vec<Generation>)> {
        let g = &self.cfg.grpo;
        let idx = data_index(g.seed, self.env.len(), self.state.data_cursor + k);
        let item = self.env.item(idx)?;
        if item.prompt.len() > g.max_prompt_tokens {
            return Err(GrpoError::PromptTooLong {
                index: idx,
                tokens: item.prompt.len(),
                max: g.max_prompt_tokens,
            });
        }
        let params = SamplingParams {
            max_new_tokens: g.max_completion_tokens,
            temperature: g.temperature as f32,
            top_p: g.top_p as f32,
            top_k: g.top_k,
            seed: mix(mix(g.seed, step as u64), k as u64),
            stop: Vec::new(),
            kernels: rollout_kernels(g),
        };
        let gens = generate_group(
            &self.model,
            self.tok,
            &item.prompt,
            g.group_size,
            &params,
            true,
        )?;
        Ok((idx, item, gens))
    }
}

/// The groups one step drew: the kept ones with their advantages, and how many were drawn
/// in all (kept or filtered), which is how far the data cursor moves.
struct DrawnGroups {
    /// `(data index, item, completions)` of each kept group.
    groups: Vec<(usize, EnvItem, Vec<Generation>)>,
    /// Each kept group's per-completion advantages.
    advs: Vec<Vec<f64>>,
    /// Groups drawn, kept or not.
    drawn: usize,
}

/// What every group's loss in one step shares.
struct UpdatePlan {
    step: usize,
    /// The step's completion tokens and completions (the loss normalisers).
    step_tokens: usize,
    step_seqs: usize,
    /// The reference log-probs come out of the policy's own pass (β > 0 and one epoch).
    ref_in_pass: bool,
    /// Per group, the "old" policy's log-probs when `mu > 1` (else the pass's own, detached).
    old: Option<Vec<Vec<Tensor>>>,
    /// Per group, the reference log-probs when computed before the epochs.
    refs: Option<Vec<Vec<Tensor>>>,
}

/// The sums one step's update collects for its metrics.
#[derive(Default)]
struct UpdateTotals {
    stats: LossStats,
    /// Tokens behind the KL and clip sums.
    kl_tokens: usize,
    /// Prompt and completion tokens trained on, once per inner epoch.
    trained_tokens: usize,
}

/// Append one JSON line and flush it to disk.
pub fn append_jsonl<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let line = serde_json::to_string(v).map_err(|e| GrpoError::Config(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| GrpoError::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| GrpoError::io(path, e))?;
    f.sync_data().map_err(|e| GrpoError::io(path, e))
}

/// Keep only the metric lines of steps before `step` (what a resumed run will redo is
/// dropped, so the file never holds a step twice). Rewritten atomically.
pub fn truncate_metrics(path: &Path, step: usize) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(GrpoError::io(path, e)),
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| (s as usize) < step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    checkpoint::write_atomic(path, kept.as_bytes())
}

/// Read a run's `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| GrpoError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                GrpoError::Config(format!(
                    "{}:{}: not a metrics line: {e}",
                    path.display(),
                    i + 1
                ))
            })
        })
        .collect()
}

/// The kernels rollouts are sampled with (`grpo.quantized_rollouts`).
fn rollout_kernels(g: &crate::config::GrpoSection) -> Kernels {
    if g.quantized_rollouts {
        Kernels::Quantized
    } else {
        Kernels::Exact
    }
}
