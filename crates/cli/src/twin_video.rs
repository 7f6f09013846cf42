//! `dtr1 twin VIDEO_OR_FRAME_DIR`: the video twin of a video file or a directory of frames,
//! built by per-frame perception and tracking, optionally drawn as a contact sheet.

use anyhow::{Context, Result};
use dtr1_perception::pipeline::{PerceptionConfig, Pipeline};
use dtr1_perception::video::{self, VideoConfig};
use dtr1_twin::{compact, Twin};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// File extensions taken for video files.
const VIDEO_EXTENSIONS: [&str; 10] = [
    "mp4", "avi", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "y4m", "gif",
];

/// Whether `path` is a video input: a directory (of frames) or a file with a video extension.
pub fn is_video(path: &Path) -> bool {
    path.is_dir()
        || path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.as_str()))
}

/// Options of the video branch of `dtr1 twin`.
pub struct VideoArgs<'a> {
    /// Video file or directory of frames.
    pub input: &'a Path,
    /// Perception configuration file (TOML or JSON); the `pixels` backend when absent.
    pub config: Option<&'a Path>,
    /// Object backend (overrides the configuration's), e.g. `photo` for real videos.
    pub backend: Option<&'a str>,
    /// Where to write the contact sheet.
    pub overlay: Option<&'a Path>,
    /// Frames per second (overrides the file's; needed for frame directories).
    pub fps: Option<f64>,
    /// Read at most this many frames.
    pub max_frames: Option<usize>,
    /// Print JSON instead of the compact form.
    pub json: bool,
}

/// Pictures on a contact sheet.
const SHEET_FRAMES: usize = 16;

/// Perceives a video with a progress bar over its frames (`total` when known), keeping the
/// frames `keep` picks for pictures: what `dtr1 twin` and `dtr1 ask` both do with a video.
pub(crate) fn perceive_with_progress(
    src: &mut dyn video::FrameSource,
    pipeline: &Pipeline,
    max_frames: Option<usize>,
    total: Option<usize>,
    keep: &dyn Fn(u32) -> bool,
    path: &Path,
) -> Result<video::VideoPerception> {
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
        max_frames,
        ..Default::default()
    };
    let out = video::perceive(src, pipeline, &vcfg, keep, &mut |n| {
        pb.set_position(u64::from(n))
    })
    .with_context(|| format!("cannot build the twin of {}", path.display()))?;
    pb.finish_and_clear();
    Ok(out)
}

/// Builds, prints and optionally draws the video twin.
pub fn run(a: &VideoArgs) -> Result<()> {
    let mut cfg = match a.config {
        Some(p) => PerceptionConfig::load(p)?,
        None => PerceptionConfig::with_backend(a.backend.unwrap_or("pixels")),
    };
    if let Some(b) = a.backend {
        cfg.backend = b.to_string();
    }
    let pipeline = Pipeline::from_config(&cfg).context("cannot set up perception")?;
    let mut src = video::open(a.input, a.fps)
        .with_context(|| format!("cannot read video {}", a.input.display()))?;
    let total = match (src.len_hint(), a.max_frames) {
        (Some(n), Some(m)) => Some(n.min(m)),
        (n, m) => n.or(m),
    };
    // Evenly spaced frames for the sheet; every 4th when the length is unknown (thinned
    // to the sheet's size afterwards).
    let step = total.map_or(4, |n| n.div_ceil(SHEET_FRAMES).max(1)) as u32;
    let want_sheet = a.overlay.is_some();
    let out = perceive_with_progress(
        src.as_mut(),
        &pipeline,
        a.max_frames,
        total,
        &|f| want_sheet && f % step == 0,
        a.input,
    )?;
    if let Some(path) = a.overlay {
        let mut kept = out.kept;
        if kept.len() > SHEET_FRAMES {
            let every = kept.len().div_ceil(SHEET_FRAMES);
            kept = kept.into_iter().step_by(every).collect();
        }
        let sheet = video::contact_sheet(&out.twin, &kept, 4)?;
        let mut png = std::io::Cursor::new(Vec::new());
        sheet
            .write_to(&mut png, image::ImageFormat::Png)
            .context("cannot encode the contact sheet")?;
        dtr1_data::dataset::write_atomic(path, &png.into_inner())?;
        eprintln!("contact sheet: {}", path.display());
    }
    let twin = Twin::Video(out.twin);
    if a.json {
        crate::out(&(twin.to_json_pretty() + "\n"))
    } else {
        crate::out(&compact::to_compact(&twin))
    }
}
