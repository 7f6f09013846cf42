//! Which objects a query is about, and which objects an answer selects.
//!
//! The reward's guards need both: the over-selection guard compares how many objects an
//! answer selects with how many the target has, and the structure check pays a sub-twin for
//! covering the objects the query is about. A label names them in `truth.ids`
//! ([`GroundTruth::relevant_ids`]); where a segmentation or grounding label does not (public
//! datasets), they are derived from the truth itself ([`targets`]), so that no label can
//! switch a guard off by leaving a field out.

use crate::GroundTruth;
use dtr1_metrics::boxes::{box_iou, BoxConvention};
use dtr1_twin::Twin;

/// Share of an object's box that must lie inside an answer box for the box to select it.
pub const BOX_SELECT_FRACTION: f64 = 0.5;

/// Share of an object's mask that must lie inside the target mask for a derived target.
pub const MASK_TARGET_FRACTION: f64 = 0.5;

/// The target ids of a segmentation or grounding truth: `truth.ids` when the label names
/// them, otherwise derived from the truth over the input twin — the objects (tracks) with at
/// least [`MASK_TARGET_FRACTION`] of their mask inside the target (over all frames for
/// video), or the object whose box overlaps the target box most (grounding). Sorted; empty
/// when nothing matches. `None` for text tasks.
pub fn targets(truth: &GroundTruth, twin: &Twin) -> Option<Vec<u32>> {
    if let Some(ids) = truth.target_ids() {
        let mut v = ids.to_vec();
        v.sort_unstable();
        v.dedup();
        return Some(v);
    }
    let mut ids: Vec<u32> = match (truth, twin) {
        (GroundTruth::Mask { mask, .. }, Twin::Image(t)) => t
            .objects
            .iter()
            .filter(|o| {
                o.mask.as_ref().is_some_and(|m| {
                    m.area() > 0
                        && dtr1_rle::intersection_area(m, mask)
                            .is_ok_and(|i| i as f64 >= MASK_TARGET_FRACTION * m.area() as f64)
                })
            })
            .map(|o| o.id)
            .collect(),
        (GroundTruth::Box { bbox, .. }, Twin::Image(t)) => t
            .objects
            .iter()
            .filter_map(|o| {
                let iou = box_iou(&o.bbox?, bbox, BoxConvention::Continuous).ok()?;
                (iou > 0.0).then_some((o.id, iou))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, _)| vec![id])
            .unwrap_or_default(),
        (GroundTruth::VideoMasks { masks, .. }, Twin::Video(v)) => v
            .tracks
            .iter()
            .filter(|tr| {
                let (mut inside, mut area) = (0u64, 0u64);
                for (f, fo) in &tr.frames {
                    let Some(m) = &fo.mask else { continue };
                    area += m.area();
                    if let Some(g) = masks.get(f) {
                        inside += dtr1_rle::intersection_area(m, g).unwrap_or(0);
                    }
                }
                area > 0 && inside as f64 >= MASK_TARGET_FRACTION * area as f64
            })
            .map(|tr| tr.id)
            .collect(),
        _ => return None,
    };
    ids.sort_unstable();
    Some(ids)
}

/// The objects a query is about, as the structure check's relevance measures them: the
/// label's `truth.ids` when given, else the [`targets`] of an id task (pass them in: deriving
/// them reads every mask). `None` when unknown (a text task whose label names no ids).
pub fn relevant(truth: &GroundTruth, targets: Option<&[u32]>) -> Option<Vec<u32>> {
    match truth.relevant_ids() {
        Some(ids) => {
            let mut v = ids.to_vec();
            v.sort_unstable();
            v.dedup();
            Some(v)
        }
        None => targets.map(<[u32]>::to_vec),
    }
}

/// The objects of an image twin that a box answer selects: those with at least
/// [`BOX_SELECT_FRACTION`] of their box inside it. A box is an answer about objects, so the
/// over-selection guard counts these as the answer's selection (a whole-image box selects
/// every object).
pub fn box_selects(b: &[f64; 4], twin: &Twin) -> Vec<u32> {
    let Twin::Image(t) = twin else {
        return vec![];
    };
    t.objects
        .iter()
        .filter(|o| {
            o.bbox.is_some_and(|ob| {
                let area = (ob[2] - ob[0]).max(0.0) * (ob[3] - ob[1]).max(0.0);
                let iw = (ob[2].min(b[2]) - ob[0].max(b[0])).max(0.0);
                let ih = (ob[3].min(b[3]) - ob[1].max(b[1])).max(0.0);
                area > 0.0 && iw * ih >= BOX_SELECT_FRACTION * area
            })
        })
        .map(|o| o.id)
        .collect()
}
