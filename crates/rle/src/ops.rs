//! Set operations computed on runs, without decoding: IoU, intersection, union, merge.
//!
//! Both masks are walked run by run in lock step, so the cost is proportional to the number
//! of runs, not pixels. Results follow pycocotools `iou` and `merge` exactly (including the
//! counts `merge` writes), which the reference-vector tests check bit for bit.

use crate::{Rle, RleError};

fn check_same_size(a: &Rle, b: &Rle) -> Result<(), RleError> {
    if a.h != b.h || a.w != b.w {
        return Err(RleError::SizeMismatch {
            h1: a.h,
            w1: a.w,
            h2: b.h,
            w2: b.w,
        });
    }
    Ok(())
}

/// Walks two same-size RLEs in lock step, calling `f(len, a_on, b_on)` for every stretch
/// of pixels over which neither mask changes value.
fn walk(a: &Rle, b: &Rle, mut f: impl FnMut(u64, bool, bool)) {
    let (ac, bc) = (&a.counts, &b.counts);
    if ac.is_empty() || bc.is_empty() {
        return;
    }
    let (mut ia, mut ib) = (0usize, 0usize);
    let (mut ra, mut rb) = (u64::from(ac[0]), u64::from(bc[0]));
    loop {
        // Skip exhausted (possibly zero-length) runs.
        while ra == 0 {
            ia += 1;
            match ac.get(ia) {
                Some(&c) => ra = u64::from(c),
                None => return,
            }
        }
        while rb == 0 {
            ib += 1;
            match bc.get(ib) {
                Some(&c) => rb = u64::from(c),
                None => return,
            }
        }
        let c = ra.min(rb);
        f(c, ia % 2 == 1, ib % 2 == 1);
        ra -= c;
        rb -= c;
    }
}

/// Number of pixels set in both masks.
pub fn intersection_area(a: &Rle, b: &Rle) -> Result<u64, RleError> {
    check_same_size(a, b)?;
    let mut i = 0;
    walk(a, b, |c, va, vb| {
        if va && vb {
            i += c
        }
    });
    Ok(i)
}

/// Number of pixels set in either mask.
pub fn union_area(a: &Rle, b: &Rle) -> Result<u64, RleError> {
    check_same_size(a, b)?;
    let mut u = 0;
    walk(a, b, |c, va, vb| {
        if va || vb {
            u += c
        }
    });
    Ok(u)
}

/// Intersection and union in one pass.
pub fn intersection_union(a: &Rle, b: &Rle) -> Result<(u64, u64), RleError> {
    check_same_size(a, b)?;
    let (mut i, mut u) = (0, 0);
    walk(a, b, |c, va, vb| {
        if va || vb {
            u += c;
            if va && vb {
                i += c;
            }
        }
    });
    Ok((i, u))
}

/// Box IoU as pycocotools' `bbIou` computes it on `[x, y, w, h]` boxes; with `crowd` the
/// denominator is the detection's box area.
fn bbox_iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let da = d[2] * d[3];
    let u = if crowd { da } else { da + g[2] * g[3] - i };
    i / u
}

fn iou_with_boxes(
    dt: &Rle,
    gt: &Rle,
    db: &[f64; 4],
    gb: &[f64; 4],
    crowd: bool,
) -> Result<f64, RleError> {
    check_same_size(dt, gt)?;
    // pycocotools only walks the runs when the tight boxes overlap; otherwise IoU is 0.
    // This also makes the IoU of two empty masks 0 (their boxes are all zeros).
    if bbox_iou(db, gb, crowd) <= 0.0 {
        return Ok(0.0);
    }
    let (i, u) = intersection_union(dt, gt)?;
    if i == 0 {
        return Ok(0.0);
    }
    let u = if crowd { dt.area() } else { u };
    Ok(i as f64 / u as f64)
}

/// Mask IoU exactly as pycocotools `mask.iou([dt], [gt], [crowd])`.
///
/// `|dt ∩ gt| / |dt ∪ gt|`, or `|dt ∩ gt| / |dt|` when `crowd` (the ground truth is a crowd
/// region). Two empty masks have IoU **0** here, as in pycocotools; the LISA convention
/// (empty vs empty = 1) belongs to the metrics crate, not to this primitive.
pub fn iou(dt: &Rle, gt: &Rle, crowd: bool) -> Result<f64, RleError> {
    iou_with_boxes(dt, gt, &dt.to_bbox(), &gt.to_bbox(), crowd)
}

/// All-pairs IoU as pycocotools `mask.iou(dts, gts, iscrowd)`: the result is row-major
/// with one row per detection, `out[d * gts.len() + g]`. `iscrowd` has one flag per
/// ground truth (or is empty for none).
pub fn iou_matrix(dts: &[Rle], gts: &[Rle], iscrowd: &[bool]) -> Result<Vec<f64>, RleError> {
    if !iscrowd.is_empty() && iscrowd.len() != gts.len() {
        return Err(RleError::CrowdLen {
            crowd: iscrowd.len(),
            gts: gts.len(),
        });
    }
    let dbs: Vec<[f64; 4]> = dts.iter().map(Rle::to_bbox).collect();
    let gbs: Vec<[f64; 4]> = gts.iter().map(Rle::to_bbox).collect();
    let mut out = Vec::with_capacity(dts.len() * gts.len());
    for (dt, db) in dts.iter().zip(&dbs) {
        for (g, (gt, gb)) in gts.iter().zip(&gbs).enumerate() {
            let crowd = iscrowd.get(g).copied().unwrap_or(false);
            out.push(iou_with_boxes(dt, gt, db, gb, crowd)?);
        }
    }
    Ok(out)
}

/// Union (`intersect = false`) or intersection (`intersect = true`) of several masks, with
/// the exact run layout pycocotools `mask.merge` writes. An empty list is an error (the
/// size would be unknown); a single mask is returned unchanged.
pub fn merge(masks: &[Rle], intersect: bool) -> Result<Rle, RleError> {
    let Some(first) = masks.first() else {
        return Err(RleError::EmptyMerge);
    };
    let mut acc = first.clone();
    for b in &masks[1..] {
        check_same_size(&acc, b)?;
        acc = merge2(&acc, b, intersect);
    }
    Ok(acc)
}

/// One pairwise merge step. Mirrors pycocotools' loop structure (rather than `walk`)
/// because its handling of zero-length runs decides where boundaries are written.
fn merge2(a: &Rle, b: &Rle, intersect: bool) -> Rle {
    let (ac, bc) = (&a.counts, &b.counts);
    if ac.is_empty() || bc.is_empty() {
        return a.clone();
    }
    let mut out = Vec::with_capacity(ac.len() + bc.len());
    let (mut ca, mut cb) = (u64::from(ac[0]), u64::from(bc[0]));
    let (mut va, mut vb, mut v) = (false, false, false);
    let (mut ia, mut ib) = (1usize, 1usize);
    let mut cc = 0u64;
    loop {
        let c = ca.min(cb);
        cc += c;
        let mut ct = 0;
        ca -= c;
        if ca == 0 && ia < ac.len() {
            ca = u64::from(ac[ia]);
            ia += 1;
            va = !va;
        }
        ct += ca;
        cb -= c;
        if cb == 0 && ib < bc.len() {
            cb = u64::from(bc[ib]);
            ib += 1;
            vb = !vb;
        }
        ct += cb;
        let vp = v;
        v = if intersect { va && vb } else { va || vb };
        if v != vp || ct == 0 {
            out.push(cc as u32);
            cc = 0;
        }
        if ct == 0 {
            break;
        }
    }
    Rle {
        h: a.h,
        w: a.w,
        counts: out,
    }
}
