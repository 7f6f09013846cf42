//! Relations computed from geometry and depth — never guessed.
//!
//! For objects A and B (each needs a bbox; centroids default to the box centre):
//! - `left_of` / `right_of`: A's centroid is left of B's box (`A.cx < B.x1`) / right of it
//!   (`A.cx > B.x2`);
//! - `above` / `below`: A's centroid is above B's box (`A.cy < B.y1`) / below it (`A.cy > B.y2`);
//! - `in_front_of` / `behind`: both have depth and A's mean depth is smaller / larger than
//!   B's by more than [`DEPTH_MARGIN`] (depth is relative, smaller = nearer);
//! - `overlaps`: the masks share a pixel (boxes intersect, when either mask is missing);
//! - `contains`: A's box contains B's box and A is larger;
//! - `near`: centroids closer than [`NEAR_FRACTION`] of the image diagonal;
//! - `larger_than`: A's area exceeds [`LARGER_RATIO`] × B's.
//!
//! To keep prompts short each object keeps at most `cap` relations: other objects are
//! taken nearest first (by centroid distance), and each contributes its relations in the
//! order of [`RelationKind::ALL`] until the cap is reached.

use crate::{ImageTwin, Object, Relation, RelationKind};

/// Depth difference needed for `in_front_of` / `behind`.
pub const DEPTH_MARGIN: f64 = 0.05;
/// `near` threshold as a fraction of the image diagonal.
pub const NEAR_FRACTION: f64 = 0.2;
/// Area ratio needed for `larger_than`.
pub const LARGER_RATIO: f64 = 1.5;

fn centre(o: &Object) -> Option<[f64; 2]> {
    o.centroid
        .or_else(|| o.bbox.map(|b| [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]))
}

fn area(o: &Object) -> Option<f64> {
    o.area
        .map(|a| a as f64)
        .or_else(|| o.bbox.map(|b| (b[2] - b[0]) * (b[3] - b[1])))
}

/// The relations that hold from `a` to `b`, in [`RelationKind::ALL`] order.
pub fn between(a: &Object, b: &Object, diagonal: f64) -> Vec<RelationKind> {
    let (Some(ba), Some(bb), Some(ca), Some(cb)) = (a.bbox, b.bbox, centre(a), centre(b)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |cond: bool, k| {
        if cond {
            out.push(k)
        }
    };
    push(ca[0] < bb[0], RelationKind::LeftOf);
    push(ca[0] > bb[2], RelationKind::RightOf);
    push(ca[1] < bb[1], RelationKind::Above);
    push(ca[1] > bb[3], RelationKind::Below);
    let (da, db) = (a.depth.map(|d| d.mean), b.depth.map(|d| d.mean));
    push(
        matches!((da, db), (Some(x), Some(y)) if x + DEPTH_MARGIN < y),
        RelationKind::InFrontOf,
    );
    push(
        matches!((da, db), (Some(x), Some(y)) if x > y + DEPTH_MARGIN),
        RelationKind::Behind,
    );
    let overlaps = match (&a.mask, &b.mask) {
        (Some(ma), Some(mb)) => dtr1_rle::intersection_area(ma, mb)
            .map(|i| i > 0)
            .unwrap_or(false),
        _ => ba[0] < bb[2] && bb[0] < ba[2] && ba[1] < bb[3] && bb[1] < ba[3],
    };
    push(overlaps, RelationKind::Overlaps);
    let (aa, ab) = (area(a).unwrap_or(0.0), area(b).unwrap_or(0.0));
    push(
        ba[0] <= bb[0] && ba[1] <= bb[1] && ba[2] >= bb[2] && ba[3] >= bb[3] && aa > ab,
        RelationKind::Contains,
    );
    push(
        (ca[0] - cb[0]).hypot(ca[1] - cb[1]) < NEAR_FRACTION * diagonal,
        RelationKind::Near,
    );
    push(aa > LARGER_RATIO * ab, RelationKind::LargerThan);
    out
}

/// Recomputes every object's relations, at most `cap` per object, nearest objects first.
pub fn derive(twin: &mut ImageTwin, cap: usize) {
    let diagonal = f64::from(twin.width).hypot(f64::from(twin.height));
    let objs = twin.objects.clone();
    for o in &mut twin.objects {
        let Some(c) = centre(o) else {
            o.relations.clear();
            continue;
        };
        let mut others: Vec<(f64, &Object)> = objs
            .iter()
            .filter(|b| b.id != o.id)
            .filter_map(|b| centre(b).map(|cb| ((c[0] - cb[0]).hypot(c[1] - cb[1]), b)))
            .collect();
        others.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.id.cmp(&y.1.id)));
        let mut rels = Vec::new();
        'outer: for (_, b) in others {
            for kind in between(o, b, diagonal) {
                if rels.len() == cap {
                    break 'outer;
                }
                rels.push(Relation { kind, to: b.id });
            }
        }
        o.relations = rels;
    }
}
