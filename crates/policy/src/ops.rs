//! Fused differentiable ops for the trained path: each keeps only its inputs and output for
//! the backward pass, where the same computation composed from candle primitives keeps every
//! intermediate (candle's graph holds each node's inputs alive until the loss is dropped).
//!
//! candle's own fused `softmax_last_dim`/`rms_norm` have no backward (DESIGN.md, the gradient
//! trap), so these are custom ops with explicit backward passes, each tested against the
//! composed version's autograd (`tests/ops.rs`). Measured effect: a GRPO-sized
//! forward+backward (8 × 512 tokens, LoRA r=16 on all linears of 30 blocks) — see
//! docs/benchmarks.md.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor, D};

use crate::error::Result;

/// A contiguous f32 slice of a custom op's argument.
fn slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// `x Wᵀ` for a frozen weight `W (out, in)`.
///
/// When `x` carries an autograd graph, the product is recorded as [`FrozenMatmul`], whose
/// backward yields only `∂/∂x`: candle's own matmul backward also computes and keeps a
/// gradient for `W` — a weight-sized tensor per call, for weights nobody trains (measured:
/// a GRPO-sized forward+backward grew to 20 GB that way). Without a graph it is the plain
/// matmul.
pub fn frozen_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if x.track_op() {
        Ok(x.apply_op1(FrozenMatmul { w: w.clone() })?)
    } else {
        Ok(x.matmul(&w.t()?)?)
    }
}

/// The custom op behind [`frozen_matmul`]: forward `x Wᵀ`, backward `g W`.
struct FrozenMatmul {
    w: Tensor,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = tensor_of(s, l, self.name())?.matmul(&self.w.t()?)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(g.matmul(&self.w)?))
    }
}

/// Softmax over the last dimension, differentiable: backward `y ⊙ (g − Σ g⊙y)`.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    Ok(x.contiguous()?.apply_op1(Softmax)?)
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "dtr1-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let n = *l.dims().last().unwrap_or(&1);
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(n.max(1)).zip(y.chunks_exact_mut(n.max(1))) {
            let max = xr.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
            let mut sum = 0f32;
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = (v - max).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            yr.iter_mut().for_each(|o| *o *= inv);
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let y = y.detach();
        let dot = (g * &y)?.sum_keepdim(D::Minus1)?;
        Ok(Some((g.broadcast_sub(&dot)? * y)?))
    }
}

/// `silu(g) ⊙ u` (the SwiGLU gate), differentiable.
pub fn silu_mul(g: &Tensor, u: &Tensor) -> Result<Tensor> {
    Ok(g.contiguous()?.apply_op2(&u.contiguous()?, SiluMul)?)
}

struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "dtr1-silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            candle_core::bail!(
                "{}: shapes {:?} and {:?}",
                self.name(),
                l1.shape(),
                l2.shape()
            );
        }
        let g = slice(s1, l1, self.name())?;
        let u = slice(s2, l2, self.name())?;
        let y = g
            .iter()
            .zip(u)
            .map(|(&g, &u)| g / (1.0 + (-g).exp()) * u)
            .collect();
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        g: &Tensor,
        u: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (g, u) = (g.detach(), u.detach());
        let sig = (g.neg()?.exp()? + 1.0)?.recip()?;
        let silu = (&g * &sig)?;
        // d silu / dg = σ(g) (1 + g (1 − σ(g)))
        let dsilu = (&sig * ((&g * (1.0 - &sig)?)? + 1.0)?)?;
        let dg = ((grad * u)? * dsilu)?;
        let du = (grad * silu)?;
        Ok((Some(dg), Some(du)))
    }
}

/// RMSNorm `x · w / sqrt(mean(x²) + eps)` over the last dimension, differentiable in `x` and
/// `w`.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    Ok(x.contiguous()?
        .apply_op2(&w.contiguous()?, RmsNorm { eps: eps as f32 })?)
}

struct RmsNorm {
    eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "dtr1-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let w = slice(s2, l2, self.name())?;
        let n = w.len();
        if l1.dims().last() != Some(&n) {
            candle_core::bail!("{}: weight {n} for input {:?}", self.name(), l1.dims());
        }
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            let ms = xr.iter().map(|v| v * v).sum::<f32>() / n as f32;
            let r = 1.0 / (ms + self.eps).sqrt();
            for ((o, &v), &wi) in yr.iter_mut().zip(xr).zip(w) {
                *o = v * r * wi;
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (x, w) = (x.detach(), w.detach());
        let r = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps as f64)?
            .sqrt()?
            .recip()?;
        let gw = g.broadcast_mul(&w)?;
        // dx = r·(g⊙w) − x·r³·mean((g⊙w)⊙x)
        let m = (&gw * &x)?.mean_keepdim(D::Minus1)?;
        let dx = (gw.broadcast_mul(&r)? - x.broadcast_mul(&(r.powf(3.0)? * m)?)?)?;
        let rows = x.elem_count() / w.elem_count();
        let xn = x.broadcast_mul(&r)?;
        let dw = (g * xn)?
            .reshape((rows, w.elem_count()))?
            .sum(0)?
            .reshape(w.shape())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// `x Wᵀ (+ bias) + scale · (x Aᵀ) Bᵀ` for a frozen `W (out, in)` and trainable LoRA factors
/// `A (r, in)`, `B (out, r)`; `x` is `(rows, in)`. One node instead of four in the graph
/// (and no `(rows, out)` intermediates kept): the backward recomputes the rank-`r` product.
///
/// `dropout = Some((p, seed))` applies LoRA dropout (PEFT's `lora_dropout`) to the adapter's
/// input: `x ⊙ m / (1 − p)` with a Bernoulli mask drawn from `seed` — regenerated in the
/// backward pass rather than stored, and the same on every run with the same seed, so a
/// resumed training run draws exactly the masks the uninterrupted one did.
pub fn lora_linear(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    a: &Tensor,
    b: &Tensor,
    scale: f64,
    dropout: Option<(f32, u64)>,
) -> Result<Tensor> {
    if let Some((p, _)) = dropout {
        if !(0.0..1.0).contains(&p) {
            return Err(crate::PolicyError::InvalidArgument(format!(
                "LoRA dropout {p} must be in [0, 1)"
            )));
        }
    }
    let op = LoraLinear {
        w: w.clone(),
        bias: bias.cloned(),
        scale,
        dropout: dropout.filter(|&(p, _)| p > 0.0),
    };
    Ok(x.contiguous()?
        .apply_op3(&a.contiguous()?, &b.contiguous()?, op)?)
}

struct LoraLinear {
    w: Tensor,
    bias: Option<Tensor>,
    scale: f64,
    dropout: Option<(f32, u64)>,
}

impl LoraLinear {
    /// The adapter's input: `x`, or `x ⊙ m / (1 − p)` under dropout.
    fn adapter_input(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self.dropout {
            None => Ok(x.clone()),
            Some((p, seed)) => {
                use rand::{Rng, SeedableRng};
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let keep = 1.0 / (1.0 - p);
                let m: Vec<f32> = (0..x.elem_count())
                    .map(|_| if rng.random::<f32>() < p { 0.0 } else { keep })
                    .collect();
                x * Tensor::from_vec(m, x.shape(), x.device())?
            }
        }
    }
}

fn tensor_of(s: &CpuStorage, l: &Layout, op: &str) -> candle_core::Result<Tensor> {
    Tensor::from_slice(slice(s, l, op)?, l.shape(), &candle_core::Device::Cpu)
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        "dtr1-lora-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = tensor_of(s1, l1, self.name())?;
        let a = tensor_of(s2, l2, self.name())?;
        let b = tensor_of(s3, l3, self.name())?;
        let mut y = x.matmul(&self.w.t()?)?;
        if let Some(bias) = &self.bias {
            y = y.broadcast_add(bias)?;
        }
        let delta = self.adapter_input(&x)?.matmul(&a.t()?)?.matmul(&b.t()?)?;
        let y = (y + (delta * self.scale)?)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x, a, b, g) = (x.detach(), a.detach(), b.detach(), g.detach());
        let xd = self.adapter_input(&x)?;
        let gb = g.matmul(&b)?; // (rows, r)
                                // Through the adapter branch the input gradient passes the same dropout mask:
                                // d(x ⊙ m)/dx · v = v ⊙ m, i.e. the branch's gradient re-masked.
        let dxa = if self.dropout.is_some() {
            let ones = Tensor::ones_like(&x)?;
            (gb.matmul(&a)? * self.adapter_input(&ones)?)?
        } else {
            gb.matmul(&a)?
        };
        let dx = (g.matmul(&self.w)? + (dxa * self.scale)?)?;
        let da = (gb.t()?.matmul(&xd)? * self.scale)?;
        let u = xd.matmul(&a.t()?)?; // (rows, r)
        let db = (g.t()?.matmul(&u)? * self.scale)?;
        Ok((Some(dx), Some(da), Some(db)))
    }
}
