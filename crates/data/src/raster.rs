//! Polygon rasterisation exactly as OpenCV's `cv2.fillPoly` and `cv2.polylines` (8-connected,
//! thickness 1, integer vertices) draw it, because ReasonSeg's ground truth is defined by
//! those calls (LISA's `get_mask_from_json`).
//!
//! Written by hand (no crate reproduces OpenCV's pixel rules; the reference is
//! `modules/imgproc/src/drawing.cpp` of OpenCV 4.x, checked against opencv-python 4.12):
//! `cv2.line` first clips the segment to the image with `clipLine` (Cohen–Sutherland on
//! integer points, each intersection computed in `double` and truncated), then draws the 8-connected Bresenham line between the clipped
//! end points, starting from the left one. `fillPoly` draws every edge that way, and builds
//! its scanline edges from the clipped end points too when an edge leaves the image (the
//! edge keeps its original rows and is extrapolated from the clipped points); it fills each
//! scanline `y` between pairs of active edges (`y0 <= y < y1`), with edge x positions in
//! 16.16 fixed point stepped by the truncated slope, from the ceiling of the left edge to the
//! floor of the right one. `polylines` with thickness 1 draws the same lines, so
//! `polylines ∪ fillPoly = fillPoly`.

const XY_SHIFT: i64 = 16;

fn put(mask: &mut [u8], w: i64, h: i64, x: i64, y: i64, v: u8) {
    if x >= 0 && y >= 0 && x < w && y < h {
        mask[(y * w + x) as usize] = v;
    }
}

/// OpenCV's `(unsigned)p.x >= (unsigned)w || …` test: is either end point outside?
fn outside(w: i64, h: i64, p: (i64, i64), q: (i64, i64)) -> bool {
    let out = |p: (i64, i64)| p.0 < 0 || p.0 >= w || p.1 < 0 || p.1 >= h;
    out(p) || out(q)
}

/// OpenCV's `clipLine(Size2l, Point2l&, Point2l&)`: clips the segment to `[0, w-1] × [0, h-1]`
/// in place and tells whether any of it is inside. Like OpenCV, it may move the points even
/// when it returns false (fillPoly uses them regardless), and divides in `double`, then
/// truncates.
pub fn clip_line(w: i64, h: i64, p1: &mut (i64, i64), p2: &mut (i64, i64)) -> bool {
    if w <= 0 || h <= 0 {
        return false;
    }
    let (right, bottom) = (w - 1, h - 1);
    let code = |p: (i64, i64)| {
        i32::from(p.0 < 0)
            + i32::from(p.0 > right) * 2
            + i32::from(p.1 < 0) * 4
            + i32::from(p.1 > bottom) * 8
    };
    let (mut c1, mut c2) = (code(*p1), code(*p2));
    // (a - from) * (d2 - d1) / (e2 - e1) in double, truncated toward zero as C's cast does.
    let step = |a: i64, from: i64, d: i64, e: i64| ((a - from) as f64 * d as f64 / e as f64) as i64;
    if (c1 & c2) == 0 && (c1 | c2) != 0 {
        if c1 & 12 != 0 {
            let a = if c1 < 8 { 0 } else { bottom };
            p1.0 += step(a, p1.1, p2.0 - p1.0, p2.1 - p1.1);
            p1.1 = a;
            c1 = i32::from(p1.0 < 0) + i32::from(p1.0 > right) * 2;
        }
        if c2 & 12 != 0 {
            let a = if c2 < 8 { 0 } else { bottom };
            p2.0 += step(a, p2.1, p2.0 - p1.0, p2.1 - p1.1);
            p2.1 = a;
            c2 = i32::from(p2.0 < 0) + i32::from(p2.0 > right) * 2;
        }
        if (c1 & c2) == 0 && (c1 | c2) != 0 {
            if c1 != 0 {
                let a = if c1 == 1 { 0 } else { right };
                p1.1 += step(a, p1.0, p2.1 - p1.1, p2.0 - p1.0);
                p1.0 = a;
                c1 = 0;
            }
            if c2 != 0 {
                let a = if c2 == 1 { 0 } else { right };
                p2.1 += step(a, p2.0, p2.1 - p1.1, p2.0 - p1.0);
                p2.0 = a;
                c2 = 0;
            }
        }
    }
    (c1 | c2) == 0
}

/// `cv2.line(img, p0, p1, v, 1, cv2.LINE_8)`.
pub fn line(mask: &mut [u8], w: i64, h: i64, p0: (i64, i64), p1: (i64, i64), v: u8) {
    let (mut p0, mut p1) = (p0, p1);
    // The clipped segment is what OpenCV rasterises, which moves the pixels of a line that
    // leaves the image (not only which of them are kept).
    if outside(w, h, p0, p1) && !clip_line(w, h, &mut p0, &mut p1) {
        return;
    }
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
    // Nothing can be drawn into an image without pixels (and the span arithmetic below
    // assumes a row of at least one pixel).
    if pts.is_empty() || w == 0 || h == 0 {
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
        // OpenCV's CollectPolyEdges: the edge's x comes from the clipped end points when the
        // edge leaves the image (their rows too, unless clipping made them equal), and is
        // extrapolated back to the original top row, which the edge keeps.
        let (mut t0, mut t1) = (p0, p1);
        let (mut y0c, mut y1c) = (p0.1, p1.1);
        if outside(w, h, t0, t1) {
            clip_line(w, h, &mut t0, &mut t1);
            if t0.1 != t1.1 {
                (y0c, y1c) = (t0.1, t1.1);
            }
        }
        let (x0c, x1c) = (t0.0 << XY_SHIFT, t1.0 << XY_SHIFT);
        if p0.1 != p1.1 {
            // C integer division truncates toward zero, as Rust's does.
            let dx = (x1c - x0c) / (y1c - y0c);
            let (y0, y1, x) = if p0.1 < p1.1 {
                (p0.1, p1.1, x0c + (p0.1 - y0c) * dx)
            } else {
                (p1.1, p0.1, x1c + (p1.1 - y1c) * dx)
            };
            edges.push(Edge { y0, y1, x, dx });
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

/// LISA's ReasonSeg ground truth from labelled polygons: shapes whose lower-cased label is
/// `flag` skipped; every polygon's points truncated to integers; polygons drawn largest area
/// first (area = pixels of its own outline + fill, inside the image) so smaller ones
/// overwrite; value 255 for labels whose lower-cased form contains `ignore` (e.g.
/// `Ignore_region`), 1 otherwise. Returns the row-major `h × w` mask with values 0, 1, 255.
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
        // LISA tests `"ignore" in label_id.lower()`: `Ignore_region` is an ignore region.
        let v = if label.to_lowercase().contains("ignore") {
            255
        } else {
            1
        };
        fill_poly(&mut mask, w, h, pts, v);
    }
    mask
}
