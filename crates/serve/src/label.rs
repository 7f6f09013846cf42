//! The label format shared by the HTTP service, the Python package and the dataset export.
//!
//! A trainer carries one **label** beside each prompt: a JSON object (usually stored as a JSON
//! string in the trainer's dataset column) with everything the reward needs:
//!
//! ```json
//! {"task": "image-reasonseg",
//!  "query": "the thing you could pour water into",
//!  "truth": {"type": "mask", "mask": {"size": [h, w], "counts": "…"}, "ids": [3]},
//!  "twin": {"schema_version": "1.0", "width": 640, "height": 480, "objects": […]}}
//! ```
//!
//! - `task`: a benchmark name (`image-reasonseg`, `image-grounding`, `image-vqa`,
//!   `video-reasonseg`, `video-vqa`, `video-summary`);
//! - `query`: the question the prompt asked (for the copied-query guard);
//! - `truth`: the ground truth exactly as in the dataset format (`dtr1_data::GroundTruth`,
//!   masks as COCO RLE);
//! - `twin`: the input twin the prompt showed (image or video twin JSON, masks as COCO RLE).
//!
//! OpenRLHF sends `query` = prompt + completion, decoded with special tokens; verl and TRL
//! send the completion alone. [`split_completion`] recovers the completion.

use dtr1_reward::{score, GroundTruth, Request, RewardBreakdown, RewardConfig, Task};
use dtr1_twin::{validate, Mode, Twin};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

/// Why a label could not be used.
#[derive(Debug, Error)]
pub enum LabelError {
    /// Not JSON, or JSON of the wrong shape (serde names the field).
    #[error("label is not a dt-r1 label: {0}")]
    Json(#[from] serde_json::Error),
    /// The `twin` field is not a twin.
    #[error("label twin: {0}")]
    Twin(#[from] dtr1_twin::LoadError),
    /// The twin parsed but breaks the schema's rules.
    #[error("label twin is invalid: {0}")]
    Invalid(#[from] dtr1_twin::ValidationErrors),
    /// The ground truth does not fit the task.
    #[error("label truth of type {truth} does not fit task {task}")]
    Mismatch {
        /// The task.
        task: &'static str,
        /// The ground-truth type.
        truth: &'static str,
    },
}

/// A label as it travels: the wire form (see the module docs).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The benchmark.
    pub task: Task,
    /// The query the prompt asked.
    pub query: String,
    /// The ground truth.
    pub truth: GroundTruth,
    /// The input twin, kept as raw JSON so it is parsed once, by the twin loader.
    pub twin: Box<RawValue>,
}

/// A label ready for scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLabel {
    /// The benchmark.
    pub task: Task,
    /// The query the prompt asked.
    pub query: String,
    /// The ground truth.
    pub truth: GroundTruth,
    /// The input twin, validated.
    pub twin: Twin,
}

fn truth_name(t: &GroundTruth) -> &'static str {
    match t {
        GroundTruth::Mask { .. } => "mask",
        GroundTruth::Box { .. } => "box",
        GroundTruth::Answers { .. } => "answers",
        GroundTruth::VideoMasks { .. } => "video_masks",
        GroundTruth::Summaries { .. } => "summaries",
    }
}

/// Whether `truth` is what `task` is scored against (image reasonseg also accepts a box,
/// as the reward does, and grounding a mask).
fn fits(task: Task, truth: &GroundTruth) -> bool {
    matches!(
        (task, truth),
        (
            Task::ImageReasonseg | Task::ImageGrounding,
            GroundTruth::Mask { .. } | GroundTruth::Box { .. }
        ) | (Task::ImageVqa | Task::VideoVqa, GroundTruth::Answers { .. })
            | (Task::VideoReasonseg, GroundTruth::VideoMasks { .. })
            | (Task::VideoSummary, GroundTruth::Summaries { .. })
    )
}

impl Label {
    /// Parses the wire form from JSON text.
    pub fn from_json(text: &str) -> Result<Label, LabelError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Parses the twin, validates it (partial mode: a twin may leave out masks, as the
    /// compact prompt form does) and checks that the ground truth fits the task.
    pub fn parse(self) -> Result<ParsedLabel, LabelError> {
        if !fits(self.task, &self.truth) {
            return Err(LabelError::Mismatch {
                task: self.task.name(),
                truth: truth_name(&self.truth),
            });
        }
        let twin = Twin::from_json(self.twin.get())?;
        validate(&twin, Mode::Partial)?;
        if matches!(twin, Twin::Video(_)) != self.task.is_video() {
            return Err(LabelError::Mismatch {
                task: self.task.name(),
                truth: if self.task.is_video() {
                    "image twin"
                } else {
                    "video twin"
                },
            });
        }
        Ok(ParsedLabel {
            task: self.task,
            query: self.query,
            truth: self.truth,
            twin,
        })
    }
}

impl ParsedLabel {
    /// Parses and checks a label from its JSON text.
    pub fn from_json(text: &str) -> Result<ParsedLabel, LabelError> {
        Label::from_json(text)?.parse()
    }

    /// The wire form as compact JSON.
    pub fn to_json(&self) -> String {
        let twin = match &self.twin {
            Twin::Image(t) => serde_json::to_string(t),
            Twin::Video(t) => serde_json::to_string(t),
        }
        .expect("twins serialise");
        let label = Label {
            task: self.task,
            query: self.query.clone(),
            truth: self.truth.clone(),
            twin: RawValue::from_string(twin).expect("serde_json output is JSON"),
        };
        serde_json::to_string(&label).expect("labels serialise")
    }

    /// Scores one completion with [`dtr1_reward::score`].
    pub fn score(&self, completion: &str, cfg: &RewardConfig) -> RewardBreakdown {
        let req = Request {
            task: self.task,
            query: &self.query,
            twin: &self.twin,
            truth: &self.truth,
            cider: None,
        };
        score(completion, &req, cfg)
    }
}

/// End-of-turn and padding tokens that trainers leave at the end of a decoded sequence
/// (OpenRLHF decodes with special tokens); the rollout contract allows nothing after
/// `</answer>` but whitespace, so they are taken off before scoring.
pub const END_TOKENS: [&str; 8] = [
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "</s>",
    "<pad>",
    "<|end▁of▁sentence|>",
];

/// The ChatML marker that opens the assistant turn.
const ASSISTANT_TURN: &str = "<|im_start|>assistant";

/// Recovers the completion from a trainer's `query` and `prompt`:
///
/// 1. `query` starts with `prompt` → the rest;
/// 2. `prompt` occurs inside `query` (a tokenizer added a BOS token in front) → what follows
///    its first occurrence;
/// 3. `query` holds a ChatML assistant turn → what follows the last `<|im_start|>assistant`;
/// 4. otherwise the whole `query` (the trainer sent the completion alone).
///
/// Trailing [`END_TOKENS`] and whitespace are removed.
pub fn split_completion<'a>(query: &'a str, prompt: &str) -> &'a str {
    let rest = if !prompt.is_empty() && query.starts_with(prompt) {
        &query[prompt.len()..]
    } else if let Some(at) = (!prompt.is_empty()).then(|| query.find(prompt)).flatten() {
        &query[at + prompt.len()..]
    } else if let Some(at) = query.rfind(ASSISTANT_TURN) {
        query[at + ASSISTANT_TURN.len()..]
            .strip_prefix('\n')
            .unwrap_or(&query[at + ASSISTANT_TURN.len()..])
    } else {
        query
    };
    strip_end_tokens(rest)
}

/// Removes trailing [`END_TOKENS`] and whitespace.
pub fn strip_end_tokens(mut s: &str) -> &str {
    loop {
        let t = s.trim_end();
        match END_TOKENS.iter().find(|e| t.ends_with(*e)) {
            Some(e) => s = &t[..t.len() - e.len()],
            None => return t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_each_case() {
        let p = "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n";
        let c = "<twin>{}</twin><think>t</think><answer>[1]</answer>";
        assert_eq!(split_completion(&format!("{p}{c}<|im_end|>"), p), c);
        assert_eq!(split_completion(&format!("<s>{p}{c}</s>"), p), c);
        assert_eq!(
            split_completion(&format!("{p}{c}<|im_end|><|endoftext|>\n"), "other prompt"),
            c
        );
        assert_eq!(split_completion(c, ""), c);
        assert_eq!(split_completion(&format!("{c}  <pad><pad>"), "x"), c);
    }
}
