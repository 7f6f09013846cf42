//! `dtr1 perceive-eval`: how good perception is, measured on a dataset split with ground
//! truth (TwinBench val by default). One section per media kind: images (mask mIoU of matched
//! objects, detection precision/recall at IoU 0.5, label and colour accuracy, depth-order
//! accuracy, relation precision/recall; see `dtr1_perception::eval`) and video (ID switches,
//! track recall, event F1; see `perceive_video`).

use anyhow::{Context, Result};
use clap::Args;
use dtr1_perception::annotations::AnnotationFormat;
use dtr1_perception::eval::{evaluate_split, image_pairs, Summary};
use dtr1_perception::pipeline::{AnnotationsSection, PerceptionConfig, Pipeline};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `dtr1 perceive-eval`.
#[derive(Args)]
pub struct PerceiveEvalArgs {
    /// Dataset directory (e.g. written by `dtr1 data generate`).
    pub data: PathBuf,
    /// Split to measure on.
    #[arg(long, default_value = "val")]
    pub split: String,
    /// Backends to measure (repeat the option for several); `annotations` uses the true
    /// masks (the upper bound; its video rows measure tracking and event detection alone).
    #[arg(long = "backend", default_values_t = ["annotations".to_string(), "pixels".to_string()])]
    pub backends: Vec<String>,
    /// Perception configuration (TOML or JSON) for the `pixels` backend's options.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the results as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Only the image section.
    #[arg(long, conflicts_with = "video_only")]
    pub images_only: bool,
    /// Only the video section.
    #[arg(long)]
    pub video_only: bool,
}

/// One backend's image scores and the time it took.
pub struct ImageResult {
    /// Backend name.
    pub backend: String,
    /// The rates.
    pub summary: Summary,
    /// Wall time, seconds.
    pub seconds: f64,
}

fn base_config(a: &PerceiveEvalArgs, backend: &str) -> Result<PerceptionConfig> {
    let mut cfg = match &a.config {
        Some(p) => PerceptionConfig::load(p)?,
        None => PerceptionConfig::with_backend(backend),
    };
    cfg.backend = backend.to_string();
    if backend == "pixels" && cfg.describe.is_empty() {
        cfg.describe = vec!["pixels".into()];
    }
    Ok(cfg)
}

/// The image section: every image of the split with a true twin, per backend.
pub fn images(a: &PerceiveEvalArgs) -> Result<Vec<ImageResult>> {
    let n = image_pairs(&a.data, &a.split)?.len();
    let mut out = Vec::new();
    if n == 0 {
        return Ok(out);
    }
    for backend in &a.backends {
        if backend == "import" {
            anyhow::bail!(
                "the import backend reads detections made elsewhere; measure them with \
                 `dtr1 twin IMAGE --detections …` per image"
            );
        }
        let cfg = base_config(a, backend)?;
        let make = |_: &Path, twin: &Path| -> Result<Pipeline, dtr1_perception::PerceptionError> {
            let mut c = cfg.clone();
            if backend == "annotations" {
                c.annotations = Some(AnnotationsSection {
                    format: AnnotationFormat::Twinbench,
                    path: twin.to_path_buf(),
                    image_id: None,
                    anno_ids: Vec::new(),
                    frame: 0,
                });
            }
            Pipeline::from_config(&c)
        };
        let pb = ProgressBar::new(n as u64);
        pb.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} images {elapsed}")
                .expect("static template")
                .progress_chars("=> "),
        );
        pb.set_prefix(format!("images {backend}"));
        let t0 = Instant::now();
        let counts = evaluate_split(&a.data, &a.split, &mut |i, t| make(i, t), &mut |k, _| {
            pb.set_position(k as u64)
        })
        .with_context(|| format!("backend {backend}"))?;
        pb.finish_and_clear();
        out.push(ImageResult {
            backend: backend.clone(),
            summary: counts.summary(),
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    Ok(out)
}

fn cell(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

/// A Markdown table of the image section.
pub fn image_table(results: &[ImageResult], split: &str) -> String {
    let images = results.first().map_or(0, |r| r.summary.images);
    let mut s = format!(
        "images ({images} in {split}; objects matched at mask IoU >= 0.5)\n\n\
         | backend | mask mIoU | det P@0.5 | det R@0.5 | label acc | colour acc | depth order | rel P | rel R | ms/image |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in results {
        let m = &r.summary;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            r.backend,
            cell(m.miou),
            cell(m.precision),
            cell(m.recall),
            cell(m.label_accuracy),
            cell(m.color_accuracy),
            cell(m.depth_order_accuracy),
            cell(m.relation_precision),
            cell(m.relation_recall),
            1000.0 * r.seconds / m.images.max(1) as f64
        );
    }
    s
}

/// Runs every section and prints its table (or everything as one JSON object).
pub fn run(a: &PerceiveEvalArgs) -> Result<()> {
    let img = if a.video_only { Vec::new() } else { images(a)? };
    let mut text = String::new();
    let mut json = serde_json::Map::new();
    if !a.video_only {
        if img.is_empty() {
            let _ = writeln!(
                text,
                "images: no images with a true twin in split {:?}\n",
                a.split
            );
        } else {
            text.push_str(&image_table(&img, &a.split));
            text.push('\n');
        }
        json.insert(
            "images".into(),
            serde_json::Value::Array(
                img.iter()
                    .map(|r| {
                        serde_json::json!({"backend": r.backend, "seconds": r.seconds,
                            "scores": r.summary})
                    })
                    .collect(),
            ),
        );
    }
    if !a.images_only {
        let clips = crate::perceive_video::clips(&a.data, &a.split)?;
        if clips.is_empty() {
            let _ = writeln!(text, "video: no clips in split {:?}", a.split);
        } else {
            let results = crate::perceive_video::run(&clips, &a.backends)?;
            text.push_str(&crate::perceive_video::table(&results, clips.len()));
            json.insert(
                "video".into(),
                serde_json::Value::Array(
                    results
                        .iter()
                        .map(|r| {
                            let sc = &r.score;
                            let ev = sc.all_events();
                            serde_json::json!({"backend": r.backend, "seconds": r.seconds,
                                "true_tracks": sc.true_tracks, "built_tracks": sc.built_tracks,
                                "id_switches": sc.id_switches,
                                "id_switches_per_10_tracks": sc.switches_per_10_tracks(),
                                "track_recall": sc.track_recall(), "mask_miou": sc.mean_iou(),
                                "event_precision": ev.precision(), "event_recall": ev.recall(),
                                "event_f1": ev.f1()})
                        })
                        .collect(),
                ),
            );
        }
    }
    if a.json {
        crate::out(&(serde_json::to_string_pretty(&json)? + "\n"))
    } else {
        crate::out(&text)
    }
}
