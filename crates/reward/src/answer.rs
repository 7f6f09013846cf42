//! The answer layer: what a rollout answers, decoded against the input twin.
//!
//! Every consumer of a completion — the reward ([`crate::score`]), `dtr1 eval`, `dtr1 ask`
//! and `/v1/ask` in `dtr1 serve` — reads the answer here, so they cannot disagree on what it
//! means:
//!
//! - the `<answer>` block is parsed in the task's grammar ([`crate::accuracy::parse_answer`]);
//! - cited ids that the input twin lacks are left out of the decoding and named as
//!   [`Problem::CitedNotInTwin`] (the reward, which is strict, makes such an answer
//!   malformed: [`Reading::strict`]);
//! - ids decode to the union of the cited objects' masks (segmentation, [`image_mask`]), the
//!   union of the cited tracks' masks per frame (video, [`frame_masks`]), or the union box of
//!   the cited objects (grounding, [`union_box`]); a written box or text decodes to itself;
//! - the ids the `<twin>` block lists are compared with the input twin and the cited ids,
//!   each mismatch a typed [`Problem`].
//!
//! The reward decodes only the part of the answer that the sub-twin supports
//! ([`crate::accuracy::supported`]) and `dtr1 eval` decodes all of it, but both with the
//! functions below.

use crate::accuracy::{self, Answer};
use crate::rollout::{self, Parsed};
use crate::{structure, Task};
use dtr1_rle::Rle;
use dtr1_twin::{ImageTwin, Twin, VideoTwin};
use std::collections::BTreeMap;
use std::fmt;

/// What an id names in a twin: an object of an image twin or a track of a video twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// An object of an image twin.
    Object,
    /// A track of a video twin.
    Track,
}

impl Unit {
    /// The unit of `twin`'s ids.
    pub fn of(twin: &Twin) -> Unit {
        match twin {
            Twin::Image(_) => Unit::Object,
            Twin::Video(_) => Unit::Track,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Object => "object",
            Unit::Track => "track",
        })
    }
}

/// An id of a rollout that does not fit the input twin or the rollout's own sub-twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The `<twin>` block lists an id that the input twin does not have.
    ListedNotInTwin {
        /// The id.
        id: u32,
        /// What it would name.
        unit: Unit,
    },
    /// The answer cites an id that the input twin does not have.
    CitedNotInTwin {
        /// The id.
        id: u32,
        /// What it would name.
        unit: Unit,
    },
    /// The answer cites an id of the input twin that the `<twin>` block does not list.
    CitedNotInSubTwin {
        /// The id.
        id: u32,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ListedNotInTwin { id, unit } => write!(
                f,
                "the <twin> block lists {unit} id {id}, which is not in the input twin"
            ),
            Problem::CitedNotInTwin { id, unit } => {
                write!(f, "cited id {id} is not in the input twin (no such {unit})")
            }
            Problem::CitedNotInSubTwin { id } => {
                write!(
                    f,
                    "cited id {id} is not in the <twin> block the model wrote"
                )
            }
        }
    }
}

/// What an answer decodes to against the input twin.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Image segmentation: the union of the cited objects' masks.
    Mask(Rle),
    /// Video: the union of the cited tracks' masks on each frame where one has a mask.
    FrameMasks(BTreeMap<u32, Rle>),
    /// Grounding: the union box `[x1, y1, x2, y2]` of the cited objects, or the box written.
    Box([f64; 4]),
    /// VQA and summaries: the text answered.
    Text(String),
    /// Nothing: an empty or malformed answer, or ids none of which carries a mask or box.
    Nothing,
}

/// A rollout read against its input twin: the one reading every consumer shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The rollout's blocks and format problems.
    pub rollout: Parsed,
    /// The `<answer>` block in the task's grammar, ids as written (an absent block reads as
    /// [`Answer::Empty`]).
    pub answer: Answer,
    /// The cited ids that exist in the input twin, in the order written.
    pub cited: Vec<u32>,
    /// The ids the `<twin>` block lists, in order (`None` when there is no block or it is
    /// not a sub-twin); an entry whose id cannot be read is left out.
    pub listed: Option<Vec<u32>>,
    /// What the answer decodes to, from [`Reading::cited`].
    pub decoded: Decoded,
    /// Each id that does not fit, in the order found: listed ids first, then cited ones.
    pub problems: Vec<Problem>,
}

impl Reading {
    /// The answer as the reward takes it: ids the input twin lacks make it malformed
    /// ([`accuracy::require_existing`]).
    pub fn strict(&self, twin: &Twin) -> Answer {
        accuracy::require_existing(self.answer.clone(), twin)
    }
}

/// Whether `twin` has an object or track `id`.
pub fn exists(twin: &Twin, id: u32) -> bool {
    match twin {
        Twin::Image(t) => t.object(id).is_some(),
        Twin::Video(v) => v.track(id).is_some(),
    }
}

/// The ids an answer cites that exist in the twin, in the order written (none for a box or
/// text answer).
pub fn cited(answer: &Answer, twin: &Twin) -> Vec<u32> {
    let Answer::Ids(ids) = answer else {
        return vec![];
    };
    ids.iter().copied().filter(|id| exists(twin, *id)).collect()
}

/// The union of masks of one size (`None` for no mask; a merge that fails is empty).
fn union(masks: &[Rle], h: u32, w: u32) -> Option<Rle> {
    match masks {
        [] => None,
        _ => Some(dtr1_rle::merge(masks, false).unwrap_or_else(|_| Rle::empty(h, w))),
    }
}

/// The union of the masks of the objects `ids` names (`None` when none has a mask of the
/// twin's size). Ids the twin lacks are skipped.
pub fn image_mask(twin: &ImageTwin, ids: &[u32]) -> Option<Rle> {
    let masks: Vec<Rle> = ids
        .iter()
        .filter_map(|id| twin.object(*id)?.mask.clone())
        .filter(|m| m.size() == [twin.height, twin.width])
        .collect();
    union(&masks, twin.height, twin.width)
}

/// The union box of the objects `ids` names (`None` when none has a box). Ids the twin lacks
/// are skipped.
pub fn union_box(twin: &ImageTwin, ids: &[u32]) -> Option<[f64; 4]> {
    ids.iter()
        .filter_map(|id| twin.object(*id)?.bbox)
        .reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        })
}

/// Per frame of the video (`0..frames`), the union of the masks the tracks `ids` names have
/// there, on the frames where one has a mask of the twin's size. Ids the twin lacks are
/// skipped.
pub fn frame_masks(twin: &VideoTwin, ids: &[u32]) -> BTreeMap<u32, Rle> {
    let tracks: Vec<_> = ids.iter().filter_map(|id| twin.track(*id)).collect();
    (0..twin.frames)
        .filter_map(|f| {
            let parts: Vec<Rle> = tracks
                .iter()
                .filter_map(|t| t.frames.get(&f)?.mask.clone())
                .filter(|m| m.size() == [twin.height, twin.width])
                .collect();
            union(&parts, twin.height, twin.width).map(|m| (f, m))
        })
        .collect()
}

/// Decodes an answer against the twin: ids (those the twin has) to the union box on a
/// grounding task, to the union mask on another image task, to the per-frame union masks
/// on a video; a box or text to itself; anything else to [`Decoded::Nothing`].
pub fn decode(task: Task, twin: &Twin, answer: &Answer) -> Decoded {
    match (answer, twin) {
        (Answer::Ids(_), Twin::Image(t)) => {
            let ids = cited(answer, twin);
            let d = if task == Task::ImageGrounding {
                union_box(t, &ids).map(Decoded::Box)
            } else {
                image_mask(t, &ids).map(Decoded::Mask)
            };
            d.unwrap_or(Decoded::Nothing)
        }
        (Answer::Ids(_), Twin::Video(v)) => {
            Decoded::FrameMasks(frame_masks(v, &cited(answer, twin)))
        }
        (Answer::Box(b), _) => Decoded::Box(*b),
        (Answer::Text(t), _) => Decoded::Text(t.clone()),
        (Answer::Empty | Answer::Invalid(_), _) => Decoded::Nothing,
    }
}

/// Reads a completion for `task` against its input twin (see the module docs).
pub fn read(task: Task, twin: &Twin, completion: &str) -> Reading {
    let rollout = rollout::parse(completion);
    let answer = accuracy::parse_answer(task, rollout.answer.as_deref().unwrap_or(""));
    let listed = rollout
        .twin
        .as_deref()
        .and_then(|b| structure::listed_ids(b, task, twin));
    let unit = Unit::of(twin);
    let mut problems: Vec<Problem> = listed
        .iter()
        .flatten()
        .filter(|id| !exists(twin, **id))
        .map(|&id| Problem::ListedNotInTwin { id, unit })
        .collect();
    if let Answer::Ids(ids) = &answer {
        let sub = listed.as_deref().unwrap_or(&[]);
        problems.extend(ids.iter().filter_map(|&id| {
            if !exists(twin, id) {
                Some(Problem::CitedNotInTwin { id, unit })
            } else {
                (!sub.contains(&id)).then_some(Problem::CitedNotInSubTwin { id })
            }
        }));
    }
    Reading {
        cited: cited(&answer, twin),
        decoded: decode(task, twin, &answer),
        rollout,
        answer,
        listed,
        problems,
    }
}
