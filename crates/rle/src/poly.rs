//! Masks from polygons and boxes, rasterised exactly as pycocotools `frPyObjects` does.
//!
//! pycocotools upsamples the outline by 5, walks every edge with a DDA to get dense boundary
//! points, keeps the points where the outline crosses a pixel-column centre, and turns those
//! crossings into run starts/ends. Reproducing its rounding (C truncation toward zero, `+ .5`
//! and `ceil`) exactly is what makes our masks bit-identical to COCO's; no crate does this.

use crate::{Rle, RleError};

/// Coordinates beyond this magnitude would overflow pycocotools' `int` arithmetic; we reject
/// them rather than reproduce undefined behaviour.
const MAX_COORD: f64 = 1.0e8;

impl Rle {
    /// Rasterises one polygon `[x0, y0, x1, y1, …]` (pixel coordinates, at least 3 points)
    /// into an `h × w` mask, bit-exact with pycocotools `frPyObjects([poly], h, w)`.
    /// A mask without pixels (`h` or `w` = 0) is the empty mask `[0]`; pycocotools writes
    /// runs that do not sum to 0 there, which no mask can hold.
    pub fn from_polygon(poly: &[f64], h: u32, w: u32) -> Result<Rle, RleError> {
        if !poly.len().is_multiple_of(2) || poly.len() < 6 {
            return Err(RleError::BadPolygon {
                reason: format!(
                    "a polygon needs an even number of coordinates and at least 3 points, got {} numbers",
                    poly.len()
                ),
            });
        }
        if let Some(i) = poly
            .iter()
            .position(|v| !v.is_finite() || v.abs() > MAX_COORD)
        {
            return Err(RleError::BadPolygon {
                reason: format!(
                    "coordinate {i} is {} (must be finite and |v| <= 1e8)",
                    poly[i]
                ),
            });
        }
        if h == 0 || w == 0 {
            return Ok(Rle::empty(h, w));
        }
        Ok(fr_poly(poly, h, w))
    }

    /// Rasterises several polygons (one object's COCO `segmentation` list) and merges them,
    /// as `maskUtils.merge(maskUtils.frPyObjects(segm, h, w))` in pycocotools' `annToRLE`.
    pub fn from_polygons(polys: &[Vec<f64>], h: u32, w: u32) -> Result<Rle, RleError> {
        let rles = polys
            .iter()
            .map(|p| Rle::from_polygon(p, h, w))
            .collect::<Result<Vec<_>, _>>()?;
        crate::merge(&rles, false)
    }

    /// Rasterises a COCO box `[x, y, w, h]`, bit-exact with pycocotools `frPyObjects([bb], h, w)`
    /// (a box becomes the polygon of its four corners).
    pub fn from_bbox(bb: [f64; 4], h: u32, w: u32) -> Result<Rle, RleError> {
        let [x, y, bw, bh] = bb;
        let (xe, ye) = (x + bw, y + bh);
        Rle::from_polygon(&[x, y, x, ye, xe, ye, xe, y], h, w)
    }
}

/// C's `(int)` cast of a double: truncation toward zero.
fn c_int(v: f64) -> i64 {
    v.trunc() as i64
}

fn fr_poly(xy: &[f64], h: u32, w: u32) -> Rle {
    const SCALE: f64 = 5.0;
    let k = xy.len() / 2;
    let mut x: Vec<i64> = (0..k).map(|j| c_int(SCALE * xy[2 * j] + 0.5)).collect();
    let mut y: Vec<i64> = (0..k).map(|j| c_int(SCALE * xy[2 * j + 1] + 0.5)).collect();
    x.push(x[0]);
    y.push(y[0]);

    // Dense boundary points of the upsampled outline.
    let mut u: Vec<i64> = Vec::new();
    let mut v: Vec<i64> = Vec::new();
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let dx = (xe - xs).abs();
        let dy = (ys - ye).abs();
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        if dx >= dy {
            if dx == 0 {
                // A repeated vertex: pycocotools computes 0/0 here and casts NaN to int,
                // which on x86-64 yields INT_MIN; that value then clamps the crossing to
                // row 0. Reproduced on purpose, because COCO masks were made this way.
                u.push(xs);
                v.push(i64::from(i32::MIN));
                continue;
            }
            let s = (ye - ys) as f64 / dx as f64;
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                u.push(t + xs);
                v.push(c_int(ys as f64 + s * t as f64 + 0.5));
            }
        } else {
            let s = (xe - xs) as f64 / dy as f64;
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t + ys);
                u.push(c_int(xs as f64 + s * t as f64 + 0.5));
            }
        }
    }

    // Points where the outline crosses a column centre, downsampled back to pixels.
    let (hf, wf) = (f64::from(h), f64::from(w));
    let mut starts: Vec<u64> = Vec::new();
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let xd = if u[j] < u[j - 1] { u[j] } else { u[j] - 1 } as f64;
        let xd = (xd + 0.5) / SCALE - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > wf - 1.0 {
            continue;
        }
        let yd = if v[j] < v[j - 1] { v[j] } else { v[j - 1] } as f64;
        let yd = ((yd + 0.5) / SCALE - 0.5).clamp(0.0, hf).ceil();
        starts.push(xd as u64 * u64::from(h) + yd as u64);
    }
    starts.push(u64::from(h) * u64::from(w));
    starts.sort_unstable();

    // Differences between sorted boundary positions are the runs; coincident boundaries
    // cancel (a zero run merges its neighbours), as in pycocotools.
    let mut prev = 0u64;
    let diffs: Vec<u64> = starts
        .iter()
        .map(|&t| {
            let d = t - prev;
            prev = t;
            d
        })
        .collect();
    let mut counts: Vec<u32> = Vec::with_capacity(diffs.len());
    let mut j = 0;
    counts.push(diffs[j] as u32);
    j += 1;
    while j < diffs.len() {
        if diffs[j] > 0 {
            counts.push(diffs[j] as u32);
            j += 1;
        } else {
            j += 1;
            if j < diffs.len() {
                *counts.last_mut().expect("counts starts non-empty") += diffs[j] as u32;
                j += 1;
            }
        }
    }
    Rle { h, w, counts }
}
