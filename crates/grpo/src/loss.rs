//! The GRPO objective on per-token log-probabilities.
//!
//! For completion `i` with advantage `Aᵢ` and token `t`:
//! `ratio = exp(logp − logp_old)`,
//! `ℓ = −min(ratio·Aᵢ, clip(ratio, 1−ε_low, 1+ε_high)·Aᵢ) + β·k3`,
//! `k3 = exp(logp_ref − logp) − (logp_ref − logp) − 1` (Schulman's unbiased, non-negative
//! estimator of KL(π‖π_ref)). Per-token losses are reduced by [`LossAggregation`] with
//! weights that span the whole optimiser step, so summing the losses of several groups
//! (each backpropagated on its own) gives exactly the step's loss.

use candle_core::{Tensor, D};

use crate::config::{GrpoSection, LossAggregation};
use crate::error::Result;

/// Per-completion inputs of the loss.
pub struct CompletionTerms<'a> {
    /// Log-probs under the current policy, with the autograd graph, `(C,)`.
    pub logp: &'a Tensor,
    /// Log-probs when the rollouts were sampled (detached), `(C,)`.
    pub logp_old: &'a Tensor,
    /// Log-probs under the reference (adapter off), `(C,)`; needed when β > 0.
    pub logp_ref: Option<&'a Tensor>,
    /// Group-relative advantage.
    pub advantage: f64,
}

/// What the loss saw, for logging.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossStats {
    /// Σ of (weighted) policy-gradient term.
    pub pg: f64,
    /// Mean k3 KL per token.
    pub kl: f64,
    /// Fraction of tokens whose ratio hit a clip bound that was active.
    pub clip_frac: f64,
    /// Tokens counted.
    pub tokens: usize,
}

/// Weight of each token of a completion of `len` tokens under `agg`, given the step's
/// total completion tokens and completions.
pub fn token_weight(agg: LossAggregation, len: usize, step_tokens: usize, step_seqs: usize) -> f64 {
    match agg {
        LossAggregation::Token => 1.0 / step_tokens.max(1) as f64,
        LossAggregation::Sequence => 1.0 / (len.max(1) * step_seqs.max(1)) as f64,
    }
}

/// The loss of some completions (typically one group) as a scalar tensor carrying the
/// graph, plus statistics. `step_tokens` / `step_seqs` are the totals over the whole
/// optimiser step.
pub fn grpo_loss(
    terms: &[CompletionTerms<'_>],
    cfg: &GrpoSection,
    step_tokens: usize,
    step_seqs: usize,
) -> Result<(Tensor, LossStats)> {
    let mut parts = Vec::with_capacity(terms.len());
    let mut stats = LossStats::default();
    let mut kl_sum = 0.0;
    let mut clipped = 0usize;
    for t in terms {
        let len = t.logp.dims1()?;
        let w = token_weight(cfg.loss_aggregation, len, step_tokens, step_seqs);
        let ratio = (t.logp - t.logp_old)?.exp()?;
        let a = t.advantage;
        let s1 = (&ratio * a)?;
        let s2 = (ratio.clamp(1.0 - cfg.epsilon_low, 1.0 + cfg.epsilon_high)? * a)?;
        let mut per = s1.minimum(&s2)?.neg()?;
        // Logged: how many tokens the clip made constant (the min picked the clipped side).
        let r: Vec<f32> = ratio.to_vec1()?;
        clipped += r
            .iter()
            .filter(|&&x| {
                (a > 0.0 && x as f64 > 1.0 + cfg.epsilon_high)
                    || (a < 0.0 && (x as f64) < 1.0 - cfg.epsilon_low)
            })
            .count();
        stats.pg += per.sum_all()?.to_scalar::<f32>()? as f64 * w;
        if cfg.beta > 0.0 {
            if let Some(r) = t.logp_ref {
                let d = (r - t.logp)?;
                let k3 = ((d.exp()? - &d)? - 1.0)?;
                kl_sum += k3.sum_all()?.to_scalar::<f32>()? as f64;
                per = (per + (k3 * cfg.beta)?)?;
            }
        }
        parts.push((per.sum(D::Minus1)? * w)?);
        stats.tokens += len;
    }
    let loss = Tensor::stack(&parts, 0)?.sum_all()?;
    if stats.tokens > 0 {
        stats.kl = kl_sum / stats.tokens as f64;
        stats.clip_frac = clipped as f64 / stats.tokens as f64;
    }
    Ok((loss, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GrpoSection;
    use candle_core::{Device, Var};

    fn cfg(agg: LossAggregation, beta: f64) -> GrpoSection {
        GrpoSection {
            loss_aggregation: agg,
            beta,
            epsilon_low: 0.2,
            epsilon_high: 0.3,
            ..Default::default()
        }
    }

    /// On-policy (old = current) the loss is −mean(A) and its gradient is −A·w per token:
    /// the plain policy gradient.
    #[test]
    fn on_policy_gradient_is_minus_advantage_times_weight() -> Result<()> {
        let dev = Device::Cpu;
        let lp = Var::new(&[-1.0f32, -2.0, -0.5], &dev)?;
        let lp2 = Var::new(&[-0.3f32], &dev)?;
        let old = lp.as_tensor().detach();
        let old2 = lp2.as_tensor().detach();
        let terms = [
            CompletionTerms {
                logp: lp.as_tensor(),
                logp_old: &old,
                logp_ref: None,
                advantage: 1.5,
            },
            CompletionTerms {
                logp: lp2.as_tensor(),
                logp_old: &old2,
                logp_ref: None,
                advantage: -2.0,
            },
        ];
        for (agg, w1, w2) in [
            (LossAggregation::Token, 0.25, 0.25),
            (LossAggregation::Sequence, 1.0 / 6.0, 0.5),
        ] {
            let (loss, _) = grpo_loss(&terms, &cfg(agg, 0.0), 4, 2)?;
            let want = -(1.5 * 3.0 * w1) + 2.0 * w2;
            assert!((loss.to_scalar::<f32>()? as f64 - want).abs() < 1e-5);
            let g = loss.backward()?;
            let g1: Vec<f32> = g.get(lp.as_tensor()).expect("grad").to_vec1()?;
            let g2: Vec<f32> = g.get(lp2.as_tensor()).expect("grad").to_vec1()?;
            for x in g1 {
                assert!((x as f64 + 1.5 * w1).abs() < 1e-5);
            }
            assert!((g2[0] as f64 - 2.0 * w2).abs() < 1e-5);
        }
        Ok(())
    }

    /// A ratio past the clip bound in the direction of the advantage gets no gradient; the
    /// other direction keeps it (the pessimistic min).
    #[test]
    fn clipping_stops_the_gradient_only_where_it_binds() -> Result<()> {
        let dev = Device::Cpu;
        let lp = Var::new(&[0.5f32, -0.5], &dev)?; // ratios e^0.5 = 1.65, e^-0.5 = 0.61
        let old = Tensor::new(&[0.0f32, 0.0], &dev)?;
        for (adv, want_zero) in [(1.0, [true, false]), (-1.0, [false, true])] {
            let terms = [CompletionTerms {
                logp: lp.as_tensor(),
                logp_old: &old,
                logp_ref: None,
                advantage: adv,
            }];
            let (loss, st) = grpo_loss(&terms, &cfg(LossAggregation::Token, 0.0), 2, 1)?;
            assert!((st.clip_frac - 0.5).abs() < 1e-9);
            let g: Vec<f32> = loss.backward()?.get(lp.as_tensor()).expect("g").to_vec1()?;
            for (x, z) in g.iter().zip(want_zero) {
                assert_eq!(*x == 0.0, z, "adv {adv}: grads {g:?}");
            }
        }
        Ok(())
    }

    /// k3 is zero at the reference and its gradient pulls logp toward the reference.
    #[test]
    fn k3_kl_is_zero_at_reference_and_pulls_back() -> Result<()> {
        let dev = Device::Cpu;
        let lp = Var::new(&[-1.0f32, -1.0], &dev)?;
        let old = lp.as_tensor().detach();
        let same = Tensor::new(&[-1.0f32, -1.0], &dev)?;
        let lower = Tensor::new(&[-2.0f32, -2.0], &dev)?;
        let c = cfg(LossAggregation::Token, 0.5);
        let terms = [CompletionTerms {
            logp: lp.as_tensor(),
            logp_old: &old,
            logp_ref: Some(&same),
            advantage: 0.0,
        }];
        let (loss, st) = grpo_loss(&terms, &c, 2, 1)?;
        assert!(st.kl.abs() < 1e-9 && loss.to_scalar::<f32>()?.abs() < 1e-7);
        let terms = [CompletionTerms {
            logp: lp.as_tensor(),
            logp_old: &old,
            logp_ref: Some(&lower),
            advantage: 0.0,
        }];
        let (loss, st) = grpo_loss(&terms, &c, 2, 1)?;
        let want_kl = (-1f64).exp() + 1.0 - 1.0;
        assert!((st.kl - want_kl).abs() < 1e-5, "{}", st.kl);
        // d k3 / d logp = 1 − exp(ref − logp) > 0: descending lowers logp toward ref.
        let g: Vec<f32> = loss.backward()?.get(lp.as_tensor()).expect("g").to_vec1()?;
        assert!(g.iter().all(|&x| x > 0.0));
        Ok(())
    }
}
