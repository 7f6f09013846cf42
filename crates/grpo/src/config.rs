//! Every knob of GRPO and SFT training, read from TOML.
//!
//! `examples/grpo.toml` at the repository root lists every key with a comment; the defaults
//! here are what that file documents. Unknown keys are errors, so a typo never silently
//! falls back to a default.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{GrpoError, Result};

/// How per-token losses are reduced to one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossAggregation {
    /// Sum over every completion token of the step, divided by the number of those tokens
    /// (DAPO / TRL `loss_type = "dapo"`): long completions weigh more, no length bias.
    Token,
    /// Mean over each completion's tokens, then mean over completions (the original GRPO
    /// paper; biases toward short wrong and long right answers).
    Sequence,
}

/// How rewards in a group become advantages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvantageScaling {
    /// `(r − mean) / (std + ε)` (GRPO).
    Std,
    /// `r − mean` (Dr. GRPO: no difficulty bias from dividing by a small std).
    None,
}

/// Which sampled groups of a step enter the update (DAPO's dynamic sampling).
///
/// A group whose completions all get the same reward has zero advantage everywhere and
/// teaches nothing, yet it costs its rollouts and, in a step of few prompts, leaves the
/// update to the one or two groups that did differ. A filter drops such groups and draws
/// further prompts from the data stream in their place, up to `max_refill_groups` extra
/// groups a step, so that the batch holds `prompts_per_step` groups with signal whenever the
/// data allows (verl `algorithm.filter_groups`; TRL logs the same fraction as
/// `frac_reward_zero_std`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupFilter {
    /// Keep every group (groups of equal rewards still contribute nothing).
    None,
    /// Drop groups whose rewards are all equal (zero standard deviation) — the filter for a
    /// continuous reward.
    RewardStd,
    /// Drop groups whose completions all have the same task accuracy (all wrong, or all
    /// equally right), even when format or structure differences spread their rewards:
    /// under `scale_rewards = "std"` such small differences are blown up to the size of a
    /// right-versus-wrong difference (DAPO's filter on the accuracy signal).
    Accuracy,
}

/// LoRA settings for training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSection {
    /// Rank `r` of each adapter.
    pub rank: usize,
    /// ΔW = (alpha / r) · B A.
    pub alpha: f64,
    /// Dropout on the adapter input during training (PEFT `lora_dropout`), in `[0, 1)`. Masks
    /// are drawn from the seed, step and group, so `--resume` stays exact; sampling, old
    /// log-probs (μ > 1) and the adapter-off reference run without it.
    pub dropout: f64,
    /// PEFT module names to adapt: any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
    /// down_proj.
    pub targets: Vec<String>,
    /// Adapt only the top `top_layers` decoder blocks (0 = all). The blocks below run without
    /// an autograd graph, which is what makes CPU training affordable.
    pub top_layers: usize,
}

impl Default for LoraSection {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            targets: vec!["q_proj".into(), "v_proj".into()],
            top_layers: 10,
        }
    }
}

/// Optimiser and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimSection {
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up from 0 to `lr` over this many optimiser updates.
    pub warmup_steps: usize,
    /// Cosine decay from `lr` to `lr · min_lr_ratio` over the remaining updates.
    pub min_lr_ratio: f64,
    /// AdamW β₁.
    pub beta1: f64,
    /// AdamW β₂.
    pub beta2: f64,
    /// AdamW ε.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value (0 disables).
    pub max_grad_norm: f64,
}

impl Default for OptimSection {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            warmup_steps: 5,
            min_lr_ratio: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
        }
    }
}

/// GRPO hyper-parameters (names follow TRL's `GRPOConfig` where one exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpoSection {
    /// Training steps (each: rollouts for `prompts_per_step` prompts, then `mu` updates).
    pub steps: usize,
    /// Prompts per step (TRL: per-device batch / G).
    pub prompts_per_step: usize,
    /// Completions per prompt, G (TRL `num_generations`).
    pub group_size: usize,
    /// Sampling temperature of the rollouts.
    pub temperature: f64,
    /// Nucleus mass of the rollouts (1 disables).
    pub top_p: f64,
    /// Top-k of the rollouts (0 disables).
    pub top_k: usize,
    /// Sample rollouts on the checkpoint's quantised blocks (several times faster on a CPU).
    /// Log-probabilities in the loss always use the f32 weights, so rollouts are then very
    /// slightly off-policy, which the clipped importance ratio corrects (as with vLLM-sampled
    /// rollouts). Models without quantised weights (random test models) sample exactly.
    pub quantized_rollouts: bool,
    /// Prompts longer than this many tokens are an error (they would be cut silently
    /// elsewhere, which hides the twin the reward checks against).
    pub max_prompt_tokens: usize,
    /// Completion budget in tokens (TRL `max_completion_length`).
    pub max_completion_tokens: usize,
    /// Lower clip ε of the importance ratio (TRL `epsilon`).
    pub epsilon_low: f64,
    /// Upper clip ε (TRL `epsilon_high`; DAPO's clip-higher when > `epsilon_low`).
    pub epsilon_high: f64,
    /// Inner optimisation epochs per batch of rollouts, μ (TRL `num_iterations`).
    pub mu: usize,
    /// KL coefficient β toward the adapter-off reference (k3 estimator); 0 skips the
    /// reference forward entirely.
    pub beta: f64,
    /// Loss reduction.
    pub loss_aggregation: LossAggregation,
    /// Advantage scaling.
    pub scale_rewards: AdvantageScaling,
    /// Which groups enter the update ([`GroupFilter`]).
    pub filter_groups: GroupFilter,
    /// Most extra groups drawn in one step to replace filtered ones.
    pub max_refill_groups: usize,
    /// Sum gradients over this many steps before one optimiser update (needs `mu = 1`).
    pub grad_accum_steps: usize,
    /// Completion positions per log-prob chunk (bounds the vocabulary-wide logits in memory).
    pub logprob_chunk: usize,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Also write one when this many minutes have passed since the last (0: off), so a run
    /// longer than a session always has a recent checkpoint to continue from.
    pub checkpoint_minutes: f64,
    /// Master seed: data order, rollouts and LoRA initialisation all derive from it.
    pub seed: u64,
}

impl Default for GrpoSection {
    fn default() -> Self {
        Self {
            steps: 100,
            prompts_per_step: 4,
            group_size: 8,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            quantized_rollouts: true,
            max_prompt_tokens: 1024,
            max_completion_tokens: 64,
            epsilon_low: 0.2,
            epsilon_high: 0.28,
            mu: 1,
            beta: 0.04,
            loss_aggregation: LossAggregation::Token,
            scale_rewards: AdvantageScaling::Std,
            filter_groups: GroupFilter::None,
            max_refill_groups: 0,
            grad_accum_steps: 1,
            logprob_chunk: 16,
            checkpoint_every: 10,
            checkpoint_minutes: 20.0,
            seed: 0,
        }
    }
}

/// Supervised fine-tuning (cold start) settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftSection {
    /// Passes over the traces.
    pub epochs: usize,
    /// Sequences per optimiser update.
    pub batch_size: usize,
    /// Traces whose prompt + completion exceed this are skipped (and counted).
    pub max_tokens: usize,
    /// Checkpoint every this many updates (0: only at the end).
    pub checkpoint_every: usize,
    /// Also checkpoint when this many minutes have passed since the last (0: off).
    pub checkpoint_minutes: f64,
    /// Seed of the data order and LoRA initialisation.
    pub seed: u64,
}

impl Default for SftSection {
    fn default() -> Self {
        Self {
            epochs: 2,
            batch_size: 4,
            max_tokens: 1024,
            checkpoint_every: 50,
            checkpoint_minutes: 20.0,
            seed: 0,
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// GRPO.
    pub grpo: GrpoSection,
    /// SFT.
    pub sft: SftSection,
    /// LoRA.
    pub lora: LoraSection,
    /// Optimiser.
    pub optim: OptimSection,
}

impl TrainConfig {
    /// Parse TOML text and validate.
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: TrainConfig =
            toml::from_str(text).map_err(|e| GrpoError::Config(e.message().to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read and validate a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| GrpoError::io(path, e))?;
        Self::from_toml(&text).map_err(|e| match e {
            GrpoError::Config(m) => GrpoError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Reject values that cannot work, naming the key.
    pub fn validate(&self) -> Result<()> {
        let g = &self.grpo;
        let o = &self.optim;
        let bad = |m: String| Err(GrpoError::Config(m));
        if g.group_size < 2 {
            return bad(format!(
                "grpo.group_size = {}: GRPO needs at least 2 completions per prompt to compare",
                g.group_size
            ));
        }
        if g.group_size > 256 || g.prompts_per_step == 0 || g.prompts_per_step > 4096 {
            return bad(format!(
                "grpo.group_size = {} / grpo.prompts_per_step = {}: must be in 2..=256 and 1..=4096",
                g.group_size, g.prompts_per_step
            ));
        }
        if g.max_refill_groups > 16 * g.prompts_per_step.max(1) {
            return bad(format!(
                "grpo.max_refill_groups = {}: at most 16 x prompts_per_step ({}) extra groups a step",
                g.max_refill_groups,
                16 * g.prompts_per_step
            ));
        }
        if g.filter_groups == GroupFilter::None && g.max_refill_groups > 0 {
            return bad(format!(
                "grpo.max_refill_groups = {} needs grpo.filter_groups = \"reward_std\" or \"accuracy\": without a filter nothing is refilled",
                g.max_refill_groups
            ));
        }
        if !(g.temperature.is_finite() && g.temperature > 0.0) {
            return bad(format!(
                "grpo.temperature = {}: rollouts must be sampled (> 0), greedy groups have no variance",
                g.temperature
            ));
        }
        if !(g.top_p > 0.0 && g.top_p <= 1.0) {
            return bad(format!("grpo.top_p = {} must be in (0, 1]", g.top_p));
        }
        if g.max_completion_tokens == 0 || g.max_completion_tokens > 32768 {
            return bad(format!(
                "grpo.max_completion_tokens = {} must be in 1..=32768",
                g.max_completion_tokens
            ));
        }
        if g.max_prompt_tokens == 0 || g.max_prompt_tokens > 131072 {
            return bad(format!(
                "grpo.max_prompt_tokens = {} must be in 1..=131072",
                g.max_prompt_tokens
            ));
        }
        for (k, v) in [
            ("epsilon_low", g.epsilon_low),
            ("epsilon_high", g.epsilon_high),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 10.0) {
                return bad(format!("grpo.{k} = {v} must be in (0, 10)"));
            }
        }
        if g.epsilon_low >= 1.0 {
            return bad(format!(
                "grpo.epsilon_low = {} must be < 1 (the lower clip bound 1 − ε must stay positive)",
                g.epsilon_low
            ));
        }
        if g.mu == 0 || g.mu > 64 {
            return bad(format!("grpo.mu = {} must be in 1..=64", g.mu));
        }
        if !(g.beta.is_finite() && g.beta >= 0.0) {
            return bad(format!("grpo.beta = {} must be ≥ 0", g.beta));
        }
        if g.grad_accum_steps == 0 {
            return bad("grpo.grad_accum_steps must be ≥ 1".into());
        }
        if g.grad_accum_steps > 1 && g.mu > 1 {
            return bad(format!(
                "grpo.grad_accum_steps = {} with grpo.mu = {}: inner epochs need an update per batch; use one or the other",
                g.grad_accum_steps, g.mu
            ));
        }
        for (key, m) in [
            ("grpo.checkpoint_minutes", g.checkpoint_minutes),
            ("sft.checkpoint_minutes", self.sft.checkpoint_minutes),
        ] {
            if !(m.is_finite() && (0.0..=10_080.0).contains(&m)) {
                return bad(format!(
                    "{key} = {m} must be within 0 (off) and 10080 (a week)"
                ));
            }
        }
        if g.logprob_chunk == 0 {
            return bad("grpo.logprob_chunk must be ≥ 1".into());
        }
        if !(o.lr.is_finite() && o.lr > 0.0 && o.lr < 1.0) {
            return bad(format!("optim.lr = {} must be in (0, 1)", o.lr));
        }
        for (k, v) in [("beta1", o.beta1), ("beta2", o.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("optim.{k} = {v} must be in [0, 1)"));
            }
        }
        if !(o.eps.is_finite() && o.eps > 0.0) {
            return bad(format!("optim.eps = {} must be > 0", o.eps));
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return bad(format!(
                "optim.weight_decay = {} must be ≥ 0",
                o.weight_decay
            ));
        }
        if !(o.max_grad_norm.is_finite() && o.max_grad_norm >= 0.0) {
            return bad(format!(
                "optim.max_grad_norm = {} must be ≥ 0",
                o.max_grad_norm
            ));
        }
        if !(0.0..=1.0).contains(&o.min_lr_ratio) {
            return bad(format!(
                "optim.min_lr_ratio = {} must be in [0, 1]",
                o.min_lr_ratio
            ));
        }
        let l = &self.lora;
        if l.rank == 0 || l.rank > 1024 {
            return bad(format!("lora.rank = {} must be in 1..=1024", l.rank));
        }
        if !(l.alpha.is_finite() && l.alpha > 0.0) {
            return bad(format!("lora.alpha = {} must be > 0", l.alpha));
        }
        if !(0.0..1.0).contains(&l.dropout) {
            return bad(format!("lora.dropout = {} must be in [0, 1)", l.dropout));
        }
        if l.targets.is_empty() {
            return bad("lora.targets is empty: nothing would be trained".into());
        }
        for t in &l.targets {
            if dtr1_policy::Target::from_peft_name(t).is_none() {
                return bad(format!(
                    "lora.targets: unknown module `{t}` (use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)"
                ));
            }
        }
        if self.sft.batch_size == 0 || self.sft.max_tokens == 0 {
            return bad("sft.batch_size and sft.max_tokens must be ≥ 1".into());
        }
        Ok(())
    }

    /// The policy crate's LoRA configuration for a model with `num_layers` blocks.
    pub fn lora_config(&self, num_layers: usize) -> dtr1_policy::LoraConfig {
        let l = &self.lora;
        let top = if l.top_layers == 0 {
            num_layers
        } else {
            l.top_layers.min(num_layers)
        };
        dtr1_policy::LoraConfig {
            rank: l.rank,
            alpha: l.alpha,
            targets: l
                .targets
                .iter()
                .filter_map(|t| dtr1_policy::Target::from_peft_name(t))
                .collect(),
            layers: Some((num_layers - top..num_layers).collect()),
        }
    }
}
