//! `dtr1 ask`'s arguments and the request they make, checked before anything is loaded.

use super::MAX_QUERY_CHARS;
use crate::ask::TaskKind;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Which policy answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyKind {
    /// The model in this process (default SmolLM2-135M with the committed adapter).
    Local,
    /// An OpenAI-compatible server given by `--remote URL`.
    Remote,
}

/// `dtr1 ask`.
#[derive(clap::Args)]
pub struct AskArgs {
    /// `MEDIA QUERY` (an image, a video file or a directory of frames, then the query), or
    /// `QUERY` alone with `--twin`.
    #[arg(required = true, num_args = 1..=2, value_name = "MEDIA|QUERY")]
    pub inputs: Vec<String>,
    /// Answer over this twin JSON instead of perceiving the media (validated first); media,
    /// when also given, is only drawn on.
    #[arg(long)]
    pub twin: Option<PathBuf>,
    /// Task: auto (a rule over the query and the media kind, printed with the reason),
    /// reasonseg, grounding (images), vqa or summary (videos).
    #[arg(long, default_value = "auto")]
    pub task: String,
    /// Perception backend: pixels (default), annotations, import or onnx; overrides
    /// the configuration's.
    #[arg(long)]
    pub backend: Option<String>,
    /// Perception configuration (TOML or JSON).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Detections for the import backend (COCO results or a Grounded-SAM-2 dump).
    #[arg(long)]
    pub detections: Option<PathBuf>,
    /// Depth map (16-bit PNG or .npy) for an image.
    #[arg(long)]
    pub depth: Option<PathBuf>,
    /// Ground truth for the annotations backend.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Format of --annotations: twinbench (default), coco, reasonseg or revos.
    #[arg(long)]
    pub annotations_format: Option<String>,
    /// Frames per second of a video (overrides the file's; frame directories default to 10).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Read at most this many frames of a video.
    #[arg(long)]
    pub max_frames: Option<usize>,
    /// Policy: local (default) or remote (needs --remote).
    #[arg(long, value_enum, default_value = "local")]
    pub policy: PolicyKind,
    /// OpenAI-compatible server (vLLM, llama.cpp, SGLang) at this http:// URL; implies
    /// `--policy remote`.
    #[arg(long)]
    pub remote: Option<String>,
    /// Local: the model file (GGUF) or HF directory (default SmolLM2-135M-Instruct).
    /// Remote: the model name to request (default `default`).
    #[arg(long)]
    pub model: Option<String>,
    /// Seconds before a remote request times out (it is tried three times).
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// LoRA adapter directory (PEFT format). Default: the committed trained adapter
    /// `adapters/dtr1-smollm2-135m/` when it exists, else the base model (said in the output).
    #[arg(long, conflicts_with = "no_adapter")]
    pub adapter: Option<PathBuf>,
    /// Use the base model without any adapter.
    #[arg(long)]
    pub no_adapter: bool,
    /// Prompt version (1 or 2). Default: the adapter's (its dtr1_prompt.json; an adapter
    /// without one is version 1), else the latest.
    #[arg(long)]
    pub prompt_version: Option<dtr1_prompt::PromptVersion>,
    /// Rollouts for self-consistency: 1 = greedy; N > 1 samples N at --temperature and
    /// votes (text: normalised majority; masks and boxes: highest mean IoU to the others).
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Sampling temperature for --samples > 1.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// Sampling seed (rollout i uses a stream derived from it).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Most new tokens per rollout.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Print machine-readable JSON (schema: docs/ask.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Write pictures here: answer.png (mask overlay, box, or the twin with the answer),
    /// mask.png, for videos masks/frame_NNNNN.png and sheet.png; and answer.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Measure latency: run the query --bench-runs times with the model loaded once and print
    /// a table of twin build, prompt tokens, generation and total per run.
    #[arg(long)]
    pub bench: bool,
    /// Runs for --bench.
    #[arg(long, default_value_t = 3)]
    pub bench_runs: usize,
}

/// What the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        }
    }
}

/// The validated request.
pub(super) struct Request {
    pub(super) query: String,
    pub(super) media: Option<(PathBuf, MediaKind)>,
    pub(super) twin_file: Option<PathBuf>,
    pub(super) task_flag: Option<TaskKind>,
}

pub(super) fn check_query(q: &str) -> Result<String> {
    let t = q.trim();
    if t.is_empty() {
        bail!("the query is empty: ask something about the media, e.g. \"what could hold water?\"");
    }
    let n = t.chars().count();
    if n > MAX_QUERY_CHARS {
        bail!("the query is {n} characters long; at most {MAX_QUERY_CHARS} are accepted");
    }
    if t.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        bail!("the query contains control characters");
    }
    Ok(t.to_string())
}

pub(super) fn media_kind(p: &Path) -> Result<MediaKind> {
    if !p.exists() {
        bail!("cannot read {}: no such file or directory", p.display());
    }
    if crate::twin_video::is_video(p) {
        Ok(MediaKind::Video)
    } else if p
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        bail!(
            "{} looks like a twin JSON: pass it with --twin FILE \"QUERY\"",
            p.display()
        )
    } else {
        Ok(MediaKind::Image)
    }
}

pub(super) fn request(a: &AskArgs) -> Result<Request> {
    let (media, query) = match (a.inputs.as_slice(), &a.twin) {
        ([q], Some(_)) => (None, q),
        ([q], None) => bail!(
            "give the media and the query (`dtr1 ask MEDIA \"{q}\"`), or a twin with --twin FILE"
        ),
        ([m, q], _) => (Some(PathBuf::from(m)), q),
        _ => bail!("expected MEDIA QUERY, or QUERY with --twin"),
    };
    let query = check_query(query)?;
    let media = match media {
        Some(m) => {
            let k = media_kind(&m)?;
            Some((m, k))
        }
        None => None,
    };
    let task_flag = match a.task.as_str() {
        "auto" => None,
        other => Some(TaskKind::from_name(other).with_context(|| {
            format!("--task {other:?} is not one of auto, reasonseg, grounding, vqa, summary")
        })?),
    };
    if a.samples == 0 || a.samples > 64 {
        bail!("--samples {} must be within 1..=64", a.samples);
    }
    if !(a.temperature.is_finite() && a.temperature >= 0.0) {
        bail!(
            "--temperature {} must be a finite number >= 0",
            a.temperature
        );
    }
    if a.max_new_tokens == 0 || a.max_new_tokens > 4096 {
        bail!(
            "--max-new-tokens {} must be within 1..=4096",
            a.max_new_tokens
        );
    }
    if a.bench && (a.bench_runs == 0 || a.bench_runs > 100) {
        bail!("--bench-runs {} must be within 1..=100", a.bench_runs);
    }
    if a.timeout == 0 {
        bail!("--timeout must be at least 1 second");
    }
    Ok(Request {
        query,
        media,
        twin_file: a.twin.clone(),
        task_flag,
    })
}
