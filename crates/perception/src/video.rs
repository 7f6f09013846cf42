//! Video input and per-frame perception into a video twin.
//!
//! Frames come from a [`FrameSource`]: a directory of numbered images ([`ImageSequence`]:
//! PNG or JPEG, ordered by the numbers in their names) or, with the `ffmpeg` feature, any
//! video file FFmpeg's libavformat reads ([`VideoFile`]; decoded with the system's libav
//! through `ffmpeg-next`). [`perceive`] runs a [`Backend`] on every frame, tracks the
//! objects ([`crate::track`]) and builds the [`VideoTwin`] with motion and events.

use crate::events::EventConfig;
use crate::track::{self, FrameDetection, Tracker, TrackerConfig};
use crate::{Backend, MaskSource, PerceptionError, Size};
use dtr1_twin::VideoTwin;
use image::RgbImage;
use std::path::{Path, PathBuf};

/// Frames per second assumed when the source does not say.
pub const DEFAULT_FPS: f64 = 10.0;

/// A sequence of frames, read one at a time.
pub trait FrameSource {
    /// Frame width and height.
    fn dimensions(&self) -> (u32, u32);
    /// Frames per second, when known.
    fn fps(&self) -> Option<f64>;
    /// Number of frames, when known in advance.
    fn len_hint(&self) -> Option<usize>;
    /// The next frame, `None` at the end.
    fn next_frame(&mut self) -> Result<Option<RgbImage>, PerceptionError>;
}

fn file_err(path: &Path, message: impl Into<String>) -> PerceptionError {
    PerceptionError::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// A directory of frame images (`.png`, `.jpg`, `.jpeg`), in the order of the numbers in
/// their names (`frame_2.png` before `frame_10.png`), then by name.
pub struct ImageSequence {
    paths: Vec<PathBuf>,
    next: usize,
    size: (u32, u32),
    fps: Option<f64>,
}

/// Sort key of a frame file name: its digit runs as numbers, then the name itself.
fn frame_key(p: &Path) -> (Vec<u64>, String) {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nums = Vec::new();
    let mut cur: Option<u64> = None;
    for ch in name.chars() {
        match ch.to_digit(10) {
            Some(d) => {
                cur = Some(
                    cur.unwrap_or(0)
                        .saturating_mul(10)
                        .saturating_add(u64::from(d)),
                )
            }
            None => nums.extend(cur.take()),
        }
    }
    nums.extend(cur);
    (nums, name)
}

impl ImageSequence {
    /// Lists the frames of `dir`; fails when it holds none. `fps` is recorded as given.
    pub fn open(dir: &Path, fps: Option<f64>) -> Result<Self, PerceptionError> {
        let entries = std::fs::read_dir(dir).map_err(|e| file_err(dir, e.to_string()))?;
        let mut paths = Vec::new();
        for e in entries {
            let p = e.map_err(|e| file_err(dir, e.to_string()))?.path();
            let ext = p
                .extension()
                .map(|x| x.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if p.is_file() && matches!(ext.as_str(), "png" | "jpg" | "jpeg") {
                paths.push(p);
            }
        }
        if paths.is_empty() {
            return Err(file_err(
                dir,
                "no frame images (.png, .jpg) in this directory",
            ));
        }
        paths.sort_by_cached_key(|p| frame_key(p));
        let (w, h) = image::image_dimensions(&paths[0])
            .map_err(|e| file_err(&paths[0], format!("not a readable image: {e}")))?;
        Ok(ImageSequence {
            paths,
            next: 0,
            size: (w, h),
            fps,
        })
    }

    /// The frame files, in order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

impl FrameSource for ImageSequence {
    fn dimensions(&self) -> (u32, u32) {
        self.size
    }

    fn fps(&self) -> Option<f64> {
        self.fps
    }

    fn len_hint(&self) -> Option<usize> {
        Some(self.paths.len())
    }

    fn next_frame(&mut self) -> Result<Option<RgbImage>, PerceptionError> {
        let Some(p) = self.paths.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let img = crate::pipeline::read_image(p)?;
        if img.dimensions() != self.size {
            return Err(file_err(
                p,
                format!(
                    "frame is {}x{} but the first frame is {}x{}",
                    img.width(),
                    img.height(),
                    self.size.0,
                    self.size.1
                ),
            ));
        }
        Ok(Some(img))
    }
}

/// Opens `path` as frames: a directory is an [`ImageSequence`], a file a [`VideoFile`]
/// (which needs the `ffmpeg` feature). `fps` overrides the source's frame rate.
pub fn open(path: &Path, fps: Option<f64>) -> Result<Box<dyn FrameSource>, PerceptionError> {
    if let Some(f) = fps {
        if !(f.is_finite() && f > 0.0) {
            return Err(PerceptionError::OutOfRange {
                what: "frame rate".into(),
                value: f,
                range: "(0, ∞)",
            });
        }
    }
    if path.is_dir() {
        return Ok(Box::new(ImageSequence::open(path, fps)?));
    }
    if !path.exists() {
        return Err(file_err(path, "no such file or directory"));
    }
    open_file(path, fps)
}

#[cfg(feature = "ffmpeg")]
fn open_file(path: &Path, fps: Option<f64>) -> Result<Box<dyn FrameSource>, PerceptionError> {
    Ok(Box::new(VideoFile::open(path, fps)?))
}

#[cfg(not(feature = "ffmpeg"))]
fn open_file(path: &Path, _fps: Option<f64>) -> Result<Box<dyn FrameSource>, PerceptionError> {
    Err(file_err(
        path,
        "reading video files needs dtr1-perception's `ffmpeg` feature (the dtr1 CLI enables \
         it); pass a directory of frame images instead",
    ))
}

#[cfg(feature = "ffmpeg")]
pub use ffmpeg_source::VideoFile;

#[cfg(feature = "ffmpeg")]
mod ffmpeg_source {
    use super::{file_err, FrameSource};
    use crate::PerceptionError;
    use ffmpeg_next as ff;
    use image::RgbImage;
    use std::collections::VecDeque;
    use std::path::{Path, PathBuf};

    /// A video file decoded with FFmpeg's libraries, frames converted to RGB.
    pub struct VideoFile {
        path: PathBuf,
        input: ff::format::context::Input,
        stream: usize,
        decoder: ff::decoder::Video,
        scaler: ff::software::scaling::Context,
        ready: VecDeque<RgbImage>,
        fps: Option<f64>,
        frames: Option<usize>,
        eof: bool,
    }

    impl VideoFile {
        /// Opens the best video stream of `path`. `fps` overrides the stream's rate.
        pub fn open(path: &Path, fps: Option<f64>) -> Result<Self, PerceptionError> {
            let err = |e: ff::Error| file_err(path, format!("cannot decode video: {e}"));
            ff::init().map_err(err)?;
            // FFmpeg prints decoder chatter to stderr; errors reach the caller as values.
            ff::util::log::set_level(ff::util::log::Level::Quiet);
            let input = ff::format::input(&path).map_err(err)?;
            let st = input
                .streams()
                .best(ff::media::Type::Video)
                .ok_or_else(|| file_err(path, "the file has no video stream"))?;
            let stream = st.index();
            let rate = st.avg_frame_rate();
            let stream_fps = (rate.denominator() != 0 && rate.numerator() > 0)
                .then(|| f64::from(rate.numerator()) / f64::from(rate.denominator()));
            let frames = usize::try_from(st.frames()).ok().filter(|&n| n > 0);
            let ctx = ff::codec::context::Context::from_parameters(st.parameters()).map_err(err)?;
            let decoder = ctx.decoder().video().map_err(err)?;
            if decoder.width() == 0 || decoder.height() == 0 {
                return Err(file_err(path, "the video stream has no frame size"));
            }
            let scaler = ff::software::scaling::Context::get(
                decoder.format(),
                decoder.width(),
                decoder.height(),
                ff::format::Pixel::RGB24,
                decoder.width(),
                decoder.height(),
                ff::software::scaling::Flags::BILINEAR,
            )
            .map_err(err)?;
            Ok(VideoFile {
                path: path.to_path_buf(),
                input,
                stream,
                decoder,
                scaler,
                ready: VecDeque::new(),
                fps: fps.or(stream_fps),
                frames,
                eof: false,
            })
        }

        fn drain(&mut self) -> Result<(), PerceptionError> {
            let mut decoded = ff::frame::Video::empty();
            while self.decoder.receive_frame(&mut decoded).is_ok() {
                let mut rgb = ff::frame::Video::empty();
                self.scaler
                    .run(&decoded, &mut rgb)
                    .map_err(|e| file_err(&self.path, format!("cannot convert a frame: {e}")))?;
                let (w, h) = (rgb.width(), rgb.height());
                let stride = rgb.stride(0);
                let data = rgb.data(0);
                let mut buf = Vec::with_capacity((w * h * 3) as usize);
                for y in 0..h as usize {
                    buf.extend_from_slice(&data[y * stride..y * stride + w as usize * 3]);
                }
                let img = RgbImage::from_raw(w, h, buf)
                    .ok_or_else(|| file_err(&self.path, "decoded frame has the wrong size"))?;
                self.ready.push_back(img);
            }
            Ok(())
        }
    }

    impl FrameSource for VideoFile {
        fn dimensions(&self) -> (u32, u32) {
            (self.decoder.width(), self.decoder.height())
        }

        fn fps(&self) -> Option<f64> {
            self.fps
        }

        fn len_hint(&self) -> Option<usize> {
            self.frames
        }

        fn next_frame(&mut self) -> Result<Option<RgbImage>, PerceptionError> {
            loop {
                if let Some(f) = self.ready.pop_front() {
                    return Ok(Some(f));
                }
                if self.eof {
                    return Ok(None);
                }
                let next = self.input.packets().next();
                let path = self.path.clone();
                let err = |e: ff::Error| file_err(&path, format!("cannot decode video: {e}"));
                match next {
                    Some((st, packet)) => {
                        if st.index() == self.stream {
                            self.decoder.send_packet(&packet).map_err(err)?;
                        }
                    }
                    None => {
                        self.decoder.send_eof().map_err(err)?;
                        self.eof = true;
                    }
                }
                self.drain()?;
            }
        }
    }
}

/// Options of video perception.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VideoConfig {
    /// Tracker options.
    pub tracker: TrackerConfig,
    /// Event detection options.
    pub events: EventConfig,
    /// Read at most this many frames (all when `None`).
    pub max_frames: Option<usize>,
}

/// A video twin and the frames kept for pictures.
pub struct VideoPerception {
    /// The twin.
    pub twin: VideoTwin,
    /// `(frame index, frame)` for every frame `keep` accepted.
    pub kept: Vec<(u32, RgbImage)>,
}

/// Runs `backend` on every frame of `source`, tracks the objects and builds the video twin.
/// `keep(i)` says which frames to return for pictures; `progress(i)` is called after each
/// frame.
pub fn perceive(
    source: &mut dyn FrameSource,
    backend: &dyn Backend,
    cfg: &VideoConfig,
    keep: &dyn Fn(u32) -> bool,
    progress: &mut dyn FnMut(u32),
) -> Result<VideoPerception, PerceptionError> {
    let (w, h) = source.dimensions();
    let mut tracker = Tracker::new(cfg.tracker);
    let mut kept = Vec::new();
    let mut f = 0u32;
    while cfg.max_frames.is_none_or(|m| (f as usize) < m) {
        let Some(frame) = source.next_frame()? else {
            break;
        };
        if frame.dimensions() != (w, h) {
            return Err(PerceptionError::SizeMismatch {
                what: format!("frame {f}"),
                size: Size::new(frame.width(), frame.height()),
                other: "the video",
                expected: Size::new(w, h),
            });
        }
        let p = backend
            .perceive(&frame)
            .map_err(|e| PerceptionError::Frame {
                frame: u64::from(f),
                source: Box::new(e),
            })?;
        let dets = p
            .detections
            .iter()
            .map(|d| FrameDetection::measure(d, &frame, p.depth.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PerceptionError::Frame {
                frame: u64::from(f),
                source: Box::new(e),
            })?;
        tracker.push(dets)?;
        if keep(f) {
            kept.push((f, frame));
        }
        f += 1;
        progress(f);
    }
    if f == 0 {
        return Err(PerceptionError::Empty("the video has no frames"));
    }
    let tracks = tracker.finish();
    let fps = source.fps().unwrap_or(DEFAULT_FPS);
    let twin = track::build_twin(&tracks, w, h, f, fps, &cfg.events)?;
    Ok(VideoPerception { twin, kept })
}

/// The detections of frame `f` taken from a true video twin's masks, with the track ids
/// dropped (the `annotations` path for video: the tracker has to find the identities).
pub fn detections_from_twin(
    truth: &VideoTwin,
    frame: &RgbImage,
    f: u32,
) -> Result<Vec<FrameDetection>, PerceptionError> {
    let mut out = Vec::new();
    for t in &truth.tracks {
        if let Some(m) = t.frames.get(&f).and_then(|o| o.mask.as_ref()) {
            if m.area() == 0 {
                continue;
            }
            let det = crate::Detection {
                label: t.label.clone(),
                score: t.score.unwrap_or(1.0),
                mask: m.clone(),
                mask_source: MaskSource::Annotation,
            };
            let mut fd = FrameDetection::measure(&det, frame, None)?;
            fd.depth = t.frames[&f].depth;
            out.push(fd);
        }
    }
    // Left to right, so the order says nothing about the true ids.
    out.sort_by(|a, b| {
        let (ca, cb) = (a.mask.centroid(), b.mask.centroid());
        ca.map(|c| c[0])
            .partial_cmp(&cb.map(|c| c[0]))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(out)
}

/// Tints for tracks, by id.
const TRACK_TINTS: [[u8; 3]; 8] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
];

/// A contact sheet of `frames` (frame index, picture) with the twin's tracks drawn on them:
/// each track's mask tinted and outlined in its own colour and `#id label` at its box, the
/// frame number in a corner, `cols` pictures per row; the events are listed in a caption
/// band above.
pub fn contact_sheet(
    twin: &VideoTwin,
    frames: &[(u32, RgbImage)],
    cols: u32,
) -> Result<RgbImage, PerceptionError> {
    let (w, h) = (twin.width, twin.height);
    if frames.is_empty() {
        return Err(PerceptionError::Empty("a contact sheet needs frames"));
    }
    let cols = cols.clamp(1, frames.len() as u32);
    let rows = (frames.len() as u32).div_ceil(cols);
    let mut sheet = RgbImage::from_pixel(w * cols, h * rows, image::Rgb([255, 255, 255]));
    for (k, (f, img)) in frames.iter().enumerate() {
        if img.dimensions() != (w, h) {
            return Err(PerceptionError::SizeMismatch {
                what: format!("frame {f}"),
                size: Size::new(img.width(), img.height()),
                other: "the twin",
                expected: Size::new(w, h),
            });
        }
        let mut pic = img.clone();
        let mut labels = Vec::new();
        for t in &twin.tracks {
            let Some(m) = t.frames.get(f).and_then(|o| o.mask.as_ref()) else {
                continue;
            };
            if m.size() != [h, w] {
                return Err(PerceptionError::SizeMismatch {
                    what: format!("track {} frame {f}'s mask", t.id),
                    size: Size::of_mask(m),
                    other: "the twin",
                    expected: Size::new(w, h),
                });
            }
            let tint = TRACK_TINTS[(t.id as usize).wrapping_sub(1) % TRACK_TINTS.len()];
            let dense = m.decode_row_major();
            let at = |x: i64, y: i64| {
                x >= 0
                    && y >= 0
                    && x < i64::from(w)
                    && y < i64::from(h)
                    && dense[(y * i64::from(w) + x) as usize] != 0
            };
            for (i, &v) in dense.iter().enumerate() {
                if v == 0 {
                    continue;
                }
                let (x, y) = ((i as u32 % w) as i64, (i as u32 / w) as i64);
                let edge = !(at(x - 1, y) && at(x + 1, y) && at(x, y - 1) && at(x, y + 1));
                let p = pic.get_pixel_mut(x as u32, y as u32);
                let alpha = if edge { 1.0 } else { 0.4 };
                for (c, t) in p.0.iter_mut().zip(tint) {
                    *c = (f32::from(*c) * (1.0 - alpha) + f32::from(t) * alpha) as u8;
                }
            }
            if let Some(b) = t.frames[f].bbox {
                labels.push((
                    b[0] as i64,
                    b[1] as i64 - 10,
                    format!("#{} {}", t.id, t.label),
                ));
            }
        }
        for (x, y, s) in labels {
            crate::overlay::text(&mut pic, x, y.max(0), &s, 1);
        }
        crate::overlay::text(&mut pic, 2, i64::from(h) - 10, &format!("frame {f}"), 1);
        image::imageops::replace(
            &mut sheet,
            &pic,
            i64::from(w * (k as u32 % cols)),
            i64::from(h * (k as u32 / cols)),
        );
    }
    let mut lines = vec![format!(
        "{} tracks, {} frames at {} fps; events:",
        twin.tracks.len(),
        twin.frames,
        twin.fps
    )];
    let ev: Vec<String> = twin
        .events
        .iter()
        .map(|e| {
            let ids: Vec<String> = e.tracks.iter().map(|t| format!("#{t}")).collect();
            format!("{}@{} {}", e.kind.name(), e.frame, ids.join(","))
        })
        .collect();
    lines.push(if ev.is_empty() {
        "none".into()
    } else {
        ev.join("; ")
    });
    Ok(dtr1_data::overlay::caption(&sheet, &lines))
}
