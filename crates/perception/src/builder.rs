//! Turning a backend's [`Perception`] into a validated image twin.

use crate::{color, Perception, PerceptionError, Size};
use dtr1_twin::{relations, validate, DepthStats, ImageTwin, Mode, Object, Twin};
use image::RgbImage;

/// Options of the twin builder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildConfig {
    /// Relations kept per object (nearest objects first).
    pub max_relations: usize,
    /// Detections below this score are dropped.
    pub min_score: f64,
    /// Masks smaller than this (pixels) are dropped.
    pub min_area: u64,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            max_relations: 6,
            min_score: 0.3,
            min_area: 20,
        }
    }
}

/// A shape descriptor from the mask's box and fill: `elongated` (aspect ≥ 2), `tall`
/// (height ≥ 2× width), `round` (fills 70–85 % of its box, like a disc's π/4), `boxy`
/// (fills more than 85 %), `irregular` otherwise.
pub fn shape_descriptor(bbox: [f64; 4], area: u64) -> &'static str {
    let (w, h) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
    let fill = area as f64 / (w * h).max(1.0);
    if w >= 2.0 * h {
        "elongated"
    } else if h >= 2.0 * w {
        "tall"
    } else if fill > 0.85 {
        "boxy"
    } else if fill >= 0.7 {
        "round"
    } else {
        "irregular"
    }
}

/// Builds the twin of `image` from `p`: one object per kept detection (ids from 1, in
/// descending score order), geometry from the masks, depth statistics from the depth map,
/// attributes measured on the pixels, size classes by area tercile, relations derived.
/// The result is checked with strict validation.
pub fn build(
    image: &RgbImage,
    p: &Perception,
    cfg: &BuildConfig,
) -> Result<ImageTwin, PerceptionError> {
    build_described(image, p, cfg, &[])
}

/// [`build`], with attributes described for each detection (`described[i]` belongs to
/// `p.detections[i]`; missing entries describe nothing). Described values replace the
/// measured ones of the same name.
pub fn build_described(
    image: &RgbImage,
    p: &Perception,
    cfg: &BuildConfig,
    described: &[Vec<(String, String)>],
) -> Result<ImageTwin, PerceptionError> {
    let (w, h) = image.dimensions();
    if described.len() > p.detections.len() {
        return Err(PerceptionError::CountMismatch {
            what: "attribute lists (at most one per detection)",
            got: described.len(),
            expected: p.detections.len(),
        });
    }
    if let Some(d) = &p.depth {
        if (d.width, d.height) != (w, h) {
            return Err(PerceptionError::SizeMismatch {
                what: "depth map".into(),
                size: Size::new(d.width, d.height),
                other: "the image",
                expected: Size::new(w, h),
            });
        }
        if let Some(i) = d.values.iter().position(|v| !v.is_finite()) {
            return Err(PerceptionError::NonFinite {
                what: format!("depth at pixel {i}"),
            });
        }
    }
    let mut dets: Vec<_> = p.detections.iter().enumerate().collect();
    for &(i, d) in &dets {
        if d.mask.size() != [h, w] {
            return Err(PerceptionError::SizeMismatch {
                what: format!("detection {i} ({})'s mask", d.label),
                size: Size::of_mask(&d.mask),
                other: "the image",
                expected: Size::new(w, h),
            });
        }
        if !(0.0..=1.0).contains(&d.score) {
            return Err(PerceptionError::OutOfRange {
                what: format!("detection {i} ({}): score", d.label),
                value: d.score,
                range: "[0, 1]",
            });
        }
    }
    dets.retain(|(_, d)| d.score >= cfg.min_score && d.mask.area() >= cfg.min_area);
    dets.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let mut twin = ImageTwin::new(w, h);
    if p.depth.is_some() {
        twin.depth_source = p.depth_source;
    }
    for (k, &(i, d)) in dets.iter().enumerate() {
        let mut o = Object::from_mask(k as u32 + 1, d.label.clone(), d.mask.clone());
        o.score = Some((d.score * 1000.0).round() / 1000.0);
        o.centroid = o
            .centroid
            .map(|[x, y]| [(x * 100.0).round() / 100.0, (y * 100.0).round() / 100.0]);
        let dense = d.mask.decode_row_major();
        if let Some(dm) = &p.depth {
            let vals: Vec<f64> = dense
                .iter()
                .zip(&dm.values)
                .filter(|(m, _)| **m != 0)
                .map(|(_, v)| f64::from(*v))
                .collect();
            let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
            let (mn, mx) = vals
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let mean = r3(vals.iter().sum::<f64>() / vals.len() as f64);
            o.depth = Some(DepthStats {
                mean: mean.clamp(r3(mn), r3(mx)),
                min: r3(mn),
                max: r3(mx),
            });
        }
        o.attributes.color = color::name_region(image, &dense).map(String::from);
        if let (Some(b), Some(a)) = (o.bbox, o.area) {
            o.attributes.shape = Some(shape_descriptor(b, a).into());
        }
        o.mask_source = Some(d.mask_source);
        for (name, value) in described.get(i).into_iter().flatten() {
            o.attributes.set(name, value.clone());
        }
        twin.objects.push(o);
    }
    // Size classes by area tercile within the scene.
    let mut areas: Vec<u64> = twin.objects.iter().filter_map(|o| o.area).collect();
    areas.sort_unstable();
    for o in &mut twin.objects {
        if o.attributes.size.is_some() {
            continue;
        }
        if let Some(a) = o.area {
            let rank = areas.partition_point(|&x| x < a);
            o.attributes.size =
                Some(["small", "medium", "large"][(rank * 3 / areas.len().max(1)).min(2)].into());
        }
    }
    relations::derive(&mut twin, cfg.max_relations);
    validate(&Twin::Image(twin.clone()), Mode::Strict).map_err(|source| {
        PerceptionError::InvalidTwin {
            what: "twin",
            source,
        }
    })?;
    Ok(twin)
}
