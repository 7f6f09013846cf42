//! Scoring a built video twin against the true one: identity switches, track recall and
//! event precision/recall/F1.
//!
//! Conventions (CLEAR-MOT style):
//!
//! - In each frame, built and true objects are paired one-to-one by the Hungarian algorithm
//!   on mask IoU; only pairs with IoU ≥ `iou` count as matches.
//! - An **identity switch** is a true track matched to a different built track than the
//!   one it was last matched to.
//! - A true track is **recalled** when it is matched in at least 80 % of the frames where it
//!   is visible (MOT's "mostly tracked").
//! - Each built track stands for the true track it is matched to most often; events are
//!   then matched with [`events::match_events`] within `tolerance` frames.

use crate::events::{self, EventCounts};
use crate::{PerceptionError, Size};
use dtr1_twin::{EventKind, VideoTwin};
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use std::collections::BTreeMap;

/// How a built video twin compares with the truth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoScore {
    /// True tracks.
    pub true_tracks: usize,
    /// Built tracks.
    pub built_tracks: usize,
    /// Identity switches.
    pub id_switches: usize,
    /// True tracks matched in ≥ 80 % of their visible frames.
    pub recalled_tracks: usize,
    /// True (frame, object) pairs.
    pub true_objects: usize,
    /// Built (frame, object) pairs.
    pub built_objects: usize,
    /// Matched (frame, object) pairs.
    pub matched_objects: usize,
    /// Sum of the IoU of matched pairs.
    pub iou_sum: f64,
    /// Event counts per kind.
    pub events: BTreeMap<EventKind, EventCounts>,
}

impl VideoScore {
    /// Adds the counts of another clip.
    pub fn add(&mut self, o: &VideoScore) {
        self.true_tracks += o.true_tracks;
        self.built_tracks += o.built_tracks;
        self.id_switches += o.id_switches;
        self.recalled_tracks += o.recalled_tracks;
        self.true_objects += o.true_objects;
        self.built_objects += o.built_objects;
        self.matched_objects += o.matched_objects;
        self.iou_sum += o.iou_sum;
        for (k, c) in &o.events {
            self.events.entry(*k).or_default().add(c);
        }
    }

    /// Recalled / true tracks.
    pub fn track_recall(&self) -> f64 {
        self.recalled_tracks as f64 / self.true_tracks.max(1) as f64
    }

    /// Identity switches per 10 true tracks.
    pub fn switches_per_10_tracks(&self) -> f64 {
        10.0 * self.id_switches as f64 / self.true_tracks.max(1) as f64
    }

    /// Mean IoU of matched (frame, object) pairs.
    pub fn mean_iou(&self) -> f64 {
        self.iou_sum / self.matched_objects.max(1) as f64
    }

    /// Event counts over all kinds.
    pub fn all_events(&self) -> EventCounts {
        let mut c = EventCounts::default();
        for v in self.events.values() {
            c.add(v);
        }
        c
    }
}

/// Scores `built` against `truth` (see the module doc).
pub fn evaluate(
    built: &VideoTwin,
    truth: &VideoTwin,
    iou: f64,
    tolerance: u32,
) -> Result<VideoScore, PerceptionError> {
    if (built.width, built.height, built.frames) != (truth.width, truth.height, truth.frames) {
        return Err(PerceptionError::SizeMismatch {
            what: format!("the built twin ({} frames)", built.frames),
            size: Size::new(built.width, built.height),
            other: "the truth",
            expected: Size::new(truth.width, truth.height),
        });
    }
    if built.frames != truth.frames {
        return Err(PerceptionError::CountMismatch {
            what: "frames of the built twin",
            got: built.frames as usize,
            expected: truth.frames as usize,
        });
    }
    let mut s = VideoScore {
        true_tracks: truth.tracks.len(),
        built_tracks: built.tracks.len(),
        ..Default::default()
    };
    let mut last: BTreeMap<u32, u32> = BTreeMap::new();
    let mut matched_frames: BTreeMap<u32, usize> = BTreeMap::new();
    let mut votes: BTreeMap<u32, BTreeMap<u32, usize>> = BTreeMap::new();
    for f in 0..truth.frames {
        let t: Vec<(u32, &dtr1_rle::Rle)> = truth
            .tracks
            .iter()
            .filter_map(|tr| {
                tr.frames
                    .get(&f)
                    .and_then(|o| o.mask.as_ref())
                    .map(|m| (tr.id, m))
            })
            .collect();
        let b: Vec<(u32, &dtr1_rle::Rle)> = built
            .tracks
            .iter()
            .filter_map(|tr| {
                tr.frames
                    .get(&f)
                    .and_then(|o| o.mask.as_ref())
                    .map(|m| (tr.id, m))
            })
            .collect();
        s.true_objects += t.len();
        s.built_objects += b.len();
        if t.is_empty() || b.is_empty() {
            continue;
        }
        // Rows: built objects; columns: true objects, then one "unmatched" column per row.
        let mut m = Matrix::new(b.len(), t.len() + b.len(), 0i64);
        let mut ious = vec![0.0; b.len() * t.len()];
        for (r, (_, bm)) in b.iter().enumerate() {
            for (c, (_, tm)) in t.iter().enumerate() {
                let v = dtr1_rle::iou(bm, tm, false).map_err(|source| PerceptionError::Mask {
                    context: format!("frame {f}"),
                    source,
                })?;
                ious[r * t.len() + c] = v;
                m[(r, c)] = if v >= iou {
                    (v * 1e6).round() as i64
                } else {
                    -1
                };
            }
        }
        let (_, pick) = kuhn_munkres(&m);
        for (r, &c) in pick.iter().enumerate() {
            if c >= t.len() || m[(r, c)] <= 0 {
                continue;
            }
            let (bid, tid) = (b[r].0, t[c].0);
            s.matched_objects += 1;
            s.iou_sum += ious[r * t.len() + c];
            *matched_frames.entry(tid).or_default() += 1;
            *votes.entry(bid).or_default().entry(tid).or_default() += 1;
            if last.insert(tid, bid).is_some_and(|p| p != bid) {
                s.id_switches += 1;
            }
        }
    }
    for tr in &truth.tracks {
        let n = tr.frames.len();
        if n > 0 && matched_frames.get(&tr.id).copied().unwrap_or(0) * 5 >= n * 4 {
            s.recalled_tracks += 1;
        }
    }
    let to_true: BTreeMap<u32, u32> = votes
        .iter()
        .filter_map(|(bid, v)| {
            v.iter()
                .max_by_key(|(tid, n)| (**n, std::cmp::Reverse(**tid)))
                .map(|(tid, _)| (*bid, *tid))
        })
        .collect();
    s.events = events::match_events(&built.events, &truth.events, &to_true, tolerance);
    Ok(s)
}
