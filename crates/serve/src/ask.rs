//! `POST /v1/ask`: the policy answers a query over a twin, and the answer is decoded against
//! the twin — a mask as COCO RLE (segmentation), a box (grounding), text (VQA, summaries).

use dtr1_reward::accuracy::{parse_answer, Answer};
use dtr1_reward::Task;
use dtr1_rle::Rle;
use dtr1_twin::Twin;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

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
    /// Grounding: the box `[x1, y1, x2, y2]` of the cited object, or the box answered.
    #[serde(rename = "box", skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
    /// VQA and summaries: the text answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Policy {
    /// Loads a GGUF model with its tokenizer, and `adapter` (a PEFT directory) on it when
    /// given; the prompt version is the adapter's (`dtr1_prompt.json`).
    pub fn load(path: &Path, adapter: Option<&Path>) -> Result<Policy, String> {
        let (mut m, t) = dtr1_policy::load_gguf(path).map_err(|e| e.to_string())?;
        let version = match adapter {
            Some(dir) => {
                m.load_lora(dir)
                    .map_err(|e| format!("adapter {}: {e}", dir.display()))?;
                dtr1_prompt::version::of_adapter(dir).map_err(|e| e.to_string())?
            }
            None => dtr1_prompt::PromptVersion::LATEST,
        };
        Ok(Policy {
            inner: Mutex::new((m, t)),
            path: path.display().to_string(),
            adapter: adapter.map(|d| d.display().to_string()),
            version,
        })
    }

    /// Answers `query` about `twin` for `task` with greedy decoding.
    pub fn ask(
        &self,
        task: Task,
        query: &str,
        twin: &Twin,
        max_tokens: usize,
    ) -> Result<AskAnswer, String> {
        let messages: Vec<dtr1_policy::ChatMessage> =
            dtr1_prompt::build(self.version, task, query, twin)
                .into_iter()
                .map(|m| dtr1_policy::ChatMessage::new(m.role, m.content))
                .collect();
        let params = dtr1_policy::SamplingParams {
            max_new_tokens: max_tokens,
            temperature: 0.0,
            stop: vec!["<|im_end|>".into()],
            ..Default::default()
        };
        let completion = {
            let guard = self
                .inner
                .lock()
                .map_err(|_| "the policy lock is poisoned")?;
            let (model, tok) = &*guard;
            let prompt = tok
                .encode_chat(&messages, true)
                .map_err(|e| e.to_string())?;
            dtr1_policy::generate(model, tok, &[prompt], &params, self.adapter.is_some())
                .map_err(|e| e.to_string())?
                .remove(0)
                .text
        };
        Ok(decode(task, twin, completion))
    }
}

/// Decodes a completion's answer against the twin.
pub fn decode(task: Task, twin: &Twin, completion: String) -> AskAnswer {
    let parsed = dtr1_reward::rollout::parse(&completion);
    let answer = parse_answer(task, parsed.answer.as_deref().unwrap_or(""));
    let mut out = AskAnswer {
        completion,
        answer: serde_json::Value::Null,
        mask: None,
        masks: None,
        bbox: None,
        text: None,
    };
    match (&answer, twin) {
        (Answer::Ids(ids), Twin::Image(t)) => {
            out.answer = serde_json::json!(ids);
            let masks: Vec<Rle> = ids
                .iter()
                .filter_map(|i| t.object(*i).and_then(|o| o.mask.clone()))
                .collect();
            if task == Task::ImageGrounding {
                out.bbox = ids.first().and_then(|i| t.object(*i)).and_then(|o| o.bbox);
            } else if !masks.is_empty() {
                out.mask = dtr1_rle::merge(&masks, false).ok();
            }
        }
        (Answer::Ids(ids), Twin::Video(v)) => {
            out.answer = serde_json::json!(ids);
            let mut per_frame: BTreeMap<u32, Vec<Rle>> = BTreeMap::new();
            for tr in ids.iter().filter_map(|i| v.track(*i)) {
                for (f, o) in &tr.frames {
                    if let Some(m) = &o.mask {
                        per_frame.entry(*f).or_default().push(m.clone());
                    }
                }
            }
            out.masks = Some(
                per_frame
                    .into_iter()
                    .filter_map(|(f, ms)| dtr1_rle::merge(&ms, false).ok().map(|m| (f, m)))
                    .collect(),
            );
        }
        (Answer::Box(b), _) => {
            out.answer = serde_json::json!({ "box": b });
            out.bbox = Some(*b);
        }
        (Answer::Text(t), _) => {
            out.answer = serde_json::json!(t);
            out.text = Some(t.clone());
        }
        // An empty or malformed answer decodes to nothing; the completion shows why.
        (Answer::Empty | Answer::Invalid(_), _) => {}
    }
    out
}
