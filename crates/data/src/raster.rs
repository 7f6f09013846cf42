//! Polygon rasterisation exactly as OpenCV's `cv2.fillPoly` and `cv2.polylines` (8-connected,
//! thickness 1, integer vertices) draw it, because ReasonSeg's ground truth is defined by
//! those calls (LISA's `get_mask_from_json`).
//!
//! Written by hand (no crate reproduces OpenCV's pixel rules): `fillPoly` draws every edge
//! with the 8-connected Bresenham line of `cv2.line`, starting from the left end point, and
//! fills each scanline `y` between pairs of active edges (`y0 <= y < y1`), with edge x
//! positions kept in 16.16 fixed point and stepped by the truncated slope, from the ceiling
//! of the left edge to the floor of the right one. `polylines` with
//! thickness 1 draws the same lines, so `polylines ∪ fillPoly = fillPoly`.
//!
//! Vertices outside the image are handled by drawing unclipped lines and dropping pixels
//! outside; OpenCV clips the line first, which can move the outline by a pixel along a
//! clipped edge. ReasonSeg annotations lie inside their images.

const XY_SHIFT: i64 = 16;

fn put(mask: &mut [u8], w: i64, h: i64, x: i64, y: i64, v: u8) {
    if x >= 0 && y >= 0 && x < w && y < h {
        mask[(y * w + x) as usize] = v;
    }
}

/// `cv2.line(img, p0, p1, v, 1, cv2.LINE_8)`.
pub fn line(mask: &mut [u8], w: i64, h: i64, p0: (i64, i64), p1: (i64, i64), v: u8) {
    // OpenCV iterates from the left end point.
    let (a, b) = if p1.0 < p0.0 { (p1, p0) } else { (p0, p1) };
    let (dx, dy) = (b.0 - a.0, (b.1 - a.1).abs());
    let ystep = if b.1 < a.1 { -1 } else { 1 };
    let (major, minor) = if dy > dx { (dy, dx) } else { (dx, dy) };
    let mut err = major - 2 * minor;
    let (mut x, mut y) = a;
    for _ in 0..=major {
        put(mask, w, h, x, y, v);
        let step_minor = err < 0;
        err += -2 * minor + if step_minor { 2 * major } else { 0 };
        if dy > dx {
            y += ystep;
            if step_minor {
                x += 1;
            }
        } else {
            x += 1;
            if step_minor {
                y += ystep;
            }
        }
    }
}

/// `cv2.fillPoly(img, [pts], v)` for one polygon with integer vertices.
pub fn fill_poly(mask: &mut [u8], w: u32, h: u32, pts: &[(i64, i64)], v: u8) {
    let (w, h) = (i64::from(w), i64::from(h));
    if pts.is_empty() {
        return;
    }
    struct Edge {
        y0: i64,
        y1: i64,
        x: i64,
        dx: i64,
    }
    let mut edges = Vec::new();
    let mut p0 = pts[pts.len() - 1];
    for &p1 in pts {
        line(mask, w, h, p0, p1, v);
        if p0.1 != p1.1 {
            let (top, bottom) = if p0.1 < p1.1 { (p0, p1) } else { (p1, p0) };
            let (x0, x1) = (top.0 << XY_SHIFT, bottom.0 << XY_SHIFT);
            edges.push(Edge {
                y0: top.1,
                y1: bottom.1,
                x: x0,
                // C integer division truncates toward zero, as Rust's does.
                dx: (x1 - x0) / (bottom.1 - top.1),
            });
        }
        p0 = p1;
    }
    if edges.len() < 2 {
        return;
    }
    let y_min = edges.iter().map(|e| e.y0).min().expect("edges exist");
    let y_max = edges
        .iter()
        .map(|e| e.y1)
        .max()
        .expect("edges exist")
        .min(h);
    let mut xs: Vec<i64> = Vec::with_capacity(edges.len());
    for y in y_min..y_max {
        xs.clear();
        xs.extend(
            edges
                .iter()
                .filter(|e| e.y0 <= y && y < e.y1)
                .map(|e| e.x + (y - e.y0) * e.dx),
        );
        if y < 0 {
            continue;
        }
        xs.sort_unstable();
        for pair in xs.chunks_exact(2) {
            // The span covers pixels whose x lies between the edges: ceil on the left, floor
            // on the right (OpenCV adds XY_ONE - 1 to the left edge only).
            let (x1, x2) = (
                (pair[0] + (1 << XY_SHIFT) - 1) >> XY_SHIFT,
                pair[1] >> XY_SHIFT,
            );
            if x1 < w && x2 >= 0 {
                let (x1, x2) = (x1.max(0), x2.min(w - 1));
                let row = (y * w) as usize;
                mask[row + x1 as usize..=row + x2 as usize].fill(v);
            }
        }
    }
}

/// LISA's ReasonSeg ground truth from labelled polygons: `flag` shapes skipped; every
/// polygon's points truncated to integers; polygons drawn largest area first (area = pixels
/// of its own outline + fill) so smaller ones overwrite; value 255 for labels containing
/// `ignore`, 1 otherwise. Returns the row-major `h × w` mask with values 0, 1, 255.
pub fn reasonseg_mask(w: u32, h: u32, shapes: &[(String, Vec<[f64; 2]>)]) -> Vec<u8> {
    let n = w as usize * h as usize;
    // (area, label, integer points) per drawn polygon.
    type Poly<'a> = (u64, &'a str, Vec<(i64, i64)>);
    let mut polys: Vec<Poly> = Vec::new();
    for (label, points) in shapes {
        if label.to_lowercase() == "flag" {
            continue;
        }
        // numpy's astype(int32) truncates toward zero.
        let pts: Vec<(i64, i64)> = points.iter().map(|p| (p[0] as i64, p[1] as i64)).collect();
        let mut tmp = vec![0u8; n];
        fill_poly(&mut tmp, w, h, &pts, 1);
        let area = tmp.iter().map(|&v| u64::from(v)).sum();
        polys.push((area, label, pts));
    }
    // np.argsort(area)[::-1]: for these short lists numpy's sort is stable, so equal areas
    // end up in reverse input order.
    let mut order: Vec<usize> = (0..polys.len()).collect();
    order.sort_by_key(|&i| polys[i].0);
    order.reverse();
    let mut mask = vec![0u8; n];
    for i in order {
        let (_, label, pts) = &polys[i];
        let v = if label.contains("ignore") { 255 } else { 1 };
        fill_poly(&mut mask, w, h, pts, v);
    }
    mask
}
