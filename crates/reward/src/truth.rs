//! Checks of a label before it scores anything: the ground truth fits the task and the input
//! twin, and the label stays within limits that bound the cost of scoring.
//!
//! A label that does not fit would otherwise score silently: a grounding label with a mask
//! truth gives every answer 0, a target mask of another size gives IoU 0, a frame beyond the
//! video's end is never looked at, and a twin with a million frames makes each rollout cost
//! seconds. Every such label is refused with a [`TruthError`] that names the problem; the
//! reward service answers it with 422.

use crate::{GroundTruth, Task};
use dtr1_rle::Rle;
use dtr1_twin::Twin;
use thiserror::Error;

/// Size limits of a label. The defaults are far above any benchmark's and bound the cost of
/// scoring one rollout to milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most frames of a video twin.
    pub max_frames: u32,
    /// Most objects of an image twin, or tracks of a video twin.
    pub max_objects: usize,
    /// Most events of a video twin.
    pub max_events: usize,
    /// Most annotator answers or reference summaries.
    pub max_texts: usize,
    /// Longest answer, reference or query, in characters.
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frames: 10_000,
            max_objects: 1_000,
            max_events: 10_000,
            max_texts: 100,
            max_text_chars: 20_000,
        }
    }
}

/// Why a label cannot be scored.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TruthError {
    /// The truth's type is not the one the task is scored against.
    #[error("task {task} is scored against a truth of type {expected:?}, not {got:?}")]
    WrongType {
        /// The task.
        task: &'static str,
        /// The type it needs.
        expected: &'static str,
        /// The type given.
        got: &'static str,
    },
    /// An image task with a video twin, or the reverse.
    #[error("task {task} needs {needs} twin")]
    WrongTwin {
        /// The task.
        task: &'static str,
        /// `"an image"` or `"a video"`.
        needs: &'static str,
    },
    /// A mask whose size is not the twin's.
    #[error("{field} is {got_h}x{got_w} (h x w) but the twin is {want_h}x{want_w}")]
    MaskSize {
        /// Where the mask is (`truth.mask`, `truth.masks.12`, …).
        field: String,
        /// Its height.
        got_h: u32,
        /// Its width.
        got_w: u32,
        /// The twin's height.
        want_h: u32,
        /// The twin's width.
        want_w: u32,
    },
    /// A frame key at or beyond the video's frame count.
    #[error("truth.masks has frame {frame}, but the twin has {frames} frames (0..{frames})")]
    FrameOutOfRange {
        /// The frame.
        frame: u32,
        /// The twin's frame count.
        frames: u32,
    },
    /// A target box that is not a box.
    #[error("truth.bbox {0:?} is not a box: it needs finite x1 < x2 and y1 < y2")]
    BadBox([f64; 4]),
    /// An id in `truth.ids` that the twin does not have.
    #[error("truth.ids names {id}, which is not {what} of the twin")]
    UnknownId {
        /// The id.
        id: u32,
        /// `"an object"` or `"a track"`.
        what: &'static str,
    },
    /// No usable answer or reference.
    #[error("truth.{field} has no non-empty entry")]
    NoText {
        /// `answers` or `references`.
        field: &'static str,
    },
    /// More of something than the limits allow.
    #[error("{what}: {n}, more than the limit {max}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// How many there are.
        n: usize,
        /// The limit.
        max: usize,
    },
}

fn mask_fits(field: impl Fn() -> String, m: &Rle, h: u32, w: u32) -> Result<(), TruthError> {
    let [mh, mw] = m.size();
    if [mh, mw] != [h, w] {
        return Err(TruthError::MaskSize {
            field: field(),
            got_h: mh,
            got_w: mw,
            want_h: h,
            want_w: w,
        });
    }
    Ok(())
}

fn texts(field: &'static str, v: &[String], limits: &Limits) -> Result<(), TruthError> {
    if v.len() > limits.max_texts {
        return Err(TruthError::TooMany {
            what: if field == "answers" {
                "truth.answers"
            } else {
                "truth.references"
            },
            n: v.len(),
            max: limits.max_texts,
        });
    }
    if let Some(long) = v.iter().map(|t| t.chars().count()).max() {
        if long > limits.max_text_chars {
            return Err(TruthError::TooMany {
                what: "characters in one answer or reference",
                n: long,
                max: limits.max_text_chars,
            });
        }
    }
    if v.iter().all(|t| t.trim().is_empty()) {
        return Err(TruthError::NoText { field });
    }
    Ok(())
}

/// Checks that `truth` fits `task` and `twin` and that the label is within `limits` (see the
/// module docs). The twin itself is assumed valid ([`dtr1_twin::validate`]).
pub fn check(
    task: Task,
    query: &str,
    truth: &GroundTruth,
    twin: &Twin,
    limits: &Limits,
) -> Result<(), TruthError> {
    if truth.type_name() != task.truth_type() {
        return Err(TruthError::WrongType {
            task: task.name(),
            expected: task.truth_type(),
            got: truth.type_name(),
        });
    }
    if matches!(twin, Twin::Video(_)) != task.is_video() {
        return Err(TruthError::WrongTwin {
            task: task.name(),
            needs: if task.is_video() {
                "a video"
            } else {
                "an image"
            },
        });
    }
    let q = query.chars().count();
    if q > limits.max_text_chars {
        return Err(TruthError::TooMany {
            what: "characters in the query",
            n: q,
            max: limits.max_text_chars,
        });
    }
    let (h, w) = match twin {
        Twin::Image(t) => {
            if t.objects.len() > limits.max_objects {
                return Err(TruthError::TooMany {
                    what: "objects in the twin",
                    n: t.objects.len(),
                    max: limits.max_objects,
                });
            }
            (t.height, t.width)
        }
        Twin::Video(v) => {
            if v.frames > limits.max_frames {
                return Err(TruthError::TooMany {
                    what: "frames in the twin",
                    n: v.frames as usize,
                    max: limits.max_frames as usize,
                });
            }
            if v.tracks.len() > limits.max_objects {
                return Err(TruthError::TooMany {
                    what: "tracks in the twin",
                    n: v.tracks.len(),
                    max: limits.max_objects,
                });
            }
            if v.events.len() > limits.max_events {
                return Err(TruthError::TooMany {
                    what: "events in the twin",
                    n: v.events.len(),
                    max: limits.max_events,
                });
            }
            (v.height, v.width)
        }
    };
    if let Some(ids) = truth.relevant_ids() {
        for &id in ids {
            let known = match twin {
                Twin::Image(t) => t.object(id).is_some(),
                Twin::Video(v) => v.track(id).is_some(),
            };
            if !known {
                return Err(TruthError::UnknownId {
                    id,
                    what: if task.is_video() {
                        "a track"
                    } else {
                        "an object"
                    },
                });
            }
        }
    }
    match truth {
        GroundTruth::Mask { mask, ignore, .. } => {
            mask_fits(|| "truth.mask".into(), mask, h, w)?;
            if let Some(ig) = ignore {
                mask_fits(|| "truth.ignore".into(), ig, h, w)?;
            }
        }
        GroundTruth::Box { bbox, .. } => {
            let ok = bbox.iter().all(|v| v.is_finite()) && bbox[0] < bbox[2] && bbox[1] < bbox[3];
            if !ok {
                return Err(TruthError::BadBox(*bbox));
            }
        }
        GroundTruth::VideoMasks { masks, .. } => {
            // Video tasks have video twins (checked above); an image twin has no frames.
            let frames = match twin {
                Twin::Video(v) => v.frames,
                Twin::Image(_) => 0,
            };
            for (&f, m) in masks {
                if f >= frames {
                    return Err(TruthError::FrameOutOfRange { frame: f, frames });
                }
                mask_fits(|| format!("truth.masks.{f}"), m, h, w)?;
            }
        }
        GroundTruth::Answers { answers, .. } => texts("answers", answers, limits)?,
        GroundTruth::Summaries { references, .. } => texts("references", references, limits)?,
    }
    Ok(())
}
