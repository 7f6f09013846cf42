//! Paired comparison of two evaluations of the same samples.
//!
//! Two runs' confidence intervals can overlap while one run is better on nearly every
//! sample; and they can be disjoint by luck of a small split. The question "is B better
//! than A on this benchmark?" is answered by the difference B − A on the *same* samples:
//! [`compare`] pairs the samples of two `samples.jsonl` files by id and, per benchmark and
//! headline metric, reports the difference with a paired percentile-bootstrap 95% interval
//! (each resample draws sample ids and scores both runs on them). A difference whose interval
//! excludes 0 is called significant.

use crate::report::{metrics_of, Stat};
use crate::{EvalError, SampleScore};
use dtr1_data::Task;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Which run a paired difference favours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The interval of B − A lies above 0.
    BBetter,
    /// The interval of B − A lies below 0.
    ABetter,
    /// The interval contains 0.
    NoDifference,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::BBetter => "B better",
            Verdict::ABetter => "A better",
            Verdict::NoDifference => "no difference",
        }
    }
}

/// One metric of one benchmark, compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Benchmark name.
    pub benchmark: String,
    /// Metric name.
    pub metric: String,
    /// Paired samples.
    pub n: usize,
    /// The metric of run A, ×100.
    pub a: f64,
    /// The metric of run B, ×100.
    pub b: f64,
    /// B − A, ×100.
    pub delta: f64,
    /// 2.5th percentile of the paired bootstrap of B − A, ×100.
    pub ci_low: f64,
    /// 97.5th percentile, ×100.
    pub ci_high: f64,
    /// Whether the interval excludes 0, and on which side.
    pub verdict: Verdict,
}

/// Reads a `samples.jsonl` written by `dtr1 eval --out`.
pub fn read_samples(path: &Path) -> Result<Vec<SampleScore>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::ReadSamples {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| EvalError::SampleLine {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })
        })
        .collect()
}

/// Compares run B with run A on the samples both scored, per benchmark and headline metric
/// (benchmark order, then the metric order of the reports).
///
/// Errors when the runs share no sample, when one id appears twice in a run, or when a
/// shared id is scored as different benchmarks (two different datasets). Samples only one
/// run scored are left out; `n` says how many were paired.
pub fn compare(
    a: &[SampleScore],
    b: &[SampleScore],
    resamples: usize,
    seed: u64,
) -> Result<Vec<Difference>, EvalError> {
    if resamples == 0 {
        return Err(EvalError::NoResamples);
    }
    let index = |run: &[SampleScore], name: &str| -> Result<BTreeMap<String, usize>, EvalError> {
        let mut m = BTreeMap::new();
        for (i, s) in run.iter().enumerate() {
            if m.insert(s.id.clone(), i).is_some() {
                return Err(EvalError::DuplicateSample {
                    run: name.to_string(),
                    sample: s.id.clone(),
                });
            }
        }
        Ok(m)
    };
    let (ia, ib) = (index(a, "A")?, index(b, "B")?);
    let mut pairs: BTreeMap<Task, Vec<(&SampleScore, &SampleScore)>> = BTreeMap::new();
    for (id, &i) in &ia {
        if let Some(&j) = ib.get(id) {
            let (sa, sb) = (&a[i], &b[j]);
            if sa.task != sb.task {
                return Err(EvalError::TaskMismatch {
                    sample: id.clone(),
                    a: sa.task,
                    b: sb.task,
                });
            }
            pairs.entry(sa.task).or_default().push((sa, sb));
        }
    }
    if pairs.is_empty() {
        return Err(EvalError::NoSharedSamples);
    }
    let mut out = Vec::new();
    for task in Task::ALL {
        let Some(p) = pairs.get(&task) else { continue };
        for (name, stat) in metrics_of(task) {
            out.push(paired(task, name, p, stat, resamples, seed));
        }
    }
    Ok(out)
}

fn paired(
    task: Task,
    name: &str,
    p: &[(&SampleScore, &SampleScore)],
    stat: Stat,
    resamples: usize,
    seed: u64,
) -> Difference {
    let score = |pick: &[usize]| {
        let va: Vec<&SampleScore> = pick.iter().map(|&i| p[i].0).collect();
        let vb: Vec<&SampleScore> = pick.iter().map(|&i| p[i].1).collect();
        (stat(&va), stat(&vb))
    };
    let all: Vec<usize> = (0..p.len()).collect();
    let (a, b) = score(&all);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut dist: Vec<f64> = (0..resamples)
        .map(|_| {
            let pick: Vec<usize> = (0..p.len()).map(|_| rng.random_range(0..p.len())).collect();
            let (x, y) = score(&pick);
            y - x
        })
        .collect();
    dist.sort_by(f64::total_cmp);
    let q = |f: f64| 100.0 * dist[((dist.len() - 1) as f64 * f).round() as usize];
    let (lo, hi) = (q(0.025), q(0.975));
    let verdict = if lo > 0.0 {
        Verdict::BBetter
    } else if hi < 0.0 {
        Verdict::ABetter
    } else {
        Verdict::NoDifference
    };
    Difference {
        benchmark: task.name().into(),
        metric: name.into(),
        n: p.len(),
        a: 100.0 * a,
        b: 100.0 * b,
        delta: 100.0 * (b - a),
        ci_low: lo,
        ci_high: hi,
        verdict,
    }
}

/// The comparison as a Markdown table, runs named `a` and `b`.
pub fn to_markdown(diffs: &[Difference], a: &str, b: &str) -> String {
    let mut s = format!(
        "A = {a}\nB = {b}\n\n| benchmark | metric | n | A | B | B − A [95% paired CI] | verdict |\n|---|---|---|---|---|---|---|\n"
    );
    for d in diffs {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {:.1} | {:+.1} [{:+.1}, {:+.1}] | {} |",
            d.benchmark,
            d.metric,
            d.n,
            d.a,
            d.b,
            d.delta,
            d.ci_low,
            d.ci_high,
            d.verdict.text()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Values;

    fn grounding(id: &str, iou: f64) -> SampleScore {
        SampleScore {
            id: id.into(),
            task: Task::ImageGrounding,
            category: None,
            level: None,
            completion: String::new(),
            values: Values::Box { iou },
            format: 1.0,
            structure: 1.0,
            reward_accuracy: iou,
            reward_total: 1.0 + iou,
        }
    }

    fn vqa(id: &str, accuracy: f64) -> SampleScore {
        SampleScore {
            task: Task::ImageVqa,
            values: Values::Vqa { accuracy },
            ..grounding(id, 0.0)
        }
    }

    #[test]
    fn a_run_better_on_most_paired_samples_is_called_better() {
        // B hits 30 of 40 grounding targets, A hits 10 of the same 40 (and only ones B hits).
        let a: Vec<_> = (0..40)
            .map(|i| grounding(&format!("s{i}"), if i < 10 { 0.9 } else { 0.1 }))
            .collect();
        let b: Vec<_> = (0..40)
            .map(|i| grounding(&format!("s{i}"), if i < 30 { 0.9 } else { 0.1 }))
            .collect();
        let d = compare(&a, &b, 1000, 0).unwrap();
        assert_eq!(d.len(), 2, "Acc@0.5 and mIoU");
        assert_eq!(d[0].metric, "Acc@0.5");
        assert_eq!((d[0].a, d[0].b), (25.0, 75.0));
        assert!((d[0].delta - 50.0).abs() < 1e-9);
        assert!(d[0].ci_low > 0.0 && d[0].ci_low <= 50.0 && d[0].ci_high >= 50.0);
        assert_eq!(d[0].verdict, Verdict::BBetter);
        // Swapped, the verdict flips.
        let d = compare(&b, &a, 1000, 0).unwrap();
        assert_eq!(d[0].verdict, Verdict::ABetter);
    }

    #[test]
    fn identical_runs_and_a_single_changed_sample_are_no_difference() {
        let a: Vec<_> = (0..40)
            .map(|i| vqa(&format!("q{i}"), f64::from(i % 2)))
            .collect();
        let d = compare(&a, &a, 500, 0).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].delta, d[0].ci_low, d[0].ci_high), (0.0, 0.0, 0.0));
        assert_eq!(d[0].verdict, Verdict::NoDifference);
        let mut b = a.clone();
        b[0] = vqa("q0", 1.0);
        let d = compare(&a, &b, 500, 0).unwrap();
        assert!(d[0].delta > 0.0);
        assert_eq!(d[0].verdict, Verdict::NoDifference, "{:?}", d[0]);
    }

    #[test]
    fn only_shared_ids_are_paired_and_mismatches_are_named() {
        let a = vec![grounding("x", 1.0), grounding("y", 1.0), vqa("v", 1.0)];
        let b = vec![grounding("y", 0.0), grounding("z", 0.0)];
        let d = compare(&a, &b, 100, 0).unwrap();
        assert_eq!(d.len(), 2, "grounding only: vqa is not in B");
        assert_eq!(d[0].n, 1);
        let none = compare(&a, &[grounding("w", 1.0)], 100, 0).unwrap_err();
        assert!(none.to_string().contains("share no sample"), "{none}");
        let clash = compare(&a, &[vqa("x", 1.0)], 100, 0).unwrap_err();
        assert!(
            clash.to_string().contains("not on the same dataset"),
            "{clash}"
        );
        let twice = compare(&a, &[vqa("v", 1.0), vqa("v", 0.0)], 100, 0).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
    }

    #[test]
    fn samples_jsonl_round_trips_and_bad_lines_are_named() {
        let dir = std::env::temp_dir().join(format!("dtr1-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("samples.jsonl");
        let s = vec![grounding("x", 0.25), vqa("v", 1.0)];
        let text: String = s
            .iter()
            .map(|x| serde_json::to_string(x).unwrap() + "\n")
            .collect();
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_samples(&path).unwrap(), s);
        std::fs::write(&path, text + "{\"id\": 3}\n").unwrap();
        let e = read_samples(&path).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
