//! AdamW with a warm-up + cosine schedule and global-norm clipping.
//!
//! Written here rather than taken from `candle_nn::AdamW` because exact resume needs the
//! moment estimates saved and restored bit for bit, and candle's optimiser keeps them private.

use candle_core::{Tensor, Var};

use crate::config::OptimSection;
use crate::error::{GrpoError, Result};

/// Learning rate at optimiser update `t` (0-based) of `total`: linear warm-up to the peak,
/// then cosine decay to `peak · min_lr_ratio` at the last update.
pub fn lr_at(cfg: &OptimSection, t: usize, total: usize) -> f64 {
    let peak = cfg.lr;
    if cfg.warmup_steps > 0 && t < cfg.warmup_steps {
        return peak * (t + 1) as f64 / cfg.warmup_steps as f64;
    }
    let decay = total.saturating_sub(cfg.warmup_steps).max(1);
    let progress = ((t - cfg.warmup_steps.min(t)) as f64 / decay as f64).min(1.0);
    let floor = peak * cfg.min_lr_ratio;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Gradients of the trainable variables, summed over micro-batches (one slot per variable;
/// `None` where a variable received no gradient yet).
#[derive(Debug, Clone)]
pub struct GradAccumulator {
    grads: Vec<Option<Tensor>>,
}

impl GradAccumulator {
    /// Empty accumulator for `n` variables.
    pub fn new(n: usize) -> Self {
        Self {
            grads: vec![None; n],
        }
    }

    /// Add the gradients of `vars` found in `store`.
    pub fn add(&mut self, vars: &[Var], store: &candle_core::backprop::GradStore) -> Result<()> {
        for (slot, v) in self.grads.iter_mut().zip(vars) {
            if let Some(g) = store.get(v.as_tensor()) {
                *slot = Some(match slot.take() {
                    Some(acc) => (acc + g)?,
                    None => g.clone(),
                });
            }
        }
        Ok(())
    }

    /// Global L2 norm of the accumulated gradients.
    pub fn norm(&self) -> Result<f64> {
        let mut sq = 0.0f64;
        for g in self.grads.iter().flatten() {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
        Ok(sq.sqrt())
    }

    /// The accumulated gradients, in variable order.
    pub fn grads(&self) -> &[Option<Tensor>] {
        &self.grads
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.grads.iter_mut().for_each(|g| *g = None);
    }
}

/// AdamW state: first and second moment per variable and the update count.
#[derive(Debug, Clone)]
pub struct AdamW {
    /// Hyper-parameters (the learning rate is passed per update).
    pub cfg: OptimSection,
    /// First moments, in variable order.
    pub m: Vec<Tensor>,
    /// Second moments.
    pub v: Vec<Tensor>,
    /// Updates taken so far.
    pub t: usize,
}

impl AdamW {
    /// Zero state for `vars`.
    pub fn new(cfg: OptimSection, vars: &[Var]) -> Result<Self> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        Ok(Self {
            cfg,
            m: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            v: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            t: 0,
        })
    }

    /// One update with learning rate `lr` from the accumulated gradients, after clipping
    /// their global norm to `max_grad_norm`. Returns the norm before clipping.
    pub fn step(&mut self, vars: &[Var], acc: &GradAccumulator, lr: f64) -> Result<f64> {
        if vars.len() != self.m.len() {
            return Err(GrpoError::Config(format!(
                "optimiser state has {} variables, the model {}",
                self.m.len(),
                vars.len()
            )));
        }
        let norm = acc.norm()?;
        if !norm.is_finite() {
            return Err(GrpoError::Diverged {
                step: self.t,
                what: format!("gradient norm {norm}"),
            });
        }
        let clip = if self.cfg.max_grad_norm > 0.0 && norm > self.cfg.max_grad_norm {
            self.cfg.max_grad_norm / (norm + 1e-6)
        } else {
            1.0
        };
        self.t += 1;
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let bc1 = 1.0 - b1.powi(self.t as i32);
        let bc2 = 1.0 - b2.powi(self.t as i32);
        for (i, var) in vars.iter().enumerate() {
            let Some(g) = &acc.grads()[i] else { continue };
            let g = (g * clip)?;
            self.m[i] = ((&self.m[i] * b1)? + (&g * (1.0 - b1))?)?;
            self.v[i] = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let mhat = (&self.m[i] / bc1)?;
            let vhat = (&self.v[i] / bc2)?;
            let upd = (mhat / (vhat.sqrt()? + self.cfg.eps)?)?;
            let w = var.as_tensor();
            let decayed = (w * (1.0 - lr * self.cfg.weight_decay))?;
            var.set(&(decayed - (upd * lr)?)?)?;
        }
        Ok(norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_decays_to_floor() {
        let cfg = OptimSection {
            lr: 1e-3,
            warmup_steps: 4,
            min_lr_ratio: 0.1,
            ..Default::default()
        };
        assert!((lr_at(&cfg, 0, 20) - 2.5e-4).abs() < 1e-12);
        assert!((lr_at(&cfg, 3, 20) - 1e-3).abs() < 1e-12);
        assert!((lr_at(&cfg, 4, 20) - 1e-3).abs() < 1e-12);
        let mid = lr_at(&cfg, 12, 20);
        assert!((mid - (1e-4 + 0.9e-3 * 0.5)).abs() < 1e-9, "{mid}");
        assert!((lr_at(&cfg, 20, 20) - 1e-4).abs() < 1e-12);
        let mut prev = f64::INFINITY;
        for t in 4..=20 {
            let lr = lr_at(&cfg, t, 20);
            assert!(lr <= prev + 1e-15);
            prev = lr;
        }
    }

    /// AdamW against a hand computation on a scalar: first step moves by exactly lr·sign(g)
    /// (bias correction), weight decay shrinks the weight first.
    #[test]
    fn adamw_first_steps_match_hand_computation() -> Result<()> {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::new(&[2.0f32, -1.0], &dev)?)?;
        let cfg = OptimSection {
            lr: 0.1,
            weight_decay: 0.5,
            max_grad_norm: 0.0,
            ..Default::default()
        };
        let mut opt = AdamW::new(cfg.clone(), std::slice::from_ref(&var))?;
        let loss = (var.as_tensor().sqr()?.sum_all()? * 0.5)?; // grad = w
        let mut acc = GradAccumulator::new(1);
        acc.add(std::slice::from_ref(&var), &loss.backward()?)?;
        let norm = opt.step(std::slice::from_ref(&var), &acc, 0.1)?;
        assert!((norm - 5f64.sqrt()).abs() < 1e-6);
        let w: Vec<f32> = var.as_tensor().to_vec1()?;
        // w·(1 − lr·wd) − lr·g/(|g| + eps)
        assert!((w[0] - (2.0 * 0.95 - 0.1)).abs() < 1e-5, "{w:?}");
        assert!((w[1] - (-0.95 + 0.1)).abs() < 1e-5, "{w:?}");
        Ok(())
    }

    #[test]
    fn step_reports_the_unclipped_norm_and_nan_is_an_error() -> Result<()> {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::new(&[0.0f32], &dev)?)?;
        let cfg = OptimSection {
            max_grad_norm: 1.0,
            ..Default::default()
        };
        let mut opt = AdamW::new(cfg, std::slice::from_ref(&var))?;
        let loss = (var.as_tensor() * 100.0)?.sum_all()?;
        let mut acc = GradAccumulator::new(1);
        acc.add(std::slice::from_ref(&var), &loss.backward()?)?;
        assert!((opt.step(std::slice::from_ref(&var), &acc, 1e-3)? - 100.0).abs() < 1e-3);
        let loss = (var.as_tensor() * f64::NAN)?.sum_all()?;
        let mut acc = GradAccumulator::new(1);
        acc.add(std::slice::from_ref(&var), &loss.backward()?)?;
        assert!(matches!(
            opt.step(std::slice::from_ref(&var), &acc, 1e-3),
            Err(GrpoError::Diverged { .. })
        ));
        Ok(())
    }
}
