//! `dtr1 eval` (an answerer over the six benchmarks of a split) and `dtr1 prompt` (one
//! sample's rendered prompt and solver trace).

use anyhow::{bail, Context, Result};
use dtr1_eval::{Answerer, BaselineAnswerer, EvalConfig, OracleAnswerer};
use dtr1_grpo::progress::Progress;
use std::path::PathBuf;
use std::time::Duration;

/// Which completion producer `dtr1 eval` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AnswererKind {
    /// Non-learned baselines (keyword matching, VQA priors from train, template summary).
    Baseline,
    /// The programmatic solver's traces (an upper bound; should score ~100).
    Oracle,
    /// The policy model (greedy), with `--adapter` if given.
    Policy,
}

/// `dtr1 eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Dataset directory (with manifest.json).
    pub dir: PathBuf,
    /// Split to evaluate.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Completion producer.
    #[arg(long, value_enum)]
    pub answerer: AnswererKind,
    /// Write report.md, report.json and samples.jsonl here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Policy model for `--answerer policy` (GGUF file or HF directory; default SmolLM2).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Prompt version of the prompts (1 or 2). Default: the --adapter's (its
    /// dtr1_prompt.json; an adapter without one is version 1), else the latest.
    #[arg(long)]
    pub prompt_version: Option<dtr1_prompt::PromptVersion>,
    /// LoRA adapter (PEFT directory) for `--answerer policy`.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Ask an OpenAI-compatible server (vLLM, llama.cpp) at this http:// URL instead of
    /// the local model, for `--answerer policy`.
    #[arg(long)]
    pub remote: Option<String>,
    /// Model name to request from `--remote`.
    #[arg(long, default_value = "default")]
    pub remote_model: String,
    /// Seconds before a `--remote` request times out (it is retried twice).
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Most new tokens per completion for `--answerer policy`.
    #[arg(long, default_value_t = 160)]
    pub max_tokens: usize,
    /// Evaluate at most this many samples per benchmark (0 = all).
    #[arg(long, default_value_t = 0)]
    pub per_task: usize,
    /// Bootstrap resamples for the 95% intervals.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `dtr1 compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Run A: an `--out` directory of `dtr1 eval` (or its samples.jsonl).
    pub a: PathBuf,
    /// Run B, compared with A on the samples both scored.
    pub b: PathBuf,
    /// Bootstrap resamples for the paired 95% intervals.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dtr1 compare`.
pub fn compare(args: &CompareArgs) -> Result<()> {
    let read = |p: &PathBuf| {
        let file = if p.is_dir() {
            p.join("samples.jsonl")
        } else {
            p.clone()
        };
        dtr1_eval::compare::read_samples(&file)
            .with_context(|| format!("reading the samples of run {}", p.display()))
    };
    let (a, b) = (read(&args.a)?, read(&args.b)?);
    let diffs = dtr1_eval::compare::compare(&a, &b, args.resamples, args.seed)?;
    if args.json {
        crate::out(&(serde_json::to_string_pretty(&diffs)? + "\n"))
    } else {
        crate::out(&dtr1_eval::compare::to_markdown(
            &diffs,
            &args.a.display().to_string(),
            &args.b.display().to_string(),
        ))
    }
}

/// `dtr1 prompt`.
#[derive(clap::Args)]
pub struct PromptArgs {
    /// Dataset directory (with manifest.json).
    pub dir: PathBuf,
    /// Split.
    #[arg(long, default_value = "val")]
    pub split: String,
    /// Sample index in the split, or its id.
    #[arg(long, default_value = "0")]
    pub sample: String,
    /// Prompt version (1 or 2).
    #[arg(long, default_value_t = dtr1_prompt::PromptVersion::LATEST)]
    pub prompt_version: dtr1_prompt::PromptVersion,
}

/// Runs `dtr1 eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    if args.resamples == 0 || args.resamples > 1_000_000 {
        bail!("--resamples {} must be within 1..=1000000", args.resamples);
    }
    let version = dtr1_policy::AdapterChoice::given(args.adapter.as_deref())
        .prompt_version(args.prompt_version)?;
    let mut samples = dtr1_eval::prepare(&args.dir, &args.split, version)
        .with_context(|| format!("preparing split {:?} of {}", args.split, args.dir.display()))?;
    if args.per_task > 0 {
        let mut seen = std::collections::BTreeMap::new();
        samples.retain(|p| {
            let n = seen.entry(p.sample.task).or_insert(0usize);
            *n += 1;
            *n <= args.per_task
        });
    }
    let mut answerer: Box<dyn Answerer> = match args.answerer {
        AnswererKind::Oracle => Box::new(OracleAnswerer),
        AnswererKind::Policy => Box::new(crate::train_cmd::PolicyAnswerer::load(
            args.model.as_deref(),
            args.adapter.as_deref(),
            version,
            args.remote
                .as_deref()
                .map(|u| (u, args.remote_model.as_str(), args.timeout)),
            args.max_tokens,
        )?),
        AnswererKind::Baseline => Box::new(
            BaselineAnswerer::fit(&args.dir)
                .context("the baseline fits its VQA answer priors on the train split")?,
        ),
    };
    let cfg = EvalConfig {
        resamples: args.resamples,
        seed: args.seed,
        ..Default::default()
    };
    let pb = Progress::new(
        "eval samples",
        samples.len(),
        0,
        true,
        Duration::from_secs(60),
    );
    let report = dtr1_eval::run(
        &samples,
        answerer.as_mut(),
        &cfg,
        &args.split,
        &mut |done, _| pb.set_position(done as u64),
    )?;
    pb.finish_and_clear();
    crate::out(&report.to_markdown())?;
    if let Some(dir) = &args.out {
        report
            .write(dir)
            .with_context(|| format!("writing the report to {}", dir.display()))?;
        crate::out(&format!(
            "\nwrote {}, report.json and samples.jsonl\n",
            dir.join("report.md").display()
        ))?;
    }
    Ok(())
}

/// Runs `dtr1 prompt`.
pub fn prompt(args: &PromptArgs) -> Result<()> {
    let samples = dtr1_data::dataset::read_split(&args.dir, &args.split)
        .with_context(|| format!("reading split {:?} of {}", args.split, args.dir.display()))?;
    let sample = match args.sample.parse::<usize>() {
        Ok(i) => samples.get(i).with_context(|| {
            format!(
                "sample index {i} is out of range (split {:?} has {} samples)",
                args.split,
                samples.len()
            )
        })?,
        Err(_) => samples
            .iter()
            .find(|s| s.id == args.sample)
            .with_context(|| {
                format!(
                    "no sample with id {:?} in split {:?}",
                    args.sample, args.split
                )
            })?,
    };
    let twin = dtr1_prompt::load_input_twin(&args.dir, sample)?;
    let mut text = format!(
        "sample {} ({}), prompt v{}\n",
        sample.id,
        sample.task.name(),
        args.prompt_version
    );
    for m in dtr1_prompt::build(args.prompt_version, sample.task, &sample.query, &twin) {
        text.push_str(&format!("\n--- {} ---\n{}\n", m.role, m.content));
    }
    let trace = dtr1_prompt::solver::solve(args.prompt_version, sample, &twin)?;
    text.push_str(&format!("\n--- solver trace ---\n{}\n", trace.completion()));
    crate::out(&text)
}
