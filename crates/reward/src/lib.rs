//! The DT-R1 reward: `total = w_format·format + w_structure·structure + w_accuracy·accuracy
//! − w_penalty·penalty`, every component logged.
//!
//! - **format** (0/1, [`rollout`]): the three blocks, in order, once each, nothing else, and
//!   at most `max_completion_chars` characters.
//! - **structure** (0..1, [`structure`]): the `<twin>` block parses as a sub-twin; its
//!   objects match the schema, exist in the input twin, agree with it on every copied field
//!   (tolerances in [`structure`]), are not duplicated; the answer is well formed, non-empty
//!   and cites only objects of the sub-twin; the sub-twin is concise.
//! - **accuracy** (0..1, [`accuracy`]): mask IoU (segmentation; mean per-frame IoU for
//!   video), box IoU (grounding), VQA accuracy, ROUGE-L/CIDEr-D blend (summaries). Counted
//!   only when the format holds, and only cited ids that the sub-twin lists count.
//! - **penalty** (≥ 0): known reward hacks that the other terms would not punish enough —
//!   selecting more than `target + selection_slack` objects (which also zeroes accuracy),
//!   copying the query as the answer, and overlong completions.
//!
//! The reward-hacking suite (`tests/hacking.rs`) checks that each known hack scores strictly
//! below an honest but wrong answer.

pub mod accuracy;
pub mod rollout;
pub mod structure;

use dtr1_twin::Twin;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use dtr1_data::{GroundTruth, Task};

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
    /// Summary accuracy = `rouge_weight · ROUGE-L + (1 − rouge_weight) · CIDEr-D / 10`.
    pub rouge_weight: f64,
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
    let parsed = rollout::parse(completion);
    let mut problems: Vec<String> = match &parsed.result {
        Ok(_) => vec![],
        Err(ps) => ps.iter().map(|p| format!("format: {p}")).collect(),
    };
    let chars = completion.chars().count();
    // The length limit is part of the contract: padding must not keep accuracy alive.
    let too_long = chars > cfg.max_completion_chars;
    let format = f64::from(u8::from(parsed.result.is_ok() && !too_long));
    let answer = accuracy::parse_answer(req.task, parsed.answer.as_deref().unwrap_or(""));

    let st = structure::check(parsed.twin.as_deref(), &answer, req, cfg);
    problems.extend(st.problems.iter().map(|p| format!("structure: {p}")));

    // Only objects the model put in its sub-twin count: the answer must come from the twin
    // it built, so citing an object it never wrote down earns nothing.
    let cited = match &answer {
        accuracy::Answer::Ids(ids) => {
            let kept: Vec<u32> = ids.iter().copied().filter(|i| st.ids.contains(i)).collect();
            if kept.is_empty() {
                accuracy::Answer::Empty
            } else {
                accuracy::Answer::Ids(kept)
            }
        }
        other => other.clone(),
    };
    let mut acc = if format == 1.0 {
        accuracy::accuracy(&cited, req, cfg)
    } else {
        0.0
    };

    let mut penalty = 0.0;
    if let (Some(target), accuracy::Answer::Ids(ids)) = (req.truth.target_ids(), &answer) {
        if ids.len() > target.len() + cfg.selection_slack {
            // The union of many masks earns IoU by coverage, not by reasoning.
            acc = 0.0;
            penalty += 1.0;
            problems.push(format!(
                "penalty: the answer selects {} objects where the target has {}",
                ids.len(),
                target.len()
            ));
        }
    }

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
