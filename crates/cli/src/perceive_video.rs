//! The video section of `dtr1 perceive-eval`: every clip of a dataset split is perceived
//! frame by frame, tracked, and its video twin scored against the clip's true twin (ID
//! switches, track recall, event precision/recall/F1; see `dtr1_perception::video_eval`).

use anyhow::{bail, Context, Result};
use dtr1_data::Media;
use dtr1_perception::pipeline::{read_image, PerceptionConfig, Pipeline};
use dtr1_perception::track::{self, FrameDetection, Tracker};
use dtr1_perception::video::{self, VideoConfig};
use dtr1_perception::video_eval::{evaluate, VideoScore};
use dtr1_twin::{Twin, VideoTwin};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Event frames may differ from the log by this many frames and still match.
pub const EVENT_TOLERANCE: u32 = 2;

/// One clip of a split: its frames and its true twin.
pub struct Clip {
    /// Frame files, in order.
    pub frames: Vec<PathBuf>,
    /// Frames per second.
    pub fps: f64,
    /// The true twin.
    pub truth: VideoTwin,
}

/// The distinct clips of `split` in the dataset at `dir` (video samples that share a twin
/// are one clip).
pub fn clips(dir: &Path, split: &str) -> Result<Vec<Clip>> {
    let samples = dtr1_data::dataset::read_split(dir, split)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in samples {
        let Media::Video { frames, fps, .. } = &s.media else {
            continue;
        };
        let Some(twin_path) = &s.twin else { continue };
        if !seen.insert(twin_path.clone()) {
            continue;
        }
        let text = std::fs::read_to_string(twin_path)
            .with_context(|| format!("cannot read twin {}", twin_path.display()))?;
        let Twin::Video(truth) = Twin::from_json(&text)
            .with_context(|| format!("{} is not a valid twin", twin_path.display()))?
        else {
            bail!(
                "{} is an image twin but belongs to a video sample",
                twin_path.display()
            );
        };
        out.push(Clip {
            frames: frames.clone(),
            fps: fps.unwrap_or(truth.fps),
            truth,
        });
    }
    Ok(out)
}

/// The video twin of one clip built with `backend`: `annotations` takes each frame's true
/// masks without their ids (so only tracking and events are measured); any other name is
/// a perception backend run on the pixels.
fn build(clip: &Clip, backend: &str, pipeline: Option<&Pipeline>) -> Result<VideoTwin> {
    let cfg = VideoConfig::default();
    let (w, h) = (clip.truth.width, clip.truth.height);
    let mut tracker = Tracker::new(cfg.tracker);
    for (f, path) in clip.frames.iter().enumerate() {
        let img = read_image(path)?;
        if img.dimensions() != (w, h) {
            bail!(
                "{}: frame is {}x{} but the clip's twin is {w}x{h}",
                path.display(),
                img.width(),
                img.height()
            );
        }
        let dets: Vec<FrameDetection> = match pipeline {
            None => video::detections_from_twin(&clip.truth, &img, f as u32)?,
            Some(p) => {
                let found = p
                    .perceive(&img)
                    .with_context(|| format!("{backend} on {}", path.display()))?;
                found
                    .detections
                    .iter()
                    .map(|d| FrameDetection::measure(d, &img, found.depth.as_ref()))
                    .collect::<Result<_, _>>()?
            }
        };
        tracker.push(dets)?;
    }
    let tracks = tracker.finish();
    Ok(track::build_twin(
        &tracks,
        w,
        h,
        clip.frames.len() as u32,
        clip.fps,
        &cfg.events,
    )?)
}

/// Scores of one backend over all clips, and the seconds it took.
pub struct BackendScore {
    /// Backend name.
    pub backend: String,
    /// Summed counts.
    pub score: VideoScore,
    /// Wall time.
    pub seconds: f64,
}

/// Perceives, tracks and scores every clip with each backend.
pub fn run(clips: &[Clip], backends: &[String]) -> Result<Vec<BackendScore>> {
    let mut out = Vec::new();
    for backend in backends {
        let pipeline = match backend.as_str() {
            "annotations" => None,
            b => Some(
                Pipeline::from_config(&PerceptionConfig::with_backend(b))
                    .with_context(|| format!("backend {b}"))?,
            ),
        };
        let pb = ProgressBar::new(clips.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} clips {elapsed}")
                .expect("static template")
                .progress_chars("=> "),
        );
        pb.set_prefix(format!("video {backend}"));
        let t0 = Instant::now();
        let mut score = VideoScore::default();
        for clip in clips {
            let built = build(clip, backend, pipeline.as_ref())?;
            score.add(&evaluate(&built, &clip.truth, 0.5, EVENT_TOLERANCE)?);
            pb.inc(1);
        }
        pb.finish_and_clear();
        out.push(BackendScore {
            backend: backend.clone(),
            score,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    Ok(out)
}

/// A Markdown table of the results.
pub fn table(results: &[BackendScore], clips: usize) -> String {
    let mut s = format!(
        "video ({clips} clips; events match within ±{EVENT_TOLERANCE} frames)\n\n\
         | backend | tracks (true/built) | ID switches | per 10 tracks | track recall | mask mIoU | event P | event R | event F1 | appear | leave | start | stop | collide | occlude | s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in results {
        let sc = &r.score;
        let ev = sc.all_events();
        let kind = |k: dtr1_twin::EventKind| {
            sc.events
                .get(&k)
                .map_or("–".to_string(), |c| format!("{:.2}", c.f1()))
        };
        use dtr1_twin::EventKind as K;
        let _ = writeln!(
            s,
            "| {} | {}/{} | {} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {} | {:.1} |",
            r.backend,
            sc.true_tracks,
            sc.built_tracks,
            sc.id_switches,
            sc.switches_per_10_tracks(),
            sc.track_recall(),
            sc.mean_iou(),
            ev.precision(),
            ev.recall(),
            ev.f1(),
            kind(K::Appear),
            kind(K::Leave),
            kind(K::Start),
            kind(K::Stop),
            kind(K::Collide),
            kind(K::Occlude),
            r.seconds
        );
    }
    s
}
