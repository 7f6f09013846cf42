//! `dtr1 passk`: pass@1 and pass@k of the local policy on a fixed set of prompts per
//! benchmark (`dtr1_eval::passk`): k rollouts per prompt sampled from one shared prefill,
//! each scored by the reward.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use dtr1_policy::{AdapterChoice, Answering, SamplingParams};
use dtr1_prompt::PromptVersion;

/// Options of `dtr1 passk`.
#[derive(clap::Args)]
pub struct PassArgs {
    /// Dataset directory (with manifest.json).
    pub dir: PathBuf,
    /// Split (the train prompts GRPO would see: `train`).
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Prompts per benchmark: the first N of each, in file order (the same set every run).
    #[arg(long, default_value_t = 30)]
    pub per_task: usize,
    /// Rollouts per prompt (k).
    #[arg(long, default_value_t = 8)]
    pub samples: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// Most new tokens per rollout.
    #[arg(long, default_value_t = 288)]
    pub max_tokens: usize,
    /// Seed of prompt i's rollouts: seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// GGUF or HF model directory (default: the SmolLM2 GGUF set-up fetched).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// LoRA adapter (PEFT directory).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Prompt version (default: the adapter's, else the latest).
    #[arg(long)]
    pub prompt_version: Option<PromptVersion>,
    /// Write passk.md, passk.json and rollouts.jsonl here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `dtr1 passk`.
pub fn run(a: &PassArgs) -> Result<()> {
    if a.samples == 0 || a.samples > 64 {
        bail!("--samples {} must be within 1..=64", a.samples);
    }
    if a.per_task == 0 {
        bail!("--per-task must be at least 1");
    }
    if !(a.temperature.is_finite() && a.temperature > 0.0 && a.temperature <= 2.0) {
        bail!("--temperature {} must be within (0, 2]", a.temperature);
    }
    if a.max_tokens == 0 || a.max_tokens > 8192 {
        bail!("--max-tokens {} must be within 1..=8192", a.max_tokens);
    }
    // What it is given: the adapter when one is given, else the base model.
    let choice = AdapterChoice::given(a.adapter.as_deref());
    let version = choice.prompt_version(a.prompt_version)?;
    let mut samples = dtr1_eval::prepare(&a.dir, &a.split, version)
        .with_context(|| format!("preparing split {:?} of {}", a.split, a.dir.display()))?;
    let mut seen = std::collections::BTreeMap::new();
    samples.retain(|p| {
        let n = seen.entry(p.sample.task).or_insert(0usize);
        *n += 1;
        *n <= a.per_task
    });
    let Answering {
        model,
        tokenizer: tok,
        ..
    } = dtr1_policy::answering::load(a.model.as_deref(), &choice, Some(version))
        .context("cannot load the policy")?;
    let bar = dtr1_grpo::progress::Progress::new(
        "passk prompts",
        samples.len(),
        0,
        true,
        Duration::from_secs(60),
    );
    let mut rollouts = Vec::with_capacity(samples.len());
    for (i, p) in samples.iter().enumerate() {
        let chat = dtr1_policy::chat(&p.prompt);
        let prompt = tok.encode_chat(&chat, true)?;
        let params = SamplingParams {
            max_new_tokens: a.max_tokens,
            temperature: a.temperature,
            seed: a.seed.wrapping_add(i as u64),
            stop: vec!["<|im_end|>".into()],
            ..Default::default()
        };
        let gens = dtr1_policy::generate_group(
            &model,
            &tok,
            &prompt,
            a.samples,
            &params,
            a.adapter.is_some(),
        )
        .with_context(|| format!("sampling rollouts for {}", p.sample.id))?;
        rollouts.push(gens.into_iter().map(|g| g.text).collect::<Vec<_>>());
        bar.set_position(i as u64 + 1);
    }
    bar.finish_and_clear();
    let rows = dtr1_eval::passk::evaluate(
        &samples,
        &rollouts,
        a.samples,
        &dtr1_reward::RewardConfig::default(),
    )
    .map_err(anyhow::Error::msg)?;
    let md = format!(
        "pass@k of {} on split `{}` ({} prompts per benchmark, {} rollouts each at temperature {}, seed {}), prompt v{version}; a rollout solves its prompt at reward accuracy ≥ {}.\n\n{}",
        a.adapter
            .as_ref()
            .map_or("the base model".to_string(), |d| format!("adapter {}", d.display())),
        a.split,
        a.per_task,
        a.samples,
        a.temperature,
        a.seed,
        dtr1_eval::passk::SOLVED_ACCURACY,
        dtr1_eval::passk::to_markdown(&rows)
    );
    crate::out(&md)?;
    if let Some(out) = &a.out {
        let write = |name: &str, bytes: &[u8]| {
            dtr1_data::dataset::write_atomic(&out.join(name), bytes)
                .with_context(|| format!("writing {}", out.join(name).display()))
        };
        write("passk.md", md.as_bytes())?;
        write(
            "passk.json",
            serde_json::to_string_pretty(&rows)?.as_bytes(),
        )?;
        let mut lines = String::new();
        for (p, rs) in samples.iter().zip(&rollouts) {
            lines.push_str(&serde_json::to_string(
                &serde_json::json!({"id": p.sample.id, "task": p.sample.task.name(), "rollouts": rs}),
            )?);
            lines.push('\n');
        }
        write("rollouts.jsonl", lines.as_bytes())?;
    }
    Ok(())
}
