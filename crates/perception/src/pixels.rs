//! The `pixels` backend: TwinBench-style renders segmented from the pixels alone (no ground
//! truth), depth from the ground-plane geometry.
//!
//! 1. **Background.** The background is a sky gradient above the horizon and a textured,
//!    low-saturation ground below it. Per row the sky's channel differences (B − R, B − G) and
//!    the ground's channel ratios (G ≈ 0.95 R, B ≈ 0.85 R) and lightness band are known from
//!    the row's position between the horizon and the image bottom; a pixel is background when
//!    it fits its row's model within a few grey levels (per-pixel noise adds the same amount to
//!    every channel, so differences and ratios survive it). Objects have saturated albedos, so
//!    even their shaded or highlighted pixels miss both models.
//! 2. **Instances.** Shading scales an albedo and a specular highlight adds white, and neither
//!    moves the HSV hue, so every object pixel with some chroma is labelled with the nearest
//!    palette hue; connected runs of one hue are the candidate instances. Washed-out highlight
//!    pixels and specks too small to be an object join the nearest instance (breadth-first).
//! 3. **Shape.** Each instance is explained by fitting the shape models of [`crate::shapes`]:
//!    for every shape and size class, the ground-plane camera fixes the box from the row the
//!    object stands on (its visible bottom, or, when that is hidden by a nearer object, the row
//!    that puts the box top at its visible top), and the box is anchored at the visible left,
//!    right or centre. The placement that best explains the visible pixels — silhouette pixels
//!    on the instance count for it, instance pixels outside the silhouette and silhouette
//!    pixels on the background count against it, silhouette pixels on other objects (where it
//!    may be hidden) cost little — gives the label, the size class and the distance.
//! 4. **Depth.** Each object's distance from the row it stands on (`z` of the ground plane);
//!    background pixels get the ground's depth by row, the sky the far end.

use crate::shapes::{aspect, Camera, Placement, SHAPES, SIZES};
use crate::{
    Backend, DepthEstimator, DepthMap, DepthSource, Describer, Detection, MaskSource, Perception,
    PerceptionError, Size,
};
use dtr1_rle::Rle;
use image::RgbImage;
use serde::Deserialize;

/// Options of the pixels backend.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PixelsConfig {
    /// Horizon row as a fraction of the image height.
    pub horizon: f32,
    /// Tolerance of the background models, in grey levels.
    pub tolerance: f32,
    /// Object pixels with less chroma (max − min channel, 0–255) have no reliable hue.
    pub min_chroma: u8,
    /// Runs of one hue smaller than this (pixels) join their neighbours.
    pub min_part: usize,
    /// Objects smaller than this (pixels) are dropped.
    pub min_area: usize,
}

impl Default for PixelsConfig {
    fn default() -> Self {
        PixelsConfig {
            horizon: 0.3,
            tolerance: 3.0,
            min_chroma: 20,
            min_part: 30,
            min_area: 40,
        }
    }
}

impl PixelsConfig {
    fn check(&self) -> Result<(), PerceptionError> {
        if !(self.horizon > 0.0 && self.horizon < 1.0) {
            return Err(PerceptionError::OutOfRange {
                what: "pixels: horizon".into(),
                value: f64::from(self.horizon),
                range: "(0, 1)",
            });
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(PerceptionError::OutOfRange {
                what: "pixels: tolerance".into(),
                value: f64::from(self.tolerance),
                range: "[0, ∞)",
            });
        }
        Ok(())
    }
}

/// Pixel classes before instances are formed.
const BACKGROUND: u8 = 255;
const ACHROMATIC: u8 = 254;

/// The HSV hue (degrees) of an RGB triple, and its chroma.
fn hue(r: f32, g: f32, b: f32) -> (f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let c = max - min;
    if c <= 0.0 {
        return (0.0, 0.0);
    }
    let h = if max == r {
        60.0 * ((g - b) / c).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / c + 2.0)
    } else {
        60.0 * ((r - g) / c + 4.0)
    };
    (h, c)
}

/// The palette hues (degrees) of the TwinBench colours, in [`dtr1_data::palette::COLORS`] order.
fn palette_hues() -> Vec<f32> {
    dtr1_data::palette::COLORS
        .iter()
        .map(|(_, c)| hue(c[0], c[1], c[2]).0)
        .collect()
}

fn nearest_hue(h: f32, hues: &[f32]) -> u8 {
    let mut best = (0u8, f32::MAX);
    for (i, &p) in hues.iter().enumerate() {
        let d = (h - p).abs();
        let d = d.min(360.0 - d);
        if d < best.1 {
            best = (i as u8, d);
        }
    }
    best.0
}

/// The per-pixel class map: palette index, [`ACHROMATIC`] or [`BACKGROUND`].
fn classify(img: &RgbImage, cfg: &PixelsConfig, hues: &[f32]) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let hz = cfg.horizon * h as f32;
    let tol = cfg.tolerance;
    let raw = img.as_raw();
    let mut class = vec![BACKGROUND; w * h];
    for y in 0..h {
        let yf = y as f32;
        // Row model: sky differences, or the ground's lightness band.
        let (sky, a, b) = if yf < hz {
            let t = yf / hz;
            (true, 255.0 * (0.25 - 0.2 * t), 255.0 * (0.15 - 0.15 * t))
        } else {
            let t = (yf - hz) / (h as f32 - hz);
            (
                false,
                255.0 * (0.42 + 0.1 * t - 0.04) - tol,
                255.0 * (0.42 + 0.1 * t + 0.09) + tol,
            )
        };
        for x in 0..w {
            let i = y * w + x;
            let (r, g, bl) = (
                f32::from(raw[3 * i]),
                f32::from(raw[3 * i + 1]),
                f32::from(raw[3 * i + 2]),
            );
            let is_bg = if sky {
                (bl - r - a).abs() <= tol
                    && (bl - g - b).abs() <= tol
                    && (255.0 * 0.76 - tol..=255.0 * 0.84 + tol).contains(&bl)
            } else {
                (a..=b).contains(&r) && (g - 0.95 * r).abs() <= tol && (bl - 0.85 * r).abs() <= tol
            };
            if is_bg {
                continue;
            }
            let (hh, c) = hue(r, g, bl);
            // A channel at full scale has been clipped by a highlight, which shifts the hue.
            class[i] = if c >= f32::from(cfg.min_chroma) && r.max(g).max(bl) < 250.0 {
                nearest_hue(hh, hues)
            } else {
                ACHROMATIC
            };
        }
    }
    class
}

/// Instance labels (0 = none) from the class map: 4-connected runs of one hue; small runs
/// and achromatic pixels join the nearest large run through foreground pixels.
fn instances(class: &[u8], w: usize, h: usize, cfg: &PixelsConfig) -> (Vec<u32>, usize) {
    let n = w * h;
    let mut label = vec![0u32; n];
    let mut sizes = vec![0usize];
    let mut hue_of = vec![0u8];
    let mut stack = Vec::new();
    for s in 0..n {
        if label[s] != 0 || class[s] >= ACHROMATIC {
            continue;
        }
        let id = sizes.len() as u32;
        let c = class[s];
        let mut count = 0;
        label[s] = id;
        stack.push(s);
        while let Some(p) = stack.pop() {
            count += 1;
            let (x, y) = (p % w, p / w);
            let mut visit = |q: usize| {
                if label[q] == 0 && class[q] == c {
                    label[q] = id;
                    stack.push(q);
                }
            };
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < w {
                visit(p + 1);
            }
            if y > 0 {
                visit(p - w);
            }
            if y + 1 < h {
                visit(p + w);
            }
        }
        sizes.push(count);
        hue_of.push(c);
    }
    // Small runs lose their label; then a breadth-first flood from the large runs hands
    // every unlabelled foreground pixel to the nearest one.
    let mut queue = std::collections::VecDeque::new();
    for (p, l) in label.iter_mut().enumerate() {
        if *l != 0 && sizes[*l as usize] < cfg.min_part {
            *l = 0;
        }
        if *l != 0 {
            queue.push_back(p);
        }
    }
    while let Some(p) = queue.pop_front() {
        let (x, y) = (p % w, p / w);
        let l = label[p];
        for q in [
            (x > 0).then(|| p - 1),
            (x + 1 < w).then(|| p + 1),
            (y > 0).then(|| p - w),
            (y + 1 < h).then(|| p + w),
        ]
        .into_iter()
        .flatten()
        {
            if label[q] == 0 && class[q] != BACKGROUND {
                label[q] = l;
                queue.push_back(q);
            }
        }
    }
    // Runs of one hue that the flood joined (a highlight or a speck of another hue cut an
    // object in two) are one instance again; two objects of one colour that touch stay merged
    // here and are told apart by their shape models later.
    let mut parent: Vec<u32> = (0..sizes.len() as u32).collect();
    fn root(parent: &mut [u32], mut a: u32) -> u32 {
        while parent[a as usize] != a {
            parent[a as usize] = parent[parent[a as usize] as usize];
            a = parent[a as usize];
        }
        a
    }
    for p in 0..n {
        let a = label[p];
        if a == 0 {
            continue;
        }
        for q in [(p % w + 1 < w).then(|| p + 1), (p + w < n).then(|| p + w)]
            .into_iter()
            .flatten()
        {
            let b = label[q];
            if b != 0 && b != a && hue_of[a as usize] == hue_of[b as usize] {
                let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                if ra != rb {
                    parent[rb as usize] = ra;
                }
            }
        }
    }
    for l in label.iter_mut() {
        if *l != 0 {
            *l = root(&mut parent, *l);
        }
    }
    // Renumber densely.
    let mut map = vec![0u32; sizes.len()];
    let mut next = 0u32;
    for l in label.iter_mut() {
        if *l != 0 {
            let m = &mut map[*l as usize];
            if *m == 0 {
                next += 1;
                *m = next;
            }
            *l = *m;
        }
    }
    (label, next as usize)
}

/// One instance's pixels and box.
struct Region {
    id: u32,
    area: usize,
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
}

/// The region of instance `id` alone (`None` when it has no pixels).
fn region_of(label: &[u32], id: u32, w: usize) -> Option<Region> {
    let mut g = Region {
        id,
        area: 0,
        x0: usize::MAX,
        x1: 0,
        y0: usize::MAX,
        y1: 0,
    };
    for (p, _) in label.iter().enumerate().filter(|(_, &l)| l == id) {
        let (x, y) = (p % w, p / w);
        g.area += 1;
        g.x0 = g.x0.min(x);
        g.x1 = g.x1.max(x + 1);
        g.y0 = g.y0.min(y);
        g.y1 = g.y1.max(y + 1);
    }
    (g.area > 0).then_some(g)
}

fn regions(label: &[u32], count: usize, w: usize) -> Vec<Region> {
    let mut r: Vec<Region> = (1..=count as u32)
        .map(|id| Region {
            id,
            area: 0,
            x0: usize::MAX,
            x1: 0,
            y0: usize::MAX,
            y1: 0,
        })
        .collect();
    for (p, &l) in label.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let g = &mut r[l as usize - 1];
        let (x, y) = (p % w, p / w);
        g.area += 1;
        g.x0 = g.x0.min(x);
        g.x1 = g.x1.max(x + 1);
        g.y0 = g.y0.min(y);
        g.y1 = g.y1.max(y + 1);
    }
    r
}

/// A fitted shape model: placement and how well it explains the region (0–1).
#[derive(Debug, Clone, Copy)]
struct Fit {
    place: Placement,
    quality: f32,
}

/// Cost of a silhouette pixel that lands on another object whose place is not known yet
/// (it may hide the silhouette there).
const HIDDEN_COST: f32 = 0.1;
/// Cost once the other object is known to stand nearer (it hides what is behind it).
const NEARER_COST: f32 = 0.05;

/// What is known about the other instances when one is fitted: the row each stands on
/// (`None` before the first pass).
struct Context<'a> {
    label: &'a [u32],
    w: usize,
    h: usize,
    bases: Option<&'a [f32]>,
}

impl Context<'_> {
    /// Cost of a silhouette (standing on `base`) covering a pixel of instance `other`.
    fn other_cost(&self, other: u32, base: f32) -> f32 {
        match self.bases.and_then(|b| b.get(other as usize)) {
            // Only a nearer object (standing lower in the picture) can hide this one.
            Some(&ob) if ob > base + 1.0 => NEARER_COST,
            Some(_) => 1.0,
            None => HIDDEN_COST,
        }
    }
}

fn score(p: &Placement, reg: &Region, ctx: &Context, step: usize) -> f32 {
    let (x0, x1, y0, y1) = p.pixel_box(ctx.w, ctx.h);
    let (mut inter, mut bad) = (0f32, 0f32);
    let mut y = y0;
    while y < y1 {
        let mut x = x0;
        while x < x1 {
            if p.covers(x, y) {
                let l = ctx.label[y * ctx.w + x];
                if l == reg.id {
                    inter += 1.0;
                } else if l == 0 {
                    bad += 1.0;
                } else {
                    bad += ctx.other_cost(l, p.base);
                }
            }
            x += step;
        }
        y += step;
    }
    let area = reg.area as f32 / (step * step) as f32;
    // IoU of the visible region with the silhouette, where silhouette pixels that another
    // object may hide count less than those on the background.
    inter / (area + bad).max(1.0)
}

/// `n` evenly spaced values from `a` to `b` (just `a` when they are within a pixel).
fn span(a: f32, b: f32, n: usize) -> Vec<f32> {
    if (b - a).abs() <= 1.0 || n < 2 {
        return vec![a];
    }
    (0..n)
        .map(|i| a + (b - a) * i as f32 / (n - 1) as f32)
        .collect()
}

fn fit(reg: &Region, ctx: &Context, cam: &Camera, thorough: bool) -> Option<Fit> {
    let (bw, bh) = ((reg.x1 - reg.x0) as f32, (reg.y1 - reg.y0) as f32);
    // Candidates are ranked on a coarse grid of about 150 samples of the region, the best
    // few are scored again on a fine grid of about 1500 and refined there.
    let grid = |samples: f32| ((reg.area as f32 / samples).sqrt() as usize).max(1);
    let (coarse, fine) = (grid(150.0), grid(1500.0));
    let mut cands: Vec<Fit> = Vec::new();
    for (si, s) in SHAPES.iter().enumerate() {
        let asp = aspect(s);
        for (ki, (_, k)) in SIZES.iter().enumerate() {
            // The object stands on its visible bottom row, or lower when a nearer object
            // hides its foot: as low as puts its box top at the visible top.
            let low = cam.base_from_top(*k, reg.y0 as f32).max(reg.y1 as f32);
            let bases = span(reg.y1 as f32, low, if thorough { 4 } else { 2 });
            for base in bases {
                let hh = cam.box_height(*k, base);
                let ww = hh * asp;
                // The silhouette must (nearly) contain what is visible.
                if hh < 0.85 * bh || ww < 0.85 * bw || hh < 4.0 {
                    continue;
                }
                let (left, right) = (reg.x0 as f32 + ww / 2.0, reg.x1 as f32 - ww / 2.0);
                let n = if thorough {
                    (((left - right).abs() / 3.0) as usize + 2).min(7)
                } else {
                    3
                };
                for cx in span(left, right, n) {
                    let place = Placement {
                        shape: si,
                        size: ki,
                        cx,
                        base,
                        w: ww,
                        h: hh,
                    };
                    // About 200 samples of the silhouette's box, however large it is.
                    let step = coarse.max(((ww * hh / 200.0).sqrt() as usize).max(1));
                    let quality = score(&place, reg, ctx, step);
                    cands.push(Fit { place, quality });
                }
            }
        }
    }
    cands.sort_by(|a, b| b.quality.total_cmp(&a.quality));
    cands.truncate(8);
    for c in &mut cands {
        c.quality = score(&c.place, reg, ctx, fine);
    }
    let mut b = cands
        .into_iter()
        .max_by(|a, b| a.quality.total_cmp(&b.quality))?;
    // Refine the winner's position pixel by pixel.
    for _ in 0..4 {
        let mut improved = false;
        for (dx, db) in [(-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0)] {
            let mut p = b.place;
            p.cx += dx;
            p.base += db;
            p.h = cam.box_height(SIZES[p.size].1, p.base);
            p.w = p.h * aspect(SHAPES[p.shape]);
            let q = score(&p, reg, ctx, fine);
            if q > b.quality {
                b = Fit {
                    place: p,
                    quality: q,
                };
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
    Some(b)
}

/// A split must explain the instance this much better than one model does.
const SPLIT_GAIN: f32 = 0.03;

/// Patches that seed a split, largest first.
const SPLIT_SEEDS: usize = 4;

/// The `n` largest sets of an instance's pixels connected through neighbours whose
/// brightness (the largest channel) differs by at most a few levels: smoothly shaded
/// surfaces, largest first.
fn largest_patches(image: &RgbImage, label: &[u32], reg: &Region, n: usize) -> Vec<Vec<usize>> {
    let w = image.width() as usize;
    let raw = image.as_raw();
    let v = |p: usize| i32::from(raw[3 * p].max(raw[3 * p + 1]).max(raw[3 * p + 2]));
    let mut seen = vec![false; (reg.x1 - reg.x0) * (reg.y1 - reg.y0)];
    let local = |p: usize| (p / w - reg.y0) * (reg.x1 - reg.x0) + (p % w - reg.x0);
    let mut all: Vec<Vec<usize>> = Vec::new();
    let mut stack = Vec::new();
    for y in reg.y0..reg.y1 {
        for x in reg.x0..reg.x1 {
            let s = y * w + x;
            if label[s] != reg.id || seen[local(s)] {
                continue;
            }
            seen[local(s)] = true;
            stack.push(s);
            let mut patch = Vec::new();
            while let Some(p) = stack.pop() {
                patch.push(p);
                let (px, py) = (p % w, p / w);
                for q in [
                    (px > reg.x0).then(|| p - 1),
                    (px + 1 < reg.x1).then(|| p + 1),
                    (py > reg.y0).then(|| p - w),
                    (py + 1 < reg.y1).then(|| p + w),
                ]
                .into_iter()
                .flatten()
                {
                    if label[q] == reg.id && !seen[local(q)] && (v(p) - v(q)).abs() <= 6 {
                        seen[local(q)] = true;
                        stack.push(q);
                    }
                }
            }
            all.push(patch);
        }
    }
    all.sort_by_key(|p| std::cmp::Reverse(p.len()));
    all.truncate(n);
    all
}

/// Two pieces are joined only if one model explains their union at least this well.
const JOIN_FIT: f32 = 0.8;

/// The palette hue most of an instance's chromatic pixels have.
fn majority_hue(r: &Region, label: &[u32], class: &[u8], w: usize) -> u8 {
    let mut votes = [0usize; 8];
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            let p = y * w + x;
            if label[p] == r.id {
                if let Some(v) = votes.get_mut(class[p] as usize) {
                    *v += 1;
                }
            }
        }
    }
    (0..8u8).max_by_key(|&i| votes[i as usize]).unwrap_or(0)
}

/// Whether two instances' boxes are within a fraction of their size of each other.
fn close(a: &Region, b: &Region) -> bool {
    if a.area == 0 || b.area == 0 {
        return false;
    }
    let gap_x = a.x0.max(b.x0).saturating_sub(a.x1.min(b.x1));
    let gap_y = a.y0.max(b.y0).saturating_sub(a.y1.min(b.y1));
    let size = (a.x1 - a.x0)
        .max(a.y1 - a.y0)
        .max(b.x1 - b.x0)
        .max(b.y1 - b.y0);
    gap_x.max(gap_y) * 2 <= size
}

/// Instances explained worse than this by their best model are checked for a second object.
const SPLIT_BELOW: f32 = 0.85;
/// A part split off an instance must be explained at least this well by its own model.
const PART_FIT: f32 = 0.8;
/// Instances explained worse than this are refitted once every object's place is known.
const REFIT_BELOW: f32 = 0.97;

/// The parts of `reg` outside the silhouette `place` that are large enough to be objects of
/// their own (4-connected, at least `min_area` pixels), as pixel index lists.
fn split_off(
    label: &[u32],
    reg: &Region,
    place: &Placement,
    w: usize,
    h: usize,
    min_area: usize,
) -> Vec<Vec<usize>> {
    let mut out_of = vec![false; w * h];
    for y in reg.y0..reg.y1 {
        for x in reg.x0..reg.x1 {
            let p = y * w + x;
            if label[p] == reg.id && !place.covers(x, y) {
                out_of[p] = true;
            }
        }
    }
    let mut parts = Vec::new();
    let mut stack = Vec::new();
    for y in reg.y0..reg.y1 {
        for x in reg.x0..reg.x1 {
            let s = y * w + x;
            if !out_of[s] {
                continue;
            }
            out_of[s] = false;
            stack.push(s);
            let mut part = Vec::new();
            while let Some(p) = stack.pop() {
                part.push(p);
                let (px, py) = (p % w, p / w);
                for q in [
                    (px > 0).then(|| p - 1),
                    (px + 1 < w).then(|| p + 1),
                    (py > 0).then(|| p - w),
                    (py + 1 < h).then(|| p + w),
                ]
                .into_iter()
                .flatten()
                {
                    if out_of[q] {
                        out_of[q] = false;
                        stack.push(q);
                    }
                }
            }
            if part.len() >= min_area {
                parts.push(part);
            }
        }
    }
    parts
}

/// What the pixels backend found: detections with their fitted models.
#[derive(Debug, Clone)]
pub struct Found {
    /// The detections (label = shape class, mask = visible pixels).
    pub detections: Vec<Detection>,
    /// Per detection: palette colour name.
    pub colors: Vec<&'static str>,
    /// Per detection: size class of the fitted model.
    pub sizes: Vec<&'static str>,
    /// Per detection: the fitted distance (0 = nearest).
    pub distances: Vec<f32>,
}

/// The `pixels` backend.
#[derive(Debug, Clone)]
pub struct Pixels {
    cfg: PixelsConfig,
    hues: Vec<f32>,
}

impl Pixels {
    /// A backend with these options.
    pub fn new(cfg: PixelsConfig) -> Result<Self, PerceptionError> {
        cfg.check()?;
        Ok(Pixels {
            cfg,
            hues: palette_hues(),
        })
    }

    /// Segments `image` and fits shape models to its objects.
    pub fn find(&self, image: &RgbImage) -> Result<Found, PerceptionError> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        if w < 32 || h < 32 {
            return Err(PerceptionError::TooSmall {
                what: "pixels: the image",
                size: Size::new(w as u32, h as u32),
                min: Size::new(32, 32),
            });
        }
        let class = classify(image, &self.cfg, &self.hues);
        let (mut label, count) = instances(&class, w, h, &self.cfg);
        let cam = Camera::new(h as u32, self.cfg.horizon);
        let mut regs = regions(&label, count, w);
        // First pass: fit each instance on its own; an instance the best model explains
        // poorly may be two objects of one colour touching, so the part the model leaves
        // out becomes an instance of its own when it is large enough.
        let mut fits: Vec<Option<Fit>> = Vec::new();
        let mut k = 0;
        while k < regs.len() {
            if regs[k].area < self.cfg.min_area {
                fits.push(None);
                k += 1;
                continue;
            }
            let ctx = Context {
                label: &label,
                w,
                h,
                bases: None,
            };
            let mut f = fit(&regs[k], &ctx, &cam, false);
            if let Some(fk) = f.filter(|f| f.quality < SPLIT_BELOW) {
                if let Some((new_label, parts, fa)) =
                    self.split(image, &label, &regs[k], fk, &cam, regs.len() as u32 + 1)
                {
                    label = new_label;
                    if let Some(r) = region_of(&label, regs[k].id, w) {
                        regs[k] = r;
                    }
                    regs.extend(parts);
                    f = Some(fa);
                }
            }
            fits.push(f);
            k += 1;
        }
        // Pieces of one object that a nearer object cuts apart: two instances of one hue
        // close to each other become one when a single model explains their union about
        // as well as each explains itself.
        let hue_of: Vec<u8> = regs
            .iter()
            .map(|r| majority_hue(r, &label, &class, w))
            .collect();
        for a in 0..regs.len() {
            for b in a + 1..regs.len() {
                let (Some(fa), Some(fb)) = (fits[a], fits[b]) else {
                    continue;
                };
                if hue_of[a] != hue_of[b] || !close(&regs[a], &regs[b]) {
                    continue;
                }
                let (ra, rb) = (&regs[a], &regs[b]);
                let mut joined = label.clone();
                for y in rb.y0..rb.y1 {
                    for x in rb.x0..rb.x1 {
                        if joined[y * w + x] == rb.id {
                            joined[y * w + x] = ra.id;
                        }
                    }
                }
                let union = Region {
                    id: ra.id,
                    area: ra.area + rb.area,
                    x0: ra.x0.min(rb.x0),
                    x1: ra.x1.max(rb.x1),
                    y0: ra.y0.min(rb.y0),
                    y1: ra.y1.max(rb.y1),
                };
                let ctx = Context {
                    label: &joined,
                    w,
                    h,
                    bases: None,
                };
                let Some(fu) = fit(&union, &ctx, &cam, false) else {
                    continue;
                };
                let alone =
                    (fa.quality * ra.area as f32 + fb.quality * rb.area as f32) / union.area as f32;
                if fu.quality >= JOIN_FIT && fu.quality >= alone - 0.02 {
                    label = joined;
                    regs[a] = union;
                    fits[a] = Some(fu);
                    fits[b] = None;
                    regs[b].area = 0;
                }
            }
        }
        // Second pass: with every object's place known, only nearer objects may hide a
        // silhouette; refit what is not yet well explained, searching more placements.
        let mut bases = vec![0f32; regs.len() + 1];
        for (r, f) in regs.iter().zip(&fits) {
            if let Some(f) = f {
                bases[r.id as usize] = f.place.base;
            }
        }
        for (r, f) in regs.iter().zip(fits.iter_mut()) {
            if let Some(old) = f.filter(|f| f.quality < REFIT_BELOW) {
                let ctx = Context {
                    label: &label,
                    w,
                    h,
                    bases: Some(&bases),
                };
                if let Some(new) = fit(r, &ctx, &cam, true) {
                    *f = Some(if new.quality >= old.quality * 0.98 {
                        new
                    } else {
                        old
                    });
                }
            }
        }
        let mut masks: Vec<Vec<u8>> = Vec::new();
        let mut found = Found {
            detections: Vec::new(),
            colors: Vec::new(),
            sizes: Vec::new(),
            distances: Vec::new(),
        };
        for (reg, f) in regs.iter().zip(&fits) {
            let Some(f) = *f else {
                continue;
            };
            let mut m = vec![0u8; w * h];
            let mut votes = [0usize; 8];
            for y in reg.y0..reg.y1 {
                for x in reg.x0..reg.x1 {
                    let p = y * w + x;
                    if label[p] == reg.id {
                        m[p] = 1;
                        if let Some(v) = votes.get_mut(class[p] as usize) {
                            *v += 1;
                        }
                    }
                }
            }
            let colour = (0..8).max_by_key(|&i| votes[i]).unwrap_or(0);
            let mask = Rle::encode_row_major(h as u32, w as u32, &m).map_err(|source| {
                PerceptionError::Mask {
                    context: "pixels".into(),
                    source,
                }
            })?;
            masks.push(m);
            found.detections.push(Detection {
                label: SHAPES[f.place.shape].to_string(),
                score: f64::from(f.quality.clamp(0.3, 1.0)),
                mask,
                mask_source: MaskSource::Pixels,
            });
            found.colors.push(dtr1_data::palette::COLORS[colour].0);
            found.sizes.push(SIZES[f.place.size].0);
            found.distances.push(cam.distance(f.place.base));
        }
        Ok(found)
    }

    /// Explains a poorly fitted instance as several objects of one colour: a first model
    /// (the instance's best one, or the best one for its largest smoothly shaded patch — one
    /// object's surface, since objects are shaded without noise) keeps the pixels it covers,
    /// and each large part left over becomes an object if a model explains it well. Returns
    /// the new labels, the new parts (ids from `next`) and the first model's fit, when that
    /// explains the instance better than `whole`.
    fn split(
        &self,
        image: &RgbImage,
        label: &[u32],
        reg: &Region,
        whole: Fit,
        cam: &Camera,
        next: u32,
    ) -> Option<(Vec<u32>, Vec<Region>, Fit)> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let mut seeds = vec![whole.place];
        for patch in largest_patches(image, label, reg, SPLIT_SEEDS) {
            if patch.len() * 100 < reg.area * 85 && patch.len() >= self.cfg.min_area {
                // Fit the patch with the rest of the instance counted as another object.
                let mut tmp = label.to_vec();
                let phantom = u32::MAX;
                for y in reg.y0..reg.y1 {
                    for x in reg.x0..reg.x1 {
                        if tmp[y * w + x] == reg.id {
                            tmp[y * w + x] = phantom;
                        }
                    }
                }
                for &p in &patch {
                    tmp[p] = reg.id;
                }
                if let Some(r) = region_of(&tmp, reg.id, w) {
                    let ctx = Context {
                        label: &tmp,
                        w,
                        h,
                        bases: None,
                    };
                    if let Some(f) = fit(&r, &ctx, cam, false) {
                        seeds.push(f.place);
                    }
                }
            }
        }
        let min_part = (self.cfg.min_area * 3).max(reg.area / 8);
        let mut best: Option<(f32, Vec<u32>, Vec<Region>, Fit)> = None;
        for seed in seeds {
            let mut lab = label.to_vec();
            let mut parts = Vec::new();
            let mut explained = 0f32;
            for part in split_off(&lab, reg, &seed, w, h, min_part) {
                let id = next + parts.len() as u32;
                for &p in &part {
                    lab[p] = id;
                }
                let r = region_of(&lab, id, w);
                let ctx = Context {
                    label: &lab,
                    w,
                    h,
                    bases: None,
                };
                match r.and_then(|r| fit(&r, &ctx, cam, false).map(|f| (r, f))) {
                    Some((r, f)) if f.quality >= PART_FIT => {
                        explained += f.quality * r.area as f32;
                        parts.push(r);
                    }
                    _ => {
                        for &p in &part {
                            lab[p] = reg.id;
                        }
                    }
                }
            }
            if parts.is_empty() {
                continue;
            }
            let Some(rest) = region_of(&lab, reg.id, w) else {
                continue;
            };
            let ctx = Context {
                label: &lab,
                w,
                h,
                bases: None,
            };
            let Some(fa) = fit(&rest, &ctx, cam, false) else {
                continue;
            };
            let total = (explained + fa.quality * rest.area as f32) / reg.area as f32;
            if best.as_ref().is_none_or(|b| total > b.0) {
                best = Some((total, lab, parts, fa));
            }
        }
        let (total, lab, parts, fa) = best?;
        (total > whole.quality + SPLIT_GAIN).then_some((lab, parts, fa))
    }

    /// The depth map of a finding: objects at their fitted distance, the ground by row, the
    /// sky at the far end.
    pub fn depth(&self, image: &RgbImage, found: &Found) -> DepthMap {
        let (w, h) = image.dimensions();
        let cam = Camera::new(h, self.cfg.horizon);
        let mut values = ground_depth(w, h, &cam);
        for (d, z) in found.detections.iter().zip(&found.distances) {
            let v = Camera::depth(*z);
            for (p, m) in values.iter_mut().zip(d.mask.decode_row_major()) {
                if m != 0 {
                    *p = v;
                }
            }
        }
        DepthMap {
            width: w,
            height: h,
            values,
        }
    }
}

/// Ground-plane depth of every pixel by row (sky rows at 1).
fn ground_depth(w: u32, h: u32, cam: &Camera) -> Vec<f32> {
    let hz = cam.horizon * h as f32;
    let mut values = Vec::with_capacity(w as usize * h as usize);
    for y in 0..h {
        let v = if (y as f32) < hz {
            1.0
        } else {
            Camera::depth(cam.distance(y as f32 + 0.5))
        };
        values.extend(std::iter::repeat_n(v, w as usize));
    }
    values
}

impl Backend for Pixels {
    fn name(&self) -> &str {
        "pixels"
    }

    fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError> {
        let found = self.find(image)?;
        let depth = self.depth(image, &found);
        Ok(Perception {
            detections: found.detections,
            depth: Some(depth),
            depth_source: Some(DepthSource::GroundPlane),
        })
    }
}

/// Depth from the ground-plane geometry for any object backend: each object stands on the
/// lowest row of its mask, and all its pixels get the ground's depth there (a TwinBench-style
/// camera with the horizon at `horizon × height`).
#[derive(Debug, Clone, Copy)]
pub struct GroundPlaneDepth {
    /// Horizon row as a fraction of the height.
    pub horizon: f32,
}

impl DepthEstimator for GroundPlaneDepth {
    fn name(&self) -> &str {
        "ground_plane"
    }

    fn source(&self) -> DepthSource {
        DepthSource::GroundPlane
    }

    fn estimate(&self, image: &RgbImage, found: &Perception) -> Result<DepthMap, PerceptionError> {
        let (w, h) = image.dimensions();
        let cam = Camera::new(h, self.horizon);
        let mut values = ground_depth(w, h, &cam);
        for d in &found.detections {
            if d.mask.size() != [h, w] {
                return Err(PerceptionError::SizeMismatch {
                    what: format!("{}'s mask", d.label),
                    size: Size::of_mask(&d.mask),
                    other: "the image",
                    expected: Size::new(w, h),
                });
            }
            let dense = d.mask.decode_row_major();
            let Some(last) = dense.iter().rposition(|&m| m != 0) else {
                continue;
            };
            let v = Camera::depth(cam.distance((last / w as usize) as f32 + 1.0));
            for (p, m) in values.iter_mut().zip(&dense) {
                if *m != 0 {
                    *p = v;
                }
            }
        }
        Ok(DepthMap {
            width: w,
            height: h,
            values,
        })
    }
}

/// Attributes of TwinBench-style objects from their pixels: `shape` (the label, when it is a
/// TwinBench shape class), `color` (palette hue with the
/// most votes among the mask's chromatic pixels) and `size` (physical size class: the visible
/// extent against the box the ground-plane camera predicts at the object's lowest row).
#[derive(Debug, Clone)]
pub struct PixelsDescriber {
    cfg: PixelsConfig,
    hues: Vec<f32>,
}

impl PixelsDescriber {
    /// A describer with these options.
    pub fn new(cfg: PixelsConfig) -> Result<Self, PerceptionError> {
        cfg.check()?;
        Ok(PixelsDescriber {
            cfg,
            hues: palette_hues(),
        })
    }
}

impl Describer for PixelsDescriber {
    fn name(&self) -> &str {
        "pixels"
    }

    fn describe(
        &self,
        image: &RgbImage,
        det: &Detection,
        _: Option<&DepthMap>,
    ) -> Result<Vec<(String, String)>, PerceptionError> {
        let (w, h) = image.dimensions();
        if det.mask.size() != [h, w] {
            return Err(PerceptionError::SizeMismatch {
                what: format!("{}'s mask", det.label),
                size: Size::of_mask(&det.mask),
                other: "the image",
                expected: Size::new(w, h),
            });
        }
        let mut votes = [0usize; 8];
        let (mut x0, mut x1, mut y0, mut y1) = (u32::MAX, 0, u32::MAX, 0);
        for (i, m) in det.mask.decode_row_major().into_iter().enumerate() {
            if m == 0 {
                continue;
            }
            let (x, y) = (i as u32 % w, i as u32 / w);
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x + 1), y0.min(y), y1.max(y + 1));
            let [r, g, b] = image.get_pixel(x, y).0.map(f32::from);
            let (hh, c) = hue(r, g, b);
            if c >= f32::from(self.cfg.min_chroma) {
                votes[nearest_hue(hh, &self.hues) as usize] += 1;
            }
        }
        let mut out = Vec::new();
        // TwinBench twins carry the shape class as the `shape` attribute too.
        if SHAPES.contains(&det.label.as_str()) {
            out.push(("shape".into(), det.label.clone()));
        }
        if votes.iter().any(|&v| v > 0) {
            let best = (0..8).max_by_key(|&i| votes[i]).unwrap_or(0);
            out.push(("color".into(), dtr1_data::palette::COLORS[best].0.into()));
        }
        if y1 > y0 {
            let cam = Camera::new(h, self.cfg.horizon);
            let unit = cam.box_height(1.0, y1 as f32);
            let extent = ((y1 - y0) as f32).max((x1 - x0) as f32 / aspect(&det.label));
            let k = extent / unit.max(1.0);
            let size = SIZES
                .iter()
                .min_by(|a, b| (a.1 - k).abs().total_cmp(&(b.1 - k).abs()))
                .map_or("medium", |s| s.0);
            out.push(("size".into(), size.into()));
        }
        Ok(out)
    }
}
