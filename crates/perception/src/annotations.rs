//! The `annotations` backend: objects from ground truth instead of perception — the upper
//! bound of every other backend, and the way training twins are made when perception is not
//! the point.
//!
//! Formats (loaded through `dtr1-data` where it has a loader):
//! - `twinbench`: a TwinBench twin JSON (`twins/scene_N.json`): masks, labels, attributes
//!   (colour, size, material) and per-object depth, painted into a depth map;
//! - `coco`: COCO instances JSON and an image id (pycocotools-exact polygon rasterisation);
//! - `reasonseg`: a LISA ReasonSeg JSON: one `target` object (the union of the target
//!   polygons, rasterised as LISA does) — ReasonSeg annotates the answer, not every instance;
//! - `revos`: a ReVOS `mask_dict.json` at one frame: one object per annotation id.
//!
//! The files are read when the backend is made, so a bad file fails early; each image is
//! checked against the annotation's size when perceived.

use crate::pipeline::AnnotationsSection;
use crate::{
    Backend, DepthMap, DepthSource, Describer, Detection, MaskSource, Perception, PerceptionError,
    Size,
};
use dtr1_rle::Rle;
use dtr1_twin::{ImageTwin, Twin};
use image::RgbImage;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The annotation formats the backend reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationFormat {
    /// A TwinBench (or any dt-r1) image twin JSON.
    Twinbench,
    /// COCO instances JSON.
    Coco,
    /// LISA ReasonSeg JSON.
    Reasonseg,
    /// ReVOS `mask_dict.json`.
    Revos,
}

/// One annotated object.
#[derive(Debug, Clone, PartialEq)]
struct Annotated {
    label: String,
    mask: Rle,
    depth: Option<f64>,
    attributes: Vec<(String, String)>,
}

/// The `annotations` backend, with its ground truth loaded.
#[derive(Debug, Clone)]
pub struct Annotations {
    source: String,
    size: (u32, u32),
    objects: Vec<Annotated>,
}

fn file_err(path: &Path, message: impl ToString) -> PerceptionError {
    PerceptionError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

#[derive(Deserialize)]
struct LisaShape {
    label: String,
    points: Vec<[f64; 2]>,
}

#[derive(Deserialize)]
struct Lisa {
    shapes: Vec<LisaShape>,
}

impl Annotations {
    /// Loads the annotations a configuration section names. `reasonseg` needs the image size,
    /// which it takes from the `.jpg` beside the JSON.
    pub fn from_section(s: &AnnotationsSection) -> Result<Self, PerceptionError> {
        let path = s.path.as_path();
        match s.format {
            AnnotationFormat::Twinbench => Self::twin_file(path),
            AnnotationFormat::Coco => {
                let id = s.image_id.ok_or(PerceptionError::MissingSetting {
                    choice: "annotations format `coco`",
                    key: "image_id",
                    section: "perception.annotations",
                })?;
                Self::coco(path, id)
            }
            AnnotationFormat::Reasonseg => {
                let img = path.with_extension("jpg");
                let (w, h) = image::image_dimensions(&img)
                    .map_err(|e| file_err(&img, format!("cannot read the image size: {e}")))?;
                Self::reasonseg(path, w, h)
            }
            AnnotationFormat::Revos => Self::revos(path, &s.anno_ids, s.frame),
        }
    }

    /// From an image twin: its objects with masks (objects without a mask are skipped).
    pub fn from_twin(twin: &ImageTwin, source: &str) -> Self {
        let objects = twin
            .objects
            .iter()
            .filter_map(|o| {
                o.mask.clone().map(|mask| Annotated {
                    label: o.label.clone(),
                    mask,
                    depth: o.depth.map(|d| d.mean),
                    attributes: o
                        .attributes
                        .pairs()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                })
            })
            .collect();
        Annotations {
            source: source.into(),
            size: (twin.width, twin.height),
            objects,
        }
    }

    /// From a twin JSON file (TwinBench `twins/scene_N.json`).
    pub fn twin_file(path: &Path) -> Result<Self, PerceptionError> {
        let text = std::fs::read_to_string(path).map_err(|e| file_err(path, e))?;
        match Twin::from_json(&text) {
            Ok(Twin::Image(t)) => Ok(Self::from_twin(&t, "twinbench")),
            Ok(Twin::Video(_)) => Err(file_err(path, "a video twin, not an image twin")),
            Err(e) => Err(file_err(path, format!("not a twin: {e}"))),
        }
    }

    /// From COCO instances: the annotations of image `image_id`.
    pub fn coco(path: &Path, image_id: u64) -> Result<Self, PerceptionError> {
        let c = dtr1_data::coco::CocoInstances::load(path).map_err(PerceptionError::Data)?;
        let t = c.twin(image_id, 0).map_err(PerceptionError::Data)?;
        let mut a = Self::from_twin(&t, "coco");
        a.source = "coco".into();
        Ok(a)
    }

    /// From a LISA ReasonSeg JSON for an image of `w × h`: one `target` object.
    pub fn reasonseg(path: &Path, w: u32, h: u32) -> Result<Self, PerceptionError> {
        let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
        // LISA's files are UTF-8 or Windows-1252; only the shapes matter here, whose labels
        // and numbers are ASCII, so a lossy decode keeps them intact.
        let text = String::from_utf8_lossy(&bytes);
        let ann: Lisa = serde_json::from_str(&text)
            .map_err(|e| file_err(path, format!("not a ReasonSeg JSON: {e}")))?;
        for (i, s) in ann.shapes.iter().enumerate() {
            for p in &s.points {
                let inside =
                    (0.0..=f64::from(w)).contains(&p[0]) && (0.0..=f64::from(h)).contains(&p[1]);
                if !inside {
                    return Err(file_err(
                        path,
                        format!("shapes[{i}]: point {p:?} is outside the {w}x{h} image"),
                    ));
                }
            }
        }
        let shapes: Vec<(String, Vec<[f64; 2]>)> = ann
            .shapes
            .into_iter()
            .map(|s| (s.label, s.points))
            .collect();
        let dense = dtr1_data::raster::reasonseg_mask(w, h, &shapes);
        let target: Vec<u8> = dense.iter().map(|&v| u8::from(v == 1)).collect();
        let mask = Rle::encode_row_major(h, w, &target)
            .map_err(|e| file_err(path, format!("mask: {e}")))?;
        let objects = if mask.area() > 0 {
            vec![Annotated {
                label: "target".into(),
                mask,
                depth: None,
                attributes: Vec::new(),
            }]
        } else {
            Vec::new()
        };
        Ok(Annotations {
            source: "reasonseg".into(),
            size: (w, h),
            objects,
        })
    }

    /// From a ReVOS `mask_dict.json` at `frame`: one object per annotation id (those of
    /// `anno_ids`, or all), labelled `object_<id>`; `null` entries are skipped.
    pub fn revos(path: &Path, anno_ids: &[String], frame: usize) -> Result<Self, PerceptionError> {
        let text = std::fs::read_to_string(path).map_err(|e| file_err(path, e))?;
        let dict: BTreeMap<String, Vec<Option<Rle>>> = serde_json::from_str(&text)
            .map_err(|e| file_err(path, format!("not a ReVOS mask_dict: {e}")))?;
        let mut objects = Vec::new();
        let mut size: Option<[u32; 2]> = None;
        let ids: Vec<&String> = if anno_ids.is_empty() {
            dict.keys().collect()
        } else {
            anno_ids.iter().collect()
        };
        for id in ids {
            let masks = dict
                .get(id)
                .ok_or_else(|| file_err(path, format!("no annotation id {id}")))?;
            let m = masks.get(frame).ok_or_else(|| {
                file_err(
                    path,
                    format!(
                        "annotation {id} has {} frames, not {}",
                        masks.len(),
                        frame + 1
                    ),
                )
            })?;
            if let Some(m) = m {
                if let Some(s) = size {
                    if s != m.size() {
                        return Err(file_err(
                            path,
                            format!(
                                "annotation {id}: mask size {:?} differs from {s:?}",
                                m.size()
                            ),
                        ));
                    }
                }
                size = Some(m.size());
                if m.area() > 0 {
                    objects.push(Annotated {
                        label: format!("object_{id}"),
                        mask: m.clone(),
                        depth: None,
                        attributes: Vec::new(),
                    });
                }
            }
        }
        let [h, w] = size.ok_or_else(|| file_err(path, format!("no mask at frame {frame}")))?;
        Ok(Annotations {
            source: "revos".into(),
            size: (w, h),
            objects,
        })
    }
}

impl Backend for Annotations {
    fn name(&self) -> &str {
        "annotations"
    }

    fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError> {
        let (w, h) = image.dimensions();
        if (w, h) != self.size {
            return Err(PerceptionError::SizeMismatch {
                what: format!("the image of the {} annotations", self.source),
                size: Size::new(self.size.0, self.size.1),
                other: "the image given",
                expected: Size::new(w, h),
            });
        }
        for (i, o) in self.objects.iter().enumerate() {
            if o.mask.size() != [h, w] {
                return Err(PerceptionError::SizeMismatch {
                    what: format!("annotation {i} ({})'s mask", o.label),
                    size: Size::of_mask(&o.mask),
                    other: "the image",
                    expected: Size::new(w, h),
                });
            }
            if o.depth.is_some_and(|d| !d.is_finite()) {
                return Err(PerceptionError::NonFinite {
                    what: format!("depth of annotation {i} ({})", o.label),
                });
            }
        }
        let detections = self
            .objects
            .iter()
            .map(|o| Detection {
                label: o.label.clone(),
                score: 1.0,
                mask: o.mask.clone(),
                mask_source: MaskSource::Annotation,
            })
            .collect();
        // Ground truth gives one depth per object: paint it into a map (background at the
        // farthest annotated depth), so the builder's statistics reproduce it.
        let depth = if self.objects.iter().any(|o| o.depth.is_some()) {
            let far = self
                .objects
                .iter()
                .filter_map(|o| o.depth)
                .fold(f64::MIN, f64::max);
            let mut values = vec![far as f32; w as usize * h as usize];
            for o in &self.objects {
                if let Some(d) = o.depth {
                    for (v, m) in values.iter_mut().zip(o.mask.decode_row_major()) {
                        if m != 0 {
                            *v = d as f32;
                        }
                    }
                }
            }
            Some(DepthMap {
                width: w,
                height: h,
                values,
            })
        } else {
            None
        };
        Ok(Perception {
            detections,
            depth_source: depth.as_ref().map(|_| DepthSource::Annotation),
            depth,
        })
    }
}

impl Describer for Annotations {
    fn name(&self) -> &str {
        "annotations"
    }

    /// The annotated attributes of the object with exactly this mask and label (none for
    /// detections that are not annotated objects).
    fn describe(
        &self,
        _: &RgbImage,
        det: &Detection,
        _: Option<&DepthMap>,
    ) -> Result<Vec<(String, String)>, PerceptionError> {
        Ok(self
            .objects
            .iter()
            .find(|o| o.label == det.label && o.mask == det.mask)
            .map(|o| o.attributes.clone())
            .unwrap_or_default())
    }
}
