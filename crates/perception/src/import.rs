//! The `import` backend: perception results produced elsewhere (SAM 2, Grounding DINO,
//! Depth Anything, a detector of your own) read from the two common dump formats:
//!
//! - COCO results: `[{"image_id", "category_id", "bbox": [x, y, w, h], "score",
//!   "segmentation": RLE}]`, with category names from an optional `{id: name}` map;
//! - Grounded-SAM-2 JSON: `{"image_path", "annotations": [{"class_name", "bbox": [x1, y1, x2, y2],
//!   "segmentation": RLE, "score": float or [float]}], "box_format": "xyxy", "img_width",
//!   "img_height"}`;
//!
//! plus an optional depth map: a 16-bit (or 8-bit) grayscale PNG or a 2-D `.npy` of
//! floats/ints, rescaled to [0, 1] where 0 is the smallest value. Depth models usually output
//! *disparity* (larger = nearer); pass `invert_depth` to turn it into depth (smaller = nearer).

use crate::{Backend, DepthMap, DepthSource, Detection, MaskSource, Perception, PerceptionError};
use dtr1_rle::Rle;
use image::RgbImage;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn file_err(path: &Path, message: impl ToString) -> PerceptionError {
    PerceptionError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

#[derive(Deserialize)]
struct CocoResult {
    image_id: serde_json::Value,
    category_id: u64,
    score: f64,
    segmentation: Rle,
}

#[derive(Deserialize)]
struct GsamAnnotation {
    class_name: String,
    segmentation: Rle,
    #[serde(default)]
    score: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Gsam {
    annotations: Vec<GsamAnnotation>,
    #[serde(default)]
    img_width: Option<u32>,
    #[serde(default)]
    img_height: Option<u32>,
}

/// Reads detections from a COCO results file (only entries of `image_id`, when given) or a
/// Grounded-SAM-2 dump, recognised by its shape.
pub fn read_detections(
    path: &Path,
    image_id: Option<&str>,
    categories: &BTreeMap<u64, String>,
) -> Result<Vec<Detection>, PerceptionError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_err(path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| file_err(path, format!("not JSON: {e}")))?;
    if value.is_array() {
        let rows: Vec<CocoResult> = serde_json::from_value(value)
            .map_err(|e| file_err(path, format!("not COCO results: {e}")))?;
        Ok(rows
            .into_iter()
            .filter(|r| image_id.is_none_or(|id| r.image_id.to_string().trim_matches('"') == id))
            .map(|r| Detection {
                label: categories
                    .get(&r.category_id)
                    .cloned()
                    .unwrap_or_else(|| format!("category_{}", r.category_id)),
                score: r.score,
                mask: r.segmentation,
                mask_source: MaskSource::Import,
            })
            .collect())
    } else {
        let g: Gsam = serde_json::from_value(value)
            .map_err(|e| file_err(path, format!("not a Grounded-SAM-2 dump: {e}")))?;
        let mut out = Vec::new();
        for (i, a) in g.annotations.into_iter().enumerate() {
            if let (Some(w), Some(h)) = (g.img_width, g.img_height) {
                if a.segmentation.size() != [h, w] {
                    return Err(file_err(
                        path,
                        format!(
                            "annotations[{i}]: mask size {:?} but img is {w}x{h}",
                            a.segmentation.size()
                        ),
                    ));
                }
            }
            // Grounded-SAM-2 writes the score as a number or a one-element list.
            let score = match &a.score {
                Some(serde_json::Value::Number(n)) => n.as_f64(),
                Some(serde_json::Value::Array(v)) => v.first().and_then(|x| x.as_f64()),
                None => Some(1.0),
                _ => None,
            }
            .ok_or_else(|| {
                file_err(
                    path,
                    format!("annotations[{i}]: score must be a number or [number]"),
                )
            })?;
            out.push(Detection {
                label: a.class_name,
                score,
                mask: a.segmentation,
                mask_source: MaskSource::Import,
            });
        }
        Ok(out)
    }
}

/// Reads a depth map from a grayscale PNG (8 or 16 bit) or a 2-D `.npy`, normalised to [0, 1].
pub fn read_depth(path: &Path, invert: bool) -> Result<DepthMap, PerceptionError> {
    let (width, height, mut values) = if path.extension().is_some_and(|e| e == "npy") {
        let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
        let npy = npyz::NpyFile::new(&bytes[..])
            .map_err(|e| file_err(path, format!("not a .npy file: {e}")))?;
        let shape = npy.shape().to_vec();
        let [h, w] = shape[..] else {
            return Err(file_err(
                path,
                format!("depth must be 2-D, got shape {shape:?}"),
            ));
        };
        let vals: Vec<f32> = match npy.dtype() {
            npyz::DType::Plain(t)
                if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 =>
            {
                npy.into_vec::<f32>().map_err(|e| file_err(path, e))?
            }
            npyz::DType::Plain(t)
                if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 =>
            {
                npy.into_vec::<f64>()
                    .map_err(|e| file_err(path, e))?
                    .into_iter()
                    .map(|v| v as f32)
                    .collect()
            }
            npyz::DType::Plain(t)
                if t.type_char() == npyz::TypeChar::Uint && t.size_field() == 2 =>
            {
                npy.into_vec::<u16>()
                    .map_err(|e| file_err(path, e))?
                    .into_iter()
                    .map(f32::from)
                    .collect()
            }
            other => {
                return Err(file_err(
                    path,
                    format!("unsupported .npy dtype {other:?} (use float32, float64 or uint16)"),
                ))
            }
        };
        (w as u32, h as u32, vals)
    } else {
        let img = image::open(path)
            .map_err(|e| file_err(path, format!("cannot read the depth image: {e}")))?;
        let g = img.to_luma16();
        (
            g.width(),
            g.height(),
            g.into_raw().into_iter().map(f32::from).collect(),
        )
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(file_err(path, format!("non-finite depth at pixel {i}")));
    }
    let (mn, mx) = values
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let span = (mx - mn).max(f32::EPSILON);
    for v in &mut values {
        *v = (*v - mn) / span;
        if invert {
            *v = 1.0 - *v;
        }
    }
    Ok(DepthMap {
        width,
        height,
        values,
    })
}

/// The `import` backend.
pub struct Import {
    /// Detections file.
    pub detections: PathBuf,
    /// COCO image id to keep (COCO results only).
    pub image_id: Option<String>,
    /// Category names for COCO results.
    pub categories: BTreeMap<u64, String>,
    /// Optional depth map.
    pub depth: Option<PathBuf>,
    /// The depth file holds disparity (larger = nearer).
    pub invert_depth: bool,
}

impl Backend for Import {
    fn name(&self) -> &str {
        "import"
    }

    fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError> {
        let detections =
            read_detections(&self.detections, self.image_id.as_deref(), &self.categories)?;
        let (w, h) = image.dimensions();
        for (i, d) in detections.iter().enumerate() {
            if d.mask.size() != [h, w] {
                return Err(file_err(
                    &self.detections,
                    format!(
                        "detection {i}: mask size {:?} but the image is {w}x{h}",
                        d.mask.size()
                    ),
                ));
            }
        }
        let depth = self
            .depth
            .as_deref()
            .map(|p| read_depth(p, self.invert_depth))
            .transpose()?;
        Ok(Perception {
            detections,
            depth_source: depth.as_ref().map(|_| DepthSource::Import),
            depth,
        })
    }
}
