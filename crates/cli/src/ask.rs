//! Asking without a benchmark label: which task a free-form query is (a documented rule over
//! the query text and the media kind), and self-consistency voting over several rollouts.
//!
//! # Task rule ([`infer_task`])
//!
//! The query is lower-cased and checked against these cues, first match wins:
//!
//! 1. **summary** (video only): `summar`, `describe what happens`, `what happens`,
//!    `what happened`, `overview`, `recap`, `describe the video`, `describe this video`;
//! 2. **segmentation**: `segment`, `mask`, `highlight`, `outline`, `select`, `pick out`,
//!    `cut out`, or the query starts with `which ` (it asks to pick objects out);
//! 3. **grounding** (image; on a video the per-frame masks locate the object, so it becomes
//!    segmentation): `where is`, `where are`, `where's`, `locate`, `bounding box`, `box`,
//!    `point to`, `find the`;
//! 4. **VQA**: the query ends with `?` or starts with a question word (`how`, `what`, `is`,
//!    `are`, `does`, `do`, `did`, `can`, `was`, `were`, `who`, `why`, `when`, `count`);
//! 5. otherwise **segmentation** (an implicit description of the object, as in ReasonSeg).
//!
//! # Voting
//!
//! - text answers ([`vote_text`]): majority over the normalised answers (VQA normalisation:
//!   punctuation, articles, number words); when every answer differs (free-text summaries),
//!   the medoid by ROUGE-L F1 (the answer closest on average to the others);
//! - masks, per-frame masks and boxes ([`vote_masks`], [`vote_video_masks`], [`vote_boxes`]):
//!   the candidate with the highest mean IoU to the other candidates.
//!
//! Candidates without an answer (`None`) never win while another has one; ties go to the
//! earliest candidate, so a vote is deterministic.

use dtr1_data::Task;
use dtr1_metrics::boxes::{box_iou, BoxConvention};
use dtr1_rle::Rle;
use std::collections::BTreeMap;

/// The four kinds of answer a user can ask for; with the media kind they make a [`Task`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// Reasoning segmentation (a mask; per-frame masks for a video).
    Reasonseg,
    /// Grounding (a box; images only).
    Grounding,
    /// Visual question answering (short text).
    Vqa,
    /// Video summary (free text; videos only).
    Summary,
}

impl TaskKind {
    /// Parses `reasonseg`, `grounding`, `vqa` or `summary` (also `segmentation`, `seg`).
    pub fn from_name(s: &str) -> Option<TaskKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reasonseg" | "segmentation" | "seg" => Some(TaskKind::Reasonseg),
            "grounding" | "box" => Some(TaskKind::Grounding),
            "vqa" => Some(TaskKind::Vqa),
            "summary" => Some(TaskKind::Summary),
            _ => None,
        }
    }

    /// The benchmark task for this kind on an image (`video = false`) or a video; `None` for
    /// the two combinations that have no benchmark (an image summary, video grounding).
    pub fn task(self, video: bool) -> Option<Task> {
        match (self, video) {
            (TaskKind::Reasonseg, false) => Some(Task::ImageReasonseg),
            (TaskKind::Reasonseg, true) => Some(Task::VideoReasonseg),
            (TaskKind::Grounding, false) => Some(Task::ImageGrounding),
            (TaskKind::Grounding, true) => None,
            (TaskKind::Vqa, false) => Some(Task::ImageVqa),
            (TaskKind::Vqa, true) => Some(Task::VideoVqa),
            (TaskKind::Summary, false) => None,
            (TaskKind::Summary, true) => Some(Task::VideoSummary),
        }
    }
}

/// The task chosen for a query and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inference {
    /// The task.
    pub task: Task,
    /// The rule that fired, for the user (e.g. `rule 4: the query is a question ("?")`).
    pub reason: String,
}

const SUMMARY_CUES: [&str; 8] = [
    "summar",
    "describe what happens",
    "what happens",
    "what happened",
    "overview",
    "recap",
    "describe the video",
    "describe this video",
];
const SEGMENT_CUES: [&str; 7] = [
    "segment",
    "mask",
    "highlight",
    "outline",
    "select",
    "pick out",
    "cut out",
];
const GROUNDING_CUES: [&str; 8] = [
    "where is",
    "where are",
    "where's",
    "locate",
    "bounding box",
    "box",
    "point to",
    "find the",
];
const QUESTION_WORDS: [&str; 14] = [
    "how", "what", "is", "are", "does", "do", "did", "can", "was", "were", "who", "why", "when",
    "count",
];

/// Whether `cue` occurs in `q` starting at a word boundary (so `box` does not fire inside
/// `inbox`, nor `mask` inside `damask`).
fn has_cue(q: &str, cue: &str) -> bool {
    q.match_indices(cue).any(|(i, _)| {
        q[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

/// Infers the task of `query` about an image (`video = false`) or a video by the rule in the
/// module docs.
pub fn infer_task(query: &str, video: bool) -> Inference {
    let q = query.trim().to_lowercase();
    let kind = |k: TaskKind| {
        k.task(video).unwrap_or(
            TaskKind::Reasonseg
                .task(video)
                .expect("segmentation exists"),
        )
    };
    let found = |cues: &[&'static str]| cues.iter().copied().find(|c| has_cue(&q, c));
    if video {
        if let Some(c) = found(&SUMMARY_CUES) {
            return Inference {
                task: Task::VideoSummary,
                reason: format!("rule 1: a video and the query asks for a summary ({c:?})"),
            };
        }
    }
    if let Some(c) = found(&SEGMENT_CUES) {
        return Inference {
            task: kind(TaskKind::Reasonseg),
            reason: format!("rule 2: the query asks for a segmentation ({c:?})"),
        };
    }
    if q.starts_with("which ") {
        return Inference {
            task: kind(TaskKind::Reasonseg),
            reason: "rule 2: the query asks which objects (\"which\")".into(),
        };
    }
    if let Some(c) = found(&GROUNDING_CUES) {
        return Inference {
            task: kind(TaskKind::Grounding),
            reason: if video {
                format!(
                    "rule 3: the query asks where something is ({c:?}); on a video the answer is per-frame masks"
                )
            } else {
                format!("rule 3: the query asks where something is ({c:?})")
            },
        };
    }
    let first = q
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .find(|w| !w.is_empty())
        .unwrap_or("");
    if q.ends_with('?') || QUESTION_WORDS.contains(&first) {
        let why = if q.ends_with('?') {
            "\"?\"".to_string()
        } else {
            format!("{first:?}")
        };
        return Inference {
            task: kind(TaskKind::Vqa),
            reason: format!("rule 4: the query is a question ({why})"),
        };
    }
    Inference {
        task: kind(TaskKind::Reasonseg),
        reason: "rule 5: a description of something, answered with a mask".into(),
    }
}

/// The outcome of a vote over candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    /// Index of the winning candidate.
    pub winner: usize,
    /// The winner's support in [0, 1]: the share of candidates with the same normalised text
    /// (majority), or its mean IoU / ROUGE-L to the other candidates (medoid).
    pub agreement: f64,
    /// How the winner was chosen: `majority`, `medoid-rouge-l`, `medoid-iou`, `single` or
    /// `none` (no candidate had an answer; the first is returned).
    pub method: &'static str,
}

/// The candidate whose mean similarity to the other answered candidates is highest.
fn medoid<T>(items: &[Option<T>], sim: impl Fn(&T, &T) -> f64, method: &'static str) -> Vote {
    let present: Vec<usize> = (0..items.len()).filter(|i| items[*i].is_some()).collect();
    match present.len() {
        0 => {
            return Vote {
                winner: 0,
                agreement: 0.0,
                method: "none",
            }
        }
        1 => {
            return Vote {
                winner: present[0],
                agreement: 1.0,
                method: "single",
            }
        }
        _ => {}
    }
    let mut best = (present[0], f64::NEG_INFINITY);
    for &i in &present {
        let a = items[i].as_ref().expect("present");
        let total: f64 = present
            .iter()
            .filter(|j| **j != i)
            .map(|j| sim(a, items[*j].as_ref().expect("present")))
            .sum();
        let mean = total / (present.len() - 1) as f64;
        // Strictly greater keeps the earliest on ties.
        if mean > best.1 {
            best = (i, mean);
        }
    }
    Vote {
        winner: best.0,
        agreement: best.1,
        method,
    }
}

/// Majority over normalised text answers, the ROUGE-L medoid when all differ.
pub fn vote_text(answers: &[Option<String>]) -> Vote {
    let norm: Vec<Option<String>> = answers
        .iter()
        .map(|a| {
            a.as_deref()
                .map(dtr1_metrics::vqa::normalize_answer)
                .filter(|n| !n.is_empty())
        })
        .collect();
    let answered = norm.iter().flatten().count();
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, n) in norm.iter().enumerate() {
        if let Some(n) = n {
            counts.entry(n.as_str()).or_insert((0, i)).0 += 1;
        }
    }
    // Highest count, then the earliest first occurrence.
    let top = counts
        .values()
        .copied()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    match top {
        Some((count, first)) if count >= 2 || answered == 1 => Vote {
            winner: first,
            agreement: count as f64 / answers.len().max(1) as f64,
            method: if answered == 1 { "single" } else { "majority" },
        },
        _ => medoid(
            &norm,
            |a, b| dtr1_metrics::rouge::rouge_l(a, b, true).fmeasure,
            "medoid-rouge-l",
        ),
    }
}

/// IoU vote over masks (candidates of different sizes count as disjoint).
pub fn vote_masks(masks: &[Option<Rle>]) -> Vote {
    medoid(
        masks,
        |a, b| dtr1_rle::iou(a, b, false).unwrap_or(0.0),
        "medoid-iou",
    )
}

/// IoU vote over per-frame masks: similarity is the mean per-frame IoU over the frames
/// either candidate covers (a frame empty in both counts as agreement).
pub fn vote_video_masks(masks: &[Option<BTreeMap<u32, Rle>>]) -> Vote {
    medoid(
        masks,
        |a, b| {
            let frames: std::collections::BTreeSet<u32> =
                a.keys().chain(b.keys()).copied().collect();
            if frames.is_empty() {
                return 1.0;
            }
            let total: f64 = frames
                .iter()
                .map(|f| match (a.get(f), b.get(f)) {
                    (Some(x), Some(y)) => {
                        if x.area() == 0 && y.area() == 0 {
                            1.0
                        } else {
                            dtr1_rle::iou(x, y, false).unwrap_or(0.0)
                        }
                    }
                    (Some(x), None) | (None, Some(x)) => f64::from(u8::from(x.area() == 0)),
                    (None, None) => 1.0,
                })
                .sum();
            total / frames.len() as f64
        },
        "medoid-iou",
    )
}

/// IoU vote over boxes `[x1, y1, x2, y2]` (continuous convention).
pub fn vote_boxes(boxes: &[Option<[f64; 4]>]) -> Vote {
    medoid(
        boxes,
        |a, b| box_iou(a, b, BoxConvention::Continuous).unwrap_or(0.0),
        "medoid-iou",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_picks_each_task() {
        let t = |q: &str, v: bool| infer_task(q, v).task;
        assert_eq!(
            t("Summarise what happens in the video.", true),
            Task::VideoSummary
        );
        assert_eq!(t("Describe what happens", true), Task::VideoSummary);
        // No image summaries: "describe" on an image is a question about it.
        assert_eq!(t("What happens here?", false), Task::ImageVqa);
        assert_eq!(
            t("Segment everything that has sharp points.", false),
            Task::ImageReasonseg
        );
        assert_eq!(
            t("Which green thing you could pour water into?", false),
            Task::ImageReasonseg
        );
        assert_eq!(
            t("Segment whatever was set rolling by being hit.", true),
            Task::VideoReasonseg
        );
        assert_eq!(t("Where is the cyan cone?", false), Task::ImageGrounding);
        assert_eq!(t("box the red mug", false), Task::ImageGrounding);
        assert_eq!(t("Where is the cyan cone?", true), Task::VideoReasonseg);
        assert_eq!(t("How many pink objects are there?", false), Task::ImageVqa);
        assert_eq!(t("is there a red mug", false), Task::ImageVqa);
        assert_eq!(
            t("How many collisions happen in the video?", true),
            Task::VideoVqa
        );
        assert_eq!(
            t("the thing you could pour water into", false),
            Task::ImageReasonseg
        );
        // Cues match at word starts only.
        assert_eq!(t("the inbox tray", false), Task::ImageReasonseg);
        assert!(infer_task("the cyan cone", false)
            .reason
            .starts_with("rule 5"));
    }

    #[test]
    fn kinds_map_to_tasks() {
        assert_eq!(
            TaskKind::from_name("vqa").unwrap().task(true),
            Some(Task::VideoVqa)
        );
        assert_eq!(TaskKind::Summary.task(false), None);
        assert_eq!(TaskKind::Grounding.task(true), None);
        assert!(TaskKind::from_name("caption").is_none());
    }

    #[test]
    fn text_majority_normalises() {
        let v = vote_text(&[
            Some("Two".into()),
            Some("3".into()),
            Some("2.".into()),
            None,
        ]);
        assert_eq!((v.winner, v.method), (0, "majority"));
        assert!((v.agreement - 0.5).abs() < 1e-12);
        // All different: the medoid by ROUGE-L.
        let v = vote_text(&[
            Some("a red ball rolls left".into()),
            Some("the red ball rolls left then stops".into()),
            Some("a blue cube stops".into()),
        ]);
        assert_eq!((v.winner, v.method), (1, "medoid-rouge-l"));
        assert_eq!(vote_text(&[None, None]).method, "none");
        assert_eq!(vote_text(&[None, Some("x".into())]).winner, 1);
    }

    #[test]
    fn box_and_mask_medoids() {
        let v = vote_boxes(&[
            Some([0.0, 0.0, 10.0, 10.0]),
            Some([50.0, 50.0, 60.0, 60.0]),
            Some([1.0, 1.0, 11.0, 11.0]),
            None,
        ]);
        assert_eq!((v.winner, v.method), (0, "medoid-iou"));
        let rect = |x0: u32, x1: u32| {
            Rle::from_bbox([f64::from(x0), 0.0, f64::from(x1), 20.0], 20, 20).unwrap()
        };
        let v = vote_masks(&[Some(rect(0, 5)), Some(rect(1, 6)), Some(rect(15, 20))]);
        assert_eq!(v.winner, 0);
        let mut a = BTreeMap::new();
        a.insert(0, rect(0, 5));
        let mut b = BTreeMap::new();
        b.insert(0, rect(15, 20));
        let v = vote_video_masks(&[Some(b.clone()), Some(a.clone()), Some(a)]);
        assert_eq!(v.winner, 1);
        assert!((v.agreement - 0.5).abs() < 1e-12);
    }
}
