//! J&F for video object segmentation, as the DAVIS 2017 evaluation defines it and the
//! referring/reasoning VOS benchmarks (MeViS, ReVOS) use it.
//!
//! Per frame, for one object (or one expression):
//! - **J** (region similarity) = `|P ∩ G| / |P ∪ G|`, and **1 when both are empty**.
//! - **F** (boundary accuracy): boundaries are taken with DAVIS's `seg2bmap` rule (a pixel
//!   is on the boundary when it differs from its right, lower or lower-right neighbour; the
//!   last row compares only to the right, the last column only downwards, and the
//!   bottom-right pixel is never a boundary). Each boundary is dilated by a disk of radius
//!   `ceil(0.008 · sqrt(h² + w²))` pixels (all integer offsets with `dx² + dy² ≤ r²`).
//!   Precision = predicted boundary pixels inside the dilated ground-truth boundary / all
//!   predicted boundary pixels; recall likewise the other way. Edge cases as DAVIS: no
//!   predicted and no true boundary → P = R = 1; only a true boundary → P = 1, R = 0; only a
//!   predicted one → P = 0, R = 1. F = `2PR / (P + R)`, or 0 when `P + R = 0`.
//!
//! Aggregation ([`SequenceScores`], [`JfAccumulator`]): J and F are averaged over the frames
//! of each object/expression, then over objects/expressions; J&F is the mean of the two.
//! All frames count (the RVOS convention); DAVIS's semi-supervised protocol drops the first
//! and last frame, which callers do by passing the inner frames. Reports show ×100.

use crate::MetricError;
use dtr1_rle::Rle;

/// DAVIS boundary tolerance as a fraction of the image diagonal.
pub const BOUND_TH: f64 = 0.008;

/// The DAVIS dilation radius for an `h × w` frame.
pub fn bound_radius(h: usize, w: usize) -> usize {
    (BOUND_TH * ((h * h + w * w) as f64).sqrt()).ceil() as usize
}

/// J and F of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameScores {
    /// Region similarity.
    pub j: f64,
    /// Boundary F-measure.
    pub f: f64,
}

/// DAVIS `seg2bmap` on a row-major 0/1 mask.
pub fn boundary_map(m: &[u8], h: usize, w: usize) -> Vec<bool> {
    let at = |y: usize, x: usize| -> bool { y < h && x < w && m[y * w + x] != 0 };
    let mut b = vec![false; h * w];
    for y in 0..h {
        for x in 0..w {
            let s = at(y, x);
            b[y * w + x] = if y == h - 1 && x == w - 1 {
                false
            } else if x == w - 1 {
                s ^ at(y + 1, x)
            } else if y == h - 1 {
                s ^ at(y, x + 1)
            } else {
                (s ^ at(y, x + 1)) | (s ^ at(y + 1, x)) | (s ^ at(y + 1, x + 1))
            };
        }
    }
    b
}

/// Dilates a boundary map by a disk of radius `r`, painting one horizontal span per disk
/// row around each boundary pixel (cost ∝ boundary length × r, not image area × r²).
fn dilate(b: &[bool], h: usize, w: usize, r: usize) -> Vec<bool> {
    let r = r as i64;
    let half: Vec<i64> = (-r..=r)
        .map(|dy| {
            // Largest dx with dx² + dy² ≤ r², in exact integers.
            let mut dx = ((r * r - dy * dy) as f64).sqrt() as i64;
            while dx * dx + dy * dy > r * r {
                dx -= 1;
            }
            while (dx + 1) * (dx + 1) + dy * dy <= r * r {
                dx += 1;
            }
            dx
        })
        .collect();
    let mut out = vec![false; h * w];
    let (hi, wi) = (h as i64, w as i64);
    for y in 0..hi {
        for x in 0..wi {
            if !b[(y * wi + x) as usize] {
                continue;
            }
            for (k, &hw) in half.iter().enumerate() {
                let yy = y + k as i64 - r;
                if yy < 0 || yy >= hi {
                    continue;
                }
                let (x0, x1) = ((x - hw).max(0), (x + hw).min(wi - 1));
                let row = (yy * wi) as usize;
                out[row + x0 as usize..=row + x1 as usize].fill(true);
            }
        }
    }
    out
}

/// J and F of one frame from row-major 0/1 masks of `h × w`.
pub fn frame_scores(
    pred: &[u8],
    gt: &[u8],
    h: usize,
    w: usize,
) -> Result<FrameScores, MetricError> {
    if pred.len() != h * w || gt.len() != h * w {
        return Err(MetricError::SizeMismatch {
            what: "J&F frame",
            a: format!("prediction {} px, target {} px", pred.len(), gt.len()),
            b: format!("{h}x{w} frame"),
        });
    }
    if h == 0 || w == 0 {
        return Err(MetricError::Invalid {
            what: "J&F frame",
            reason: "empty frame".into(),
        });
    }
    let (mut i, mut u) = (0u64, 0u64);
    for (p, g) in pred.iter().zip(gt) {
        let (p, g) = (*p != 0, *g != 0);
        i += u64::from(p && g);
        u += u64::from(p || g);
    }
    let j = if u == 0 { 1.0 } else { i as f64 / u as f64 };

    let (bp, bg) = (boundary_map(pred, h, w), boundary_map(gt, h, w));
    let (np, ng) = (
        bp.iter().filter(|&&v| v).count(),
        bg.iter().filter(|&&v| v).count(),
    );
    let (precision, recall) = match (np, ng) {
        (0, 0) => (1.0, 1.0),
        (0, _) => (1.0, 0.0),
        (_, 0) => (0.0, 1.0),
        _ => {
            let r = bound_radius(h, w);
            let (dp, dg) = (dilate(&bp, h, w, r), dilate(&bg, h, w, r));
            let pm = bp.iter().zip(&dg).filter(|(a, b)| **a && **b).count();
            let gm = bg.iter().zip(&dp).filter(|(a, b)| **a && **b).count();
            (pm as f64 / np as f64, gm as f64 / ng as f64)
        }
    };
    let f = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Ok(FrameScores { j, f })
}

/// J and F of one frame from RLE masks.
pub fn frame_scores_rle(pred: &Rle, gt: &Rle) -> Result<FrameScores, MetricError> {
    if pred.size() != gt.size() {
        return Err(MetricError::SizeMismatch {
            what: "J&F frame",
            a: format!("{:?}", pred.size()),
            b: format!("{:?}", gt.size()),
        });
    }
    let [h, w] = gt.size();
    frame_scores(
        &pred.decode_row_major(),
        &gt.decode_row_major(),
        h as usize,
        w as usize,
    )
}

/// Mean J and F over the frames of one object or expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequenceScores {
    /// Mean J over frames.
    pub j: f64,
    /// Mean F over frames.
    pub f: f64,
    /// Number of frames.
    pub frames: usize,
}

impl SequenceScores {
    /// Averages per-frame scores.
    pub fn from_frames(frames: &[FrameScores]) -> Result<Self, MetricError> {
        if frames.is_empty() {
            return Err(MetricError::Empty {
                what: "J&F sequence",
            });
        }
        let n = frames.len() as f64;
        Ok(SequenceScores {
            j: frames.iter().map(|s| s.j).sum::<f64>() / n,
            f: frames.iter().map(|s| s.f).sum::<f64>() / n,
            frames: frames.len(),
        })
    }

    /// Scores a sequence of RLE frames (prediction and target, frame by frame).
    pub fn from_rle(pred: &[Rle], gt: &[Rle]) -> Result<Self, MetricError> {
        if pred.len() != gt.len() {
            return Err(MetricError::SizeMismatch {
                what: "J&F sequence",
                a: format!("{} predicted frames", pred.len()),
                b: format!("{} target frames", gt.len()),
            });
        }
        let frames = pred
            .iter()
            .zip(gt)
            .map(|(p, g)| frame_scores_rle(p, g))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_frames(&frames)
    }

    /// `(J + F) / 2`.
    pub fn jf(&self) -> f64 {
        (self.j + self.f) / 2.0
    }
}

/// Dataset-level J, F and J&F: means over objects/expressions of their per-frame means.
#[derive(Debug, Clone, Default)]
pub struct JfAccumulator {
    sum_j: f64,
    sum_f: f64,
    n: usize,
}

/// Dataset-level scores (fractions; multiply by 100 for reports).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JfScores {
    /// Mean J.
    pub j: f64,
    /// Mean F.
    pub f: f64,
    /// `(J + F) / 2`.
    pub jf: f64,
    /// Number of objects/expressions.
    pub n: usize,
}

impl JfAccumulator {
    /// Adds one object's or expression's scores.
    pub fn add(&mut self, s: SequenceScores) {
        self.sum_j += s.j;
        self.sum_f += s.f;
        self.n += 1;
    }

    /// The dataset scores; an error when nothing was added.
    pub fn finish(&self) -> Result<JfScores, MetricError> {
        if self.n == 0 {
            return Err(MetricError::Empty { what: "J&F" });
        }
        let (j, f) = (self.sum_j / self.n as f64, self.sum_f / self.n as f64);
        Ok(JfScores {
            j,
            f,
            jf: (j + f) / 2.0,
            n: self.n,
        })
    }
}
