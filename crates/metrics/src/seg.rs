//! gIoU and cIoU for reasoning segmentation, exactly as LISA's evaluation computes them.
//!
//! Per sample, over the foreground class, with ground-truth pixels marked *ignore* (value
//! 255 in ReasonSeg masks) excluded from both intersection and union:
//! - IoU = `I / (U + 1e-5)`, and **1.0 when `U = 0`** (empty prediction and empty target:
//!   the LISA "no-object target" rule). An empty target with a non-empty prediction scores 0.
//! - gIoU = mean of the per-sample IoUs.
//! - cIoU = `ΣI / (ΣU + 1e-10)`.
//!
//! The epsilons are LISA's; keeping them makes our numbers comparable with published ones
//! to the last digit (they change an IoU by at most 1e-5 / U).

use crate::MetricError;
use dtr1_rle::Rle;

/// Epsilon added to each sample's union (LISA).
pub const SAMPLE_EPS: f64 = 1e-5;
/// Epsilon added to the summed union (LISA).
pub const CUMULATIVE_EPS: f64 = 1e-10;

/// Foreground intersection and union of one sample, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Pixels in both prediction and target (outside the ignore region).
    pub intersection: u64,
    /// Pixels in either (outside the ignore region).
    pub union: u64,
}

impl Counts {
    /// The sample's IoU under the LISA convention (see the module docs).
    pub fn iou(&self) -> f64 {
        if self.union == 0 {
            1.0
        } else {
            self.intersection as f64 / (self.union as f64 + SAMPLE_EPS)
        }
    }
}

/// Counts from dense row-major masks (any non-zero = foreground). `ignore` marks pixels to
/// leave out (for ReasonSeg, where the ground truth is 255).
pub fn counts_dense(pred: &[u8], gt: &[u8], ignore: Option<&[u8]>) -> Result<Counts, MetricError> {
    if pred.len() != gt.len() || ignore.is_some_and(|m| m.len() != gt.len()) {
        return Err(MetricError::SizeMismatch {
            what: "segmentation counts",
            a: format!("prediction {} px", pred.len()),
            b: format!(
                "target {} px{}",
                gt.len(),
                ignore
                    .map(|m| format!(", ignore {} px", m.len()))
                    .unwrap_or_default()
            ),
        });
    }
    let mut c = Counts::default();
    for i in 0..gt.len() {
        if ignore.is_some_and(|m| m[i] != 0) {
            continue;
        }
        let (p, g) = (pred[i] != 0, gt[i] != 0);
        c.intersection += u64::from(p && g);
        c.union += u64::from(p || g);
    }
    Ok(c)
}

/// Counts from a ReasonSeg-style dense target where 1 = target, 255 = ignore, 0 = background.
pub fn counts_reasonseg(pred: &[u8], gt: &[u8]) -> Result<Counts, MetricError> {
    let fg: Vec<u8> = gt.iter().map(|&v| u8::from(v == 1)).collect();
    let ign: Vec<u8> = gt.iter().map(|&v| u8::from(v == 255)).collect();
    counts_dense(pred, &fg, Some(&ign))
}

/// Counts from RLE masks, computed on runs.
pub fn counts_rle(pred: &Rle, gt: &Rle, ignore: Option<&Rle>) -> Result<Counts, MetricError> {
    let err = |e: dtr1_rle::RleError| MetricError::SizeMismatch {
        what: "segmentation counts",
        a: format!("{:?}", pred.size()),
        b: e.to_string(),
    };
    let (i, u) = dtr1_rle::intersection_union(pred, gt).map_err(err)?;
    let Some(ign) = ignore else {
        return Ok(Counts {
            intersection: i,
            union: u,
        });
    };
    let both = dtr1_rle::merge(&[pred.clone(), gt.clone()], true).map_err(err)?;
    let either = dtr1_rle::merge(&[pred.clone(), gt.clone()], false).map_err(err)?;
    Ok(Counts {
        intersection: i - dtr1_rle::intersection_area(&both, ign).map_err(err)?,
        union: u - dtr1_rle::intersection_area(&either, ign).map_err(err)?,
    })
}

/// Accumulates samples into gIoU and cIoU.
#[derive(Debug, Clone, Default)]
pub struct SegAccumulator {
    n: usize,
    sum_iou: f64,
    sum_i: u64,
    sum_u: u64,
}

/// gIoU and cIoU over a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegScores {
    /// Mean per-sample IoU.
    pub giou: f64,
    /// Cumulative IoU, ΣI / (ΣU + 1e-10).
    pub ciou: f64,
    /// Number of samples.
    pub n: usize,
}

impl SegAccumulator {
    /// Adds one sample.
    pub fn add(&mut self, c: Counts) {
        self.n += 1;
        self.sum_iou += c.iou();
        self.sum_i += c.intersection;
        self.sum_u += c.union;
    }

    /// The scores so far; an error when no sample was added.
    pub fn finish(&self) -> Result<SegScores, MetricError> {
        if self.n == 0 {
            return Err(MetricError::Empty { what: "gIoU/cIoU" });
        }
        Ok(SegScores {
            giou: self.sum_iou / self.n as f64,
            ciou: self.sum_i as f64 / (self.sum_u as f64 + CUMULATIVE_EPS),
            n: self.n,
        })
    }
}
