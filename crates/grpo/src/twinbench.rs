//! The six benchmarks as a GRPO [`Environment`]: a dataset split (TwinBench or any dataset in
//! dt-r1's format whose samples carry twins), prompts from `dtr1-prompt`, and the DT-R1
//! reward of `dtr1-reward`.

use std::path::Path;

use dtr1_data::{GroundTruth, Sample, Task};
use dtr1_metrics::cider::CiderD;
use dtr1_policy::{ChatMessage, Tokenizer};
use dtr1_prompt::PromptVersion;
use dtr1_reward::{RewardBreakdown, RewardConfig};
use dtr1_twin::Twin;

use crate::env::{EnvItem, Environment, Score};
use crate::error::{GrpoError, Result};

/// What the policy writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutMode {
    /// The whole rollout: `<twin>`, `<think>`, `<answer>` (DT-R1).
    Full,
    /// Only the answer; the environment wraps it into a rollout whose sub-twin lists the
    /// cited objects (for a text answer, the objects the label's `truth.ids` names) as the
    /// input twin has them and whose reasoning is empty, then scores that with the same
    /// reward. For tiny models and ablations: it isolates answer
    /// selection from learning the output format.
    AnswerOnly,
}

/// One prepared sample.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The sample.
    pub sample: Sample,
    /// Its input twin.
    pub twin: Twin,
    /// The chat messages of its prompt.
    pub messages: Vec<ChatMessage>,
    /// The tokenised prompt.
    pub prompt: Vec<u32>,
}

/// A split of a dataset with prompts and the DT-R1 reward.
pub struct TwinBenchEnv<'t> {
    tok: &'t Tokenizer,
    /// The samples, in file order.
    pub items: Vec<Prepared>,
    /// Reward weights.
    pub reward: RewardConfig,
    mode: RolloutMode,
    cider: Option<CiderD>,
}

/// The chat messages of a sample's prompt of `version` in `mode`.
pub fn messages(
    version: PromptVersion,
    sample: &Sample,
    twin: &Twin,
    mode: RolloutMode,
) -> Vec<ChatMessage> {
    match mode {
        RolloutMode::Full => dtr1_policy::chat(dtr1_prompt::build(
            version,
            sample.task,
            &sample.query,
            twin,
        )),
        RolloutMode::AnswerOnly => vec![ChatMessage::new(
            "user",
            dtr1_prompt::user_message(version, sample.task, &sample.query, twin),
        )],
    }
}

/// Read `split` of the dataset at `dir` with each sample's input twin; `tasks` filters
/// (empty = all six), `limit` caps the number of samples (0 = no cap).
///
/// A cap takes the tasks in turn (the first sample of each task in file order, then the
/// second of each, …) so that a small budget still trains on every benchmark: splits are
/// written scene by scene, image tasks first, and their first few hundred lines hold no video
/// sample at all.
pub fn load_samples(
    dir: &Path,
    split: &str,
    tasks: &[Task],
    limit: usize,
) -> Result<Vec<(Sample, Twin)>> {
    let samples = dtr1_data::dataset::read_split(dir, split).map_err(|source| GrpoError::Data {
        dir: dir.to_path_buf(),
        source,
    })?;
    let chosen = balanced_take(
        samples
            .into_iter()
            .filter(|s| tasks.is_empty() || tasks.contains(&s.task))
            .collect(),
        limit,
        |s| s.task,
    );
    let mut out = Vec::with_capacity(chosen.len());
    for s in chosen {
        let twin = dtr1_prompt::load_input_twin(dir, &s).map_err(GrpoError::InputTwin)?;
        out.push((s, twin));
    }
    if out.is_empty() {
        return Err(GrpoError::NoSamples {
            dir: dir.to_path_buf(),
            split: split.to_string(),
        });
    }
    Ok(out)
}

/// At most `limit` samples (0 = all), round-robin over tasks, each task in file order; the
/// result keeps file order.
fn balanced_take<T>(samples: Vec<T>, limit: usize, task: impl Fn(&T) -> Task) -> Vec<T> {
    if limit == 0 || samples.len() <= limit {
        return samples;
    }
    let mut by_task: Vec<(Task, Vec<usize>)> = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let t = task(s);
        match by_task.iter_mut().find(|(k, _)| *k == t) {
            Some((_, v)) => v.push(i),
            None => by_task.push((t, vec![i])),
        }
    }
    let mut keep = vec![false; samples.len()];
    let (mut taken, mut round) = (0, 0);
    while taken < limit {
        for (_, idx) in &by_task {
            if let Some(&i) = idx.get(round) {
                if taken < limit {
                    keep[i] = true;
                    taken += 1;
                }
            }
        }
        round += 1;
    }
    samples
        .into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect()
}

impl<'t> TwinBenchEnv<'t> {
    /// Build the environment from loaded samples, with prompts of `version` (the version
    /// the policy was cold-started on: [`dtr1_prompt::version::of_adapter`]).
    pub fn new(
        samples: Vec<(Sample, Twin)>,
        tok: &'t Tokenizer,
        mode: RolloutMode,
        version: PromptVersion,
        reward: RewardConfig,
    ) -> Result<Self> {
        let mut items = Vec::with_capacity(samples.len());
        let mut refs: Vec<Vec<String>> = Vec::new();
        for (sample, twin) in samples {
            let messages = messages(version, &sample, &twin, mode);
            let prompt = tok.encode_chat(&messages, true)?;
            if let GroundTruth::Summaries { references, .. } = &sample.truth {
                refs.push(references.clone());
            }
            items.push(Prepared {
                sample,
                twin,
                messages,
                prompt,
            });
        }
        // CIDEr-D needs document frequencies over the reference corpus of the split.
        let cider = (!refs.is_empty()).then(|| CiderD::from_references(&refs));
        Ok(Self {
            tok,
            items,
            reward,
            mode,
            cider,
        })
    }

    /// The tokenizer prompts were encoded with.
    pub fn tokenizer(&self) -> &Tokenizer {
        self.tok
    }

    /// The completion in the rollout format that `text` stands for (itself in
    /// [`RolloutMode::Full`]).
    pub fn rollout_text(&self, i: usize, text: &str) -> String {
        match self.mode {
            RolloutMode::Full => text.to_string(),
            RolloutMode::AnswerOnly => {
                let p = &self.items[i];
                let answer = text.trim();
                // The sub-twin the scaffold writes: the cited objects of an id answer; for a
                // text answer, the objects the label says the question is about (the reward
                // pays a text answer only over a sub-twin that holds some).
                let cited = match dtr1_reward::accuracy::parse_answer(p.sample.task, answer) {
                    dtr1_reward::accuracy::Answer::Ids(ids) => ids,
                    _ if !p.sample.task.answers_with_ids() => p
                        .sample
                        .truth
                        .relevant_ids()
                        .map(<[u32]>::to_vec)
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                let entries: Vec<serde_json::Value> = cited
                    .iter()
                    .filter_map(|&id| match &p.twin {
                        Twin::Image(t) => t
                            .objects
                            .iter()
                            .find(|o| o.id == id)
                            .map(|o| serde_json::json!({"id": o.id, "label": o.label})),
                        Twin::Video(t) => t
                            .track(id)
                            .map(|o| serde_json::json!({"id": o.id, "label": o.label})),
                    })
                    .collect();
                let key = match p.twin {
                    Twin::Image(_) => "objects",
                    Twin::Video(_) => "tracks",
                };
                let sub = serde_json::json!({ key: entries });
                // JSON, which the reward reads under every prompt version.
                dtr1_prompt::completion(PromptVersion::V1, &sub.to_string(), "", answer)
            }
        }
    }

    /// The full reward breakdown of a completion.
    pub fn breakdown(&self, i: usize, text: &str) -> RewardBreakdown {
        let p = &self.items[i];
        let req = dtr1_reward::Request {
            task: p.sample.task,
            query: &p.sample.query,
            twin: &p.twin,
            truth: &p.sample.truth,
            cider: self.cider.as_ref(),
        };
        dtr1_reward::score(&self.rollout_text(i, text), &req, &self.reward)
    }
}

impl Environment for TwinBenchEnv<'_> {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn item(&self, i: usize) -> Result<EnvItem> {
        let p = self.items.get(i).ok_or_else(|| GrpoError::NoItem {
            index: i,
            len: self.items.len(),
            action: "requested",
        })?;
        Ok(EnvItem {
            prompt: p.prompt.clone(),
            task: p.sample.task.name().to_string(),
        })
    }

    fn score(&self, i: usize, completion: &str) -> Result<Score> {
        if i >= self.items.len() {
            return Err(GrpoError::NoItem {
                index: i,
                len: self.items.len(),
                action: "scored",
            });
        }
        let b = self.breakdown(i, completion);
        Ok(Score {
            total: b.total,
            accuracy: b.accuracy,
            format: b.format,
            structure: b.structure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_takes_the_tasks_in_turn_and_keeps_file_order() {
        use Task::*;
        // Image tasks first, as generated splits are: a plain prefix would hold no video.
        let tasks = [
            ImageReasonseg,
            ImageVqa,
            ImageReasonseg,
            ImageVqa,
            ImageReasonseg,
            VideoSummary,
            VideoVqa,
            VideoVqa,
        ];
        let items: Vec<(usize, Task)> = tasks.into_iter().enumerate().collect();
        let got: Vec<usize> = balanced_take(items.clone(), 5, |x| x.1)
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(got, vec![0, 1, 2, 5, 6]);
        // Short task lists run out and the others fill the cap.
        let got: Vec<usize> = balanced_take(items.clone(), 7, |x| x.1)
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 5, 6, 7]);
        assert_eq!(balanced_take(items.clone(), 0, |x| x.1), items);
        assert_eq!(balanced_take(items.clone(), 99, |x| x.1), items);
    }
}
