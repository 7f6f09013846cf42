//! `dtr1`: the dt-r1 command-line tool.

mod ask;
mod ask_cmd;
mod bench;
mod data_cmd;
mod eval_cmd;
mod passk_cmd;
mod perceive_cmd;
mod perceive_video;
mod policy_bench;
mod serve_cmd;
mod train_cmd;
mod twin_cmd;
mod twin_video;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Visual reasoning through digital twins.
#[derive(Parser)]
#[command(name = "dtr1", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a twin: load one from JSON, or build one from an image (`--backend pixels`, the
    /// default; `annotations`; `import` with `--detections`) or a video, optionally drawn.
    Twin {
        /// Twin JSON file, or an image when `--detections` is given.
        file: PathBuf,
        /// Detections for the image: COCO results JSON or a Grounded-SAM-2 dump.
        #[arg(long)]
        detections: Option<PathBuf>,
        /// COCO image id to keep from a COCO results file.
        #[arg(long)]
        image_id: Option<String>,
        /// Depth map for the image: 16-bit PNG or 2-D .npy.
        #[arg(long)]
        depth: Option<PathBuf>,
        /// The depth file holds disparity (larger = nearer), as most depth models output.
        #[arg(long)]
        invert_depth: bool,
        /// Print the twin as pretty JSON instead of the compact prompt form.
        #[arg(long)]
        json: bool,
        /// Accept partial twins (no masks), as a language model writes them.
        #[arg(long)]
        partial: bool,
        /// Draw the twin to this PNG (for a video: a contact sheet of frames with track ids).
        #[arg(long)]
        overlay: Option<PathBuf>,
        /// Perception configuration (TOML or JSON) for building a twin from media.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Frames per second of a video (overrides the file's; frame directories default to 10).
        #[arg(long)]
        fps: Option<f64>,
        /// Read at most this many frames of a video.
        #[arg(long)]
        max_frames: Option<usize>,
        /// Perception backend: pixels (default), annotations, import (implied by
        /// --detections), onnx or photo (real photographs and videos); overrides the
        /// configuration's.
        #[arg(long)]
        backend: Option<String>,
        /// Ground truth for the annotations backend: a twin JSON, COCO instances JSON (with
        /// --image-id), a ReasonSeg JSON or a ReVOS mask_dict.json.
        #[arg(long)]
        annotations: Option<PathBuf>,
        /// Format of --annotations: twinbench (default), coco, reasonseg or revos.
        #[arg(long)]
        annotations_format: Option<String>,
        /// The right view of a rectified stereo pair whose left view is the image: depth by
        /// semi-global matching (photo backend).
        #[arg(long)]
        stereo_right: Option<PathBuf>,
    },
    /// Validate twin files and report every problem with its JSON path.
    Validate {
        /// Twin JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Accept partial twins (no masks), as a language model writes them.
        #[arg(long)]
        partial: bool,
    },
    /// Print the JSON Schema of the twin.
    Schema,
    /// Ask the policy model a question (ChatML; greedy unless --temperature > 0).
    Chat {
        /// The user message.
        message: String,
        /// GGUF model (default: models/SmolLM2-135M-Instruct.Q4_1.gguf, fetched by set-up).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Most new tokens.
        #[arg(long, default_value_t = 96)]
        max_tokens: usize,
        /// Sampling temperature; 0 = greedy and deterministic.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Sampling seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Answer a query about an image, a video or a twin JSON: the task, the answer (mask,
    /// box or text) and its picture, the model's <twin> and <think>, and their check.
    Ask(ask_cmd::AskArgs),
    /// Generate and inspect datasets (TwinBench).
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Evaluate a completion producer on the six benchmarks of a split (metrics with 95% CIs).
    Eval(eval_cmd::EvalArgs),
    /// pass@1 and pass@k of the local policy on a fixed set of prompts per benchmark.
    Passk(passk_cmd::PassArgs),
    /// Compare two evaluations of the same split: B − A per benchmark with a paired 95% CI.
    Compare(eval_cmd::CompareArgs),
    /// Print one sample's prompt and the solver's reasoning trace.
    Prompt(eval_cmd::PromptArgs),
    /// Supervised cold start: train a LoRA adapter on the solver's reasoning traces.
    Sft(train_cmd::CommonArgs),
    /// Train the policy's LoRA adapter with GRPO on the DT-R1 reward.
    Train(train_cmd::CommonArgs),
    /// Measure the policy: prefill, decode at batch 1 and 8, a GRPO-sized forward+backward,
    /// one GRPO step (prints a table).
    BenchPolicy(policy_bench::BenchPolicyArgs),
    /// Draw a run's metrics (reward, accuracy per task, KL, length; or SFT loss) as PNG.
    Plot(train_cmd::PlotArgs),
    /// Measure perception against ground truth (video: ID switches, track recall, event F1).
    PerceiveEval(perceive_cmd::PerceiveEvalArgs),
    /// Measure RLE and metric throughput and print a table (optionally beside pycocotools).
    Bench(bench::BenchArgs),
    /// Serve the reward (OpenRLHF remote reward protocol), scoring and twin building over HTTP.
    Serve(serve_cmd::ServeArgs),
    /// Load-test `POST /v1/reward` on loopback and print throughput and latency.
    ServeBench(serve_cmd::BenchArgs),
}

/// Writes to stdout; a closed pipe (`dtr1 … | head`) ends the output quietly instead of
/// panicking the way `println!` does.
pub fn out(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn main() {
    // Errors are printed as their chain of causes, without a backtrace: they are for users.
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Twin {
            file,
            detections,
            image_id,
            depth,
            invert_depth,
            json,
            overlay,
            config,
            backend,
            annotations,
            annotations_format,
            stereo_right,
            ..
        } if !twin_video::is_video(&file)
            && twin_cmd::is_image_request(
                &file,
                detections.is_some() || backend.is_some() || annotations.is_some(),
            ) =>
        {
            twin_cmd::perceive(
                &twin_cmd::ImageArgs {
                    image: &file,
                    config: config.as_deref(),
                    backend: backend.as_deref(),
                    detections: detections.as_deref(),
                    image_id: image_id.as_deref(),
                    depth: depth.as_deref(),
                    invert_depth,
                    annotations: annotations.as_deref(),
                    annotations_format: annotations_format.as_deref(),
                    overlay: overlay.as_deref(),
                    json,
                },
                stereo_right.as_deref(),
            )
        }
        Command::Twin {
            file,
            json,
            overlay,
            config,
            fps,
            max_frames,
            backend,
            ..
        } if twin_video::is_video(&file) => twin_video::run(&twin_video::VideoArgs {
            input: &file,
            config: config.as_deref(),
            backend: backend.as_deref(),
            overlay: overlay.as_deref(),
            fps,
            max_frames,
            json,
        }),
        Command::Twin {
            file,
            json,
            partial,
            ..
        } => twin_cmd::show(&file, json, partial),
        Command::Validate { files, partial } => twin_cmd::validate_files(&files, partial),
        Command::Schema => twin_cmd::schema(),
        Command::Ask(args) => ask_cmd::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::PerceiveEval(args) => perceive_cmd::run(&args),
        Command::Serve(args) => serve_cmd::serve(&args),
        Command::ServeBench(args) => serve_cmd::bench(&args),
        Command::Data(cmd) => data_cmd::run(&cmd),
        Command::Eval(args) => eval_cmd::eval(&args),
        Command::Passk(args) => passk_cmd::run(&args),
        Command::Compare(args) => eval_cmd::compare(&args),
        Command::Sft(args) => train_cmd::sft(&args),
        Command::Train(args) => train_cmd::train(&args),
        Command::Plot(args) => train_cmd::plot(&args),
        Command::BenchPolicy(args) => policy_bench::run(&args),
        Command::Prompt(args) => eval_cmd::prompt(&args),
        Command::Chat {
            message,
            model,
            max_tokens,
            temperature,
            seed,
        } => chat(&message, model, max_tokens, temperature, seed),
    }
}

fn chat(
    message: &str,
    model: Option<PathBuf>,
    max_tokens: usize,
    temperature: f32,
    seed: u64,
) -> Result<()> {
    use anyhow::Context;
    if max_tokens == 0 || max_tokens > 4096 {
        anyhow::bail!("--max-tokens {max_tokens} must be within 1..=4096");
    }
    if !(temperature.is_finite() && temperature >= 0.0) {
        anyhow::bail!("--temperature {temperature} must be a finite number >= 0");
    }
    let path = model.unwrap_or_else(dtr1_policy::default_model_path);
    let (m, tok) = dtr1_policy::load_gguf(&path).with_context(|| {
        format!(
            "cannot load the model {} (run scripts/setup.sh to fetch the default one)",
            path.display()
        )
    })?;
    let prompt = tok.encode_chat(&[dtr1_policy::ChatMessage::new("user", message)], true)?;
    let params = dtr1_policy::SamplingParams {
        max_new_tokens: max_tokens,
        temperature,
        seed,
        stop: vec!["<|im_end|>".into()],
        ..Default::default()
    };
    let gens = dtr1_policy::generate(&m, &tok, &[prompt], &params, false)?;
    out(&format!("{}\n", gens[0].text.trim()))
}
