//! Per-sample scoring of the answers [`dtr1_reward::answer`] decodes.

use crate::{EvalError, PreparedSample};
use dtr1_data::{Category, GroundTruth, Task};
use dtr1_metrics::{bleu, boxes, cider, jf, rouge, seg, vqa};
use dtr1_reward::accuracy::Answer;
use dtr1_reward::answer::{self, Reading};
use dtr1_reward::{Request, RewardConfig};
use dtr1_rle::Rle;
use dtr1_twin::Twin;
use serde::{Deserialize, Serialize};

/// The metric inputs of one sample, by benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Values {
    /// Image reasoning segmentation: foreground intersection and union (pixels, ignore
    /// region excluded) and the LISA IoU.
    Seg {
        /// Intersection.
        intersection: u64,
        /// Union.
        union: u64,
        /// Per-sample IoU.
        iou: f64,
    },
    /// Grounding: IoU of the decoded box with the target (0 when nothing decodes).
    Box {
        /// Box IoU.
        iou: f64,
    },
    /// VQA: accuracy of the answer.
    Vqa {
        /// Accuracy in [0, 1].
        accuracy: f64,
    },
    /// Video segmentation: mean J and F over all frames.
    Video {
        /// Region similarity.
        j: f64,
        /// Boundary accuracy.
        f: f64,
    },
    /// Summary: ROUGE-L F1, CIDEr-D (document frequencies of the split's references) and
    /// the BLEU sufficient statistics.
    Summary {
        /// ROUGE-L F1 (stemmed, best reference).
        rouge_l: f64,
        /// CIDEr-D (pycocoevalcap scale).
        cider_d: f64,
        /// Hypothesis length (BLEU).
        sys_len: usize,
        /// Closest reference length (BLEU).
        ref_len: usize,
        /// Matched n-grams per order (BLEU).
        correct: [usize; 4],
        /// Hypothesis n-grams per order (BLEU).
        total: [usize; 4],
    },
}

/// One sample's scores (a line of `samples.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleScore {
    /// Sample id.
    pub id: String,
    /// Benchmark.
    pub task: Task,
    /// Reasoning category.
    pub category: Option<Category>,
    /// Level.
    pub level: Option<u8>,
    /// The completion.
    pub completion: String,
    /// Metric inputs.
    pub values: Values,
    /// Reward: format (0/1).
    pub format: f64,
    /// Reward: structure.
    pub structure: f64,
    /// Reward: accuracy.
    pub reward_accuracy: f64,
    /// Reward: weighted total.
    pub reward_total: f64,
}

fn text_accuracy(answer: &Answer, answers: &[String]) -> f64 {
    let Answer::Text(t) = answer else { return 0.0 };
    if answers.len() >= 10 {
        let refs: Vec<&str> = answers.iter().map(String::as_str).collect();
        vqa::soft_accuracy(t, &refs).unwrap_or(0.0)
    } else {
        f64::from(u8::from(answers.iter().any(|a| vqa::exact_match(t, a))))
    }
}

fn metric_err(p: &PreparedSample) -> impl Fn(dtr1_metrics::MetricError) -> EvalError + '_ {
    move |source| EvalError::Metric {
        sample: p.sample.id.clone(),
        source,
    }
}

fn values(
    p: &PreparedSample,
    completion: &str,
    scorer: &cider::CiderD,
) -> Result<Values, EvalError> {
    let Reading {
        answer, cited: ids, ..
    } = answer::read(p.sample.task, &p.twin, completion);
    let err = metric_err(p);
    Ok(match (&p.sample.truth, &p.twin) {
        (GroundTruth::Mask { mask, ignore, .. }, Twin::Image(t)) => {
            // A union of another size than the label's cannot be compared: it scores as empty.
            let (h, w) = (mask.height(), mask.width());
            let pred = answer::image_mask(t, &ids)
                .filter(|m| m.size() == [h, w])
                .unwrap_or_else(|| Rle::empty(h, w));
            let c = seg::counts_rle(&pred, mask, ignore.as_ref()).map_err(err)?;
            Values::Seg {
                intersection: c.intersection,
                union: c.union,
                iou: c.iou(),
            }
        }
        (GroundTruth::Box { bbox, .. }, Twin::Image(t)) => {
            let pred = match &answer {
                Answer::Box(b) => Some(*b),
                Answer::Ids(_) => answer::union_box(t, &ids),
                _ => None,
            };
            let iou = match pred {
                Some(b) => {
                    boxes::box_iou(&b, bbox, boxes::BoxConvention::Continuous).map_err(err)?
                }
                None => 0.0,
            };
            Values::Box { iou }
        }
        (GroundTruth::Answers { answers, .. }, _) => Values::Vqa {
            accuracy: text_accuracy(&answer, answers),
        },
        (GroundTruth::VideoMasks { masks, .. }, Twin::Video(v)) => {
            if v.frames == 0 {
                return Err(EvalError::NoFrames {
                    sample: p.sample.id.clone(),
                });
            }
            let empty = Rle::empty(v.height, v.width);
            let mut preds = answer::frame_masks(v, &ids);
            let mut frames = Vec::with_capacity(v.frames as usize);
            for f in 0..v.frames {
                let pred = preds.remove(&f).unwrap_or_else(|| empty.clone());
                let gt = masks.get(&f).unwrap_or(&empty);
                // Identical masks (both empty included) have J = F = 1 under DAVIS's rules;
                // skipping the dense boundary maps keeps long videos cheap.
                frames.push(if pred == *gt {
                    jf::FrameScores { j: 1.0, f: 1.0 }
                } else {
                    jf::frame_scores_rle(&pred, gt).map_err(&err)?
                });
            }
            let s = jf::SequenceScores::from_frames(&frames).map_err(err)?;
            Values::Video { j: s.j, f: s.f }
        }
        (GroundTruth::Summaries { references, .. }, _) => {
            let text = match &answer {
                Answer::Text(t) => t.as_str(),
                _ => "",
            };
            let refs: Vec<&str> = references.iter().map(String::as_str).collect();
            let toks: Vec<String> = refs.iter().map(|r| cider::tokenize(r)).collect();
            let st = bleu::segment_stats(text, &refs);
            Values::Summary {
                rouge_l: rouge::rouge_l_multi(&refs, text, true).fmeasure,
                cider_d: scorer.score(&cider::tokenize(text), &toks),
                sys_len: st.sys_len,
                ref_len: st.ref_len,
                correct: st.correct,
                total: st.total,
            }
        }
        _ => {
            return Err(EvalError::TruthMismatch {
                sample: p.sample.id.clone(),
                truth: p.sample.truth.type_name(),
                task: p.sample.task,
            })
        }
    })
}

/// The CIDEr-D document frequencies of a split: every summary sample's references.
pub(crate) fn cider_scorer(samples: &[PreparedSample]) -> cider::CiderD {
    let refs: Vec<Vec<String>> = samples
        .iter()
        .filter_map(|p| match &p.sample.truth {
            GroundTruth::Summaries { references, .. } => {
                Some(references.iter().map(|r| cider::tokenize(r)).collect())
            }
            _ => None,
        })
        .collect();
    cider::CiderD::from_references(&refs)
}

/// Scores every sample.
pub(crate) fn score_all(
    samples: &[PreparedSample],
    completions: &[String],
    cfg: &RewardConfig,
) -> Result<Vec<SampleScore>, EvalError> {
    let scorer = cider_scorer(samples);
    samples
        .iter()
        .zip(completions)
        .map(|(p, c)| {
            let r = dtr1_reward::score(
                c,
                &Request {
                    task: p.sample.task,
                    query: &p.sample.query,
                    twin: &p.twin,
                    truth: &p.sample.truth,
                    cider: Some(&scorer),
                },
                cfg,
            );
            Ok(SampleScore {
                id: p.sample.id.clone(),
                task: p.sample.task,
                category: p.sample.category,
                level: p.sample.level,
                completion: c.clone(),
                values: values(p, c, &scorer)?,
                format: r.format,
                structure: r.structure,
                reward_accuracy: r.accuracy,
                reward_total: r.total,
            })
        })
        .collect()
}
