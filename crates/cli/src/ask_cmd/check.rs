//! The reward's structure check of a rollout, with the ids that do not fit named by the
//! answer layer.

use dtr1_data::Task;
use dtr1_reward::answer::{Problem, Reading};
use dtr1_reward::structure::StructureProblem;
use dtr1_twin::Twin;
use std::collections::BTreeMap;

/// The reward's structure check of one rollout, with the offending ids named.
#[derive(Debug, Clone)]
pub(super) struct Check {
    pub(super) format_ok: bool,
    pub(super) format_problems: Vec<String>,
    pub(super) structure: f64,
    pub(super) checks: BTreeMap<String, f64>,
    pub(super) problems: Vec<String>,
}

/// Content of `<name>…</name>` when both tags occur exactly once in order (the reward's
/// parser returns `<think>` only when the whole rollout is well formed; a user wants to see
/// it anyway).
pub(super) fn block(text: &str, name: &str) -> Option<String> {
    let (o, c) = (format!("<{name}>"), format!("</{name}>"));
    if text.matches(&o).count() != 1 || text.matches(&c).count() != 1 {
        return None;
    }
    let start = text.find(&o)? + o.len();
    let end = text.find(&c)?;
    (start <= end).then(|| text[start..end].trim().to_string())
}

/// The reward's structure check of a rollout as the answer layer read it, with each id that
/// does not fit named by the layer.
pub(super) fn check_rollout(task: Task, twin: &Twin, reading: &Reading) -> Check {
    let format_problems: Vec<String> = match &reading.rollout.result {
        Ok(_) => vec![],
        Err(ps) => ps.iter().map(ToString::to_string).collect(),
    };
    // The structure check reads only the task, the twin and the rollout; what the query is
    // about is not known here, so the `relevant` check is left out.
    let st = dtr1_reward::structure::check(
        reading.rollout.twin.as_deref(),
        &reading.strict(twin),
        task,
        twin,
        &dtr1_reward::RewardConfig::default(),
        None,
    );
    // The reward's summary lines about ids give way to the layer's lines naming each id; an
    // answer is malformed for citing ids the twin lacks exactly when the layer names one.
    let named = !reading.problems.is_empty();
    let cites_missing = reading
        .problems
        .iter()
        .any(|p| matches!(p, Problem::CitedNotInTwin { .. }));
    let problems: Vec<String> = st
        .problems
        .iter()
        .filter(|p| match p {
            StructureProblem::IdsNotInTwin(_) | StructureProblem::CitesOutsideSubTwin => !named,
            StructureProblem::MalformedAnswer(_) => !cites_missing,
            _ => true,
        })
        .map(ToString::to_string)
        .chain(reading.problems.iter().map(ToString::to_string))
        .collect();
    Check {
        format_ok: format_problems.is_empty(),
        format_problems,
        structure: st.score,
        checks: st.checks,
        problems,
    }
}
