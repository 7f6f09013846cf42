//! Box IoU, mean IoU and Acc@0.5 for grounding (referring expression comprehension).
//!
//! Boxes are `[x1, y1, x2, y2]`. Two pixel conventions exist in the field:
//! - [`BoxConvention::Continuous`] (dt-r1's twin convention, torchvision's `box_iou`): the
//!   max is exclusive, area = `(x2 - x1) · (y2 - y1)`; a COCO `[x, y, w, h]` box is
//!   `[x, y, x + w, y + h]`.
//! - [`BoxConvention::InclusivePixels`] (the refer toolkit's `computeIoU`, VLM-R1's REC
//!   evaluation): the max is inclusive, widths get `+ 1`, and boxes overlap only when
//!   `x1 < x2` and `y1 < y2` strictly for the intersection (so boxes sharing one pixel
//!   column do not overlap) — reproduced as is.
//!
//! A prediction is correct at 0.5 when IoU is **strictly greater** than 0.5 (REC).
//! Inverted boxes have zero area; non-finite coordinates are an error.

use crate::MetricError;

/// Which pixel convention boxes follow (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoxConvention {
    /// Exclusive max, area `(x2 - x1)(y2 - y1)`.
    #[default]
    Continuous,
    /// Inclusive max, area `(x2 - x1 + 1)(y2 - y1 + 1)`.
    InclusivePixels,
}

fn check(b: &[f64; 4]) -> Result<(), MetricError> {
    if b.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(MetricError::NonFinite {
            what: "box IoU",
            value: format!("{b:?}"),
        })
    }
}

/// IoU of two boxes under a convention. Zero union gives 0.
pub fn box_iou(a: &[f64; 4], b: &[f64; 4], conv: BoxConvention) -> Result<f64, MetricError> {
    check(a)?;
    check(b)?;
    let (ix1, iy1) = (a[0].max(b[0]), a[1].max(b[1]));
    let (ix2, iy2) = (a[2].min(b[2]), a[3].min(b[3]));
    let (inter, area_a, area_b) = match conv {
        BoxConvention::Continuous => {
            let inter = (ix2 - ix1).max(0.0) * (iy2 - iy1).max(0.0);
            let area = |b: &[f64; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
            (inter, area(a), area(b))
        }
        BoxConvention::InclusivePixels => {
            let inter = if ix1 < ix2 && iy1 < iy2 {
                (ix2 - ix1 + 1.0) * (iy2 - iy1 + 1.0)
            } else {
                0.0
            };
            let area = |b: &[f64; 4]| (b[2] - b[0] + 1.0).max(0.0) * (b[3] - b[1] + 1.0).max(0.0);
            (inter, area(a), area(b))
        }
    };
    let union = area_a + area_b - inter;
    Ok(if union > 0.0 { inter / union } else { 0.0 })
}

/// Grounding scores over a set of (prediction, target) pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundingScores {
    /// Fraction of pairs with IoU > 0.5.
    pub acc_at_05: f64,
    /// Mean IoU.
    pub mean_iou: f64,
    /// Number of pairs.
    pub n: usize,
}

/// Acc@0.5 and mean IoU. A missing prediction (`None`) counts as IoU 0.
pub fn grounding_scores(
    pairs: &[(Option<[f64; 4]>, [f64; 4])],
    conv: BoxConvention,
) -> Result<GroundingScores, MetricError> {
    if pairs.is_empty() {
        return Err(MetricError::Empty { what: "grounding" });
    }
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (p, g) in pairs {
        let iou = match p {
            Some(p) => box_iou(p, g, conv)?,
            None => 0.0,
        };
        hits += usize::from(iou > 0.5);
        sum += iou;
    }
    Ok(GroundingScores {
        acc_at_05: hits as f64 / pairs.len() as f64,
        mean_iou: sum / pairs.len() as f64,
        n: pairs.len(),
    })
}
