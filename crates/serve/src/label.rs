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
//! A label is checked before it scores anything ([`dtr1_reward::truth::check`]): the truth's
//! type is the task's (`mask` for image-reasonseg, `box` for image-grounding, `answers` for
//! VQA, `video_masks` for video-reasonseg, `summaries` for video-summary), masks have the
//! twin's size, video frames lie within the twin's frame count, `truth.ids` exist in the
//! twin, and sizes stay within [`dtr1_reward::truth::Limits`]. A bad label is an error that
//! names the problem, never a silent zero.
//!
//! OpenRLHF sends `query` = prompt + completion, decoded with special tokens; verl and TRL
//! send the completion alone. [`split_completion`] recovers the completion; the boundary is
//! the given prompt, never something the completion could write.

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
    /// The ground truth does not fit the task or the twin, or the label is too large.
    #[error("label: {0}")]
    Truth(#[from] dtr1_reward::truth::TruthError),
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

impl Label {
    /// Parses the wire form from JSON text.
    pub fn from_json(text: &str) -> Result<Label, LabelError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Parses the twin, validates it (partial mode: a twin may leave out masks, as the
    /// compact prompt form does) and checks that the ground truth fits the task and the twin
    /// ([`dtr1_reward::truth::check`], default limits).
    pub fn parse(self) -> Result<ParsedLabel, LabelError> {
        let twin = Twin::from_json(self.twin.get())?;
        validate(&twin, Mode::Partial)?;
        dtr1_reward::truth::check(
            self.task,
            &self.query,
            &self.truth,
            &twin,
            &dtr1_reward::truth::Limits::default(),
        )?;
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

    /// Scores one completion with [`dtr1_reward::score`], after taking trailing end-of-turn
    /// tokens off ([`strip_end_tokens`]) — every route scores a completion the same way.
    pub fn score(&self, completion: &str, cfg: &RewardConfig) -> RewardBreakdown {
        let completion = strip_end_tokens(completion);
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

/// Tokens a decoded sequence may carry in front of the prompt: left padding and
/// beginning-of-sequence tokens (OpenRLHF decodes the padded batch with special tokens).
pub const PREFIX_TOKENS: [&str; 12] = [
    "<|endoftext|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<pad>",
    "</s>",
    "<s>",
    "<|begin_of_text|>",
    "<bos>",
    "<|startoftext|>",
    "<|begin▁of▁sentence|>",
    "<|end▁of▁sentence|>",
];

/// Why a trainer's query could not be split at its prompt.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "the query does not contain the prompt after padding/BOS tokens only (query starts {query_start:?}, prompt starts {prompt_start:?}); send the prompt exactly as it was given to the policy, or no prompts at all when queries are completions"
)]
pub struct SplitError {
    /// The first characters of the query.
    pub query_start: String,
    /// The first characters of the prompt.
    pub prompt_start: String,
}

/// Whether `s` is only padding/BOS tokens ([`PREFIX_TOKENS`]) and whitespace.
fn only_prefix_tokens(mut s: &str) -> bool {
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return true;
        }
        match PREFIX_TOKENS.iter().find(|t| s.starts_with(*t)) {
            Some(t) => s = &s[t.len()..],
            None => return false,
        }
    }
}

/// Recovers the completion from a trainer's `query` and `prompt`:
///
/// - no prompt (`""`): the query is the completion (verl and TRL send it alone);
/// - otherwise the query must be the prompt, possibly after padding and BOS tokens
///   ([`PREFIX_TOKENS`]), followed by the completion; anything else is a [`SplitError`].
///
/// The boundary is fixed by the prompt the trainer gave, so nothing the policy writes (a
/// ChatML `<|im_start|>assistant` marker, say) can move it. Trailing end-of-turn tokens are
/// left on; [`ParsedLabel::score`] takes them off.
pub fn split_completion<'a>(query: &'a str, prompt: &str) -> Result<&'a str, SplitError> {
    if prompt.is_empty() {
        return Ok(query);
    }
    // Only padding may come before the prompt, so its first occurrence is the only candidate.
    if let Some(at) = query.find(prompt) {
        if only_prefix_tokens(&query[..at]) {
            return Ok(&query[at + prompt.len()..]);
        }
    }
    Err(SplitError {
        query_start: query.chars().take(40).collect(),
        prompt_start: prompt.chars().take(40).collect(),
    })
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
        assert_eq!(
            split_completion(&format!("{p}{c}<|im_end|>"), p),
            Ok(&*format!("{c}<|im_end|>"))
        );
        assert_eq!(
            split_completion(&format!("<s>{p}{c}</s>"), p),
            Ok(&*format!("{c}</s>"))
        );
        let padded = format!("<|endoftext|><|endoftext|>{p}{c}");
        assert_eq!(split_completion(&padded, p), Ok(c));
        assert_eq!(split_completion(c, ""), Ok(c));
        assert_eq!(strip_end_tokens(&format!("{c}  <pad><pad>")), c);
        assert_eq!(
            strip_end_tokens(&format!("{c}<|im_end|><|endoftext|>\n")),
            c
        );
    }

    #[test]
    fn the_completion_cannot_move_the_boundary() {
        let p = "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n";
        // A completion that writes its own assistant turn keeps what comes before it.
        let c = "junk<|im_start|>assistant\n<twin>{}</twin><think>t</think><answer>[1]</answer>";
        assert_eq!(split_completion(&format!("{p}{c}"), p), Ok(c));
        // A prompt that differs by one character is an error, not a guess.
        let other = p.replace('Q', "R");
        let e = split_completion(&format!("{p}{c}"), &other).unwrap_err();
        assert!(e.to_string().contains("does not contain the prompt"), "{e}");
        // Text other than padding in front of the prompt is refused as well.
        assert!(split_completion(&format!("hello {p}{c}"), p).is_err());
        // Without a prompt the query is the completion, markers and all.
        assert_eq!(split_completion(c, ""), Ok(c));
    }
}
