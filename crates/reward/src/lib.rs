//! The DT-R1 reward: `total = w_format·format + w_structure·structure + w_accuracy·accuracy
//! − w_penalty·penalty`, every component logged.
//!
//! - **format** (0/1, [`rollout`]): the three blocks, in order, once each, nothing else, and
//!   at most `max_completion_chars` characters.
//! - **structure** (0..1, [`structure`]): the `<twin>` block parses as a sub-twin; its
//!   objects match the schema, exist in the input twin, agree with it on every copied field
//!   (tolerances in [`structure`]), are not duplicated; the sub-twin covers the objects the
//!   query is about and little else ([`targets::relevant`]); the answer is well formed,
//!   non-empty, cites only objects of the input twin and of the sub-twin; the sub-twin is
//!   concise. An empty or malformed answer earns no structure.
//! - **accuracy** (0..1, [`accuracy`]): mask IoU (segmentation; mean per-frame IoU over the
//!   frames where target or prediction is present, for video), box IoU (grounding), VQA
//!   accuracy, event match × text overlap (summaries, [`summary`]). Counted only when the
//!   format holds, and only for what the sub-twin supports: cited ids that it lists, a box
//!   that encloses one of its objects, a text answer when it is not empty (unless the label
//!   says the query is about no object).
//! - **penalty** (≥ 0): known reward hacks that the other terms would not punish enough —
//!   selecting more than `target + selection_slack` objects, by ids or by a box that encloses
//!   them (which also zeroes accuracy), copying the query as the answer, and overlong
//!   completions.
//!
//! The answer is read by [`answer`], the one answer layer: `dtr1 eval`, `dtr1 ask` and
//! `/v1/ask` decode completions with it too, so what they show is what the reward scores.
//!
//! The reward-hacking suite (`tests/hacking.rs`) checks that each known hack scores strictly
//! below an honest but wrong answer, and `tests/audit.rs` checks it on every label of a
//! generated TwinBench suite. Labels from outside are checked first ([`truth::check`]).

pub mod accuracy;
pub mod answer;
pub mod rollout;
pub mod structure;
pub mod summary;
pub mod targets;
pub mod truth;

use dtr1_twin::Twin;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use dtr1_data::{GroundTruth, Task};

/// Version of the reward's definition. Bump it whenever a component's meaning changes:
/// rewards computed under different versions are not comparable.
///
/// - `1`: format, structure (seven checks), accuracy, penalties.
/// - `2`: structure pays for covering the objects the query is about and is 0 for an empty
///   or malformed answer; answers citing ids outside the input twin are malformed; accuracy
///   counts only what the sub-twin supports; box answers face the over-selection guard;
///   targets are derived when a label does not name them; video IoU leaves out frames where
///   target and prediction are both empty; summary accuracy is the event match.
/// - `3`: the `<twin>` block may also be compact lines (prompt version 2's sub-twin form),
///   and a depth copied as one number (`d=MEAN`) is compared by its mean. A JSON block
///   scores as in version 2; a block that does not start with `{` is now read as lines
///   (version 2 gave it no structure).
pub const REWARD_VERSION: u32 = 3;

/// Weights and limits of the reward. Every field has a default that the hacking suite is
/// checked with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// Weight of the format term.
    pub w_format: f64,
    /// Weight of the structure term.
    pub w_structure: f64,
    /// Weight of the accuracy term.
    pub w_accuracy: f64,
    /// Weight of each triggered penalty.
    pub w_penalty: f64,
    /// A sub-twin with more objects than this is not "task-relevant" (structure check).
    pub max_subtwin_objects: usize,
    /// Completions longer than this (in characters) are penalised.
    pub max_completion_chars: usize,
    /// Over-selection guard: an id answer may select at most `target + slack` objects.
    pub selection_slack: usize,
    /// Text overlap of a summary `T = rouge_weight · ROUGE-L + (1 − rouge_weight) · CIDEr-D / 10`.
    pub rouge_weight: f64,
    /// Summary accuracy = `E · (event_weight + (1 − event_weight) · T)`, `E` the event match.
    pub event_weight: f64,
    /// Entries a sub-twin may list beyond the objects the query is about before the
    /// `relevant` check drops (context such as an anchor or the rivals of a superlative).
    pub relevance_slack: usize,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            w_format: 0.25,
            w_structure: 0.25,
            w_accuracy: 1.0,
            w_penalty: 0.5,
            max_subtwin_objects: 8,
            max_completion_chars: 4000,
            selection_slack: 1,
            rouge_weight: 0.5,
            event_weight: 0.5,
            relevance_slack: 3,
        }
    }
}

/// One scoring request.
pub struct Request<'a> {
    /// The task.
    pub task: Task,
    /// The query the model answered (for the copied-query guard).
    pub query: &'a str,
    /// The input twin the prompt showed.
    pub twin: &'a Twin,
    /// The ground truth.
    pub truth: &'a GroundTruth,
    /// CIDEr-D document frequencies of the reference corpus, for summary accuracy.
    pub cider: Option<&'a dtr1_metrics::cider::CiderD>,
}

/// Every component of a reward, for logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardBreakdown {
    /// 1 when the rollout meets the contract.
    pub format: f64,
    /// Structure score in [0, 1].
    pub structure: f64,
    /// Task accuracy in [0, 1] (0 when the format fails).
    pub accuracy: f64,
    /// Number of penalties triggered.
    pub penalty: f64,
    /// The weighted total.
    pub total: f64,
    /// Structure sub-scores by name.
    pub structure_checks: BTreeMap<String, f64>,
    /// Human-readable problems found (format, structure, penalties).
    pub problems: Vec<String>,
}

/// Scores one completion.
pub fn score(completion: &str, req: &Request<'_>, cfg: &RewardConfig) -> RewardBreakdown {
    // The answer as every consumer reads it, taken strictly: ids outside the input twin make
    // it malformed.
    let reading = answer::read(req.task, req.twin, completion);
    let answer = reading.strict(req.twin);
    let parsed = reading.rollout;
    let mut problems: Vec<String> = match &parsed.result {
        Ok(_) => vec![],
        Err(ps) => ps.iter().map(|p| format!("format: {p}")).collect(),
    };
    let chars = completion.chars().count();
    // The length limit is part of the contract: padding must not keep accuracy alive.
    let too_long = chars > cfg.max_completion_chars;
    let format = f64::from(u8::from(parsed.result.is_ok() && !too_long));

    let targets = targets::targets(req.truth, req.twin);
    let relevant = targets::relevant(req.truth, targets.as_deref());
    // An overlong completion's sub-twin is not read: the cost of scoring stays bounded.
    let block = if too_long {
        None
    } else {
        parsed.twin.as_deref()
    };
    let st = structure::check(block, &answer, req.task, req.twin, cfg, relevant.as_deref());
    problems.extend(st.problems.iter().map(|p| format!("structure: {p}")));

    let mut penalty = 0.0;
    // What the answer selects, for the over-selection guard: its ids, or the objects its box
    // encloses (a box around everything selects everything).
    let selected = match &answer {
        accuracy::Answer::Ids(ids) => Some(ids.clone()),
        accuracy::Answer::Box(b) => Some(targets::box_selects(b, req.twin)),
        _ => None,
    };
    let over = match (&targets, &selected) {
        (Some(t), Some(sel)) if sel.len() > t.len() + cfg.selection_slack => {
            // The union of many masks earns IoU by coverage, not by reasoning.
            penalty += 1.0;
            problems.push(format!(
                "penalty: the answer selects {} objects where the target has {}",
                sel.len(),
                t.len()
            ));
            true
        }
        _ => false,
    };

    // Only what the sub-twin supports counts: the answer must come from the twin the model
    // built, so citing an object it never wrote down earns nothing.
    let supported = accuracy::supported(&answer, &st, selected.as_deref(), relevant.as_deref());
    if supported == accuracy::Answer::Empty && !matches!(answer, accuracy::Answer::Empty) {
        problems.push("accuracy: the sub-twin does not support the answer".into());
    }
    let acc = if format == 1.0 && !over {
        accuracy::accuracy(&supported, req, cfg)
    } else {
        0.0
    };

    if let Some(a) = &parsed.answer {
        let (qa, qq) = (norm(a), norm(req.query));
        if !qq.is_empty() && (qa == qq || (qq.len() >= 16 && qa.contains(&qq))) {
            penalty += 1.0;
            problems.push("penalty: the answer copies the query".into());
        }
    }
    if too_long {
        penalty += 1.0;
        problems.push(format!(
            "penalty: {chars} characters, more than {}",
            cfg.max_completion_chars
        ));
    }

    let total = cfg.w_format * format + cfg.w_structure * st.score + cfg.w_accuracy * acc
        - cfg.w_penalty * penalty;
    RewardBreakdown {
        format,
        structure: st.score,
        accuracy: acc,
        penalty,
        total,
        structure_checks: st.checks,
        problems,
    }
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
