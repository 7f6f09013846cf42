//! Task accuracy of an answer, in [0, 1].
//!
//! - image reasoning segmentation: IoU (LISA convention, [`dtr1_metrics::seg`], ignore region
//!   excluded) of the union of the cited objects' masks with the target mask;
//! - grounding: continuous box IoU ([`dtr1_metrics::boxes`]) of the cited object's box (the
//!   union box when several are cited) or of the box written in the answer;
//!
//! (the masks and boxes an answer decodes to are the answer layer's, [`crate::answer`]);
//! - VQA (image and video): the official soft accuracy when there are 10 annotator answers
//!   ([`dtr1_metrics::vqa::soft_accuracy`]: answers are normalised only when the annotators
//!   disagree, so against ten identical `"2"` only `"2"` scores), otherwise 1 if the
//!   normalised answer equals any of the normalised given answers;
//! - video reasoning segmentation: mean per-frame IoU (J) of the union of the cited tracks'
//!   masks with the target, over the frames where the target or the prediction is present.
//!   Frames where both are empty are left out: counting them as 1, as DAVIS's J does for a
//!   benchmark average, would pay an empty answer for every frame the target is absent.
//!   When neither is present on any frame (a no-target query answered with nothing), 1;
//! - summary: the event match of [`crate::summary`] `E`, times `event_weight + (1 −
//!   event_weight) · T`, where `T = rouge_weight · ROUGE-L F1` (stemmed, best reference)
//!   `+ (1 − rouge_weight) · CIDEr-D / 10` when a corpus scorer is given
//!   ([`crate::Request::cider`]), ROUGE-L alone otherwise (CIDEr-D needs corpus document
//!   frequencies; a single sample has none). A summary that tells none of the twin's events
//!   with their tracks earns nothing, however many words it shares with the references.
//!   When the twin records no event a summary would tell, `T` alone.

use crate::{answer, summary, GroundTruth, Request, RewardConfig, Task};
use dtr1_metrics::{boxes, rouge, seg, vqa};
use dtr1_rle::Rle;
use dtr1_twin::Twin;

/// An answer in the task's grammar.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Object or track ids: `[3, 5]` (a bare `3` is accepted too).
    Ids(Vec<u32>),
    /// A box `{"box": [x1, y1, x2, y2]}` (grounding only).
    Box([f64; 4]),
    /// Free text (VQA, summaries).
    Text(String),
    /// Nothing (`[]`, or only whitespace).
    Empty,
    /// Not in the task's grammar; the reason.
    Invalid(String),
}

/// Most words of a VQA answer. Answers to the official VQA questions are one to three words;
/// a longer one lists candidates ("yes no 1 2 3 red …") instead of answering.
pub const MAX_VQA_ANSWER_WORDS: usize = 8;

/// Parses the `<answer>` content for a task.
pub fn parse_answer(task: Task, text: &str) -> Answer {
    let t = text.trim();
    if t.is_empty() {
        return Answer::Empty;
    }
    if !task.answers_with_ids() {
        let words = t.split_whitespace().count();
        if matches!(task, Task::ImageVqa | Task::VideoVqa) && words > MAX_VQA_ANSWER_WORDS {
            return Answer::Invalid(format!(
                "a VQA answer is a few words, not {words} (at most {MAX_VQA_ANSWER_WORDS})"
            ));
        }
        return Answer::Text(t.to_string());
    }
    match serde_json::from_str::<serde_json::Value>(t) {
        Ok(serde_json::Value::Array(items)) if items.is_empty() => Answer::Empty,
        Ok(serde_json::Value::Array(items)) => {
            let ids: Option<Vec<u32>> = items
                .iter()
                .map(|v| v.as_u64().and_then(|x| u32::try_from(x).ok()))
                .collect();
            ids.map(Answer::Ids)
                .unwrap_or_else(|| Answer::Invalid("ids must be non-negative integers".into()))
        }
        Ok(serde_json::Value::Number(n)) => match n.as_u64().and_then(|x| u32::try_from(x).ok()) {
            Some(id) => Answer::Ids(vec![id]),
            None => Answer::Invalid(format!("{n} is not an object id")),
        },
        Ok(serde_json::Value::Object(o)) if task == Task::ImageGrounding && o.len() == 1 => match o
            .get("box")
            .and_then(|b| serde_json::from_value::<[f64; 4]>(b.clone()).ok())
        {
            Some(b) if b.iter().all(|v| v.is_finite()) => Answer::Box(b),
            _ => Answer::Invalid("expected {\"box\": [x1, y1, x2, y2]}".into()),
        },
        _ => Answer::Invalid(format!(
            "expected a JSON list of ids{}",
            if task == Task::ImageGrounding {
                " or {\"box\": [x1, y1, x2, y2]}"
            } else {
                ""
            }
        )),
    }
}

/// An id answer that cites ids the input twin does not have is outside the contract: it
/// becomes [`Answer::Invalid`], naming them.
pub fn require_existing(answer: Answer, twin: &Twin) -> Answer {
    let Answer::Ids(ids) = &answer else {
        return answer;
    };
    let missing: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|id| match twin {
            Twin::Image(t) => t.object(*id).is_none(),
            Twin::Video(v) => v.track(*id).is_none(),
        })
        .collect();
    if missing.is_empty() {
        answer
    } else {
        Answer::Invalid(format!("ids {missing:?} are not in the input twin"))
    }
}

/// The part of an answer that the sub-twin supports, which is all that accuracy counts:
/// cited ids that the sub-twin lists; a box when it encloses (`selected`) an object of the
/// sub-twin; a text answer when the sub-twin parsed and lists an object of the input twin —
/// or lists nothing and the label says the query is about no object (`relevant` empty).
/// Anything else is [`Answer::Empty`].
pub fn supported(
    answer: &Answer,
    st: &crate::structure::StructureReport,
    selected: Option<&[u32]>,
    relevant: Option<&[u32]>,
) -> Answer {
    match answer {
        Answer::Ids(ids) => {
            let kept: Vec<u32> = ids.iter().copied().filter(|i| st.ids.contains(i)).collect();
            if kept.is_empty() {
                Answer::Empty
            } else {
                Answer::Ids(kept)
            }
        }
        Answer::Box(_) => {
            if selected.unwrap_or(&[]).iter().any(|i| st.ids.contains(i)) {
                answer.clone()
            } else {
                Answer::Empty
            }
        }
        Answer::Text(_) => {
            let about_nothing = relevant.is_some_and(|r| r.is_empty());
            if st.parsed && (!st.existing.is_empty() || (about_nothing && st.ids.is_empty())) {
                answer.clone()
            } else {
                Answer::Empty
            }
        }
        other => other.clone(),
    }
}

fn text_accuracy(answer: &str, answers: &[String]) -> f64 {
    if answers.len() >= 10 {
        let refs: Vec<&str> = answers.iter().map(String::as_str).collect();
        vqa::soft_accuracy(answer, &refs).unwrap_or(0.0)
    } else {
        f64::from(u8::from(
            answers.iter().any(|a| vqa::exact_match(answer, a)),
        ))
    }
}

/// Accuracy of a parsed answer (see the module docs).
pub fn accuracy(answer: &Answer, req: &Request<'_>, cfg: &RewardConfig) -> f64 {
    match (req.task, req.truth, answer) {
        (_, _, Answer::Invalid(_)) => 0.0,
        (
            Task::ImageReasonseg,
            GroundTruth::Mask { mask, ignore, .. },
            Answer::Ids(_) | Answer::Empty,
        ) => {
            let ids = match answer {
                Answer::Ids(ids) => ids.as_slice(),
                _ => &[],
            };
            let Twin::Image(t) = req.twin else {
                return 0.0;
            };
            let pred = answer::image_mask(t, ids).unwrap_or_else(|| Rle::empty(t.height, t.width));
            seg::counts_rle(&pred, mask, ignore.as_ref())
                .map(|c| c.iou())
                .unwrap_or(0.0)
        }
        (Task::ImageGrounding, GroundTruth::Box { bbox, .. }, a) => {
            let pred = match (a, req.twin) {
                (Answer::Ids(ids), Twin::Image(t)) => answer::union_box(t, ids),
                (Answer::Box(b), _) => Some(*b),
                _ => None,
            };
            pred.and_then(|p| boxes::box_iou(&p, bbox, boxes::BoxConvention::Continuous).ok())
                .unwrap_or(0.0)
        }
        (
            Task::ImageVqa | Task::VideoVqa,
            GroundTruth::Answers { answers, .. },
            Answer::Text(t),
        ) => text_accuracy(t, answers),
        (
            Task::VideoReasonseg,
            GroundTruth::VideoMasks { masks, .. },
            Answer::Ids(_) | Answer::Empty,
        ) => {
            let Twin::Video(v) = req.twin else { return 0.0 };
            let ids = match answer {
                Answer::Ids(ids) => ids.as_slice(),
                _ => &[],
            };
            if v.frames == 0 {
                return 0.0;
            }
            let mut sum = 0.0;
            let mut counted = 0u32;
            let mut preds = answer::frame_masks(v, ids);
            let empty = Rle::empty(v.height, v.width);
            for f in 0..v.frames {
                let pred = preds.remove(&f).unwrap_or_else(|| empty.clone());
                let gt = masks.get(&f).filter(|m| m.area() > 0);
                if pred.area() == 0 && gt.is_none() {
                    continue; // both empty: says nothing about the answer
                }
                counted += 1;
                let gt = gt.unwrap_or(&empty);
                sum += match dtr1_rle::intersection_union(&pred, gt) {
                    Ok((i, u)) if u > 0 => i as f64 / u as f64,
                    _ => 0.0,
                };
            }
            if counted == 0 {
                1.0
            } else {
                sum / f64::from(counted)
            }
        }
        (Task::VideoSummary, GroundTruth::Summaries { references, .. }, Answer::Text(t)) => {
            let refs: Vec<&str> = references.iter().map(String::as_str).collect();
            let r = rouge::rouge_l_multi(&refs, t, true).fmeasure;
            let text = match req.cider {
                Some(c) => {
                    let toks: Vec<String> = refs
                        .iter()
                        .map(|x| dtr1_metrics::cider::tokenize(x))
                        .collect();
                    let cd = c.score(&dtr1_metrics::cider::tokenize(t), &toks);
                    cfg.rouge_weight * r + (1.0 - cfg.rouge_weight) * (cd / 10.0).clamp(0.0, 1.0)
                }
                None => r,
            };
            let Twin::Video(v) = req.twin else { return 0.0 };
            let truth = summary::twin_events(v);
            if truth.is_empty() {
                return text;
            }
            let e = summary::event_score(&summary::read_events(t, v), &truth);
            e * (cfg.event_weight + (1.0 - cfg.event_weight) * text)
        }
        _ => 0.0,
    }
}
