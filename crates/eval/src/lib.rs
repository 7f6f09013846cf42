//! Evaluation of a completion producer on the six dt-r1 benchmarks.
//!
//! [`prepare`] loads a split with each sample's input twin and prompt; an [`Answerer`]
//! writes one completion (in the rollout format) per sample; [`evaluate`] decodes the answers
//! with the answer layer the reward, `dtr1 ask` and `dtr1 serve` share
//! ([`dtr1_reward::answer`]: ids → union of the twin's masks or boxes, text as is) and computes the docs/design.md metrics
//! per benchmark with [`dtr1_metrics`]: image-reasonseg gIoU and cIoU, image-grounding
//! Acc@0.5 and mean IoU, VQA accuracy, video-reasonseg J&F (and J, F), video-VQA accuracy,
//! video-summary ROUGE-L, CIDEr-D and BLEU-4. Every headline number carries a seeded
//! percentile-bootstrap 95% confidence interval; the primary metric of each benchmark is
//! also broken down by reasoning category and by level; and the reward's components
//! (format, structure, accuracy, total, [`dtr1_reward::score`]) are averaged per benchmark.
//!
//! Decoding is lenient where the reward is strict: the `<answer>` block is read whenever it
//! can be located, even if the rollout's format fails (the format rate is reported beside),
//! and cited ids that the input twin lacks are ignored.
//!
//! Two answerers live here: [`OracleAnswerer`] (the programmatic solver, which must score
//! ~100%) and [`BaselineAnswerer`] (the non-learned baselines). The policy-backed answerer
//! lives with the policy.
//!
//! [`compare`] sets two runs side by side: the difference per benchmark on the same
//! samples, with a paired bootstrap interval.

pub mod baseline;
pub mod compare;
pub mod passk;
mod report;
mod score;

pub use report::{BenchmarkReport, BreakdownRow, MetricValue, Report, RewardSummary};
pub use score::{SampleScore, Values};

use baseline::Baseline;
use dtr1_data::{dataset, DataError, Sample};
use dtr1_prompt::{Message, PromptError, PromptVersion};
use dtr1_reward::RewardConfig;
use dtr1_twin::Twin;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where the input twins of an evaluation come from. Samples name their twin files; for
/// TwinBench these are the generator's true twins (the `annotations` backend).
pub const TWIN_SOURCE: &str = "annotations (each sample's twin file)";

/// Why an evaluation could not run.
#[derive(Debug, Error)]
pub enum EvalError {
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A sample's twin or prompt could not be made.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The answerer failed (a policy that could not generate, a remote model that did
    /// not answer).
    #[error("answerer {name}: {source}")]
    Answerer {
        /// The answerer.
        name: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The answerer returned the wrong number of completions.
    #[error("answerer {name} returned {got} completions for {expected} samples")]
    Count {
        /// The answerer.
        name: String,
        /// Samples in the batch.
        expected: usize,
        /// Completions returned.
        got: usize,
    },
    /// Nothing to evaluate.
    #[error("split {split:?} of {dir} has no samples")]
    Empty {
        /// Dataset directory.
        dir: PathBuf,
        /// The split.
        split: String,
    },
    /// Samples of one report prepared under different prompt versions.
    #[error("sample {sample} has prompt version {version}, the others {others}: one report, one version")]
    MixedVersions {
        /// The first sample whose version differs.
        sample: String,
        /// Its version.
        version: PromptVersion,
        /// The version of the samples before it.
        others: PromptVersion,
    },
    /// A batch size of 0.
    #[error("batch size must be at least 1")]
    ZeroBatchSize,
    /// A bootstrap with no resample.
    #[error("at least one bootstrap resample is needed")]
    NoResamples,
    /// A video sample whose twin has no frames.
    #[error("sample {sample}: the video twin has no frames")]
    NoFrames {
        /// Sample id.
        sample: String,
    },
    /// A sample's ground truth cannot be scored for its task with its twin.
    #[error(
        "sample {sample}: ground truth of type {truth} does not fit task {} with this twin",
        task.name()
    )]
    TruthMismatch {
        /// Sample id.
        sample: String,
        /// The ground truth's type name.
        truth: &'static str,
        /// The sample's task.
        task: dtr1_data::Task,
    },
    /// A `samples.jsonl` could not be read.
    #[error("{}: {source}", path.display())]
    ReadSamples {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line of a `samples.jsonl` is not a sample score.
    #[error("{} line {line}: not a sample score of `dtr1 eval`: {source}", path.display())]
    SampleLine {
        /// The file.
        path: PathBuf,
        /// Line number (1-based).
        line: usize,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// One run scores a sample twice.
    #[error("run {run} scores sample {sample} twice")]
    DuplicateSample {
        /// The run (`A` or `B`).
        run: String,
        /// Sample id.
        sample: String,
    },
    /// A sample id has different tasks in the two runs.
    #[error(
        "sample {sample} is {} in run A and {} in run B: the runs are not on the same dataset",
        a.name(),
        b.name()
    )]
    TaskMismatch {
        /// Sample id.
        sample: String,
        /// Its task in run A.
        a: dtr1_data::Task,
        /// Its task in run B.
        b: dtr1_data::Task,
    },
    /// The two runs have no sample in common.
    #[error("the two runs share no sample id: compare evaluations of the same split")]
    NoSharedSamples,
    /// A metric could not be computed (inconsistent sizes in the data).
    #[error("sample {sample}: {source}")]
    Metric {
        /// Sample id.
        sample: String,
        /// Why.
        source: dtr1_metrics::MetricError,
    },
}

/// A sample ready to be answered: the sample, its input twin, its prompt.
#[derive(Debug, Clone)]
pub struct PreparedSample {
    /// The sample (paths absolute).
    pub sample: Sample,
    /// The input twin the prompt shows and answers are decoded against.
    pub twin: Twin,
    /// The prompt ([`dtr1_prompt::build`]).
    pub prompt: Vec<Message>,
    /// The prompt version of `prompt`, which answerers that write traces (the oracle) write
    /// them in, and which the report records.
    pub version: PromptVersion,
}

/// Loads a split and prepares every sample (twin and prompt of `version`).
pub fn prepare(
    dir: &Path,
    split: &str,
    version: PromptVersion,
) -> Result<Vec<PreparedSample>, EvalError> {
    let samples = dataset::read_split(dir, split)?;
    if samples.is_empty() {
        return Err(EvalError::Empty {
            dir: dir.to_path_buf(),
            split: split.to_string(),
        });
    }
    samples
        .into_iter()
        .map(|sample| {
            let twin = dtr1_prompt::load_input_twin(dir, &sample)?;
            let prompt = dtr1_prompt::build(version, sample.task, &sample.query, &twin);
            Ok(PreparedSample {
                sample,
                twin,
                prompt,
                version,
            })
        })
        .collect()
}

/// Something that writes completions in the rollout format: the policy, the solver, a
/// baseline.
pub trait Answerer {
    /// A short name for reports.
    fn name(&self) -> String;
    /// One completion per sample, in order.
    fn answer(&mut self, batch: &[PreparedSample]) -> Result<Vec<String>, EvalError>;
}

/// The programmatic solver's traces ([`dtr1_prompt::solver`]): an upper bound that checks
/// the decoding and the metrics end to end.
#[derive(Debug, Clone, Copy, Default)]
pub struct OracleAnswerer;

impl Answerer for OracleAnswerer {
    fn name(&self) -> String {
        "oracle".into()
    }

    fn answer(&mut self, batch: &[PreparedSample]) -> Result<Vec<String>, EvalError> {
        batch
            .iter()
            .map(|p| Ok(dtr1_prompt::solver::solve(p.version, &p.sample, &p.twin)?.completion()))
            .collect()
    }
}

/// The non-learned baselines ([`baseline`]).
#[derive(Debug, Clone)]
pub struct BaselineAnswerer {
    baseline: Baseline,
}

impl BaselineAnswerer {
    /// Fits the VQA answer priors on the dataset's `train` split.
    pub fn fit(dir: &Path) -> Result<Self, EvalError> {
        let train = dataset::read_split(dir, "train")?;
        Ok(BaselineAnswerer {
            baseline: Baseline::fit(&train),
        })
    }

    /// Wraps fitted baselines.
    pub fn new(baseline: Baseline) -> Self {
        BaselineAnswerer { baseline }
    }
}

impl Answerer for BaselineAnswerer {
    fn name(&self) -> String {
        "baseline".into()
    }

    fn answer(&mut self, batch: &[PreparedSample]) -> Result<Vec<String>, EvalError> {
        batch
            .iter()
            .map(|p| Ok(self.baseline.complete(&p.sample, &p.twin)?))
            .collect()
    }
}

/// Settings of an evaluation.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Samples per answerer call.
    pub batch_size: usize,
    /// Bootstrap resamples for the confidence intervals.
    pub resamples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// The reward whose components are reported.
    pub reward: RewardConfig,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            batch_size: 8,
            resamples: 1000,
            seed: 0,
            reward: RewardConfig::default(),
        }
    }
}

/// Runs an answerer over prepared samples (in batches, calling `progress(done, total)`
/// after each) and evaluates its completions.
pub fn run(
    samples: &[PreparedSample],
    answerer: &mut dyn Answerer,
    cfg: &EvalConfig,
    split: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, EvalError> {
    if cfg.batch_size == 0 {
        return Err(EvalError::ZeroBatchSize);
    }
    let mut completions = Vec::with_capacity(samples.len());
    for batch in samples.chunks(cfg.batch_size) {
        let out = answerer.answer(batch)?;
        if out.len() != batch.len() {
            return Err(EvalError::Count {
                name: answerer.name(),
                expected: batch.len(),
                got: out.len(),
            });
        }
        completions.extend(out);
        progress(completions.len(), samples.len());
    }
    evaluate(samples, &completions, cfg, &answerer.name(), split)
}

/// Scores completions (one per sample) and aggregates them into a [`Report`].
pub fn evaluate(
    samples: &[PreparedSample],
    completions: &[String],
    cfg: &EvalConfig,
    answerer: &str,
    split: &str,
) -> Result<Report, EvalError> {
    if samples.len() != completions.len() {
        return Err(EvalError::Count {
            name: answerer.into(),
            expected: samples.len(),
            got: completions.len(),
        });
    }
    if cfg.resamples == 0 {
        return Err(EvalError::NoResamples);
    }
    let version = samples.first().map_or(PromptVersion::LATEST, |s| s.version);
    if let Some(s) = samples.iter().find(|s| s.version != version) {
        return Err(EvalError::MixedVersions {
            sample: s.sample.id.clone(),
            version: s.version,
            others: version,
        });
    }
    let scores = score::score_all(samples, completions, &cfg.reward)?;
    Ok(report::aggregate(scores, cfg, answerer, split, version))
}
