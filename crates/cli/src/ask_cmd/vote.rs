//! Rollouts as candidates, and the self-consistency vote among them.

use super::check::Check;
use crate::ask::Vote;
use dtr1_data::Task;
use dtr1_reward::accuracy::Answer;
use dtr1_reward::answer::Reading;
use dtr1_rle::Rle;
use dtr1_serve::ask::AskAnswer;

/// One rollout and what became of it.
pub(super) struct Candidate {
    pub(super) completion: String,
    /// The answer layer's reading of the completion.
    pub(super) reading: Reading,
    /// The reading as `/v1/ask` answers it.
    pub(super) decoded: AskAnswer,
    pub(super) check: Check,
    pub(super) tokens: Option<usize>,
}

impl Candidate {
    pub(super) fn ids(&self) -> Option<Vec<u32>> {
        match &self.reading.answer {
            Answer::Ids(ids) => Some(ids.clone()),
            _ => None,
        }
    }

    /// The answer in a few words.
    pub(super) fn short(&self) -> String {
        let d = &self.decoded;
        if let Some(t) = &d.text {
            return format!("{t:?}");
        }
        let ids = self.ids().map(|i| format!("ids {i:?}")).unwrap_or_default();
        if let Some(m) = &d.mask {
            return format!("{ids} → mask of {} px", m.area());
        }
        if let Some(ms) = &d.masks {
            if !ms.is_empty() {
                let area: u64 = ms.values().map(Rle::area).sum();
                return format!("{ids} → masks on {} frames ({area} px in all)", ms.len());
            }
        }
        if let Some(b) = &d.bbox {
            return format!(
                "{}box [{:.0}, {:.0}, {:.0}, {:.0}]",
                if ids.is_empty() {
                    String::new()
                } else {
                    format!("{ids} → ")
                },
                b[0],
                b[1],
                b[2],
                b[3]
            );
        }
        match &self.reading.answer {
            Answer::Invalid(why) => format!("no valid answer ({why})"),
            Answer::Ids(_) => format!("{ids}: none of them is in the input twin"),
            _ if self.reading.rollout.answer.is_none() => {
                "no valid answer (no <answer> block)".into()
            }
            _ => "no valid answer (empty)".into(),
        }
    }

    pub(super) fn has_answer(&self) -> bool {
        let d = &self.decoded;
        d.text.is_some()
            || d.mask.is_some()
            || d.bbox.is_some()
            || d.masks.as_ref().is_some_and(|m| !m.is_empty())
    }
}

pub(super) fn vote(task: Task, cands: &[Candidate]) -> Vote {
    match task {
        Task::ImageReasonseg => crate::ask::vote_masks(
            &cands
                .iter()
                .map(|c| c.decoded.mask.clone())
                .collect::<Vec<_>>(),
        ),
        Task::VideoReasonseg => crate::ask::vote_video_masks(
            &cands
                .iter()
                .map(|c| c.decoded.masks.clone().filter(|m| !m.is_empty()))
                .collect::<Vec<_>>(),
        ),
        Task::ImageGrounding => {
            crate::ask::vote_boxes(&cands.iter().map(|c| c.decoded.bbox).collect::<Vec<_>>())
        }
        Task::ImageVqa | Task::VideoVqa | Task::VideoSummary => crate::ask::vote_text(
            &cands
                .iter()
                .map(|c| c.decoded.text.clone())
                .collect::<Vec<_>>(),
        ),
    }
}
