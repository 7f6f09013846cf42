//! `POST /v1/ask`: the policy answers a query over a twin, and the answer is decoded against
//! the twin by the answer layer the reward and `dtr1 eval` use ([`dtr1_reward::answer`]) —
//! a mask as COCO RLE (segmentation), a box (grounding), text (VQA, summaries).

use dtr1_policy::AdapterChoice;
use dtr1_reward::accuracy::Answer;
use dtr1_reward::answer::{self, Decoded, Reading};
use dtr1_reward::Task;
use dtr1_rle::Rle;
use dtr1_twin::Twin;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use thiserror::Error;

/// Why `/v1/ask`'s policy could not load or answer.
#[derive(Debug, Error)]
pub enum AskError {
    /// The model, its tokenizer or its adapter could not be loaded, or generation failed.
    #[error(transparent)]
    Policy(#[from] dtr1_policy::PolicyError),
    /// A request panicked while it held the policy, so its state cannot be trusted.
    #[error("the policy lock is poisoned (an earlier request panicked)")]
    Poisoned,
}

/// The policy behind `/v1/ask`: a model and its tokenizer, one generation at a time (a
/// generation already uses every core).
pub struct Policy {
    inner: Mutex<(dtr1_policy::Model, dtr1_policy::Tokenizer)>,
    /// Where it was loaded from.
    pub path: String,
    /// The LoRA adapter on it, if any.
    pub adapter: Option<String>,
    /// The prompt version it is asked in: its adapter's record, or the latest for the base
    /// model.
    pub version: dtr1_prompt::PromptVersion,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("path", &self.path).finish()
    }
}

/// What `/v1/ask` answers.
#[derive(Debug, Serialize)]
pub struct AskAnswer {
    /// The policy's completion (rollout format when the policy follows the contract).
    pub completion: String,
    /// The `<answer>` block, parsed for the task.
    pub answer: serde_json::Value,
    /// Segmentation (image): the union of the cited objects' masks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<Rle>,
    /// Segmentation (video): the union of the cited tracks' masks per frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masks: Option<BTreeMap<u32, Rle>>,
    /// Grounding: the union box `[x1, y1, x2, y2]` of the cited objects (what the reward
    /// scores), or the box answered.
    #[serde(rename = "box", skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
    /// VQA and summaries: the text answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Policy {
    /// Loads a model (GGUF file or HF directory) with its tokenizer, and `adapter` (a PEFT
    /// directory) on it when given; the prompt version is the adapter's (`dtr1_prompt.json`).
    /// `dtr1 serve` resolves `--adapter` / `--no-adapter` / the committed adapter with
    /// [`AdapterChoice::from_flags`], the rule `dtr1 ask` follows.
    pub fn load(path: &Path, adapter: Option<&Path>) -> Result<Policy, AskError> {
        let a = dtr1_policy::answering::load(Some(path), &AdapterChoice::given(adapter), None)?;
        Ok(Policy {
            inner: Mutex::new((a.model, a.tokenizer)),
            path: path.display().to_string(),
            adapter: a.adapter.map(|d| d.display().to_string()),
            version: a.version,
        })
    }

    /// Answers `query` about `twin` for `task` with greedy decoding.
    pub fn ask(
        &self,
        task: Task,
        query: &str,
        twin: &Twin,
        max_tokens: usize,
    ) -> Result<AskAnswer, AskError> {
        let messages = dtr1_policy::chat(dtr1_prompt::build(self.version, task, query, twin));
        let params = dtr1_policy::SamplingParams {
            max_new_tokens: max_tokens,
            temperature: 0.0,
            stop: vec!["<|im_end|>".into()],
            ..Default::default()
        };
        let completion = {
            let guard = self.inner.lock().map_err(|_| AskError::Poisoned)?;
            let (model, tok) = &*guard;
            let prompt = tok.encode_chat(&messages, true)?;
            dtr1_policy::generate(model, tok, &[prompt], &params, self.adapter.is_some())?
                .remove(0)
                .text
        };
        Ok(decode(task, twin, completion))
    }
}

/// Decodes a completion's answer against the twin with the answer layer
/// ([`dtr1_reward::answer::read`]).
pub fn decode(task: Task, twin: &Twin, completion: String) -> AskAnswer {
    let reading = answer::read(task, twin, &completion);
    AskAnswer::new(completion, &reading)
}

impl AskAnswer {
    /// The answer of a completion as the answer layer read it.
    pub fn new(completion: String, reading: &Reading) -> AskAnswer {
        let mut out = AskAnswer {
            completion,
            answer: match &reading.answer {
                Answer::Ids(ids) => serde_json::json!(ids),
                Answer::Box(b) => serde_json::json!({ "box": b }),
                Answer::Text(t) => serde_json::json!(t),
                // An empty or malformed answer decodes to nothing; the completion shows why.
                Answer::Empty | Answer::Invalid(_) => serde_json::Value::Null,
            },
            mask: None,
            masks: None,
            bbox: None,
            text: None,
        };
        match &reading.decoded {
            Decoded::Mask(m) => out.mask = Some(m.clone()),
            Decoded::FrameMasks(ms) => out.masks = Some(ms.clone()),
            Decoded::Box(b) => out.bbox = Some(*b),
            Decoded::Text(t) => out.text = Some(t.clone()),
            Decoded::Nothing => {}
        }
        out
    }
}
