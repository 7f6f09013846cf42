//! COCO instances JSON (`images`, `annotations`, `categories`), and the image twin its
//! annotations describe (the upper bound a perception backend could reach).

use crate::error::{read_json, DataError};
use dtr1_rle::Rle;
use dtr1_twin::{relations, ImageTwin, Object};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One image record.
#[derive(Debug, Clone, Deserialize)]
pub struct CocoImage {
    /// Image id.
    pub id: u64,
    /// File name, relative to the image directory.
    pub file_name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A segmentation: polygons (`iscrowd = 0`) or RLE (`iscrowd = 1`, list or string counts).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Segmentation {
    /// One or more polygons `[x0, y0, x1, y1, …]`.
    Polygons(Vec<Vec<f64>>),
    /// A run-length encoded mask.
    Rle(Rle),
}

/// One annotation record.
#[derive(Debug, Clone, Deserialize)]
pub struct CocoAnnotation {
    /// Annotation id.
    pub id: u64,
    /// The image it belongs to.
    pub image_id: u64,
    /// Its category.
    pub category_id: u64,
    /// `[x, y, w, h]`.
    pub bbox: [f64; 4],
    /// Crowd region flag.
    #[serde(default)]
    pub iscrowd: u8,
    /// The mask, when annotated.
    #[serde(default)]
    pub segmentation: Option<Segmentation>,
}

/// One category record.
#[derive(Debug, Clone, Deserialize)]
pub struct CocoCategory {
    /// Category id.
    pub id: u64,
    /// Its name.
    pub name: String,
}

/// A COCO instances file, indexed.
#[derive(Debug, Clone, Deserialize)]
pub struct CocoInstances {
    /// Images.
    pub images: Vec<CocoImage>,
    /// Annotations.
    pub annotations: Vec<CocoAnnotation>,
    /// Categories.
    #[serde(default)]
    pub categories: Vec<CocoCategory>,
    #[serde(skip)]
    path: PathBuf,
    #[serde(skip)]
    image_index: HashMap<u64, usize>,
    #[serde(skip)]
    ann_index: HashMap<u64, usize>,
}

impl CocoInstances {
    /// Loads and checks an instances file (unique ids, annotations pointing at images).
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let mut c: CocoInstances = read_json(path)?;
        c.path = path.to_path_buf();
        for (i, im) in c.images.iter().enumerate() {
            if c.image_index.insert(im.id, i).is_some() {
                return Err(DataError::invalid(
                    path,
                    format!("images[{i}]: image id {} is repeated", im.id),
                ));
            }
        }
        for (i, a) in c.annotations.iter().enumerate() {
            if !c.image_index.contains_key(&a.image_id) {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "annotations[{i}] (id {}): image_id {} is not in images",
                        a.id, a.image_id
                    ),
                ));
            }
            if c.ann_index.insert(a.id, i).is_some() {
                return Err(DataError::invalid(
                    path,
                    format!("annotations[{i}]: annotation id {} is repeated", a.id),
                ));
            }
        }
        Ok(c)
    }

    /// The image with this id.
    pub fn image(&self, id: u64) -> Option<&CocoImage> {
        self.image_index.get(&id).map(|&i| &self.images[i])
    }

    /// The annotation with this id.
    pub fn annotation(&self, id: u64) -> Option<&CocoAnnotation> {
        self.ann_index.get(&id).map(|&i| &self.annotations[i])
    }

    /// A category's name (`category_N` when the file lists no categories).
    pub fn category_name(&self, id: u64) -> String {
        self.categories
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| format!("category_{id}"), |c| c.name.clone())
    }

    /// An annotation's mask, rasterised as pycocotools `annToRLE` does (polygons merged,
    /// RLE checked against the image size); the box when there is no segmentation.
    pub fn mask(&self, ann: &CocoAnnotation) -> Result<Rle, DataError> {
        let im = self.image(ann.image_id).ok_or_else(|| {
            DataError::invalid(
                &self.path,
                format!("annotation {}: no image {}", ann.id, ann.image_id),
            )
        })?;
        let (h, w) = (im.height, im.width);
        let bad = |e: dtr1_rle::RleError| {
            DataError::invalid(&self.path, format!("annotation {}: {e}", ann.id))
        };
        match &ann.segmentation {
            Some(Segmentation::Polygons(p)) if !p.is_empty() => {
                Rle::from_polygons(p, h, w).map_err(bad)
            }
            Some(Segmentation::Rle(r)) => {
                if r.size() != [h, w] {
                    return Err(DataError::invalid(
                        &self.path,
                        format!(
                            "annotation {}: RLE size {:?} but image {} is [{h}, {w}]",
                            ann.id,
                            r.size(),
                            im.id
                        ),
                    ));
                }
                Ok(r.clone())
            }
            _ => Rle::from_bbox(ann.bbox, h, w).map_err(bad),
        }
    }

    /// The twin of one image from its annotations: one object per annotation (id = the
    /// annotation id), mask-derived box/area/centroid, relations derived geometrically
    /// (no depth: COCO has none).
    pub fn twin(&self, image_id: u64, max_relations: usize) -> Result<ImageTwin, DataError> {
        let im = self.image(image_id).ok_or_else(|| {
            DataError::invalid(&self.path, format!("no image with id {image_id}"))
        })?;
        let mut t = ImageTwin::new(im.width, im.height);
        for a in self.annotations.iter().filter(|a| a.image_id == image_id) {
            let id = u32::try_from(a.id).map_err(|_| {
                DataError::invalid(
                    &self.path,
                    format!("annotation id {} does not fit a twin id (u32)", a.id),
                )
            })?;
            let mask = self.mask(a)?;
            if mask.area() == 0 {
                continue;
            }
            t.objects.push(Object::from_mask(
                id,
                self.category_name(a.category_id),
                mask,
            ));
        }
        relations::derive(&mut t, max_relations);
        Ok(t)
    }
}
