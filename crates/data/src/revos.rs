//! ReVOS (and MeViS-style) referring/reasoning video segmentation:
//! `meta_expressions_*.json` + `mask_dict.json`. Each expression becomes one
//! video-reasonseg [`Sample`] whose per-frame target is the union of its `anno_id` masks
//! (a `null` entry is an empty mask).

use crate::error::{read_json, DataError};
use crate::{GroundTruth, Media, Sample, Task};
use dtr1_rle::Rle;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One expression of a video.
#[derive(Debug, Clone, Deserialize)]
pub struct Expression {
    /// The expression text.
    pub exp: String,
    /// Object ids it refers to.
    #[serde(default)]
    pub obj_id: Vec<i64>,
    /// Annotation ids whose masks make up the target.
    #[serde(default)]
    pub anno_id: Vec<i64>,
    /// 0 = referring, 1 = reasoning, 2 = no target.
    #[serde(default)]
    pub type_id: u8,
}

/// One video of the meta file.
#[derive(Debug, Clone, Deserialize)]
pub struct VideoMeta {
    /// Numeric video id.
    #[serde(default)]
    pub vid_id: Option<i64>,
    /// Frame names (without extension).
    pub frames: Vec<String>,
    /// Expressions by id.
    pub expressions: BTreeMap<String, Expression>,
}

#[derive(Deserialize)]
struct Meta {
    videos: BTreeMap<String, VideoMeta>,
}

/// Loads every expression as a sample. Frames are `root/JPEGImages/VIDEO/FRAME.jpg` with
/// the frame names sorted, as the reference loader does.
pub fn samples(
    meta_path: &Path,
    mask_dict_path: &Path,
    root: &Path,
    source: &str,
) -> Result<Vec<Sample>, DataError> {
    let meta: Meta = read_json(meta_path)?;
    let masks: BTreeMap<String, Vec<Option<Rle>>> = read_json(mask_dict_path)?;
    let mut out = Vec::new();
    for (vid, v) in &meta.videos {
        let mut frames = v.frames.clone();
        frames.sort();
        for (eid, e) in &v.expressions {
            let at = format!("videos.{vid}.expressions.{eid}");
            let mut per_frame: BTreeMap<u32, Rle> = BTreeMap::new();
            let mut size: Option<[u32; 2]> = None;
            for a in &e.anno_id {
                let list = masks.get(&a.to_string()).ok_or_else(|| {
                    DataError::invalid(
                        mask_dict_path,
                        format!("{at}: anno_id {a} is not in the mask dict"),
                    )
                })?;
                if list.len() != frames.len() {
                    return Err(DataError::invalid(
                        mask_dict_path,
                        format!(
                            "anno_id {a} has {} masks but video {vid} has {} frames",
                            list.len(),
                            frames.len()
                        ),
                    ));
                }
                for (f, m) in list.iter().enumerate() {
                    let Some(m) = m else { continue };
                    if *size.get_or_insert(m.size()) != m.size() {
                        return Err(DataError::invalid(
                            mask_dict_path,
                            format!(
                                "anno_id {a}, frame {f}: mask size {:?} differs from {:?}",
                                m.size(),
                                size
                            ),
                        ));
                    }
                    let f = f as u32;
                    let merged = match per_frame.remove(&f) {
                        Some(prev) => {
                            dtr1_rle::merge(&[prev, m.clone()], false).map_err(|err| {
                                DataError::invalid(mask_dict_path, format!("anno_id {a}: {err}"))
                            })?
                        }
                        None => m.clone(),
                    };
                    per_frame.insert(f, merged);
                }
            }
            per_frame.retain(|_, m| m.area() > 0);
            let frame_paths: Vec<_> = frames
                .iter()
                .map(|f| root.join("JPEGImages").join(vid).join(format!("{f}.jpg")))
                .collect();
            let (height, width) = match size {
                Some([h, w]) => (h, w),
                None => match frame_paths.first() {
                    // No target anywhere (type 2): the size comes from the first frame.
                    Some(p) => {
                        let (w, h) = crate::error::image_size(p)?;
                        (h, w)
                    }
                    None => {
                        return Err(DataError::invalid(
                            meta_path,
                            format!("videos.{vid}: no frames"),
                        ))
                    }
                },
            };
            let ids: Vec<u32> = e
                .obj_id
                .iter()
                .filter_map(|&i| u32::try_from(i).ok())
                .collect();
            let mut m = BTreeMap::new();
            m.insert("type_id".into(), e.type_id.to_string());
            m.insert("video".into(), vid.clone());
            out.push(Sample {
                id: format!("{source}/{vid}/{eid}"),
                task: Task::VideoReasonseg,
                query: e.exp.clone(),
                media: Media::Video {
                    frames: frame_paths,
                    fps: None,
                    width,
                    height,
                },
                truth: GroundTruth::VideoMasks {
                    masks: per_frame,
                    ids: (!ids.is_empty()).then_some(ids),
                },
                // ReVOS's own labels (referring / reasoning / no target) are kept in `meta`;
                // they do not map onto dt-r1's categories.
                category: None,
                level: None,
                spec: None,
                twin: None,
                source: source.into(),
                meta: m,
            });
        }
    }
    Ok(out)
}
