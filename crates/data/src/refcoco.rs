//! RefCOCO / RefCOCO+ / RefCOCOg in the refer toolkit's format: `refs(unc).p` (a Python
//! pickle, protocol 2) or the same list as JSON, with boxes and masks from the COCO
//! `instances.json` beside it. Each sentence becomes one grounding [`Sample`].

use crate::coco::CocoInstances;
use crate::error::{read, DataError};
use crate::{GroundTruth, Media, Sample, Task};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One referring sentence.
#[derive(Debug, Clone, Deserialize)]
pub struct Sentence {
    /// Sentence id.
    pub sent_id: u64,
    /// The normalised sentence.
    pub sent: String,
    /// The raw sentence.
    #[serde(default)]
    pub raw: Option<String>,
    /// Tokens.
    #[serde(default)]
    pub tokens: Vec<String>,
}

/// One ref: an annotation and the sentences that refer to it.
#[derive(Debug, Clone, Deserialize)]
pub struct Ref {
    /// Ref id.
    pub ref_id: u64,
    /// The COCO annotation referred to.
    pub ann_id: u64,
    /// The COCO image.
    pub image_id: u64,
    /// The annotation's category.
    pub category_id: u64,
    /// `train`, `val`, `testA`, `testB` or `test`.
    pub split: String,
    /// The ref's file name (the COCO image name with the annotation id appended).
    #[serde(default)]
    pub file_name: Option<String>,
    /// The sentences.
    pub sentences: Vec<Sentence>,
}

/// Reads refs from a pickle (`.p`) or JSON file.
pub fn load_refs(path: &Path) -> Result<Vec<Ref>, DataError> {
    let bytes = read(path)?;
    if path.extension().is_some_and(|e| e == "p" || e == "pkl") {
        // Python 2 pickles hold byte strings; decode them as UTF-8.
        let opts = serde_pickle::DeOptions::new().decode_strings();
        serde_pickle::from_slice(&bytes, opts).map_err(|e| DataError::Pickle {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    } else {
        serde_json::from_slice(&bytes).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Grounding samples of one split (all splits with `None`): one per sentence, the target
/// box being the annotation's COCO box converted to `[x1, y1, x2, y2]`.
pub fn samples(
    refs: &[Ref],
    instances: &CocoInstances,
    image_dir: &Path,
    split: Option<&str>,
    source: &str,
) -> Result<Vec<Sample>, DataError> {
    let mut out = Vec::new();
    for r in refs.iter().filter(|r| split.is_none_or(|s| r.split == s)) {
        let ann = instances.annotation(r.ann_id).ok_or_else(|| {
            DataError::invalid(
                image_dir,
                format!(
                    "ref {}: annotation {} is not in the instances file",
                    r.ref_id, r.ann_id
                ),
            )
        })?;
        if ann.image_id != r.image_id {
            return Err(DataError::invalid(
                image_dir,
                format!(
                    "ref {}: annotation {} belongs to image {}, not {}",
                    r.ref_id, r.ann_id, ann.image_id, r.image_id
                ),
            ));
        }
        let im = instances
            .image(r.image_id)
            .expect("checked when the instances were loaded");
        let [x, y, w, h] = ann.bbox;
        let id = u32::try_from(ann.id).ok();
        for s in &r.sentences {
            let mut meta = BTreeMap::new();
            meta.insert("ref_id".into(), r.ref_id.to_string());
            meta.insert("ann_id".into(), r.ann_id.to_string());
            out.push(Sample {
                id: format!("{source}/{}/{}", r.ref_id, s.sent_id),
                task: Task::ImageGrounding,
                query: s.sent.clone(),
                media: Media::Image {
                    path: image_dir.join(&im.file_name),
                    width: im.width,
                    height: im.height,
                },
                truth: GroundTruth::Box {
                    bbox: [x, y, x + w, y + h],
                    ids: id.map(|i| vec![i]),
                },
                category: None,
                level: None,
                spec: None,
                twin: None,
                source: format!("{source}/{}", r.split),
                meta,
            });
        }
    }
    Ok(out)
}
