//! `dtr1 ask`: answer a query about an image, a video (file or frame directory) or a twin
//! JSON with the policy, and show everything a user needs to trust or distrust the answer —
//! the task chosen and why, the decoded answer (mask RLE, box, text) and its picture, the
//! `<twin>` and `<think>` the model wrote, the reward's structure check of that rollout, the
//! self-consistency vote over `--samples` rollouts, and the time each stage took.
//!
//! The JSON output (`--json`) follows `docs/ask.schema.json`.

use anyhow::{bail, Context, Result};
use dtr1_data::Task;
use dtr1_perception::pipeline::{PerceptionConfig, Pipeline};
use dtr1_perception::video::{self, VideoConfig};
use dtr1_policy::{ChatMessage, Model, Policy, RemotePolicy, SamplingParams, Tokenizer};
use dtr1_prompt::ask::{infer_task, TaskKind, Vote};
use dtr1_reward::accuracy::Answer;
use dtr1_reward::answer::{self, Problem, Reading};
use dtr1_reward::structure::StructureProblem;
use dtr1_rle::Rle;
use dtr1_serve::ask::AskAnswer;
use dtr1_twin::{ImageTwin, Twin, VideoTwin};
use image::{Rgb, RgbImage};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Version of the `--json` output (docs/ask.schema.json); bumped when a field changes.
pub const OUTPUT_VERSION: u32 = 2;

/// Longest query accepted, in characters: longer text is not a query but a pasted document,
/// and would crowd the twin out of the small model's context.
pub const MAX_QUERY_CHARS: usize = 2000;

/// Where the committed trained adapter lives, relative to the repository.
pub const DEFAULT_ADAPTER: &str = "adapters/dtr1-smollm2-135m";

/// Pictures on a video contact sheet.
const SHEET_FRAMES: usize = 16;

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
enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    fn name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        }
    }
}

/// The validated request.
struct Request {
    query: String,
    media: Option<(PathBuf, MediaKind)>,
    twin_file: Option<PathBuf>,
    task_flag: Option<TaskKind>,
}

fn check_query(q: &str) -> Result<String> {
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

fn media_kind(p: &Path) -> Result<MediaKind> {
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

fn request(a: &AskArgs) -> Result<Request> {
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

/// The policy that answers, with what the user should know about it.
enum Loaded {
    Local {
        model: Box<Model>,
        tokenizer: Box<Tokenizer>,
        adapter: Option<PathBuf>,
        /// The prompt version it is asked in.
        version: dtr1_prompt::PromptVersion,
    },
    Remote(RemotePolicy, String),
}

impl Loaded {
    /// The prompt version to ask in: the local adapter's (or `--prompt-version`); for a
    /// remote server, `--prompt-version` or the latest.
    fn version(&self, a: &AskArgs) -> dtr1_prompt::PromptVersion {
        match self {
            Loaded::Local { version, .. } => *version,
            Loaded::Remote(..) => a
                .prompt_version
                .unwrap_or(dtr1_prompt::PromptVersion::LATEST),
        }
    }
}

/// The committed trained adapter, when this checkout has it: what `dtr1 ask` and `/v1/ask`
/// answer with unless told otherwise.
pub fn committed_adapter() -> Option<PathBuf> {
    let dir = default_adapter();
    dir.join("adapter_config.json").is_file().then_some(dir)
}

/// The committed adapter's directory.
fn default_adapter() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DEFAULT_ADAPTER)
}

fn load_policy(a: &AskArgs) -> Result<(Loaded, String)> {
    let remote = match (a.policy, &a.remote) {
        (_, Some(url)) => Some(url.as_str()),
        (PolicyKind::Remote, None) => bail!("--policy remote needs --remote URL"),
        (PolicyKind::Local, None) => None,
    };
    if let Some(url) = remote {
        if a.adapter.is_some() {
            bail!("--adapter applies to the local policy; load it into the remote server instead");
        }
        let name = a.model.clone().unwrap_or_else(|| "default".into());
        let p = RemotePolicy::new(url, &name, Duration::from_secs(a.timeout))
            .with_context(|| format!("remote policy {url}"))?;
        let note = format!("remote {url} (model {name:?}); the server's own weights answer");
        return Ok((Loaded::Remote(p, url.to_string()), note));
    }
    let (mut model, tokenizer) = crate::train_cmd::load_model(a.model.as_deref().map(Path::new))?;
    let model_name = a.model.clone().map_or_else(
        || dtr1_policy::DEFAULT_MODEL_FILE.to_string(),
        |m| {
            Path::new(&m)
                .file_name()
                .map_or(m.clone(), |f| f.to_string_lossy().into_owned())
        },
    );
    let (adapter, note) = if a.no_adapter {
        (None, format!("{model_name}, base model (--no-adapter)"))
    } else if let Some(dir) = &a.adapter {
        (
            Some(dir.clone()),
            format!("{model_name} + adapter {}", dir.display()),
        )
    } else {
        if let Some(dir) = committed_adapter() {
            (
                Some(dir),
                format!("{model_name} + the committed adapter {DEFAULT_ADAPTER}/"),
            )
        } else {
            (
                None,
                format!(
                    "{model_name}, BASE MODEL: no trained adapter at {DEFAULT_ADAPTER}/ yet, so the untrained model answers (expect poor answers; pass --adapter DIR for a trained one)"
                ),
            )
        }
    };
    if let Some(dir) = &adapter {
        model
            .load_lora(dir)
            .with_context(|| format!("cannot load the adapter {}", dir.display()))?;
    }
    let version = match (a.prompt_version, &adapter) {
        (Some(v), _) => v,
        (None, Some(dir)) => dtr1_prompt::version::of_adapter(dir)?,
        (None, None) => dtr1_prompt::PromptVersion::LATEST,
    };
    Ok((
        Loaded::Local {
            model: Box::new(model),
            tokenizer: Box::new(tokenizer),
            adapter,
            version,
        },
        note,
    ))
}

/// Pictures to draw the answer on.
enum Canvas {
    Image(RgbImage),
    /// `(frame index, frame)` spread over the video, for the contact sheet.
    Frames(Vec<(u32, RgbImage)>),
}

/// A built or loaded twin and where it came from.
struct TwinInput {
    twin: Twin,
    source: String,
    canvas: Option<Canvas>,
}

fn perception_config(a: &AskArgs) -> Result<PerceptionConfig> {
    crate::twin_cmd::config_from(&crate::twin_cmd::ImageArgs {
        image: Path::new(""),
        config: a.config.as_deref(),
        backend: a.backend.as_deref(),
        detections: a.detections.as_deref(),
        image_id: None,
        depth: a.depth.as_deref(),
        invert_depth: false,
        annotations: a.annotations.as_deref(),
        annotations_format: a.annotations_format.as_deref(),
        overlay: None,
        json: false,
    })
}

/// Which frames of a video go on the contact sheet: evenly spread, every 4th when the
/// length is unknown (thinned afterwards).
fn sheet_step(total: Option<usize>) -> u32 {
    total.map_or(4, |n| n.div_ceil(SHEET_FRAMES).max(1)) as u32
}

fn thin(mut kept: Vec<(u32, RgbImage)>) -> Vec<(u32, RgbImage)> {
    if kept.len() > SHEET_FRAMES {
        let every = kept.len().div_ceil(SHEET_FRAMES);
        kept = kept.into_iter().step_by(every).collect();
    }
    kept
}

fn read_frames(path: &Path, a: &AskArgs) -> Result<Vec<(u32, RgbImage)>> {
    let mut src = video::open(path, a.fps)
        .with_context(|| format!("cannot read video {}", path.display()))?;
    let total = match (src.len_hint(), a.max_frames) {
        (Some(n), Some(m)) => Some(n.min(m)),
        (n, m) => n.or(m),
    };
    let step = sheet_step(total);
    let mut kept = Vec::new();
    let mut f = 0u32;
    while a.max_frames.is_none_or(|m| (f as usize) < m) {
        let Some(frame) = src
            .next_frame()
            .with_context(|| format!("cannot read frame {f} of {}", path.display()))?
        else {
            break;
        };
        if f.is_multiple_of(step) {
            kept.push((f, frame));
        }
        f += 1;
    }
    Ok(thin(kept))
}

fn build_twin(req: &Request, a: &AskArgs, want_pictures: bool) -> Result<TwinInput> {
    if let Some(file) = &req.twin_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read twin file {}", file.display()))?;
        let twin = Twin::from_json(&text)
            .with_context(|| format!("{} is not a valid twin", file.display()))?;
        dtr1_twin::validate(&twin, dtr1_twin::Mode::Strict)
            .with_context(|| format!("{} failed validation", file.display()))?;
        let canvas = match (&req.media, want_pictures) {
            (Some((p, MediaKind::Image)), true) => Some(Canvas::Image(
                dtr1_perception::pipeline::read_image(p)
                    .with_context(|| format!("cannot read image {}", p.display()))?,
            )),
            (Some((p, MediaKind::Video)), true) => Some(Canvas::Frames(read_frames(p, a)?)),
            _ => None,
        };
        if let Some((p, k)) = &req.media {
            let twin_video = matches!(twin, Twin::Video(_));
            if twin_video != (*k == MediaKind::Video) {
                bail!(
                    "{} is a {} twin but {} is a {}",
                    file.display(),
                    if twin_video { "video" } else { "image" },
                    p.display(),
                    k.name()
                );
            }
        }
        return Ok(TwinInput {
            twin,
            source: format!("file {}", file.display()),
            canvas,
        });
    }
    let (path, kind) = req.media.as_ref().context("no media and no --twin")?;
    let cfg = perception_config(a)?;
    let pipeline = Pipeline::from_config(&cfg).context("cannot set up perception")?;
    match kind {
        MediaKind::Image => {
            let img = dtr1_perception::pipeline::read_image(path)
                .with_context(|| format!("cannot read image {}", path.display()))?;
            let twin = pipeline
                .twin(&img)
                .with_context(|| format!("perception failed on {}", path.display()))?;
            Ok(TwinInput {
                twin: Twin::Image(twin),
                source: format!("perception ({}) of {}", cfg.backend, path.display()),
                canvas: want_pictures.then_some(Canvas::Image(img)),
            })
        }
        MediaKind::Video => {
            let mut src = video::open(path, a.fps)
                .with_context(|| format!("cannot read video {}", path.display()))?;
            let total = match (src.len_hint(), a.max_frames) {
                (Some(n), Some(m)) => Some(n.min(m)),
                (n, m) => n.or(m),
            };
            let step = sheet_step(total);
            let pb = match total {
                Some(n) => ProgressBar::new(n as u64),
                None => ProgressBar::new_spinner(),
            };
            pb.set_style(
                ProgressStyle::with_template("perceiving [{bar:30}] {pos}/{len} frames {elapsed}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            let vcfg = VideoConfig {
                max_frames: a.max_frames,
                ..Default::default()
            };
            let out = video::perceive(
                src.as_mut(),
                &pipeline,
                &vcfg,
                &|f| want_pictures && f.is_multiple_of(step),
                &mut |n| pb.set_position(u64::from(n)),
            )
            .with_context(|| format!("cannot build the twin of {}", path.display()))?;
            pb.finish_and_clear();
            Ok(TwinInput {
                twin: Twin::Video(out.twin),
                source: format!("perception ({}) of {}", cfg.backend, path.display()),
                canvas: want_pictures.then(|| Canvas::Frames(thin(out.kept))),
            })
        }
    }
}

/// The task, chosen by flag or by the rule.
fn choose_task(req: &Request, twin: &Twin) -> Result<(Task, &'static str, String)> {
    let video = matches!(twin, Twin::Video(_));
    match req.task_flag {
        Some(k) => {
            let task = k.task(video).with_context(|| match k {
                TaskKind::Summary => {
                    "--task summary needs a video (there is no image summary task)".to_string()
                }
                _ => "--task grounding needs an image (on a video, ask --task reasonseg: the per-frame masks locate the object)".to_string(),
            })?;
            Ok((task, "flag", format!("--task {}", req_task_name(k))))
        }
        None => {
            let inf = infer_task(&req.query, video);
            Ok((inf.task, "auto", inf.reason))
        }
    }
}

fn req_task_name(k: TaskKind) -> &'static str {
    match k {
        TaskKind::Reasonseg => "reasonseg",
        TaskKind::Grounding => "grounding",
        TaskKind::Vqa => "vqa",
        TaskKind::Summary => "summary",
    }
}

/// The reward's structure check of one rollout, with the offending ids named.
#[derive(Debug, Clone)]
struct Check {
    format_ok: bool,
    format_problems: Vec<String>,
    structure: f64,
    checks: BTreeMap<String, f64>,
    problems: Vec<String>,
}

/// Content of `<name>…</name>` when both tags occur exactly once in order (the reward's
/// parser returns `<think>` only when the whole rollout is well formed; a user wants to see
/// it anyway).
fn block(text: &str, name: &str) -> Option<String> {
    let (o, c) = (format!("<{name}>"), format!("</{name}>"));
    if text.matches(&o).count() != 1 || text.matches(&c).count() != 1 {
        return None;
    }
    let start = text.find(&o)? + o.len();
    let end = text.find(&c)?;
    (start <= end).then(|| text[start..end].trim().to_string())
}

/// The reward's structure check of a rollout as the answer layer read it, with each id that
/// does not fit named by the layer.
fn check_rollout(task: Task, twin: &Twin, reading: &Reading) -> Check {
    let format_problems: Vec<String> = match &reading.rollout.result {
        Ok(_) => vec![],
        Err(ps) => ps.iter().map(ToString::to_string).collect(),
    };
    // The structure check reads only the task, the twin and the rollout; what the query is
    // about is not known here, so the `relevant` check is left out.
    let st = dtr1_reward::structure::check(
        reading.rollout.twin.as_deref(),
        &reading.strict(twin),
        task,
        twin,
        &dtr1_reward::RewardConfig::default(),
        None,
    );
    // The reward's summary lines about ids give way to the layer's lines naming each id; an
    // answer is malformed for citing ids the twin lacks exactly when the layer names one.
    let named = !reading.problems.is_empty();
    let cites_missing = reading
        .problems
        .iter()
        .any(|p| matches!(p, Problem::CitedNotInTwin { .. }));
    let problems: Vec<String> = st
        .problems
        .iter()
        .filter(|p| match p {
            StructureProblem::IdsNotInTwin(_) | StructureProblem::CitesOutsideSubTwin => !named,
            StructureProblem::MalformedAnswer(_) => !cites_missing,
            _ => true,
        })
        .map(ToString::to_string)
        .chain(reading.problems.iter().map(ToString::to_string))
        .collect();
    Check {
        format_ok: format_problems.is_empty(),
        format_problems,
        structure: st.score,
        checks: st.checks,
        problems,
    }
}

/// One rollout and what became of it.
struct Candidate {
    completion: String,
    /// The answer layer's reading of the completion.
    reading: Reading,
    /// The reading as `/v1/ask` answers it.
    decoded: AskAnswer,
    check: Check,
    tokens: Option<usize>,
}

impl Candidate {
    fn ids(&self) -> Option<Vec<u32>> {
        match &self.reading.answer {
            Answer::Ids(ids) => Some(ids.clone()),
            _ => None,
        }
    }

    /// The answer in a few words.
    fn short(&self) -> String {
        let d = &self.decoded;
        if let Some(t) = &d.text {
            return format!("{t:?}");
        }
        let ids = self.ids().map(|i| format!("ids {i:?}")).unwrap_or_default();
        if let Some(m) = &d.mask {
            return format!("{ids} → mask of {} px", m.area());
        }
        if let Some(ms) = &d.masks {
            if !ms.is_empty() {
                let area: u64 = ms.values().map(Rle::area).sum();
                return format!("{ids} → masks on {} frames ({area} px in all)", ms.len());
            }
        }
        if let Some(b) = &d.bbox {
            return format!(
                "{}box [{:.0}, {:.0}, {:.0}, {:.0}]",
                if ids.is_empty() {
                    String::new()
                } else {
                    format!("{ids} → ")
                },
                b[0],
                b[1],
                b[2],
                b[3]
            );
        }
        match &self.reading.answer {
            Answer::Invalid(why) => format!("no valid answer ({why})"),
            Answer::Ids(_) => format!("{ids}: none of them is in the input twin"),
            _ if self.reading.rollout.answer.is_none() => {
                "no valid answer (no <answer> block)".into()
            }
            _ => "no valid answer (empty)".into(),
        }
    }

    fn has_answer(&self) -> bool {
        let d = &self.decoded;
        d.text.is_some()
            || d.mask.is_some()
            || d.bbox.is_some()
            || d.masks.as_ref().is_some_and(|m| !m.is_empty())
    }
}

fn vote(task: Task, cands: &[Candidate]) -> Vote {
    match task {
        Task::ImageReasonseg => dtr1_prompt::ask::vote_masks(
            &cands
                .iter()
                .map(|c| c.decoded.mask.clone())
                .collect::<Vec<_>>(),
        ),
        Task::VideoReasonseg => dtr1_prompt::ask::vote_video_masks(
            &cands
                .iter()
                .map(|c| c.decoded.masks.clone().filter(|m| !m.is_empty()))
                .collect::<Vec<_>>(),
        ),
        Task::ImageGrounding => {
            dtr1_prompt::ask::vote_boxes(&cands.iter().map(|c| c.decoded.bbox).collect::<Vec<_>>())
        }
        Task::ImageVqa | Task::VideoVqa | Task::VideoSummary => dtr1_prompt::ask::vote_text(
            &cands
                .iter()
                .map(|c| c.decoded.text.clone())
                .collect::<Vec<_>>(),
        ),
    }
}

/// Timings of one ask, in milliseconds.
#[derive(Debug, Clone, Default)]
struct Timings {
    twin_build_ms: f64,
    model_load_ms: f64,
    prompt_tokens: Option<usize>,
    generation_ms: f64,
    generated_tokens: Option<usize>,
    total_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Everything one ask produced.
struct Outcome {
    input: TwinInput,
    task: Task,
    chosen_by: &'static str,
    reason: String,
    cands: Vec<Candidate>,
    vote: Vote,
    timings: Timings,
}

/// Completions with their generated-token counts (local only), and the prompt's length in
/// tokens (local only).
type Generated = (Vec<(String, Option<usize>)>, Option<usize>);

fn generate(
    policy: &mut Loaded,
    messages: &[ChatMessage],
    params: &SamplingParams,
    n: usize,
) -> Result<Generated> {
    match policy {
        Loaded::Local {
            model,
            tokenizer,
            adapter,
            ..
        } => {
            let prompt = tokenizer
                .encode_chat(messages, true)
                .context("cannot tokenise the prompt")?;
            let plen = prompt.len();
            let pb = ProgressBar::new_spinner();
            pb.set_message(format!(
                "generating {n} rollout(s) from a {plen}-token prompt"
            ));
            pb.enable_steady_tick(Duration::from_millis(200));
            // One prefill shared by the n streams.
            let gens = dtr1_policy::generate_group(
                model,
                tokenizer,
                &prompt,
                n,
                params,
                adapter.is_some(),
            )
            .context("generation failed")?;
            pb.finish_and_clear();
            Ok((
                gens.into_iter()
                    .map(|g| (g.text, Some(g.tokens.len())))
                    .collect(),
                Some(plen),
            ))
        }
        Loaded::Remote(p, url) => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                // Each rollout gets its own seed, so a seeded server samples n different ones.
                let params = SamplingParams {
                    seed: params.seed.wrapping_add(i as u64),
                    ..params.clone()
                };
                let text = p
                    .complete(&[messages.to_vec()], &params)
                    .with_context(|| format!("the remote policy at {url} did not answer"))?
                    .pop()
                    .with_context(|| {
                        format!("the remote policy at {url} returned no completion")
                    })?;
                out.push((text, None));
            }
            Ok((out, None))
        }
    }
}

fn ask_once(
    req: &Request,
    a: &AskArgs,
    policy: &mut Loaded,
    input: TwinInput,
    twin_build: Duration,
) -> Result<Outcome> {
    let t0 = Instant::now();
    let (task, chosen_by, reason) = choose_task(req, &input.twin)?;
    let messages: Vec<ChatMessage> =
        dtr1_prompt::build(policy.version(a), task, &req.query, &input.twin)
            .into_iter()
            .map(|m| ChatMessage::new(m.role, m.content))
            .collect();
    let greedy = a.samples == 1;
    let params = SamplingParams {
        max_new_tokens: a.max_new_tokens,
        temperature: if greedy { 0.0 } else { a.temperature },
        seed: a.seed,
        stop: vec!["<|im_end|>".into()],
        ..Default::default()
    };
    let t1 = Instant::now();
    let (outs, prompt_tokens) = generate(policy, &messages, &params, a.samples)?;
    let generation = t1.elapsed();
    let cands: Vec<Candidate> = outs
        .into_iter()
        .map(|(text, tokens)| {
            let reading = answer::read(task, &input.twin, &text);
            Candidate {
                check: check_rollout(task, &input.twin, &reading),
                decoded: AskAnswer::new(text.clone(), &reading),
                reading,
                completion: text,
                tokens,
            }
        })
        .collect();
    let v = vote(task, &cands);
    let generated_tokens = cands.iter().map(|c| c.tokens).sum::<Option<usize>>();
    Ok(Outcome {
        input,
        task,
        chosen_by,
        reason,
        cands,
        vote: v,
        timings: Timings {
            twin_build_ms: ms(twin_build),
            prompt_tokens,
            generation_ms: ms(generation),
            generated_tokens,
            total_ms: ms(twin_build + t0.elapsed()),
            ..Default::default()
        },
    })
}

/// Builds the twin and times it.
fn timed_twin(req: &Request, a: &AskArgs, want_pictures: bool) -> Result<(TwinInput, Duration)> {
    let t = Instant::now();
    let input = build_twin(req, a, want_pictures)?;
    Ok((input, t.elapsed()))
}

// ---------------------------------------------------------------- pictures

/// Paths of the pictures written.
#[derive(Debug, Default)]
struct Pictures {
    overlay: Option<PathBuf>,
    mask: Option<PathBuf>,
    masks_dir: Option<PathBuf>,
    frames_written: usize,
    contact_sheet: Option<PathBuf>,
}

fn write_png(img: &image::DynamicImage, path: &Path) -> Result<()> {
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    dtr1_data::dataset::write_atomic(path, &png.into_inner())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn binary_png(m: &Rle) -> image::DynamicImage {
    let [h, w] = m.size();
    let px: Vec<u8> = m.decode_row_major().iter().map(|v| v * 255).collect();
    image::DynamicImage::ImageLuma8(
        image::GrayImage::from_raw(w, h, px).expect("the mask has h*w pixels"),
    )
}

/// Caption lines: the query and the answer, cut to keep the band small.
fn qa_lines(query: &str, answer: &str) -> Vec<String> {
    let cut = |s: &str, n: usize| {
        if s.chars().count() > n {
            format!("{}...", s.chars().take(n).collect::<String>())
        } else {
            s.to_string()
        }
    };
    vec![
        format!("Q: {}", cut(query, 160)),
        format!("A: {}", cut(answer, 240)),
    ]
}

/// A grey picture of the twin's size, when no media was given to draw on.
fn blank(w: u32, h: u32) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb([96, 96, 96]))
}

fn draw_box(img: &mut RgbImage, b: &[f64; 4], label: &str) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    if w == 0 || h == 0 {
        return;
    }
    let x1 = (b[0].floor() as i64).clamp(0, w - 1);
    let y1 = (b[1].floor() as i64).clamp(0, h - 1);
    let x2 = (b[2].ceil() as i64 - 1).clamp(0, w - 1);
    let y2 = (b[3].ceil() as i64 - 1).clamp(0, h - 1);
    let color = Rgb([255, 40, 40]);
    for t in 0..3 {
        for x in x1..=x2 {
            for y in [y1 + t, y2 - t] {
                if (0..h).contains(&y) {
                    img.put_pixel(x as u32, y as u32, color);
                }
            }
        }
        for y in y1..=y2 {
            for x in [x1 + t, x2 - t] {
                if (0..w).contains(&x) {
                    img.put_pixel(x as u32, y as u32, color);
                }
            }
        }
    }
    dtr1_perception::overlay::text(img, x1 + 1, (y1 - 10).max(0), label, 1);
}

fn image_sub(t: &ImageTwin, ids: &BTreeSet<u32>) -> ImageTwin {
    let mut s = t.clone();
    s.objects.retain(|o| ids.contains(&o.id));
    s
}

fn video_sub(v: &VideoTwin, ids: &BTreeSet<u32>) -> VideoTwin {
    let mut s = v.clone();
    s.tracks.retain(|t| ids.contains(&t.id));
    s.events.clear();
    s
}

fn pictures(dir: &Path, o: &Outcome, query: &str) -> Result<Pictures> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let c = &o.cands[o.vote.winner];
    // Without a valid answer the picture shows the whole input twin, so the user sees what
    // the model was given.
    let answer = if c.has_answer() {
        c.short()
    } else {
        format!("{} - drawn: the input twin", c.short())
    };
    let ids: BTreeSet<u32> = c.ids().unwrap_or_default().into_iter().collect();
    let mut pics = Pictures::default();
    match &o.input.twin {
        Twin::Image(t) => {
            let base = match &o.input.canvas {
                Some(Canvas::Image(img)) => img.clone(),
                _ => blank(t.width, t.height),
            };
            let drawn = match o.task {
                Task::ImageReasonseg if c.has_answer() => {
                    dtr1_perception::overlay::draw(&base, &image_sub(t, &ids))?
                }
                Task::ImageGrounding if c.has_answer() => {
                    let mut img = base.clone();
                    if let Some(b) = &c.decoded.bbox {
                        let label = ids
                            .iter()
                            .next()
                            .and_then(|i| t.object(*i))
                            .map_or("answer".to_string(), |ob| {
                                format!("#{} {}", ob.id, ob.label)
                            });
                        draw_box(&mut img, b, &label);
                    }
                    img
                }
                _ => dtr1_perception::overlay::draw(&base, t)?,
            };
            let pic = dtr1_data::overlay::caption(&drawn, &qa_lines(query, &answer));
            let p = dir.join("answer.png");
            write_png(&image::DynamicImage::ImageRgb8(pic), &p)?;
            pics.overlay = Some(p);
            if let Some(m) = &c.decoded.mask {
                let p = dir.join("mask.png");
                write_png(&binary_png(m), &p)?;
                pics.mask = Some(p);
            }
        }
        Twin::Video(v) => {
            let frames = match &o.input.canvas {
                Some(Canvas::Frames(f)) if !f.is_empty() => f.clone(),
                _ => {
                    let step = sheet_step(Some(v.frames as usize));
                    (0..v.frames)
                        .step_by(step as usize)
                        .map(|f| (f, blank(v.width, v.height)))
                        .collect()
                }
            };
            let shown = if o.task == Task::VideoReasonseg && c.has_answer() {
                video_sub(v, &ids)
            } else {
                v.clone()
            };
            let sheet = video::contact_sheet(&shown, &frames, 4)?;
            let pic = dtr1_data::overlay::caption(&sheet, &qa_lines(query, &answer));
            let p = dir.join("sheet.png");
            write_png(&image::DynamicImage::ImageRgb8(pic), &p)?;
            pics.contact_sheet = Some(p);
            if o.task == Task::VideoReasonseg {
                let mdir = dir.join("masks");
                std::fs::create_dir_all(&mdir)
                    .with_context(|| format!("cannot create {}", mdir.display()))?;
                let empty = Rle::empty(v.height, v.width);
                let masks = c.decoded.masks.clone().unwrap_or_default();
                for f in 0..v.frames {
                    let m = masks.get(&f).unwrap_or(&empty);
                    write_png(&binary_png(m), &mdir.join(format!("frame_{f:05}.png")))?;
                }
                pics.frames_written = v.frames as usize;
                pics.masks_dir = Some(mdir);
            }
        }
    }
    Ok(pics)
}

// ---------------------------------------------------------------- output

fn opt_path(p: &Option<PathBuf>) -> Value {
    p.as_ref()
        .map_or(Value::Null, |p| json!(p.display().to_string()))
}

fn check_json(c: &Check) -> Value {
    json!({
        "format_ok": c.format_ok,
        "format_problems": c.format_problems,
        "structure": c.structure,
        "structure_checks": c.checks,
        "problems": c.problems,
    })
}

fn to_json(
    req: &Request,
    a: &AskArgs,
    o: &Outcome,
    policy_note: &str,
    policy: &Loaded,
    pics: &Pictures,
) -> Value {
    let c = &o.cands[o.vote.winner];
    let (w, h, frames) = match &o.input.twin {
        Twin::Image(t) => (t.width, t.height, Value::Null),
        Twin::Video(v) => (v.width, v.height, json!(v.frames)),
    };
    let (pkind, adapter) = match policy {
        Loaded::Local { adapter, .. } => ("local", opt_path(adapter)),
        Loaded::Remote(..) => ("remote", Value::Null),
    };
    let d = &c.decoded;
    json!({
        "version": OUTPUT_VERSION,
        "query": req.query,
        "input": {
            "media": req.media.as_ref().map(|(p, _)| p.display().to_string()),
            "kind": if o.task.is_video() { "video" } else { "image" },
            "twin_source": o.input.source,
            "width": w,
            "height": h,
            "frames": frames,
            "objects": match &o.input.twin { Twin::Image(t) => t.objects.len(), Twin::Video(v) => v.tracks.len() },
        },
        "task": {
            "name": o.task.name(),
            "chosen_by": o.chosen_by,
            "reason": o.reason,
        },
        "policy": {
            "kind": pkind,
            "description": policy_note,
            "adapter": adapter,
            "prompt_version": policy.version(a).to_string(),
        },
        "sampling": {
            "samples": a.samples,
            "temperature": if a.samples == 1 { 0.0 } else { f64::from(a.temperature) },
            "seed": a.seed,
            "max_new_tokens": a.max_new_tokens,
        },
        "answer": {
            "valid": c.has_answer(),
            "summary": c.short(),
            "ids": c.ids(),
            "mask": d.mask,
            "masks": d.masks.as_ref().map(|m| m.iter().map(|(f, r)| (f.to_string(), json!(r))).collect::<serde_json::Map<_, _>>()),
            "box": d.bbox,
            "text": d.text,
        },
        "rollout": {
            "completion": c.completion,
            "twin": block(&c.completion, "twin"),
            "think": block(&c.completion, "think"),
            "answer": block(&c.completion, "answer"),
            "check": check_json(&c.check),
        },
        "vote": {
            "method": o.vote.method,
            "winner": o.vote.winner,
            "agreement": o.vote.agreement,
            "candidates": o.cands.iter().map(|k| json!({
                "answer": k.short(),
                "valid": k.has_answer(),
                "format_ok": k.check.format_ok,
                "structure": k.check.structure,
                "generated_tokens": k.tokens,
            })).collect::<Vec<_>>(),
        },
        "pictures": {
            "overlay": opt_path(&pics.overlay),
            "mask": opt_path(&pics.mask),
            "masks_dir": opt_path(&pics.masks_dir),
            "mask_frames": pics.frames_written,
            "contact_sheet": opt_path(&pics.contact_sheet),
        },
        "timings": {
            "twin_build_ms": o.timings.twin_build_ms,
            "model_load_ms": o.timings.model_load_ms,
            "prompt_tokens": o.timings.prompt_tokens,
            "generation_ms": o.timings.generation_ms,
            "generated_tokens": o.timings.generated_tokens,
            "total_ms": o.timings.total_ms,
        },
    })
}

fn secs(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn human(req: &Request, a: &AskArgs, o: &Outcome, policy_note: &str, pics: &Pictures) -> String {
    let c = &o.cands[o.vote.winner];
    let mut s = String::new();
    let what = match &o.input.twin {
        Twin::Image(t) => format!("{} objects, {}x{}", t.objects.len(), t.width, t.height),
        Twin::Video(v) => format!(
            "{} tracks, {} frames, {}x{}, {} events",
            v.tracks.len(),
            v.frames,
            v.width,
            v.height,
            v.events.len()
        ),
    };
    s += &format!("query:  {}\n", req.query);
    s += &format!(
        "task:   {} ({}: {})\n",
        o.task.name(),
        o.chosen_by,
        o.reason
    );
    s += &format!("twin:   {} — {what}\n", o.input.source);
    s += &format!("policy: {policy_note}\n");
    s += &format!("\nanswer: {}\n", c.short());
    if let Some(m) = &c.decoded.mask {
        s += &format!(
            "mask (COCO RLE, {}x{}): {}\n",
            m.size()[1],
            m.size()[0],
            serde_json::to_string(m).unwrap_or_default()
        );
    }
    if let Some(p) = &pics.overlay {
        s += &format!("picture: {}\n", p.display());
    }
    if let Some(p) = &pics.mask {
        s += &format!("mask picture: {}\n", p.display());
    }
    if let Some(p) = &pics.masks_dir {
        s += &format!(
            "per-frame masks: {} ({} PNGs)\n",
            p.display(),
            pics.frames_written
        );
    }
    if let Some(p) = &pics.contact_sheet {
        s += &format!("contact sheet: {}\n", p.display());
    }
    s += &format!(
        "\n--- <twin> the model wrote ---\n{}\n",
        block(&c.completion, "twin").unwrap_or_else(|| "(none)".into())
    );
    s += &format!(
        "--- <think> ---\n{}\n",
        block(&c.completion, "think").unwrap_or_else(|| "(none)".into())
    );
    s += "--- structure check of the rollout ---\n";
    s += &format!(
        "format: {}\n",
        if c.check.format_ok {
            "ok".to_string()
        } else {
            c.check.format_problems.join("; ")
        }
    );
    let checks: Vec<String> = c
        .check
        .checks
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}"))
        .collect();
    s += &format!(
        "structure: {:.2}{}\n",
        c.check.structure,
        if checks.is_empty() {
            String::new()
        } else {
            format!(" ({})", checks.join(", "))
        }
    );
    for p in &c.check.problems {
        s += &format!("  - {p}\n");
    }
    if c.check.format_ok && c.check.problems.is_empty() {
        s += "  no problems\n";
    }
    if o.cands.len() > 1 {
        s += &format!(
            "--- self-consistency: {} rollouts at temperature {}, seed {} ---\n",
            o.cands.len(),
            a.temperature,
            a.seed
        );
        s += &format!(
            "winner #{} by {} (agreement {:.2})\n",
            o.vote.winner + 1,
            o.vote.method,
            o.vote.agreement
        );
        for (i, k) in o.cands.iter().enumerate() {
            s += &format!(
                "  #{} {} (format {}, structure {:.2})\n",
                i + 1,
                k.short(),
                if k.check.format_ok { "ok" } else { "broken" },
                k.check.structure
            );
        }
    }
    if !c.check.format_ok && !c.completion.is_empty() {
        s += &format!("--- raw completion ---\n{}\n", c.completion.trim());
    }
    let t = &o.timings;
    s += &format!(
        "\ntimings: twin build {}, model load {}, prompt {} tokens, generation {}{}, total {}\n",
        secs(t.twin_build_ms),
        secs(t.model_load_ms),
        t.prompt_tokens
            .map_or("(remote: not counted)".into(), |n| n.to_string()),
        secs(t.generation_ms),
        t.generated_tokens
            .map(|n| format!(
                " ({n} tokens, {:.1} tok/s)",
                n as f64 / (t.generation_ms / 1000.0).max(1e-9)
            ))
            .unwrap_or_default(),
        secs(t.total_ms)
    );
    s
}

// ---------------------------------------------------------------- entry points

/// Runs `dtr1 ask`.
pub fn run(a: &AskArgs) -> Result<()> {
    let start = Instant::now();
    let req = request(a)?;
    // The twin first: bad media fails before the model is loaded.
    let (input, twin_build) = timed_twin(&req, a, a.out.is_some() && !a.bench)?;
    choose_task(&req, &input.twin)?;
    let t = Instant::now();
    let (mut policy, note) = load_policy(a)?;
    let load_ms = ms(t.elapsed());
    if a.bench {
        return bench(&req, a, &mut policy, &note, load_ms, (input, twin_build));
    }
    let mut o = ask_once(&req, a, &mut policy, input, twin_build)?;
    let pics = match &a.out {
        Some(dir) => pictures(dir, &o, &req.query)?,
        None => Pictures::default(),
    };
    o.timings.model_load_ms = load_ms;
    o.timings.total_ms = ms(start.elapsed());
    let v = to_json(&req, a, &o, &note, &policy, &pics);
    if let Some(dir) = &a.out {
        let text = serde_json::to_string_pretty(&v)? + "\n";
        dtr1_data::dataset::write_atomic(&dir.join("answer.json"), text.as_bytes())
            .with_context(|| format!("cannot write {}", dir.join("answer.json").display()))?;
    }
    if a.json {
        crate::out(&(serde_json::to_string_pretty(&v)? + "\n"))
    } else {
        crate::out(&human(&req, a, &o, &note, &pics))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `--bench`: the whole query (perception, prompt, generation, decoding and the check)
/// `--bench-runs` times with the model loaded once; a Markdown table per run and the median.
fn bench(
    req: &Request,
    a: &AskArgs,
    policy: &mut Loaded,
    note: &str,
    load_ms: f64,
    first: (TwinInput, Duration),
) -> Result<()> {
    let mut rows = Vec::new();
    let mut last = None;
    let mut first = Some(first);
    for _ in 0..a.bench_runs {
        let (input, took) = match first.take() {
            Some(f) => f,
            None => timed_twin(req, a, false)?,
        };
        let o = ask_once(req, a, policy, input, took)?;
        rows.push(o.timings.clone());
        last = Some(o);
    }
    let o = last.expect("at least one run");
    let frames = match &o.input.twin {
        Twin::Video(v) => format!(", {} frames", v.frames),
        Twin::Image(t) => format!(", {}x{} image", t.width, t.height),
    };
    let mut s = format!(
        "dtr1 ask --bench: {} ({}{}), {} rollout(s), max {} new tokens\npolicy: {note}; model load {}\n\n",
        o.task.name(),
        o.input.source,
        frames,
        a.samples,
        a.max_new_tokens,
        secs(load_ms)
    );
    s += "| run | twin build | prompt tokens | generation (prefill + decode) | generated tokens | tok/s incl. prefill | total |\n|---|---|---|---|---|---|---|\n";
    let cell = |n: Option<usize>| n.map_or("-".into(), |n| n.to_string());
    let tps = |t: &Timings| {
        t.generated_tokens.map_or("-".into(), |n| {
            format!("{:.1}", n as f64 / (t.generation_ms / 1000.0).max(1e-9))
        })
    };
    for (i, t) in rows.iter().enumerate() {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            i + 1,
            secs(t.twin_build_ms),
            cell(t.prompt_tokens),
            secs(t.generation_ms),
            cell(t.generated_tokens),
            tps(t),
            secs(t.total_ms)
        );
    }
    s += &format!(
        "| median | {} | {} | {} | | | {} |\n",
        secs(median(rows.iter().map(|t| t.twin_build_ms).collect())),
        cell(rows[0].prompt_tokens),
        secs(median(rows.iter().map(|t| t.generation_ms).collect())),
        secs(median(rows.iter().map(|t| t.total_ms).collect()))
    );
    if a.json {
        let v = json!({
            "task": o.task.name(),
            "model_load_ms": load_ms,
            "runs": rows.iter().map(|t| json!({
                "twin_build_ms": t.twin_build_ms,
                "prompt_tokens": t.prompt_tokens,
                "generation_ms": t.generation_ms,
                "generated_tokens": t.generated_tokens,
                "total_ms": t.total_ms,
            })).collect::<Vec<_>>(),
        });
        return crate::out(&(serde_json::to_string_pretty(&v)? + "\n"));
    }
    crate::out(&s)
}
