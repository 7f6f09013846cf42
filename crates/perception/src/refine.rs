//! A classical foreground mask inside a detection box, GrabCut-style (Rother et al. 2004):
//! colour models of the background (a ring of pixels around the box, and the box's own
//! outermost strip) and of the foreground (the box's centre), then iterative reassignment of
//! every box pixel to the likelier model with a contrast-sensitive smoothness term and a
//! mild centre prior, re-estimating the models after each pass; then morphological clean-up
//! (3×3 opening and closing, the connected component through the box centre, holes filled).
//!
//! The colour models are smoothed histograms on a 16×16×16 RGB grid, and the reassignment
//! is iterated conditional modes instead of a min-cut: both are a few dozen lines, and a
//! max-flow over every box pixel would cost far more than a detector's frame budget. Written
//! here because no maintained crate offers GrabCut without OpenCV; `imageproc` has
//! morphology and labelling but would be a heavy dependency for the three small operations
//! used here.
//!
//! The result is approximate by nature; the twin records it as `mask_source = refined`.

use image::{imageops, RgbImage};

/// Options of the refinement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineConfig {
    /// Longest side of the working region in pixels (larger boxes are downscaled, the mask
    /// is scaled back).
    pub max_side: u32,
    /// Reassignment passes.
    pub iterations: usize,
    /// Weight of the smoothness term (per disagreeing neighbour, at zero contrast).
    pub smoothness: f64,
    /// Refined masks covering less than this fraction of the box are rejected.
    pub min_fill: f64,
    /// … or more than this fraction.
    pub max_fill: f64,
}

impl Default for RefineConfig {
    fn default() -> Self {
        RefineConfig {
            max_side: 128,
            iterations: 8,
            smoothness: 1.5,
            min_fill: 0.12,
            max_fill: 0.97,
        }
    }
}

const BINS: usize = 16;

/// A colour histogram with add-one smoothing, as negative log-probabilities.
struct ColourModel {
    nll: Vec<f64>,
}

fn bin(p: &image::Rgb<u8>) -> usize {
    let q = |v: u8| usize::from(v) * BINS / 256;
    (q(p[0]) * BINS + q(p[1])) * BINS + q(p[2])
}

impl ColourModel {
    fn fit<'a>(bins: impl Iterator<Item = &'a usize>) -> ColourModel {
        let mut counts = vec![0f64; BINS * BINS * BINS];
        let mut n = 0.0;
        for &b in bins {
            counts[b] += 1.0;
            n += 1.0;
        }
        // Spread each count over its 3×3×3 neighbourhood so nearby colours share evidence.
        let mut smooth = vec![0f64; counts.len()];
        for r in 0..BINS {
            for g in 0..BINS {
                for b in 0..BINS {
                    let c = counts[(r * BINS + g) * BINS + b];
                    if c == 0.0 {
                        continue;
                    }
                    for rr in r.saturating_sub(1)..(r + 2).min(BINS) {
                        for gg in g.saturating_sub(1)..(g + 2).min(BINS) {
                            for bb in b.saturating_sub(1)..(b + 2).min(BINS) {
                                let wgt = if (rr, gg, bb) == (r, g, b) { 4.0 } else { 1.0 };
                                smooth[(rr * BINS + gg) * BINS + bb] += c * wgt;
                            }
                        }
                    }
                }
            }
        }
        let total: f64 = smooth.iter().sum::<f64>() + smooth.len() as f64 * 0.1;
        let _ = n;
        ColourModel {
            nll: smooth.iter().map(|&c| -((c + 0.1) / total).ln()).collect(),
        }
    }
}

/// A foreground mask of the object in `bbox` (`[x1, y1, x2, y2]`, pixels, max exclusive),
/// row-major over the whole image (1 = object), or `None` when the refinement is not
/// credible (the box is tiny or the mask fills too little or too much of it); callers then
/// fall back to the box.
pub fn refine_in_box(image: &RgbImage, bbox: [f32; 4], cfg: &RefineConfig) -> Option<Vec<u8>> {
    let (iw, ih) = image.dimensions();
    if bbox.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let clampx = |v: f32| (v.round().max(0.0) as u32).min(iw);
    let clampy = |v: f32| (v.round().max(0.0) as u32).min(ih);
    let (bx0, by0, bx1, by1) = (
        clampx(bbox[0]),
        clampy(bbox[1]),
        clampx(bbox[2]),
        clampy(bbox[3]),
    );
    if bx1 < bx0 + 8 || by1 < by0 + 8 {
        return None;
    }
    // The region: the box plus a ring of 15 % of its size (background samples).
    let (bw, bh) = (bx1 - bx0, by1 - by0);
    let (mx, my) = ((bw * 15 / 100).max(3), (bh * 15 / 100).max(3));
    let (rx0, ry0) = (bx0.saturating_sub(mx), by0.saturating_sub(my));
    let (rx1, ry1) = ((bx1 + mx).min(iw), (by1 + my).min(ih));
    let (rw, rh) = (rx1 - rx0, ry1 - ry0);
    let scale = (f64::from(cfg.max_side) / f64::from(rw.max(rh))).min(1.0);
    let (w, h) = (
        ((f64::from(rw) * scale).round() as usize).max(2),
        ((f64::from(rh) * scale).round() as usize).max(2),
    );
    let crop = imageops::crop_imm(image, rx0, ry0, rw, rh).to_image();
    let small = if (w as u32, h as u32) == (rw, rh) {
        crop
    } else {
        imageops::resize(&crop, w as u32, h as u32, imageops::FilterType::Triangle)
    };
    // The box in working coordinates.
    let sx = |v: u32| ((f64::from(v - rx0) * scale).round() as usize).min(w);
    let sy = |v: u32| ((f64::from(v - ry0) * scale).round() as usize).min(h);
    let (x0, y0, x1, y1) = (sx(bx0), sy(by0), sx(bx1), sy(by1));
    if x1 < x0 + 4 || y1 < y0 + 4 {
        return None;
    }
    let inside = |x: usize, y: usize| x >= x0 && x < x1 && y >= y0 && y < y1;
    let bins: Vec<usize> = small.pixels().map(bin).collect();
    let px = |x: usize, y: usize| small.get_pixel(x as u32, y as u32);
    // Background: outside the box, plus the box's outer strip when the ring is thin (boxes
    // at the image edge); otherwise the strip stays out of both models, since an object that
    // fills its box would lend the background its own colours.
    let ring_px = w * h - (x1 - x0) * (y1 - y0);
    let strip = ((x1 - x0).min(y1 - y0) / 12).max(1);
    let use_strip = ring_px < (x1 - x0) * (y1 - y0) / 2;
    let mut bg_idx = Vec::new();
    let mut fg = vec![0u8; w * h];
    let (cx, cy) = ((x0 + x1) as f64 / 2.0, (y0 + y1) as f64 / 2.0);
    let (ax, ay) = ((x1 - x0) as f64 / 2.0, (y1 - y0) as f64 / 2.0);
    for y in 0..h {
        for x in 0..w {
            if !inside(x, y) {
                bg_idx.push(y * w + x);
            } else if x < x0 + strip || x >= x1 - strip || y < y0 + strip || y >= y1 - strip {
                if use_strip {
                    bg_idx.push(y * w + x);
                }
            } else {
                // Initial foreground: the ellipse inscribed in the box.
                let e = ((x as f64 + 0.5 - cx) / ax).powi(2) + ((y as f64 + 0.5 - cy) / ay).powi(2);
                fg[y * w + x] = u8::from(e <= 0.36);
            }
        }
    }
    let ring: Vec<usize> = (0..w * h).filter(|&i| !inside(i % w, i / w)).collect();
    let mut bg_model = ColourModel::fit(bg_idx.iter().map(|&i| &bins[i]));
    // Contrast normalisation (GrabCut's beta): mean squared colour difference of neighbours.
    let diff2 = |a: &image::Rgb<u8>, b: &image::Rgb<u8>| {
        (0..3)
            .map(|k| (f64::from(a[k]) - f64::from(b[k])).powi(2))
            .sum::<f64>()
    };
    let mut mean = 0.0;
    let mut cnt = 0.0;
    for y in 0..h {
        for x in 0..w {
            if x + 1 < w {
                mean += diff2(px(x, y), px(x + 1, y));
                cnt += 1.0;
            }
            if y + 1 < h {
                mean += diff2(px(x, y), px(x, y + 1));
                cnt += 1.0;
            }
        }
    }
    let beta = 1.0 / (2.0 * (mean / cnt).max(1.0));
    for _ in 0..cfg.iterations {
        let fg_pixels: Vec<usize> = (0..w * h).filter(|&i| fg[i] != 0).collect();
        if fg_pixels.len() < 16 {
            return None;
        }
        let fg_model = ColourModel::fit(fg_pixels.iter().map(|&i| &bins[i]));
        let prev = fg.clone();
        for y in y0..y1 {
            for x in x0..x1 {
                let i = y * w + x;
                // Centre prior: a nat of evidence for the foreground at the centre, fading to
                // none at the box edge.
                let e = ((x as f64 + 0.5 - cx) / ax).powi(2) + ((y as f64 + 0.5 - cy) / ay).powi(2);
                let prior = (1.0 - e).max(-0.5);
                let mut cost_fg = fg_model.nll[bins[i]] - prior;
                let mut cost_bg = bg_model.nll[bins[i]];
                for (nx, ny) in [
                    (x.wrapping_sub(1), y),
                    (x + 1, y),
                    (x, y.wrapping_sub(1)),
                    (x, y + 1),
                ] {
                    if nx >= w || ny >= h {
                        continue;
                    }
                    let wgt = cfg.smoothness * (-beta * diff2(px(x, y), px(nx, ny))).exp();
                    if prev[ny * w + nx] != 0 {
                        cost_bg += wgt;
                    } else {
                        cost_fg += wgt;
                    }
                }
                fg[i] = u8::from(cost_fg < cost_bg);
            }
        }
        if fg == prev {
            break;
        }
        // Re-estimate the background from the ring and the box pixels now called background.
        bg_model = ColourModel::fit(
            ring.iter()
                .chain(
                    (0..w * h)
                        .filter(|&i| inside(i % w, i / w) && fg[i] == 0)
                        .collect::<Vec<_>>()
                        .iter(),
                )
                .map(|&i| &bins[i]),
        );
    }
    let fg = morph(&fg, w, h, false);
    let fg = morph(&fg, w, h, true);
    let fg = morph(&fg, w, h, true);
    let fg = morph(&fg, w, h, false);
    let fg = fill_holes(&keep_central_component(&fg, w, h, (cx, cy))?, w, h);
    let box_px = ((x1 - x0) * (y1 - y0)) as f64;
    let fill = fg.iter().filter(|&&v| v != 0).count() as f64 / box_px;
    if !(cfg.min_fill..=cfg.max_fill).contains(&fill) {
        return None;
    }
    // Back to image coordinates.
    let mut out = vec![0u8; (iw * ih) as usize];
    for y in by0..by1 {
        let ty = (((f64::from(y - ry0) + 0.5) * scale) as usize).min(h - 1);
        for x in bx0..bx1 {
            let tx = (((f64::from(x - rx0) + 0.5) * scale) as usize).min(w - 1);
            out[(y * iw + x) as usize] = fg[ty * w + tx];
        }
    }
    Some(out)
}

/// 3×3 dilation (`grow`) or erosion; pixels outside count as background.
fn morph(m: &[u8], w: usize, h: usize, grow: bool) -> Vec<u8> {
    let mut out = vec![0u8; m.len()];
    for y in 0..h {
        for x in 0..w {
            let mut any = false;
            let mut all = true;
            for yy in y as isize - 1..=y as isize + 1 {
                for xx in x as isize - 1..=x as isize + 1 {
                    let v = yy >= 0
                        && xx >= 0
                        && (yy as usize) < h
                        && (xx as usize) < w
                        && m[yy as usize * w + xx as usize] != 0;
                    any |= v;
                    all &= v;
                }
            }
            out[y * w + x] = u8::from(if grow { any } else { all });
        }
    }
    out
}

/// 4-connected components of the foreground, labelled from 1.
fn components(m: &[u8], w: usize, h: usize, value: u8) -> (Vec<u32>, u32) {
    let mut label = vec![0u32; m.len()];
    let mut n = 0;
    let mut stack = Vec::new();
    for s in 0..m.len() {
        if m[s] != value || label[s] != 0 {
            continue;
        }
        n += 1;
        label[s] = n;
        stack.push(s);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if m[j] == value && label[j] == 0 {
                    label[j] = n;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
    }
    (label, n)
}

/// The component with the most pixels near the box centre (weighted by closeness), so a
/// large patch of background colour at the box edge does not win over the object.
fn keep_central_component(m: &[u8], w: usize, h: usize, c: (f64, f64)) -> Option<Vec<u8>> {
    let (label, n) = components(m, w, h, 1);
    if n == 0 {
        return None;
    }
    let mut weight = vec![0f64; n as usize + 1];
    let r2 = ((w * w + h * h) as f64 / 4.0).max(1.0);
    for (i, &l) in label.iter().enumerate() {
        if l != 0 {
            let (x, y) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
            weight[l as usize] += 1.0 / (1.0 + ((x - c.0).powi(2) + (y - c.1).powi(2)) / r2 * 8.0);
        }
    }
    let best = (1..=n as usize).max_by(|&a, &b| weight[a].total_cmp(&weight[b]))?;
    Some(
        label
            .iter()
            .map(|&l| u8::from(l as usize == best))
            .collect(),
    )
}

/// Background components that do not touch the region's border become foreground.
fn fill_holes(m: &[u8], w: usize, h: usize) -> Vec<u8> {
    let (label, n) = components(m, w, h, 0);
    let mut border = vec![false; n as usize + 1];
    for x in 0..w {
        border[label[x] as usize] = true;
        border[label[(h - 1) * w + x] as usize] = true;
    }
    for y in 0..h {
        border[label[y * w] as usize] = true;
        border[label[y * w + w - 1] as usize] = true;
    }
    m.iter()
        .zip(&label)
        .map(|(&v, &l)| u8::from(v != 0 || !border[l as usize]))
        .collect()
}
