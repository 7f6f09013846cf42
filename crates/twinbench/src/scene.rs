//! TwinBench image scenes: a seeded renderer of 3-D-looking objects on a ground plane, with
//! exact ground truth (visible instance masks, boxes, depth map, the true twin).
//!
//! The camera looks down at a ground plane: an object at distance `z ∈ [0, 1]` (0 = nearest)
//! stands on row `horizon + (H − horizon)·(1 − z)^1.4` and is drawn at scale `1 / (1 + 1.6 z)`,
//! so farther objects are higher and smaller. Objects are painted far to near; a mask holds an
//! object's *visible* pixels. Shading uses one light: matte objects are diffuse, metal ones
//! darker with a sharp white highlight. The same seed always gives the same bytes (ChaCha8).

use dtr1_data::palette::{aspect, surface, COLORS, MATERIALS, SHAPES, SIZES};
use dtr1_data::DataError;
use dtr1_rle::Rle;
use dtr1_twin::{relations, Attributes, DepthStats, ImageTwin, Object};
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Parameters of a scene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SceneConfig {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Fewest objects.
    pub min_objects: usize,
    /// Most objects.
    pub max_objects: usize,
    /// Objects whose visible area would be smaller than this (pixels) are re-drawn elsewhere.
    pub min_visible_area: u64,
}

impl Default for SceneConfig {
    fn default() -> Self {
        SceneConfig {
            width: 480,
            height: 320,
            min_objects: 3,
            max_objects: 15,
            min_visible_area: 150,
        }
    }
}

/// One object of a scene, with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneObject {
    /// Id, 1-based, in drawing (far to near) order.
    pub id: u32,
    /// Shape class.
    pub shape: &'static str,
    /// Colour name.
    pub color: &'static str,
    /// Material.
    pub material: &'static str,
    /// Size class.
    pub size: &'static str,
    /// Distance in [0, 1], 0 = nearest.
    pub z: f32,
    /// Visible mask.
    pub mask: Rle,
}

/// A rendered scene.
#[derive(Debug, Clone)]
pub struct Scene {
    /// The picture.
    pub image: RgbImage,
    /// The objects, far to near.
    pub objects: Vec<SceneObject>,
    /// Relative depth per pixel (row-major, smaller = nearer).
    pub depth: Vec<f32>,
}

/// An object placed in the image: where its box stands and how it looks.
pub(crate) struct Placed {
    pub(crate) shape: &'static str,
    pub(crate) color: usize,
    pub(crate) material: usize,
    pub(crate) size: usize,
    pub(crate) z: f32,
    pub(crate) cx: f32,
    pub(crate) base: f32,
    pub(crate) w: f32,
    pub(crate) h: f32,
}

/// Where an object of this shape and size stands at distance `z`: `(box width, box height,
/// base row)`. The ground-plane projection shared by scenes and clips.
pub(crate) fn project(shape: &str, size: usize, z: f32, hf: f32) -> (f32, f32, f32) {
    let horizon = 0.3 * hf;
    let scale = 1.0 / (1.0 + 1.6 * z);
    let ph = 0.32 * hf * SIZES[size].1 * scale;
    (
        ph * aspect(shape),
        ph,
        horizon + (hf - horizon) * (1.0 - z).powf(1.4),
    )
}

/// Sky and textured ground, with their relative depth.
pub(crate) fn background(w: usize, h: usize, rng: &mut ChaCha8Rng) -> (RgbImage, Vec<f32>) {
    let (wf, hf) = (w as f32, h as f32);
    let horizon = 0.3 * hf;
    let mut img = RgbImage::new(w as u32, h as u32);
    let mut depth = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let noise: f32 = rng.random_range(-0.04..0.04);
            let (c, d) = if (y as f32) < horizon {
                let t = y as f32 / horizon;
                (
                    [0.55 + 0.2 * t + noise, 0.65 + 0.15 * t + noise, 0.8 + noise],
                    1.0,
                )
            } else {
                let t = (y as f32 - horizon) / (hf - horizon);
                let z = 1.0 - t.powf(1.0 / 1.4);
                let check = (((x as f32 / wf * 8.0 / (1.0 + 1.6 * z)) as i32 + (z * 12.0) as i32)
                    % 2) as f32;
                let g = 0.42 + 0.05 * check + 0.1 * t + noise;
                ([g, g * 0.95, g * 0.85], 0.1 + 0.9 * z)
            };
            img.put_pixel(
                x as u32,
                y as u32,
                Rgb(c.map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8)),
            );
            depth[y * w + x] = d;
        }
    }
    (img, depth)
}

/// Paints objects given far to near onto `img`/`depth`; `owner[pixel]` becomes the index
/// (in `objs`) of the object seen there, `u16::MAX` for background.
pub(crate) fn paint(objs: &[&Placed], img: &mut RgbImage, depth: &mut [f32], owner: &mut [u16]) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    owner.fill(u16::MAX);
    for (rank, p) in objs.iter().enumerate() {
        let albedo = COLORS[p.color].1;
        let metal = MATERIALS[p.material] == "metal";
        for_each_pixel(p, w, h, |x, y, nrm| {
            let c = shade(albedo, metal, nrm);
            img.put_pixel(
                x as u32,
                y as u32,
                Rgb(c.map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8)),
            );
            owner[y * w + x] = rank as u16;
            depth[y * w + x] = 0.1 + 0.9 * p.z - 0.02 * nrm[2];
        });
    }
}

fn shade(albedo: [f32; 3], metal: bool, n: [f32; 3]) -> [f32; 3] {
    let l = [-0.45f32, 0.7, 0.55];
    let ll = (l[0] * l[0] + l[1] * l[1] + l[2] * l[2]).sqrt();
    let diff = ((n[0] * l[0] + n[1] * l[1] + n[2] * l[2]) / ll).max(0.0);
    if metal {
        // Blinn-Phong highlight with the half vector between light and view (0, 0, 1).
        let h = [l[0] / ll, l[1] / ll, l[2] / ll + 1.0];
        let hl = (h[0] * h[0] + h[1] * h[1] + h[2] * h[2]).sqrt();
        let spec = ((n[0] * h[0] + n[1] * h[1] + n[2] * h[2]) / hl)
            .max(0.0)
            .powi(40);
        albedo.map(|a| a * (0.25 + 0.5 * diff) + 0.9 * spec)
    } else {
        albedo.map(|a| a * (0.35 + 0.65 * diff))
    }
}

/// Renders one scene from a seed.
pub fn render(cfg: &SceneConfig, seed: u64) -> Result<Scene, DataError> {
    if cfg.width < 64 || cfg.height < 64 || cfg.width > 4096 || cfg.height > 4096 {
        return Err(DataError::invalid(
            "scene config",
            format!("size {}x{} must be within 64..=4096", cfg.width, cfg.height),
        ));
    }
    if cfg.min_objects == 0 || cfg.min_objects > cfg.max_objects || cfg.max_objects > 40 {
        return Err(DataError::invalid(
            "scene config",
            format!(
                "object counts {}..={} must satisfy 1 <= min <= max <= 40",
                cfg.min_objects, cfg.max_objects
            ),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (w, h) = (cfg.width as usize, cfg.height as usize);
    let (wf, hf) = (w as f32, h as f32);
    let n = rng.random_range(cfg.min_objects..=cfg.max_objects);

    let (mut img, mut depth) = background(w, h, &mut rng);

    let mut placed: Vec<Placed> = Vec::new();
    let mut owner = vec![u16::MAX; w * h];
    let mut attempts = 0;
    while placed.len() < n && attempts < 200 {
        attempts += 1;
        let shape = SHAPES[rng.random_range(0..SHAPES.len())];
        let size = rng.random_range(0..SIZES.len());
        let z: f32 = rng.random_range(0.0..1.0);
        let (pw, ph, base) = project(shape, size, z, hf);
        let cx = rng.random_range(pw / 2.0..(wf - pw / 2.0).max(pw / 2.0 + 1.0));
        let cand = Placed {
            shape,
            color: rng.random_range(0..COLORS.len()),
            material: rng.random_range(0..MATERIALS.len()),
            size,
            z,
            cx,
            base,
            w: pw,
            h: ph,
        };
        // Keep the scene readable: a new object must not hide most of an existing one, and
        // must itself stay visible; checked on the final painting below.
        placed.push(cand);
        let mut order: Vec<usize> = (0..placed.len()).collect();
        order.sort_by(|&a, &b| placed[b].z.total_cmp(&placed[a].z));
        owner.fill(u16::MAX);
        for &i in &order {
            for_each_pixel(&placed[i], w, h, |x, y, _| owner[y * w + x] = i as u16);
        }
        let areas = count_areas(&owner, placed.len());
        if areas.iter().any(|&a| a < cfg.min_visible_area) {
            placed.pop();
        }
    }
    if placed.len() < cfg.min_objects {
        return Err(DataError::invalid(
            "scene",
            format!(
                "seed {seed}: could only place {} visible objects",
                placed.len()
            ),
        ));
    }
    // Paint far to near and record ids in that order.
    let mut order: Vec<usize> = (0..placed.len()).collect();
    order.sort_by(|&a, &b| placed[b].z.total_cmp(&placed[a].z));
    let far_to_near: Vec<&Placed> = order.iter().map(|&i| &placed[i]).collect();
    paint(&far_to_near, &mut img, &mut depth, &mut owner);
    let objects = order
        .iter()
        .enumerate()
        .map(|(rank, &i)| {
            let p = &placed[i];
            let m: Vec<u8> = owner.iter().map(|&o| u8::from(o == rank as u16)).collect();
            SceneObject {
                id: rank as u32 + 1,
                shape: p.shape,
                color: COLORS[p.color].0,
                material: MATERIALS[p.material],
                size: SIZES[p.size].0,
                z: p.z,
                mask: Rle::encode_row_major(cfg.height, cfg.width, &m)
                    .expect("mask has h*w pixels"),
            }
        })
        .collect();
    Ok(Scene {
        image: img,
        objects,
        depth,
    })
}

/// Calls `f(x, y, normal)` for every pixel of the image that the placed object covers.
fn for_each_pixel(p: &Placed, w: usize, h: usize, mut f: impl FnMut(usize, usize, [f32; 3])) {
    let (x0, x1) = (
        ((p.cx - p.w / 2.0).floor().max(0.0)) as usize,
        ((p.cx + p.w / 2.0).ceil() as usize).min(w),
    );
    let (y0, y1) = (
        ((p.base - p.h).floor().max(0.0)) as usize,
        (p.base.ceil() as usize).min(h),
    );
    for y in y0..y1 {
        for x in x0..x1 {
            let u = (x as f32 + 0.5 - p.cx) / (p.w / 2.0);
            let v = (y as f32 + 0.5 - (p.base - p.h)) / p.h;
            if let Some(n) = surface(p.shape, u, v) {
                f(x, y, n);
            }
        }
    }
}

fn count_areas(owner: &[u16], n: usize) -> Vec<u64> {
    let mut a = vec![0u64; n];
    for &o in owner {
        if (o as usize) < n {
            a[o as usize] += 1;
        }
    }
    a
}

impl Scene {
    /// The true twin: every object with its mask, box, area, centroid, depth statistics from
    /// the depth map, attributes (colour, size, shape, material) and derived relations.
    pub fn twin(&self, max_relations: usize) -> ImageTwin {
        let (w, h) = (self.image.width(), self.image.height());
        let mut t = ImageTwin::new(w, h);
        for o in &self.objects {
            let mut obj = Object::from_mask(o.id, o.shape, o.mask.clone());
            let dense = o.mask.decode_row_major();
            let ds: Vec<f64> = dense
                .iter()
                .zip(&self.depth)
                .filter(|(m, _)| **m != 0)
                .map(|(_, d)| f64::from(*d))
                .collect();
            if !ds.is_empty() {
                let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
                let (mn, mx) = ds
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), &d| (a.min(d), b.max(d)));
                obj.depth = Some(DepthStats {
                    mean: r3(ds.iter().sum::<f64>() / ds.len() as f64).clamp(r3(mn), r3(mx)),
                    min: r3(mn),
                    max: r3(mx),
                });
            }
            obj.centroid = obj
                .centroid
                .map(|[x, y]| [(x * 100.0).round() / 100.0, (y * 100.0).round() / 100.0]);
            obj.score = Some(1.0);
            obj.attributes = Attributes {
                color: Some(o.color.into()),
                size: Some(o.size.into()),
                shape: Some(o.shape.into()),
                material: Some(o.material.into()),
                extra: Default::default(),
            };
            t.objects.push(obj);
        }
        relations::derive(&mut t, max_relations);
        t
    }

    /// The image as PNG bytes.
    pub fn png(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.image
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("encoding a PNG in memory cannot fail");
        out.into_inner()
    }
}
