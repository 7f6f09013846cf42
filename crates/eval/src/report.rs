//! Aggregation into metrics with bootstrap confidence intervals, and the Markdown and JSON
//! forms of a report.

use crate::score::{SampleScore, Values};
use crate::{EvalConfig, EvalError, TWIN_SOURCE};
use dtr1_data::Task;
use dtr1_metrics::bleu;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// One metric of a benchmark, ×100, with its percentile-bootstrap 95% interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricValue {
    /// Metric name (`gIoU`, `Acc@0.5`, …).
    pub name: String,
    /// Value ×100.
    pub value: f64,
    /// 2.5th percentile of the bootstrap distribution, ×100.
    pub ci_low: f64,
    /// 97.5th percentile, ×100.
    pub ci_high: f64,
}

/// Mean reward components of a set of samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardSummary {
    /// Fraction of rollouts that meet the format.
    pub format: f64,
    /// Mean structure score.
    pub structure: f64,
    /// Mean reward accuracy.
    pub accuracy: f64,
    /// Mean total reward.
    pub total: f64,
}

/// The metrics of one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchmarkReport {
    /// Benchmark name.
    pub benchmark: String,
    /// Samples.
    pub n: usize,
    /// Headline metrics (the first is the primary one).
    pub metrics: Vec<MetricValue>,
    /// Reward components.
    pub reward: RewardSummary,
}

/// The primary metric of a benchmark on one category or level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakdownRow {
    /// Benchmark name.
    pub benchmark: String,
    /// `category` or `level`.
    pub by: String,
    /// The group (`semantic`, `2`, …; `unlabelled` when absent).
    pub group: String,
    /// Samples.
    pub n: usize,
    /// The primary metric.
    pub metric: MetricValue,
}

/// A full evaluation report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The prompt version the completions answered.
    pub prompt_version: String,
    /// The answerer.
    pub answerer: String,
    /// The split.
    pub split: String,
    /// Where the input twins came from.
    pub twin_source: String,
    /// Samples.
    pub n: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Per benchmark, in benchmark order (benchmarks without samples are left out).
    pub benchmarks: Vec<BenchmarkReport>,
    /// Per category and per level.
    pub breakdown: Vec<BreakdownRow>,
    /// Reward components over every sample.
    pub reward: RewardSummary,
    /// Every sample's scores (written to `samples.jsonl`, not to `report.json`).
    #[serde(skip)]
    pub samples: Vec<SampleScore>,
}

pub(crate) type Stat = fn(&[&SampleScore]) -> f64;

fn mean(v: &[&SampleScore], f: impl Fn(&SampleScore) -> Option<f64>) -> f64 {
    let xs: Vec<f64> = v.iter().filter_map(|s| f(s)).collect();
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn giou(v: &[&SampleScore]) -> f64 {
    mean(v, |s| match s.values {
        Values::Seg { iou, .. } => Some(iou),
        _ => None,
    })
}

fn ciou(v: &[&SampleScore]) -> f64 {
    let (mut i, mut u) = (0u64, 0u64);
    for s in v {
        if let Values::Seg {
            intersection,
            union,
            ..
        } = s.values
        {
            i += intersection;
            u += union;
        }
    }
    i as f64 / (u as f64 + dtr1_metrics::seg::CUMULATIVE_EPS)
}

fn box_iou(s: &SampleScore) -> Option<f64> {
    match s.values {
        Values::Box { iou } => Some(iou),
        _ => None,
    }
}

fn acc05(v: &[&SampleScore]) -> f64 {
    mean(v, |s| box_iou(s).map(|i| f64::from(u8::from(i > 0.5))))
}

fn miou(v: &[&SampleScore]) -> f64 {
    mean(v, box_iou)
}

fn vqa_acc(v: &[&SampleScore]) -> f64 {
    mean(v, |s| match s.values {
        Values::Vqa { accuracy } => Some(accuracy),
        _ => None,
    })
}

fn jf_mean(v: &[&SampleScore]) -> f64 {
    mean(v, |s| match s.values {
        Values::Video { j, f } => Some((j + f) / 2.0),
        _ => None,
    })
}

fn j_mean(v: &[&SampleScore]) -> f64 {
    mean(v, |s| match s.values {
        Values::Video { j, .. } => Some(j),
        _ => None,
    })
}

fn f_mean(v: &[&SampleScore]) -> f64 {
    mean(v, |s| match s.values {
        Values::Video { f, .. } => Some(f),
        _ => None,
    })
}

fn rouge_l(v: &[&SampleScore]) -> f64 {
    mean(v, |s| match s.values {
        Values::Summary { rouge_l, .. } => Some(rouge_l),
        _ => None,
    })
}

fn cider_d(v: &[&SampleScore]) -> f64 {
    mean(v, |s| match s.values {
        Values::Summary { cider_d, .. } => Some(cider_d),
        _ => None,
    })
}

/// Corpus BLEU-4 (sacrebleu's default: summed statistics), on the 0–1 scale.
fn bleu4(v: &[&SampleScore]) -> f64 {
    let mut st = bleu::BleuStats::default();
    for s in v {
        if let Values::Summary {
            sys_len,
            ref_len,
            correct,
            total,
            ..
        } = s.values
        {
            st += bleu::BleuStats {
                sys_len,
                ref_len,
                correct,
                total,
            };
        }
    }
    bleu::score(&st, false) / 100.0
}

/// The headline metrics of a benchmark (the first is its primary metric), each on the 0–1
/// scale.
pub(crate) fn metrics_of(task: Task) -> Vec<(&'static str, Stat)> {
    match task {
        Task::ImageReasonseg => vec![("gIoU", giou), ("cIoU", ciou)],
        Task::ImageGrounding => vec![("Acc@0.5", acc05), ("mIoU", miou)],
        Task::ImageVqa | Task::VideoVqa => vec![("accuracy", vqa_acc)],
        Task::VideoReasonseg => vec![("J&F", jf_mean), ("J", j_mean), ("F", f_mean)],
        Task::VideoSummary => vec![
            ("ROUGE-L", rouge_l),
            ("CIDEr-D", cider_d),
            ("BLEU-4", bleu4),
        ],
    }
}

/// The value of `stat` and its percentile-bootstrap 95% interval (resampling samples with
/// replacement), ×100.
fn with_ci(name: &str, v: &[&SampleScore], stat: Stat, resamples: usize, seed: u64) -> MetricValue {
    let value = stat(v);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut dist: Vec<f64> = (0..resamples)
        .map(|_| {
            let pick: Vec<&SampleScore> = (0..v.len())
                .map(|_| v[rng.random_range(0..v.len())])
                .collect();
            stat(&pick)
        })
        .collect();
    dist.sort_by(f64::total_cmp);
    let q = |p: f64| dist[((dist.len() - 1) as f64 * p).round() as usize];
    MetricValue {
        name: name.to_string(),
        value: 100.0 * value,
        ci_low: 100.0 * q(0.025),
        ci_high: 100.0 * q(0.975),
    }
}

fn reward_summary(v: &[&SampleScore]) -> RewardSummary {
    let n = v.len().max(1) as f64;
    RewardSummary {
        format: v.iter().map(|s| s.format).sum::<f64>() / n,
        structure: v.iter().map(|s| s.structure).sum::<f64>() / n,
        accuracy: v.iter().map(|s| s.reward_accuracy).sum::<f64>() / n,
        total: v.iter().map(|s| s.reward_total).sum::<f64>() / n,
    }
}

pub(crate) fn aggregate(
    samples: Vec<SampleScore>,
    cfg: &EvalConfig,
    answerer: &str,
    split: &str,
    version: dtr1_prompt::PromptVersion,
) -> Report {
    let mut benchmarks = Vec::new();
    let mut breakdown = Vec::new();
    for task in Task::ALL {
        let v: Vec<&SampleScore> = samples.iter().filter(|s| s.task == task).collect();
        if v.is_empty() {
            continue;
        }
        let metrics: Vec<MetricValue> = metrics_of(task)
            .into_iter()
            .map(|(name, stat)| with_ci(name, &v, stat, cfg.resamples, cfg.seed))
            .collect();
        let (primary, stat) = metrics_of(task)[0];
        let mut groups: BTreeMap<(&str, String), Vec<&SampleScore>> = BTreeMap::new();
        for s in &v {
            let cat = s.category.map_or("unlabelled".to_string(), |c| {
                serde_json::to_value(c)
                    .ok()
                    .and_then(|x| x.as_str().map(String::from))
                    .unwrap_or_default()
            });
            let lvl = s.level.map_or("unlabelled".to_string(), |l| l.to_string());
            groups.entry(("category", cat)).or_default().push(s);
            groups.entry(("level", lvl)).or_default().push(s);
        }
        for ((by, group), g) in groups {
            breakdown.push(BreakdownRow {
                benchmark: task.name().into(),
                by: by.into(),
                group,
                n: g.len(),
                metric: with_ci(primary, &g, stat, cfg.resamples, cfg.seed),
            });
        }
        benchmarks.push(BenchmarkReport {
            benchmark: task.name().into(),
            n: v.len(),
            metrics,
            reward: reward_summary(&v),
        });
    }
    let all: Vec<&SampleScore> = samples.iter().collect();
    Report {
        prompt_version: version.to_string(),
        answerer: answerer.into(),
        split: split.into(),
        twin_source: TWIN_SOURCE.into(),
        n: samples.len(),
        resamples: cfg.resamples,
        seed: cfg.seed,
        benchmarks,
        breakdown,
        reward: reward_summary(&all),
        samples,
    }
}

fn ci(m: &MetricValue) -> String {
    format!("{:.1} [{:.1}, {:.1}]", m.value, m.ci_low, m.ci_high)
}

impl Report {
    /// The report as Markdown: headline metrics, reward components, breakdowns.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Answerer `{}` on split `{}` ({} samples), prompt v{}, twins: {}. Metrics ×100 with \
             percentile-bootstrap 95% intervals ({} resamples, seed {}).\n",
            self.answerer,
            self.split,
            self.n,
            self.prompt_version,
            self.twin_source,
            self.resamples,
            self.seed
        );
        s.push_str("| benchmark | n | metric | value [95% CI] |\n|---|---:|---|---|\n");
        for b in &self.benchmarks {
            for m in &b.metrics {
                let _ = writeln!(s, "| {} | {} | {} | {} |", b.benchmark, b.n, m.name, ci(m));
            }
        }
        s.push_str(
            "\nReward components (means; format = fraction of well-formed rollouts):\n\n\
             | benchmark | format | structure | accuracy | total |\n|---|---:|---:|---:|---:|\n",
        );
        let row = |name: &str, r: &RewardSummary| {
            format!(
                "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                r.format, r.structure, r.accuracy, r.total
            )
        };
        for b in &self.benchmarks {
            s.push_str(&row(&b.benchmark, &b.reward));
        }
        s.push_str(&row("all", &self.reward));
        for by in ["category", "level"] {
            let _ = write!(
                s,
                "\nPrimary metric by {by}:\n\n| benchmark | {by} | n | metric | value [95% CI] |\n|---|---|---:|---|---|\n"
            );
            for r in self.breakdown.iter().filter(|r| r.by == by) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    r.benchmark,
                    r.group,
                    r.n,
                    r.metric.name,
                    ci(&r.metric)
                );
            }
        }
        s
    }

    /// The primary metric of every benchmark as one Markdown table row (`| name | … |`), in
    /// benchmark order, for comparing answerers; [`Report::headline_header`] is its header.
    pub fn headline_row(&self, name: &str) -> String {
        let mut s = format!("| {name} |");
        for task in Task::ALL {
            match self.benchmarks.iter().find(|b| b.benchmark == task.name()) {
                Some(b) => {
                    let _ = write!(s, " {} |", ci(&b.metrics[0]));
                }
                None => s.push_str(" – |"),
            }
        }
        s
    }

    /// The header of [`Report::headline_row`].
    pub fn headline_header() -> String {
        let mut s = "| answerer |".to_string();
        let mut rule = "|---|".to_string();
        for task in Task::ALL {
            let _ = write!(s, " {} {} |", task.name(), metrics_of(task)[0].0);
            rule.push_str("---|");
        }
        format!("{s}\n{rule}")
    }

    /// Writes `report.md`, `report.json` and `samples.jsonl` (every sample's scores and
    /// completion) to `dir`, each atomically.
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        let json = serde_json::to_string_pretty(self).expect("reports serialise");
        dtr1_data::dataset::write_atomic(&dir.join("report.json"), json.as_bytes())?;
        let mut lines = String::new();
        for s in &self.samples {
            lines.push_str(&serde_json::to_string(s).expect("scores serialise"));
            lines.push('\n');
        }
        dtr1_data::dataset::write_atomic(&dir.join("samples.jsonl"), lines.as_bytes())?;
        dtr1_data::dataset::write_atomic(&dir.join("report.md"), self.to_markdown().as_bytes())?;
        Ok(())
    }
}
