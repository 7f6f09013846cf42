//! Multi-object tracking: per-frame detections in, tracks with persistent ids out.
//!
//! The tracker does not care where detections come from (a perception backend run on each
//! frame, ground-truth masks, an import): it takes, per frame, masks as RLE with a label and
//! an appearance (mean CIELAB colour of the mask's pixels). Each frame, live tracks and new
//! detections are paired by the Hungarian algorithm (`pathfinding`'s Kuhn–Munkres) on a cost
//! that adds
//!
//! - `1 − IoU` of the detection's mask with the track's last mask,
//! - the distance from the detection's centroid to the track's predicted centroid (constant
//!   velocity), in units of the object's size and growing with the frames it was unseen,
//! - the CIELAB colour difference (ΔE₇₆) and a penalty for a different label.
//!
//! Pairs beyond the distance or colour gates are never made; a track unmatched for more than
//! [`TrackerConfig::max_lost`] frames is closed, so an object hidden for a few frames (an
//! occlusion) is re-identified under its old id when it comes back near where its motion
//! says it should be. [`build_twin`] turns the tracks into a [`VideoTwin`] with motion and
//! the events of [`crate::events`].

use crate::{color, events, DepthMap, Detection, PerceptionError, Size};
use dtr1_rle::Rle;
use dtr1_twin::{
    mask_bbox, validate, Attributes, Bbox, DepthStats, FrameObject, Mode, Motion, Track, Twin,
    VideoTwin, SCHEMA_VERSION,
};
use image::RgbImage;
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use std::collections::BTreeMap;

/// One object found in one frame: what the tracker needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameDetection {
    /// Class label.
    pub label: String,
    /// Confidence in [0, 1].
    pub score: f64,
    /// Mask of the whole frame.
    pub mask: Rle,
    /// Mean CIELAB colour of the mask's pixels, when the pixels are known.
    pub lab: Option<[f64; 3]>,
    /// Depth statistics over the mask, when a depth map is known.
    pub depth: Option<DepthStats>,
    /// Where the mask came from (recorded per frame in the video twin).
    pub mask_source: Option<dtr1_twin::MaskSource>,
}

impl FrameDetection {
    /// A detection with its appearance measured on `frame` (mean Lab colour of the mask's
    /// pixels) and depth statistics from `depth`, when given.
    pub fn measure(
        det: &Detection,
        frame: &RgbImage,
        depth: Option<&DepthMap>,
    ) -> Result<FrameDetection, PerceptionError> {
        let (w, h) = frame.dimensions();
        if det.mask.size() != [h, w] {
            return Err(PerceptionError::SizeMismatch {
                what: format!("detection {}'s mask", det.label),
                size: Size::of_mask(&det.mask),
                other: "the frame",
                expected: Size::new(w, h),
            });
        }
        let dense = det.mask.decode_row_major();
        let mut sum = [0f64; 3];
        let mut n = 0usize;
        for (px, &m) in frame.pixels().zip(&dense) {
            if m != 0 {
                let lab = color::srgb_to_lab(px.0);
                for k in 0..3 {
                    sum[k] += lab[k];
                }
                n += 1;
            }
        }
        let depth = match depth {
            Some(d) => {
                if (d.width, d.height) != (w, h) {
                    return Err(PerceptionError::SizeMismatch {
                        what: "depth map".into(),
                        size: Size::new(d.width, d.height),
                        other: "the frame",
                        expected: Size::new(w, h),
                    });
                }
                depth_stats(&dense, d)?
            }
            None => None,
        };
        Ok(FrameDetection {
            label: det.label.clone(),
            score: det.score,
            mask: det.mask.clone(),
            lab: (n > 0).then(|| sum.map(|s| s / n as f64)),
            depth,
            mask_source: Some(det.mask_source),
        })
    }
}

/// Depth statistics (rounded to 3 decimals) of a depth map over a dense row-major mask.
fn depth_stats(dense: &[u8], d: &DepthMap) -> Result<Option<DepthStats>, PerceptionError> {
    let (mut sum, mut n, mut mn, mut mx) = (0f64, 0usize, f64::MAX, f64::MIN);
    for (&m, &v) in dense.iter().zip(&d.values) {
        if m != 0 {
            if !v.is_finite() {
                return Err(PerceptionError::NonFinite {
                    what: "depth under a mask".into(),
                });
            }
            let v = f64::from(v);
            sum += v;
            n += 1;
            mn = mn.min(v);
            mx = mx.max(v);
        }
    }
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    Ok((n > 0).then(|| {
        let (mn, mx) = (r3(mn), r3(mx));
        DepthStats {
            mean: r3(sum / n as f64).clamp(mn, mx),
            min: mn,
            max: mx,
        }
    }))
}

/// Options of the tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Frames a track may go unseen and still be re-identified.
    pub max_lost: u32,
    /// Pairs costlier than this stay unpaired (the detection starts a new track).
    pub max_cost: f64,
    /// Gate on the centroid distance to the prediction, in object sizes (√area), for a
    /// track seen in the previous frame; it widens by half a size per extra unseen frame.
    pub max_distance: f64,
    /// Gate on the colour difference ΔE₇₆ between a track and a detection.
    pub max_color_delta: f64,
    /// Cost per unit of ΔE₇₆.
    pub color_weight: f64,
    /// Cost of pairing a detection with a track of another label.
    pub label_penalty: f64,
    /// Tracks seen in fewer frames than this are dropped as noise (unless the video is
    /// shorter).
    pub min_frames: usize,
    /// Detections with a smaller mask (pixels) are ignored.
    pub min_area: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_lost: 10,
            max_cost: 3.0,
            max_distance: 1.5,
            max_color_delta: 25.0,
            color_weight: 0.02,
            label_penalty: 0.6,
            min_frames: 2,
            min_area: 4,
        }
    }
}

/// One frame of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Mask of the frame.
    pub mask: Rle,
    /// Label the detector gave.
    pub label: String,
    /// Detector confidence.
    pub score: f64,
    /// Mean Lab colour, when known.
    pub lab: Option<[f64; 3]>,
    /// Depth statistics, when known.
    pub depth: Option<DepthStats>,
    /// Mask area (pixels).
    pub area: u64,
    /// Mask centroid `[x, y]`.
    pub centroid: [f64; 2],
    /// Tight box `[x1, y1, x2, y2]`.
    pub bbox: Bbox,
    /// Where the mask came from.
    pub mask_source: Option<dtr1_twin::MaskSource>,
}

/// A finished track: a persistent id and the frames it was seen in.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTrack {
    /// Track id (1-based, in order of first appearance).
    pub id: u32,
    /// Observations keyed by frame index.
    pub frames: BTreeMap<u32, Observation>,
}

impl RawTrack {
    /// First frame seen.
    pub fn first(&self) -> u32 {
        *self.frames.keys().next().expect("a track has a frame")
    }

    /// Last frame seen.
    pub fn last(&self) -> u32 {
        *self.frames.keys().next_back().expect("a track has a frame")
    }

    /// The label seen most often (ties: the alphabetically first).
    pub fn label(&self) -> String {
        let mut n: BTreeMap<&str, usize> = BTreeMap::new();
        for o in self.frames.values() {
            *n.entry(&o.label).or_default() += 1;
        }
        let best = n.values().copied().max().unwrap_or(0);
        n.into_iter()
            .find(|(_, c)| *c == best)
            .map(|(l, _)| l.to_string())
            .unwrap_or_default()
    }

    /// Mean Lab colour over the frames where it is known.
    pub fn lab(&self) -> Option<[f64; 3]> {
        mean_lab(self.frames.values().filter_map(|o| o.lab))
    }
}

fn mean_lab(labs: impl Iterator<Item = [f64; 3]>) -> Option<[f64; 3]> {
    let (mut s, mut n) = ([0f64; 3], 0usize);
    for l in labs {
        for k in 0..3 {
            s[k] += l[k];
        }
        n += 1;
    }
    (n > 0).then(|| s.map(|v| v / n as f64))
}

struct Live {
    track: RawTrack,
    /// Centroid velocity (pixels per frame), smoothed.
    velocity: [f64; 2],
    /// Running mean colour of the last frames (shading changes slowly as objects move).
    lab: Option<[f64; 3]>,
    last_frame: u32,
    /// The last frame where the object looked whole (its area did not drop below 80 % of
    /// the previous whole frame's): while it is partly hidden, its visible part's centroid
    /// drifts, so motion and re-identification are anchored here.
    anchor: u32,
}

/// Online tracker: feed it the detections of each frame in order, then [`Tracker::finish`].
pub struct Tracker {
    cfg: TrackerConfig,
    live: Vec<Live>,
    done: Vec<RawTrack>,
    frame: u32,
    size: Option<[u32; 2]>,
    next_id: u32,
}

/// Fixed-point scale of the assignment weights (Kuhn–Munkres wants an ordered, exact sum).
const SCALE: f64 = 10_000.0;

impl Tracker {
    /// A tracker with these options.
    pub fn new(cfg: TrackerConfig) -> Self {
        Tracker {
            cfg,
            live: Vec::new(),
            done: Vec::new(),
            frame: 0,
            size: None,
            next_id: 1,
        }
    }

    /// Number of frames pushed so far.
    pub fn frames(&self) -> u32 {
        self.frame
    }

    /// Adds the detections of the next frame and returns the track id given to each
    /// (`None` for ignored ones: masks smaller than [`TrackerConfig::min_area`]).
    pub fn push(&mut self, dets: Vec<FrameDetection>) -> Result<Vec<Option<u32>>, PerceptionError> {
        let f = self.frame;
        for (i, d) in dets.iter().enumerate() {
            let size = d.mask.size();
            match self.size {
                None => self.size = Some(size),
                Some(s) if s != size => {
                    return Err(PerceptionError::SizeMismatch {
                        what: format!("frame {f}, detection {i} ({})'s mask", d.label),
                        size: Size::from_mask_size(size),
                        other: "each earlier mask",
                        expected: Size::from_mask_size(s),
                    })
                }
                Some(_) => {}
            }
            if !(0.0..=1.0).contains(&d.score) {
                return Err(PerceptionError::OutOfRange {
                    what: format!("frame {f}, detection {i} ({}): score", d.label),
                    value: d.score,
                    range: "[0, 1]",
                });
            }
        }
        // Close tracks unseen for too long.
        let max_lost = self.cfg.max_lost;
        let (keep, gone): (Vec<Live>, Vec<Live>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|l| f - l.last_frame <= max_lost + 1);
        self.live = keep;
        self.done.extend(gone.into_iter().map(|l| l.track));

        let mut ids = vec![None; dets.len()];
        let obs: Vec<Option<Observation>> = dets
            .into_iter()
            .map(|d| {
                let area = d.mask.area();
                let bbox = mask_bbox(&d.mask)?;
                let centroid = d.mask.centroid()?;
                (area >= self.cfg.min_area).then_some(Observation {
                    area,
                    bbox,
                    centroid,
                    label: d.label,
                    score: d.score,
                    lab: d.lab,
                    depth: d.depth,
                    mask: d.mask,
                    mask_source: d.mask_source,
                })
            })
            .collect();
        let cand: Vec<usize> = (0..obs.len()).filter(|&i| obs[i].is_some()).collect();
        let mut assigned = vec![None; cand.len()];
        if !self.live.is_empty() && !cand.is_empty() {
            let (rows, cols) = (self.live.len(), cand.len() + self.live.len());
            // Columns past the detections are "stay unmatched", at the refusal cost; a
            // forbidden pair weighs less than that, so it is never chosen.
            let refuse = -(self.cfg.max_cost * SCALE).round() as i64;
            let forbidden = refuse * 1000;
            let mut m = Matrix::new(rows, cols, refuse);
            for (r, l) in self.live.iter().enumerate() {
                for (c, &di) in cand.iter().enumerate() {
                    let o = obs[di].as_ref().expect("candidates are kept");
                    m[(r, c)] = match self.cost(l, o, f)? {
                        Some(cost) if cost < self.cfg.max_cost => -(cost * SCALE).round() as i64,
                        _ => forbidden,
                    };
                }
            }
            let (_, pick) = kuhn_munkres(&m);
            for (r, &c) in pick.iter().enumerate() {
                if c < cand.len() && m[(r, c)] > refuse {
                    assigned[c] = Some(r);
                }
            }
        }
        let mut obs = obs;
        for (c, &di) in cand.iter().enumerate() {
            let o = obs[di].take().expect("candidates are kept");
            match assigned[c] {
                Some(r) => {
                    let l = &mut self.live[r];
                    let prev = l
                        .track
                        .frames
                        .values()
                        .next_back()
                        .expect("live tracks have a frame");
                    let gap = f64::from(f - l.last_frame);
                    let anchor = &l.track.frames[&l.anchor];
                    let whole = o.area as f64 >= 0.8 * anchor.area as f64;
                    // Motion only between consecutive whole views: a changing visible part
                    // (occlusion, the frame's edge) moves the centroid without the object.
                    if whole && l.anchor == l.last_frame {
                        let v = [
                            (o.centroid[0] - prev.centroid[0]) / gap,
                            (o.centroid[1] - prev.centroid[1]) / gap,
                        ];
                        l.velocity = [
                            0.5 * l.velocity[0] + 0.5 * v[0],
                            0.5 * l.velocity[1] + 0.5 * v[1],
                        ];
                    }
                    if whole {
                        l.anchor = f;
                    }
                    if let Some(lab) = o.lab {
                        l.lab = Some(match l.lab {
                            Some(p) => [0, 1, 2].map(|k| 0.7 * p[k] + 0.3 * lab[k]),
                            None => lab,
                        });
                    }
                    l.last_frame = f;
                    ids[di] = Some(l.track.id);
                    l.track.frames.insert(f, o);
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    ids[di] = Some(id);
                    let lab = o.lab;
                    let mut frames = BTreeMap::new();
                    frames.insert(f, o);
                    self.live.push(Live {
                        track: RawTrack { id, frames },
                        velocity: [0.0; 2],
                        lab,
                        last_frame: f,
                        anchor: f,
                    });
                }
            }
        }
        self.frame += 1;
        Ok(ids)
    }

    /// Cost of continuing `l` with `o` at frame `f`, `None` when a gate forbids it.
    fn cost(&self, l: &Live, o: &Observation, f: u32) -> Result<Option<f64>, PerceptionError> {
        let prev = l
            .track
            .frames
            .values()
            .next_back()
            .expect("live tracks have a frame");
        let gap = f64::from(f - l.last_frame);
        // Distance to where the motion puts the object, from the last view and from the
        // last whole view, whichever is nearer.
        let anchor = &l.track.frames[&l.anchor];
        let mut dist = f64::MAX;
        let mut iou = 0f64;
        for (from, at) in [(prev, l.last_frame), (anchor, l.anchor)] {
            let g = f64::from(f - at);
            let pred = [
                from.centroid[0] + l.velocity[0] * g,
                from.centroid[1] + l.velocity[1] * g,
            ];
            let size = (from.area.max(o.area).max(anchor.area) as f64)
                .sqrt()
                .max(4.0);
            dist = dist.min((o.centroid[0] - pred[0]).hypot(o.centroid[1] - pred[1]) / size);
            iou = iou.max(dtr1_rle::iou(&o.mask, &from.mask, false).map_err(|source| {
                PerceptionError::Mask {
                    context: format!("frame {f}"),
                    source,
                }
            })?);
        }
        let gate = self.cfg.max_distance + 0.5 * (gap - 1.0);
        if dist > gate {
            return Ok(None);
        }
        let de = match (l.lab, o.lab) {
            (Some(a), Some(b)) => {
                ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
            }
            _ => 0.0,
        };
        if de > self.cfg.max_color_delta {
            return Ok(None);
        }
        let label = if o.label == prev.label {
            0.0
        } else {
            self.cfg.label_penalty
        };
        Ok(Some(
            (1.0 - iou) + dist + self.cfg.color_weight * de + label,
        ))
    }

    /// Closes every track and returns them in id order, without the ones seen in fewer
    /// than [`TrackerConfig::min_frames`] frames (kept when the video is that short).
    pub fn finish(mut self) -> Vec<RawTrack> {
        self.done.extend(self.live.into_iter().map(|l| l.track));
        let min = self.cfg.min_frames.min(self.frame as usize).max(1);
        let mut out: Vec<RawTrack> = self
            .done
            .into_iter()
            .filter(|t| t.frames.len() >= min)
            .collect();
        out.sort_by_key(|t| (t.first(), t.id));
        // Ids in order of first appearance, without gaps left by dropped tracks.
        for (k, t) in out.iter_mut().enumerate() {
            t.id = k as u32 + 1;
        }
        out
    }
}

/// Tracks every frame's detections with `cfg` (see [`Tracker`]).
pub fn track(
    frames: Vec<Vec<FrameDetection>>,
    cfg: &TrackerConfig,
) -> Result<(Vec<RawTrack>, u32), PerceptionError> {
    let mut t = Tracker::new(*cfg);
    for dets in frames {
        t.push(dets)?;
    }
    let n = t.frames();
    Ok((t.finish(), n))
}

/// Builds the video twin of `frames` frames of `width × height` at `fps` from finished
/// tracks: per-frame objects from the masks, motion (net speed in pixels per frame and
/// direction between the first and last centroid, a path sampled every 4th frame and at
/// the last), attributes (colour named from the mean Lab colour, size class by mean-area
/// tercile, shape descriptor of the largest mask) and the events of [`events::detect`].
/// The twin is checked with strict validation.
pub fn build_twin(
    tracks: &[RawTrack],
    width: u32,
    height: u32,
    frames: u32,
    fps: f64,
    ecfg: &events::EventConfig,
) -> Result<VideoTwin, PerceptionError> {
    let r2 = |v: f64| (v * 100.0).round() / 100.0;
    let mut out = Vec::new();
    for t in tracks {
        if let Some(o) = t.frames.values().find(|o| o.mask.size() != [height, width]) {
            return Err(PerceptionError::SizeMismatch {
                what: format!("track {}'s mask", t.id),
                size: Size::of_mask(&o.mask),
                other: "the video",
                expected: Size::new(width, height),
            });
        }
        let per: BTreeMap<u32, FrameObject> = t
            .frames
            .iter()
            .map(|(&f, o)| {
                let mut fo = FrameObject::from_mask(o.mask.clone());
                fo.centroid = Some([r2(o.centroid[0]), r2(o.centroid[1])]);
                fo.depth = o.depth;
                fo.mask_source = o.mask_source;
                (f, fo)
            })
            .collect();
        let (first, last) = (t.first(), t.last());
        let centroids: BTreeMap<u32, [f64; 2]> =
            t.frames.iter().map(|(&f, o)| (f, o.centroid)).collect();
        let mut attributes = Attributes {
            color: t.lab().map(|l| color::name_lab(l).to_string()),
            ..Default::default()
        };
        if let Some(big) = t.frames.values().max_by_key(|o| o.area) {
            attributes.shape = Some(crate::builder::shape_descriptor(big.bbox, big.area).into());
        }
        let score = t.frames.values().map(|o| o.score).sum::<f64>() / t.frames.len() as f64;
        out.push(Track {
            id: t.id,
            label: t.label(),
            score: Some((score * 1000.0).round() / 1000.0),
            first_frame: first,
            last_frame: last,
            frames: per,
            motion: Motion::from_centroids(&centroids),
            attributes,
            relations: Vec::new(),
        });
    }
    // Size classes by mean-area tercile among the tracks.
    let mean_area = |t: &RawTrack| {
        t.frames.values().map(|o| o.area as f64).sum::<f64>() / t.frames.len() as f64
    };
    let mut areas: Vec<f64> = tracks.iter().map(mean_area).collect();
    areas.sort_by(f64::total_cmp);
    for (t, raw) in out.iter_mut().zip(tracks) {
        let rank = areas.partition_point(|&x| x < mean_area(raw));
        t.attributes.size =
            Some(["small", "medium", "large"][(rank * 3 / areas.len().max(1)).min(2)].into());
    }
    let twin = VideoTwin {
        schema_version: SCHEMA_VERSION.into(),
        width,
        height,
        fps,
        frames,
        events: events::detect(tracks, width, height, frames, ecfg),
        tracks: out,
    };
    validate(&Twin::Video(twin.clone()), Mode::Strict).map_err(|source| {
        PerceptionError::InvalidTwin {
            what: "video twin",
            source,
        }
    })?;
    Ok(twin)
}
