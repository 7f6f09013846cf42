//! Depth from a rectified stereo pair: semi-global matching (Hirschmüller 2008) on a census
//! cost, then disparity → relative depth.
//!
//! The pipeline: a 9×7 census transform of both images (one `u64` per pixel), the Hamming
//! distance as the matching cost for every disparity in `0..max_disparity`, cost aggregation
//! along 4 or 8 straight paths with the SGM smoothness penalties `P1` (±1 disparity) and `P2`
//! (larger jumps, lowered across intensity edges), winner-take-all with a parabola fit for
//! subpixel disparity, a left-right consistency check against the right image's disparities
//! read off the same aggregated volume, a 3×3 median, and filling of the pixels that failed the
//! check from the farther of their row neighbours (they are mostly occlusions, which belong to
//! the background). Written here because no maintained crate implements SGM on CPU.
//!
//! Disparity is turned into relative depth as `1 / disparity`, scaled to `[0, 1]`
//! (smaller = nearer), since neither the baseline nor the focal length is known.
//! [`score`] compares a disparity map with ground truth (bad-pixel rates and end-point error).

use crate::{DepthMap, PerceptionError, Size};
use image::{imageops, GrayImage, RgbImage};
use std::io::Read;
use std::path::Path;

/// Options of semi-global matching.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgmConfig {
    /// Disparities searched: `0..max_disparity`.
    pub max_disparity: usize,
    /// Penalty for a ±1 disparity change between neighbours along a path.
    pub p1: u16,
    /// Penalty for a larger change (divided by up to 4 across strong intensity edges, where
    /// depth discontinuities are likely).
    pub p2: u16,
    /// 8 paths (the 4 axes and the 4 diagonals) instead of 4 (the axes).
    pub eight_paths: bool,
    /// Left-right check tolerance in pixels (`None` switches the check off).
    pub lr_tolerance: Option<f32>,
}

impl Default for SgmConfig {
    fn default() -> Self {
        SgmConfig {
            max_disparity: 64,
            p1: 8,
            p2: 96,
            eight_paths: true,
            lr_tolerance: Some(1.0),
        }
    }
}

/// A disparity map of the left image, row-major; `NaN` where unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct Disparity {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Disparity in pixels (left x − right x), `NaN` where unknown.
    pub values: Vec<f32>,
}

impl Disparity {
    /// Fraction of pixels with a known disparity.
    pub fn density(&self) -> f64 {
        let n = self.values.iter().filter(|v| v.is_finite()).count();
        n as f64 / self.values.len().max(1) as f64
    }

    /// Every unknown pixel filled from the smaller (farther) of the nearest known disparities
    /// to its left and right on the row; rows with none take the median of the map.
    pub fn filled(&self) -> Disparity {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut known: Vec<f32> = self
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let median = if known.is_empty() {
            0.0
        } else {
            let k = known.len() / 2;
            *known.select_nth_unstable_by(k, f32::total_cmp).1
        };
        let mut out = self.values.clone();
        for y in 0..h {
            let row = &self.values[y * w..(y + 1) * w];
            let mut left = vec![f32::NAN; w];
            let mut last = f32::NAN;
            for x in 0..w {
                if row[x].is_finite() {
                    last = row[x];
                }
                left[x] = last;
            }
            let mut right = f32::NAN;
            for x in (0..w).rev() {
                if row[x].is_finite() {
                    right = row[x];
                    continue;
                }
                out[y * w + x] = match (left[x].is_finite(), right.is_finite()) {
                    (true, true) => left[x].min(right),
                    (true, false) => left[x],
                    (false, true) => right,
                    (false, false) => median,
                };
            }
        }
        Disparity {
            width: self.width,
            height: self.height,
            values: out,
        }
    }

    /// Relative depth (smaller = nearer): `1 / disparity` scaled so the nearest pixel is 0
    /// and the farthest 1, after filling unknown pixels. Disparities below half a pixel count
    /// as half a pixel (the far limit).
    pub fn to_depth(&self) -> DepthMap {
        let f = self.filled();
        let z: Vec<f32> = f.values.iter().map(|d| 1.0 / d.max(0.5)).collect();
        let (lo, hi) = z
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let span = (hi - lo).max(f32::EPSILON);
        DepthMap {
            width: self.width,
            height: self.height,
            values: z.iter().map(|v| (v - lo) / span).collect(),
        }
    }
}

/// 9×7 census transform: bit k is set when the k-th window pixel is darker than the centre
/// (62 comparisons; pixels outside the image repeat the border).
fn census(img: &GrayImage) -> Vec<u64> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let px = img.as_raw();
    let at = |x: i64, y: i64| px[(y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize];
    let mut out = vec![0u64; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let c = at(x, y);
            let mut bits = 0u64;
            for dy in -3..=3 {
                for dx in -4..=4 {
                    if dx == 0 && dy == 0 {
                        continue;
                    }
                    bits = (bits << 1) | u64::from(at(x + dx, y + dy) < c);
                }
            }
            out[(y * w + x) as usize] = bits;
        }
    }
    out
}

/// Semi-global matching of a rectified pair (`right` is the right view: a point at `x` in
/// the left image is at `x − d` in the right one). Returns the left image's disparity.
pub fn sgm(
    left: &GrayImage,
    right: &GrayImage,
    cfg: &SgmConfig,
) -> Result<Disparity, PerceptionError> {
    if left.dimensions() != right.dimensions() {
        return Err(PerceptionError::SizeMismatch {
            what: "the stereo pair's right view".into(),
            size: Size::new(right.width(), right.height()),
            other: "the left view",
            expected: Size::new(left.width(), left.height()),
        });
    }
    let (w, h) = (left.width() as usize, left.height() as usize);
    let nd = cfg.max_disparity;
    if !(2..=1024).contains(&nd) {
        return Err(PerceptionError::OutOfRange {
            what: "stereo max_disparity".into(),
            value: nd as f64,
            range: "2..=1024",
        });
    }
    if w < 2 || h < 2 {
        return Err(PerceptionError::TooSmall {
            what: "the stereo pair",
            size: Size::new(w as u32, h as u32),
            min: Size::new(2, 2),
        });
    }
    let (cl, cr) = (census(left), census(right));
    // Matching cost per pixel and disparity; disparities that fall off the right image's left
    // edge get the largest cost so the aggregation never prefers them.
    let mut cost = vec![64u8; w * h * nd];
    for y in 0..h {
        for x in 0..w {
            let base = (y * w + x) * nd;
            let a = cl[y * w + x];
            for d in 0..nd.min(x + 1) {
                cost[base + d] = (a ^ cr[y * w + x - d]).count_ones() as u8;
            }
        }
    }
    let gray = left.as_raw();
    let mut sum = vec![0u16; w * h * nd];
    let mut dirs: Vec<(isize, isize)> = vec![(1, 0), (-1, 0), (0, 1), (0, -1)];
    if cfg.eight_paths {
        dirs.extend([(1, 1), (-1, 1), (1, -1), (-1, -1)]);
    }
    for &(dx, dy) in &dirs {
        aggregate(&cost, gray, w, h, nd, dx, dy, cfg, &mut sum);
    }
    // Winner-take-all with a parabola through the minimum and its neighbours.
    let mut disp = vec![f32::NAN; w * h];
    let mut best_int = vec![0usize; w * h];
    for i in 0..w * h {
        let s = &sum[i * nd..(i + 1) * nd];
        let (d, _) = s
            .iter()
            .enumerate()
            .min_by_key(|(_, &v)| v)
            .expect("nd >= 2");
        best_int[i] = d;
        let mut v = d as f32;
        if d > 0 && d + 1 < nd {
            let (a, b, c) = (f32::from(s[d - 1]), f32::from(s[d]), f32::from(s[d + 1]));
            let den = a - 2.0 * b + c;
            if den > 0.0 {
                v += ((a - c) / (2.0 * den)).clamp(-0.5, 0.5);
            }
        }
        disp[i] = v;
    }
    if let Some(tol) = cfg.lr_tolerance {
        // The right image's disparity at xr: the d minimising S(xr + d, d) (same volume).
        let mut right_disp = vec![0usize; w * h];
        for y in 0..h {
            for xr in 0..w {
                let mut best = (u16::MAX, 0usize);
                for d in 0..nd.min(w - xr) {
                    let v = sum[(y * w + xr + d) * nd + d];
                    if v < best.0 {
                        best = (v, d);
                    }
                }
                right_disp[y * w + xr] = best.1;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let d = best_int[i];
                let ok = x >= d && (right_disp[y * w + x - d] as f32 - d as f32).abs() <= tol;
                if !ok {
                    disp[i] = f32::NAN;
                }
            }
        }
    }
    let disp = median3(&disp, w, h);
    Ok(Disparity {
        width: w as u32,
        height: h as u32,
        values: disp,
    })
}

/// Adds the SGM path costs along direction `(dx, dy)` to `sum`.
#[allow(clippy::too_many_arguments)]
fn aggregate(
    cost: &[u8],
    gray: &[u8],
    w: usize,
    h: usize,
    nd: usize,
    dx: isize,
    dy: isize,
    cfg: &SgmConfig,
    sum: &mut [u16],
) {
    // Path costs of the previous row (dy != 0) or the previous pixel (dy == 0), per x.
    let mut prev = vec![0u16; w * nd];
    let mut cur = vec![0u16; w * nd];
    let mut prev_min = vec![0u16; w];
    let mut cur_min = vec![0u16; w];
    let mut lp = vec![0u16; nd];
    let rows: Vec<usize> = if dy >= 0 {
        (0..h).collect()
    } else {
        (0..h).rev().collect()
    };
    let cols: Vec<usize> = if dx >= 0 {
        (0..w).collect()
    } else {
        (0..w).rev().collect()
    };
    for (ri, &y) in rows.iter().enumerate() {
        for (ci, &x) in cols.iter().enumerate() {
            let i = y * w + x;
            let c = &cost[i * nd..(i + 1) * nd];
            // The predecessor along the path, if it is inside the image.
            let pred = if dy == 0 {
                (ci > 0).then(|| (x as isize - dx) as usize)
            } else {
                let px = x as isize - dx;
                (ri > 0 && px >= 0 && (px as usize) < w).then_some(px as usize)
            };
            let mut m = u16::MAX;
            match pred {
                None => {
                    for d in 0..nd {
                        let v = u16::from(c[d]);
                        cur[x * nd + d] = v;
                        m = m.min(v);
                    }
                }
                Some(px) => {
                    let (py, lmin) = if dy == 0 {
                        lp.copy_from_slice(&cur[px * nd..(px + 1) * nd]);
                        (y, cur_min[px])
                    } else {
                        lp.copy_from_slice(&prev[px * nd..(px + 1) * nd]);
                        ((y as isize - dy) as usize, prev_min[px])
                    };
                    let grad = gray[i].abs_diff(gray[py * w + px]);
                    // Lower P2 across edges, where depth discontinuities are likely.
                    let p2 = (cfg.p2 / (1 + u16::from(grad) / 16).min(4)).max(cfg.p1 + 1);
                    let jump = lmin + p2;
                    let out = &mut cur[x * nd..(x + 1) * nd];
                    for d in 0..nd {
                        let mut best = lp[d].min(jump);
                        if d > 0 {
                            best = best.min(lp[d - 1] + cfg.p1);
                        }
                        if d + 1 < nd {
                            best = best.min(lp[d + 1] + cfg.p1);
                        }
                        let v = u16::from(c[d]) + best - lmin;
                        out[d] = v;
                        m = m.min(v);
                    }
                }
            }
            cur_min[x] = m;
            let s = &mut sum[i * nd..(i + 1) * nd];
            for d in 0..nd {
                s[d] += cur[x * nd + d];
            }
        }
        if dy != 0 {
            std::mem::swap(&mut prev, &mut cur);
            std::mem::swap(&mut prev_min, &mut cur_min);
        }
    }
}

/// 3×3 median over the known values (a pixel stays unknown when it was unknown).
fn median3(v: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = v.to_vec();
    let mut win = Vec::with_capacity(9);
    for y in 0..h {
        for x in 0..w {
            if !v[y * w + x].is_finite() {
                continue;
            }
            win.clear();
            for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    let a = v[yy * w + xx];
                    if a.is_finite() {
                        win.push(a);
                    }
                }
            }
            let k = win.len() / 2;
            out[y * w + x] = *win.select_nth_unstable_by(k, f32::total_cmp).1;
        }
    }
    out
}

/// Depth of the left image of a rectified pair, downscaled first so the left image is at
/// most `max_width` pixels wide (disparities scale with the image, so the search range is
/// `cfg.max_disparity` at the working size); the depth map is returned at the input size.
pub fn depth_from_pair(
    left: &RgbImage,
    right: &RgbImage,
    cfg: &SgmConfig,
    max_width: u32,
) -> Result<DepthMap, PerceptionError> {
    let (w, h) = left.dimensions();
    let (lg, rg) = (to_gray(left), to_gray(right));
    let (lg, rg) = if w > max_width && max_width > 0 {
        let nh = ((u64::from(h) * u64::from(max_width)) / u64::from(w)).max(2) as u32;
        (
            imageops::resize(&lg, max_width, nh, imageops::FilterType::Triangle),
            imageops::resize(&rg, max_width, nh, imageops::FilterType::Triangle),
        )
    } else {
        (lg, rg)
    };
    let d = sgm(&lg, &rg, cfg)?.to_depth();
    if d.width == w && d.height == h {
        return Ok(d);
    }
    // Back to the input size (nearest sample: depth edges stay sharp).
    let mut values = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        let sy = ((u64::from(y) * u64::from(d.height)) / u64::from(h)) as usize;
        for x in 0..w {
            let sx = ((u64::from(x) * u64::from(d.width)) / u64::from(w)) as usize;
            values.push(d.values[sy * d.width as usize + sx]);
        }
    }
    Ok(DepthMap {
        width: w,
        height: h,
        values,
    })
}

/// Luma of an RGB image.
pub fn to_gray(img: &RgbImage) -> GrayImage {
    imageops::grayscale(img)
}

/// How a disparity map compares with ground truth, over the pixels where the truth is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StereoScore {
    /// Pixels scored (ground truth known).
    pub pixels: usize,
    /// Fraction whose (filled) disparity is off by more than 1 px.
    pub bad1: f64,
    /// Fraction off by more than 2 px.
    pub bad2: f64,
    /// Fraction off by more than 4 px.
    pub bad4: f64,
    /// Mean absolute disparity error (end-point error) in pixels.
    pub epe: f64,
    /// Fraction of scored pixels that passed the left-right check (before filling).
    pub density: f64,
}

/// Scores `est` against ground-truth disparity `truth` (same size; non-finite or ≤ 0 values
/// are unknown). Unknown estimates are filled first ([`Disparity::filled`]), so every scored
/// pixel counts.
pub fn score(est: &Disparity, truth: &[f32]) -> Result<StereoScore, PerceptionError> {
    if truth.len() != est.values.len() {
        return Err(PerceptionError::CountMismatch {
            what: "ground-truth disparities (one per pixel of the estimate)",
            got: truth.len(),
            expected: est.values.len(),
        });
    }
    let filled = est.filled();
    let (mut n, mut b1, mut b2, mut b4, mut sum, mut dense) = (0usize, 0, 0, 0, 0f64, 0);
    for ((&t, &e), &raw) in truth.iter().zip(&filled.values).zip(&est.values) {
        if !(t.is_finite() && t > 0.0) {
            continue;
        }
        n += 1;
        let err = (e - t).abs();
        b1 += usize::from(err > 1.0);
        b2 += usize::from(err > 2.0);
        b4 += usize::from(err > 4.0);
        sum += f64::from(err);
        dense += usize::from(raw.is_finite());
    }
    if n == 0 {
        return Err(PerceptionError::Empty(
            "ground truth has no known disparity",
        ));
    }
    let f = |k: usize| k as f64 / n as f64;
    Ok(StereoScore {
        pixels: n,
        bad1: f(b1),
        bad2: f(b2),
        bad4: f(b4),
        epe: sum / n as f64,
        density: f(dense),
    })
}

/// Reads a ground-truth disparity map: a `.npz` or `.npy` of 2-D float32 (scikit-image's
/// `motorcycle_disp.npz`; `inf` = unknown) or an 8/16-bit PNG holding disparity in pixels
/// times `png_scale` (Middlebury's `disp*.png`, `aloeGT.png`: scale 1, 0 = unknown).
/// Returns `(width, height, values)` with unknown pixels as `NaN`.
pub fn read_disparity(
    path: &Path,
    png_scale: f32,
) -> Result<(u32, u32, Vec<f32>), PerceptionError> {
    let file_err = |m: String| PerceptionError::File {
        path: path.display().to_string(),
        message: m,
    };
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let npy_bytes = match ext.as_str() {
        "npz" => {
            let f = std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
            let mut z = zip::ZipArchive::new(f)
                .map_err(|e| file_err(format!("not a readable .npz (zip): {e}")))?;
            if z.is_empty() {
                return Err(file_err("the .npz holds no array".into()));
            }
            let mut entry = z
                .by_index(0)
                .map_err(|e| file_err(format!("not a readable .npz (zip): {e}")))?;
            let mut buf = Vec::new();
            entry
                .read_to_end(&mut buf)
                .map_err(|e| file_err(format!("truncated .npz: {e}")))?;
            Some(buf)
        }
        "npy" => Some(std::fs::read(path).map_err(|e| file_err(e.to_string()))?),
        _ => None,
    };
    if let Some(bytes) = npy_bytes {
        let npy = npyz::NpyFile::new(&bytes[..])
            .map_err(|e| file_err(format!("not a readable .npy array: {e}")))?;
        let shape = npy.shape().to_vec();
        if shape.len() != 2 {
            return Err(file_err(format!(
                "expected a 2-D array, got shape {shape:?}"
            )));
        }
        let (h, w) = (shape[0] as u32, shape[1] as u32);
        let v: Vec<f32> = npy
            .into_vec::<f32>()
            .map_err(|e| file_err(format!("expected float32 disparities: {e}")))?;
        if v.len() != (w as usize) * (h as usize) {
            return Err(file_err("array data is truncated".into()));
        }
        let v = v
            .into_iter()
            .map(|d| {
                if d.is_finite() && d > 0.0 {
                    d
                } else {
                    f32::NAN
                }
            })
            .collect();
        return Ok((w, h, v));
    }
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| file_err(e.to_string()))?
        .decode()
        .map_err(|e| file_err(format!("not a readable disparity image: {e}")))?
        .to_luma16();
    let (w, h) = img.dimensions();
    // to_luma16 stretches 8-bit values by 257; undo that for 8-bit files.
    let eight_bit = img.as_raw().iter().all(|&v| v % 257 == 0);
    let v = img
        .as_raw()
        .iter()
        .map(|&p| {
            let raw = if eight_bit { p / 257 } else { p };
            if raw == 0 {
                f32::NAN
            } else {
                f32::from(raw) / png_scale
            }
        })
        .collect();
    Ok((w, h, v))
}

/// Ground truth at a smaller working size: nearest sample, disparities divided by the
/// downscale factor `w / new_w`.
pub fn downscale_truth((w, h, v): (u32, u32, Vec<f32>), new_w: u32, new_h: u32) -> Vec<f32> {
    let f = w as f32 / new_w as f32;
    let mut out = Vec::with_capacity((new_w * new_h) as usize);
    for y in 0..new_h {
        let sy = ((u64::from(y) * u64::from(h) + u64::from(h) / (2 * u64::from(new_h)))
            / u64::from(new_h))
        .min(u64::from(h) - 1) as usize;
        for x in 0..new_w {
            let sx = ((u64::from(x) * u64::from(w) + u64::from(w) / (2 * u64::from(new_w)))
                / u64::from(new_w))
            .min(u64::from(w) - 1) as usize;
            out.push(v[sy * w as usize + sx] / f);
        }
    }
    out
}
