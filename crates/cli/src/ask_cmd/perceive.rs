//! The input twin: loaded from `--twin` or perceived from the media, with the pictures to
//! draw the answer on.

use super::args::{AskArgs, MediaKind, Request};
use anyhow::{bail, Context, Result};
use dtr1_perception::pipeline::{PerceptionConfig, Pipeline};
use dtr1_perception::video;
use dtr1_twin::Twin;
use image::RgbImage;
use std::path::Path;
use std::time::{Duration, Instant};

/// Pictures on a video contact sheet.
pub(super) const SHEET_FRAMES: usize = 16;

/// Pictures to draw the answer on.
pub(super) enum Canvas {
    Image(RgbImage),
    /// `(frame index, frame)` spread over the video, for the contact sheet.
    Frames(Vec<(u32, RgbImage)>),
}

/// A built or loaded twin and where it came from.
pub(super) struct TwinInput {
    pub(super) twin: Twin,
    pub(super) source: String,
    pub(super) canvas: Option<Canvas>,
}

pub(super) fn perception_config(a: &AskArgs) -> Result<PerceptionConfig> {
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
pub(super) fn sheet_step(total: Option<usize>) -> u32 {
    total.map_or(4, |n| n.div_ceil(SHEET_FRAMES).max(1)) as u32
}

pub(super) fn thin(mut kept: Vec<(u32, RgbImage)>) -> Vec<(u32, RgbImage)> {
    if kept.len() > SHEET_FRAMES {
        let every = kept.len().div_ceil(SHEET_FRAMES);
        kept = kept.into_iter().step_by(every).collect();
    }
    kept
}

/// Opens a video with the number of frames that will be read from it, when known (its
/// length, at most `--max-frames`).
fn open_video(path: &Path, a: &AskArgs) -> Result<(Box<dyn video::FrameSource>, Option<usize>)> {
    let src = video::open(path, a.fps)
        .with_context(|| format!("cannot read video {}", path.display()))?;
    let total = match (src.len_hint(), a.max_frames) {
        (Some(n), Some(m)) => Some(n.min(m)),
        (n, m) => n.or(m),
    };
    Ok((src, total))
}

pub(super) fn read_frames(path: &Path, a: &AskArgs) -> Result<Vec<(u32, RgbImage)>> {
    let (mut src, total) = open_video(path, a)?;
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

pub(super) fn build_twin(req: &Request, a: &AskArgs, want_pictures: bool) -> Result<TwinInput> {
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
            let (mut src, total) = open_video(path, a)?;
            let step = sheet_step(total);
            let out = crate::twin_video::perceive_with_progress(
                src.as_mut(),
                &pipeline,
                a.max_frames,
                total,
                &|f| want_pictures && f.is_multiple_of(step),
                path,
            )?;
            Ok(TwinInput {
                twin: Twin::Video(out.twin),
                source: format!("perception ({}) of {}", cfg.backend, path.display()),
                canvas: want_pictures.then(|| Canvas::Frames(thin(out.kept))),
            })
        }
    }
}

/// Builds the twin and times it.
pub(super) fn timed_twin(
    req: &Request,
    a: &AskArgs,
    want_pictures: bool,
) -> Result<(TwinInput, Duration)> {
    let t = Instant::now();
    let input = build_twin(req, a, want_pictures)?;
    Ok((input, t.elapsed()))
}
