//! pass@k: how often at least one of k sampled rollouts solves a prompt — what reinforcement
//! learning can sharpen into a greedy answer. Reports on small models agree that RL mostly
//! turns pass@k into pass@1 and adds little beyond it, so pass@k of a cold start bounds what
//! GRPO from it can reach, and pass@k of the GRPO policy shows whether it narrowed the set.
//!
//! A rollout *solves* its prompt when the reward's accuracy component reaches
//! [`SOLVED_ACCURACY`] (the same accuracy `dtr1 train` optimises: mask or box IoU, VQA
//! accuracy, the summary's event match × text overlap, counted only with a well-formed
//! rollout). With `n` rollouts of which `c` solve, pass@k is the unbiased estimator of Chen
//! et al. (2021), `1 − C(n−c, k) / C(n, k)`, averaged over prompts.

use crate::PreparedSample;
use dtr1_data::Task;
use dtr1_reward::{score, Request, RewardConfig};
use serde::Serialize;
use std::collections::BTreeMap;

/// Reward accuracy at or above which a rollout counts as solving its prompt.
pub const SOLVED_ACCURACY: f64 = 0.5;

/// The unbiased pass@k estimate for one prompt with `n` rollouts of which `c` solve it
/// (`k ≤ n`). Computed as a product, so it neither overflows nor loses precision.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    assert!(
        k >= 1 && k <= n && c <= n,
        "pass@k needs 1 ≤ k ≤ n and c ≤ n"
    );
    if n - c < k {
        return 1.0;
    }
    // C(n−c, k) / C(n, k) = ∏_{i=n−c+1}^{n} (1 − k / i)
    1.0 - ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product::<f64>()
}

/// pass@1 and pass@k of one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassRow {
    /// Benchmark name.
    pub benchmark: String,
    /// Prompts.
    pub prompts: usize,
    /// Rollouts per prompt.
    pub n: usize,
    /// Mean pass@1 (the fraction of rollouts that solve).
    pub pass_at_1: f64,
    /// Mean pass@k.
    pub pass_at_k: f64,
    /// k.
    pub k: usize,
}

/// pass@1 and pass@`k` per benchmark of `rollouts[i]` (the rollouts of `samples[i]`), with
/// the reward `cfg`. Every sample needs at least `k` rollouts.
pub fn evaluate(
    samples: &[PreparedSample],
    rollouts: &[Vec<String>],
    k: usize,
    cfg: &RewardConfig,
) -> Result<Vec<PassRow>, String> {
    if samples.len() != rollouts.len() {
        return Err(format!(
            "{} rollout lists for {} samples",
            rollouts.len(),
            samples.len()
        ));
    }
    let mut by: BTreeMap<Task, Vec<(usize, usize)>> = BTreeMap::new();
    for (p, rs) in samples.iter().zip(rollouts) {
        if k == 0 || rs.len() < k {
            return Err(format!(
                "sample {}: {} rollouts, pass@{k} needs at least k ≥ 1",
                p.sample.id,
                rs.len()
            ));
        }
        let req = Request {
            task: p.sample.task,
            query: &p.sample.query,
            twin: &p.twin,
            truth: &p.sample.truth,
            cider: None,
        };
        let c = rs
            .iter()
            .filter(|r| score(r, &req, cfg).accuracy >= SOLVED_ACCURACY)
            .count();
        by.entry(p.sample.task).or_default().push((rs.len(), c));
    }
    Ok(by
        .into_iter()
        .map(|(task, v)| {
            let m = v.len() as f64;
            PassRow {
                benchmark: task.name().into(),
                prompts: v.len(),
                n: v[0].0,
                pass_at_1: v.iter().map(|&(n, c)| c as f64 / n as f64).sum::<f64>() / m,
                pass_at_k: v.iter().map(|&(n, c)| pass_at_k(n, c, k)).sum::<f64>() / m,
                k,
            }
        })
        .collect())
}

/// The rows as a Markdown table (values ×100).
pub fn to_markdown(rows: &[PassRow]) -> String {
    let k = rows.first().map_or(0, |r| r.k);
    let mut s = format!(
        "| benchmark | prompts | rollouts | pass@1 | pass@{k} |\n|---|---:|---:|---:|---:|\n"
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} |\n",
            r.benchmark,
            r.prompts,
            r.n,
            100.0 * r.pass_at_1,
            100.0 * r.pass_at_k
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product form equals the binomial definition.
    fn binom(n: usize, k: usize) -> f64 {
        (0..k).map(|i| (n - i) as f64 / (k - i) as f64).product()
    }

    #[test]
    fn the_estimator_matches_its_definition_and_its_limits() {
        for n in 1..=12 {
            for c in 0..=n {
                for k in 1..=n {
                    let want = if n - c < k {
                        1.0
                    } else {
                        1.0 - binom(n - c, k) / binom(n, k)
                    };
                    assert!((pass_at_k(n, c, k) - want).abs() < 1e-12, "{n} {c} {k}");
                }
            }
        }
        assert_eq!(pass_at_k(8, 0, 8), 0.0);
        assert_eq!(pass_at_k(8, 1, 8), 1.0);
        // pass@1 is the fraction that solve.
        assert!((pass_at_k(8, 3, 1) - 3.0 / 8.0).abs() < 1e-12);
    }
}
