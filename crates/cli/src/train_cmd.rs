//! `dtr1 sft` (cold start on solver traces), `dtr1 train` (GRPO), `dtr1 plot` (PNG curves),
//! and the policy as an [`Answerer`] for `dtr1 eval`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use dtr1_data::Task;
use dtr1_eval::{Answerer, EvalError, PreparedSample};
use dtr1_grpo::twinbench::{load_samples, messages, RolloutMode, TwinBenchEnv};
use dtr1_grpo::{GrpoTrainer, SftExample, TrainConfig};
use dtr1_policy::{
    ChatMessage, LocalPolicy, Model, Policy, RemotePolicy, SamplingParams, Tokenizer,
};
use dtr1_prompt::{version, PromptVersion};

/// Options shared by the training commands.
#[derive(clap::Args)]
pub struct CommonArgs {
    /// Dataset directory (with manifest.json), e.g. from `dtr1 data generate`.
    #[arg(long)]
    pub data: PathBuf,
    /// Split to train on.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Training configuration (TOML; every key documented in examples/grpo.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory: checkpoints, metrics.jsonl, curves.png, the final adapter/.
    #[arg(long)]
    pub out: PathBuf,
    /// GGUF or HF safetensors model directory (default: the SmolLM2 GGUF set-up fetched).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Start from this adapter (PEFT directory) instead of a fresh one.
    #[arg(long)]
    pub init_adapter: Option<PathBuf>,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Only these tasks (comma-separated benchmark names; default all six).
    #[arg(long, value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// Use at most this many samples of the split (0 = all), taking the tasks in turn.
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Prompt version to train in (1 or 2). Default: the run's own when resuming, else the
    /// --init-adapter's (its dtr1_prompt.json; none = 1), else the latest. Recorded in the
    /// run directory and in every adapter the run writes.
    #[arg(long)]
    pub prompt_version: Option<PromptVersion>,
}

/// The prompt version a training run uses (see [`CommonArgs::prompt_version`]), recorded in
/// the run directory so that its checkpoints and final adapter carry it.
fn run_prompt_version(args: &CommonArgs) -> Result<PromptVersion> {
    let own = if args.out.join(version::ADAPTER_FILE).is_file() {
        Some(version::of_adapter(&args.out)?)
    } else {
        None
    };
    let init = match &args.init_adapter {
        Some(a) => Some(version::of_adapter(a)?),
        None => None,
    };
    let v = match (args.prompt_version, own, init) {
        (Some(v), Some(o), _) if args.resume && v != o => bail!(
            "--prompt-version {v}, but the run in {} was started with version {o}",
            args.out.display()
        ),
        (Some(v), _, _) => v,
        (None, Some(o), _) if args.resume => o,
        (None, _, Some(i)) => i,
        (None, _, None) => PromptVersion::LATEST,
    };
    if let Some(i) = init.filter(|i| *i != v) {
        eprintln!(
            "note: the initial adapter was trained with prompt version {i}; this run uses version {v}"
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    version::record(&args.out, v)?;
    Ok(v)
}

/// `dtr1 plot`.
#[derive(clap::Args)]
pub struct PlotArgs {
    /// Run directory holding metrics.jsonl (from `dtr1 train` or `dtr1 sft`).
    pub run: PathBuf,
    /// Output PNG (default: RUN/curves.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Load a policy model from a GGUF file or an HF directory, with its tokenizer.
pub fn load_model(path: Option<&Path>) -> Result<(Model, Tokenizer)> {
    let p = path
        .map(Path::to_path_buf)
        .unwrap_or_else(dtr1_policy::default_model_path);
    let loaded = dtr1_policy::load_model(&p);
    loaded.with_context(|| {
        format!(
            "cannot load the model {} (run scripts/setup.sh to fetch the default one)",
            p.display()
        )
    })
}

fn tasks(names: &[String]) -> Result<Vec<Task>> {
    names
        .iter()
        .map(|n| {
            Task::from_name(n.trim()).with_context(|| {
                format!(
                    "unknown task `{n}` (one of image-reasonseg, image-grounding, image-vqa, video-reasonseg, video-vqa, video-summary)"
                )
            })
        })
        .collect()
}

fn config(path: Option<&Path>) -> Result<TrainConfig> {
    Ok(match path {
        Some(p) => TrainConfig::load(p)?,
        None => TrainConfig::default(),
    })
}

fn finish(run: &Path, adapter: &Path, version: PromptVersion) -> Result<()> {
    let dest = run.join("adapter");
    if dest.exists() {
        std::fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    std::fs::create_dir_all(&dest)?;
    for f in ["adapter_model.safetensors", "adapter_config.json"] {
        std::fs::copy(adapter.join(f), dest.join(f)).with_context(|| {
            format!(
                "copying {} to {}",
                adapter.join(f).display(),
                dest.display()
            )
        })?;
    }
    version::record(&dest, version)?;
    let png = run.join("curves.png");
    dtr1_grpo::plot::plot_metrics(&run.join("metrics.jsonl"), &png)?;
    crate::out(&format!(
        "adapter: {}\ncurves: {}\nmetrics: {}\n",
        dest.display(),
        png.display(),
        run.join("metrics.jsonl").display()
    ))
}

/// SFT examples from the programmatic solver's traces of `samples` in prompt `version` (the
/// rollout format, ending with the end-of-turn token), and how many samples it could not
/// trace.
pub fn sft_examples(
    samples: &[(dtr1_data::Sample, dtr1_twin::Twin)],
    tok: &Tokenizer,
    version: PromptVersion,
) -> Result<(Vec<SftExample>, usize)> {
    let mut examples = Vec::with_capacity(samples.len());
    let mut unsolved = 0;
    for (s, twin) in samples {
        let trace = match dtr1_prompt::solver::solve(version, s, twin) {
            Ok(t) => t,
            Err(_) => {
                unsolved += 1;
                continue;
            }
        };
        let prompt = tok.encode_chat(&messages(version, s, twin, RolloutMode::Full), true)?;
        let completion = tok.encode(&format!("{}<|im_end|>", trace.completion()))?;
        examples.push(SftExample { prompt, completion });
    }
    Ok((examples, unsolved))
}

/// `dtr1 sft`: LoRA cold start on the programmatic solver's traces (the rollout format).
pub fn sft(args: &CommonArgs) -> Result<()> {
    let cfg = config(args.config.as_deref())?;
    let samples = load_samples(&args.data, &args.split, &tasks(&args.tasks)?, args.limit)?;
    let (mut model, tok) = load_model(args.model.as_deref())?;
    let version = run_prompt_version(args)?;
    let (examples, unsolved) = sft_examples(&samples, &tok, version)?;
    if unsolved > 0 {
        eprintln!("sft: the solver could not trace {unsolved} samples; they are skipped");
    }
    eprintln!(
        "sft: {} traces from {} ({}), {} epochs, prompt version {version}",
        examples.len(),
        args.data.display(),
        args.split,
        cfg.sft.epochs
    );
    dtr1_grpo::train_sft(
        &mut model,
        &examples,
        &cfg,
        &args.out,
        args.init_adapter.as_deref(),
        args.resume,
        true,
    )?;
    finish(
        &args.out,
        &dtr1_grpo::sft::latest_adapter(&args.out)?,
        version,
    )
}

/// `dtr1 train`: GRPO with the DT-R1 reward.
pub fn train(args: &CommonArgs) -> Result<()> {
    let cfg = config(args.config.as_deref())?;
    let samples = load_samples(&args.data, &args.split, &tasks(&args.tasks)?, args.limit)?;
    let (model, tok) = load_model(args.model.as_deref())?;
    let version = run_prompt_version(args)?;
    let env = TwinBenchEnv::new(
        samples,
        &tok,
        RolloutMode::Full,
        version,
        dtr1_reward::RewardConfig::default(),
    )?;
    eprintln!(
        "train: {} prompts, {} steps × {} prompts × G = {}, prompt version {version}",
        dtr1_grpo::Environment::len(&env),
        cfg.grpo.steps,
        cfg.grpo.prompts_per_step,
        cfg.grpo.group_size
    );
    let mut tr = GrpoTrainer::new(
        model,
        &tok,
        &env,
        cfg,
        &args.out,
        args.init_adapter.as_deref(),
        args.resume,
    )?;
    tr.run(None, true)?;
    finish(
        &args.out,
        &dtr1_grpo::sft::latest_adapter(&args.out)?,
        version,
    )
}

/// `dtr1 plot`.
pub fn plot(args: &PlotArgs) -> Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run.join("curves.png"));
    let metrics = if args.run.is_file() {
        args.run.clone()
    } else {
        args.run.join("metrics.jsonl")
    };
    dtr1_grpo::plot::plot_metrics(&metrics, &out)?;
    crate::out(&format!("{}\n", out.display()))
}

/// The policy answering eval prompts: the local model (plus an optional adapter) or a remote
/// OpenAI-compatible server; greedy and batched (local), deterministic.
pub struct PolicyAnswerer {
    policy: Box<dyn Policy>,
    params: SamplingParams,
}

impl PolicyAnswerer {
    /// The local model with `adapter` if given (asked in prompt `version`), or — with
    /// `remote` — the server at that URL serving `remote_model`.
    pub fn load(
        model: Option<&Path>,
        adapter: Option<&Path>,
        version: dtr1_prompt::PromptVersion,
        remote: Option<(&str, &str, u64)>,
        max_tokens: usize,
    ) -> Result<Self> {
        if max_tokens == 0 || max_tokens > 8192 {
            bail!("--max-tokens {max_tokens} must be within 1..=8192");
        }
        let policy: Box<dyn Policy> = match remote {
            Some((url, name, timeout_s)) => {
                if adapter.is_some() {
                    bail!("--adapter applies to the local policy; load it into the remote server instead");
                }
                Box::new(RemotePolicy::new(
                    url,
                    name,
                    std::time::Duration::from_secs(timeout_s),
                )?)
            }
            None => {
                // An evaluation measures what it is given: no adapter unless one is given.
                let choice = dtr1_policy::AdapterChoice::given(adapter);
                let a = dtr1_policy::answering::load(model, &choice, Some(version))
                    .context("cannot load the policy")?;
                let name = match &a.adapter {
                    Some(dir) => format!("policy+{}", dir.display()),
                    None => "policy (base)".to_string(),
                };
                Box::new(LocalPolicy {
                    model: a.model,
                    tokenizer: a.tokenizer,
                    name,
                })
            }
        };
        Ok(Self {
            policy,
            params: SamplingParams {
                max_new_tokens: max_tokens,
                ..Default::default()
            },
        })
    }
}

impl Answerer for PolicyAnswerer {
    fn name(&self) -> String {
        self.policy.describe()
    }

    fn answer(&mut self, batch: &[PreparedSample]) -> Result<Vec<String>, EvalError> {
        let chats: Vec<Vec<ChatMessage>> =
            batch.iter().map(|p| dtr1_policy::chat(&p.prompt)).collect();
        self.policy
            .complete(&chats, &self.params)
            .map_err(|e| EvalError::Answerer {
                name: self.policy.describe(),
                source: Box::new(e),
            })
    }
}
