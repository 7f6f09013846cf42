//! The common [`Sample`] every loader produces and everything downstream consumes.

use crate::GroundTruth;
use crate::QuerySpec;
use crate::Task;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Reasoning category of a query (RVTBench-style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Knowledge about objects (function, material, affordance).
    Semantic,
    /// Positions and sizes.
    Spatial,
    /// Order and change over time.
    Temporal,
}

/// The picture or clip a query is about. Paths are relative to the dataset's manifest
/// directory when stored, absolute once loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Media {
    /// One image file.
    Image {
        /// Image path.
        path: PathBuf,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A video as a sequence of frame images, in order.
    Video {
        /// Frame paths.
        frames: Vec<PathBuf>,
        /// Frames per second, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fps: Option<f64>,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
}

/// One query with its media and ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Unique within its dataset.
    pub id: String,
    /// Which benchmark it belongs to.
    pub task: Task,
    /// The (usually implicit) query.
    pub query: String,
    /// The media.
    pub media: Media,
    /// What the answer is scored against.
    pub truth: GroundTruth,
    /// Reasoning category, when labelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Difficulty level 1–4, when labelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// The query's meaning, for generated (TwinBench) samples; public formats have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<QuerySpec>,
    /// The ground-truth twin (relative path), when the source provides one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twin: Option<PathBuf>,
    /// Where the sample came from (e.g. `reasonseg/val`, `refcoco/unc/testA`).
    pub source: String,
    /// Anything else worth keeping (e.g. `type_id` of ReVOS, `is_sentence` of ReasonSeg).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}
