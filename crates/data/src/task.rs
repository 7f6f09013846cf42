//! The six benchmarks and what their answers are scored against.

use dtr1_rle::Rle;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The six benchmarks of dt-r1 (two modalities × four task types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Image reasoning segmentation: answer = object ids; metric gIoU, cIoU.
    ImageReasonseg,
    /// Image grounding: answer = one object id, or `{"box": [x1, y1, x2, y2]}`; metric Acc@0.5.
    ImageGrounding,
    /// Image VQA: answer = short text; metric VQA accuracy.
    ImageVqa,
    /// Video reasoning segmentation: answer = track ids; metric J&F.
    VideoReasonseg,
    /// Video VQA: answer = short text; metric accuracy.
    VideoVqa,
    /// Video summary: answer = free text; metrics ROUGE-L, CIDEr-D, BLEU-4.
    VideoSummary,
}

impl Task {
    /// Every task, in benchmark order.
    pub const ALL: [Task; 6] = [
        Task::ImageReasonseg,
        Task::ImageGrounding,
        Task::ImageVqa,
        Task::VideoReasonseg,
        Task::VideoVqa,
        Task::VideoSummary,
    ];

    /// The benchmark name (`image-reasonseg`, …).
    pub fn name(self) -> &'static str {
        match self {
            Task::ImageReasonseg => "image-reasonseg",
            Task::ImageGrounding => "image-grounding",
            Task::ImageVqa => "image-vqa",
            Task::VideoReasonseg => "video-reasonseg",
            Task::VideoVqa => "video-vqa",
            Task::VideoSummary => "video-summary",
        }
    }

    /// Parses a benchmark name.
    pub fn from_name(s: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Whether the answer is a list of object/track ids.
    pub fn answers_with_ids(self) -> bool {
        matches!(
            self,
            Task::ImageReasonseg | Task::ImageGrounding | Task::VideoReasonseg
        )
    }

    /// The type of ground truth (its JSON `"type"`, [`GroundTruth::type_name`]) the task is
    /// scored against.
    pub fn truth_type(self) -> &'static str {
        match self {
            Task::ImageReasonseg => "mask",
            Task::ImageGrounding => "box",
            Task::ImageVqa | Task::VideoVqa => "answers",
            Task::VideoReasonseg => "video_masks",
            Task::VideoSummary => "summaries",
        }
    }

    /// Whether the task is about a video.
    pub fn is_video(self) -> bool {
        matches!(
            self,
            Task::VideoReasonseg | Task::VideoVqa | Task::VideoSummary
        )
    }
}

/// What an answer is scored against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GroundTruth {
    /// Target mask of an image, and (when known) the ids of the objects that make it up.
    ///
    /// In every variant `ids` names, when known, the objects (tracks) the query is about: the
    /// targets of a segmentation or grounding query, the objects a question or a summary
    /// needs. The reward pays a sub-twin for covering them ([`GroundTruth::relevant_ids`]).
    Mask {
        /// Target mask.
        mask: Rle,
        /// Pixels to leave out of scoring (ReasonSeg's `ignore` regions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ignore: Option<Rle>,
        /// Target object ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<u32>>,
    },
    /// Target box `[x1, y1, x2, y2]` (max exclusive).
    Box {
        /// Target box.
        bbox: [f64; 4],
        /// Target object ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<u32>>,
    },
    /// Annotator answers (10 for VQA soft accuracy; otherwise any number, best match counts).
    Answers {
        /// The answers.
        answers: Vec<String>,
        /// The objects (tracks) the question is about, when known: those a sub-twin needs to
        /// answer it (e.g. every object of the colour a count asks about; empty when the
        /// answer is "none of them").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<u32>>,
    },
    /// Per-frame target masks of a video (frames absent from the map are empty).
    VideoMasks {
        /// Target mask per frame index.
        #[serde(deserialize_with = "frame_map")]
        masks: BTreeMap<u32, Rle>,
        /// Target track ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<u32>>,
    },
    /// Reference summaries.
    Summaries {
        /// The references.
        references: Vec<String>,
        /// The tracks that take part in the events a summary tells, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<u32>>,
    },
}

impl GroundTruth {
    /// The target object/track ids of an id answer (segmentation, grounding), when known.
    pub fn target_ids(&self) -> Option<&[u32]> {
        match self {
            GroundTruth::Mask { ids, .. }
            | GroundTruth::Box { ids, .. }
            | GroundTruth::VideoMasks { ids, .. } => ids.as_deref(),
            _ => None,
        }
    }

    /// The objects (tracks) the query is about, when known: the targets of an id answer,
    /// the objects a question or summary needs otherwise.
    pub fn relevant_ids(&self) -> Option<&[u32]> {
        match self {
            GroundTruth::Mask { ids, .. }
            | GroundTruth::Box { ids, .. }
            | GroundTruth::VideoMasks { ids, .. }
            | GroundTruth::Answers { ids, .. }
            | GroundTruth::Summaries { ids, .. } => ids.as_deref(),
        }
    }

    /// The name of the variant as it appears in JSON (`"type"`).
    pub fn type_name(&self) -> &'static str {
        match self {
            GroundTruth::Mask { .. } => "mask",
            GroundTruth::Box { .. } => "box",
            GroundTruth::Answers { .. } => "answers",
            GroundTruth::VideoMasks { .. } => "video_masks",
            GroundTruth::Summaries { .. } => "summaries",
        }
    }
}

/// Reads a `{"frame": RLE}` map. Needed by hand because inside an internally tagged enum serde
/// buffers the JSON object keys as strings and cannot turn them into integers itself.
fn frame_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<u32, Rle>, D::Error> {
    let raw: BTreeMap<String, Rle> = BTreeMap::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            k.parse::<u32>().map(|f| (f, v)).map_err(|_| {
                serde::de::Error::custom(format!("frame key {k:?} is not a frame number"))
            })
        })
        .collect()
}

/// Whether a summary tells an event: every appearance after the first frame, every leave,
/// start, stop and collision (not the objects present from the start, not occlusions). The
/// generator's reference summaries and the reward's event match both follow this rule.
pub fn is_told(e: &dtr1_twin::Event) -> bool {
    use dtr1_twin::EventKind;
    match e.kind {
        EventKind::Appear => e.frame > 0,
        EventKind::Leave | EventKind::Start | EventKind::Stop | EventKind::Collide => true,
        EventKind::Occlude => false,
    }
}
