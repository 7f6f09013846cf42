//! Fused differentiable ops for the trained path: each keeps only its inputs and output for
//! the backward pass, where the same computation composed from candle primitives keeps every
//! intermediate (candle's graph holds each node's inputs alive until the loss is dropped).
//!
//! candle's own fused `softmax_last_dim`/`rms_norm` have no backward (docs/design.md, the
//! gradient trap), so these are custom ops with explicit backward passes, each tested against the
//! composed version's autograd (`tests/ops.rs`). Measured effect: a GRPO-sized
//! forward+backward (8 × 512 tokens, LoRA r=16 on all linears of 30 blocks) — see
//! docs/benchmarks.md.
//!
//! Every matrix product here, forward and backward, goes through [`crate::blas`]: OpenBLAS
//! when the machine has it, candle's own kernel otherwise (tests compare the two).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Storage, Tensor, D};

use crate::blas::{self, MatRef};
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
/// product alone. `x` is `(rows, in)`.
pub fn frozen_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if x.track_op() {
        Ok(x.contiguous()?.apply_op1(FrozenMatmul { w: w.clone() })?)
    } else {
        Ok(blas::matmul(x, &w.t()?)?)
    }
}

/// Run `f` on the row-major view of a 2-D CPU tensor (a frozen weight held by an op).
fn with_view<T>(
    t: &Tensor,
    f: impl FnOnce(MatRef) -> candle_core::Result<T>,
) -> candle_core::Result<T> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    let Storage::Cpu(c) = &*s else {
        candle_core::bail!("policy products run on the CPU");
    };
    match MatRef::of_storage(c, l) {
        Some(m) => f(m),
        None => candle_core::bail!("expected a 2-D f32 matrix, got {:?}", t.dims()),
    }
}

/// `(rows, cols)` of a custom op's 2-D argument.
fn dims2(l: &Layout, op: &str) -> candle_core::Result<(usize, usize)> {
    match l.dims() {
        &[r, c] => Ok((r, c)),
        d => candle_core::bail!("{op}: expected a 2-D input, got {d:?}"),
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
        let (rows, inp) = dims2(l, self.name())?;
        let x = MatRef::dense(slice(s, l, self.name())?, rows, inp);
        let out = self.w.dims2()?.0;
        let mut y = vec![0f32; rows * out];
        with_view(&self.w, |w| blas::gemm(1.0, x, w.t(), 0.0, &mut y))?;
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(blas::matmul(g, &self.w)?))
    }
}

/// `A·B` per matrix of a batch, `(…, m, k) × (…, k, n)` with equal leading dimensions
/// (attention's `Q Kᵀ` and `P V`), differentiable: backward `G Bᵀ` and `Aᵀ G`, on the same
/// kernel. Transposed views (`k.t()`) and the KV cache's strided views are read in place.
pub fn bmm(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.track_op() || b.track_op() {
        let a = if blas::readable(a.layout()) {
            a.clone()
        } else {
            a.contiguous()?
        };
        let b = if blas::readable(b.layout()) {
            b.clone()
        } else {
            b.contiguous()?
        };
        Ok(a.apply_op2(&b, Bmm)?)
    } else {
        Ok(blas::batched_matmul(a, b)?)
    }
}

struct Bmm;

impl CustomOp2 for Bmm {
    fn name(&self) -> &'static str {
        "dtr1-bmm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (v, dims) = blas::batched(s1, l1, s2, l2)?;
        Ok((CpuStorage::F32(v), Shape::from(dims)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let da = blas::batched_matmul(g, &b.detach().t()?)?;
        let db = blas::batched_matmul(&a.detach().t()?, g)?;
        Ok((Some(da), Some(db)))
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
    /// The dropout mask `m / (1 − p)` for `n` adapter inputs, `None` without dropout.
    fn mask(&self, n: usize) -> Option<Vec<f32>> {
        use rand::{Rng, SeedableRng};
        let (p, seed) = self.dropout?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let keep = 1.0 / (1.0 - p);
        Some(
            (0..n)
                .map(|_| if rng.random::<f32>() < p { 0.0 } else { keep })
                .collect(),
        )
    }
}

/// `x ⊙ m` (the adapter's input under dropout).
fn masked(x: &[f32], m: &[f32]) -> Vec<f32> {
    x.iter().zip(m).map(|(a, b)| a * b).collect()
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
        let (rows, inp) = dims2(l1, self.name())?;
        let (r, ain) = dims2(l2, self.name())?;
        let (out, br) = dims2(l3, self.name())?;
        if ain != inp || br != r || self.w.dims() != [out, inp] {
            candle_core::bail!(
                "{}: x {:?}, A {:?}, B {:?}, W {:?}",
                self.name(),
                l1.dims(),
                l2.dims(),
                l3.dims(),
                self.w.dims()
            );
        }
        let xs = slice(s1, l1, self.name())?;
        let a = MatRef::dense(slice(s2, l2, self.name())?, r, inp);
        let b = MatRef::dense(slice(s3, l3, self.name())?, out, r);
        let mut y = vec![0f32; rows * out];
        with_view(&self.w, |w| {
            blas::gemm(1.0, MatRef::dense(xs, rows, inp), w.t(), 0.0, &mut y)
        })?;
        if let Some(bias) = &self.bias {
            let bias = bias.to_vec1::<f32>()?;
            for row in y.chunks_exact_mut(out) {
                row.iter_mut().zip(&bias).for_each(|(v, b)| *v += b);
            }
        }
        let xd = self.mask(xs.len()).map(|m| masked(xs, &m));
        let xd = MatRef::dense(xd.as_deref().unwrap_or(xs), rows, inp);
        // u = x_d Aᵀ (rank-r), then y += scale · u Bᵀ in the same product.
        let mut u = vec![0f32; rows * r];
        blas::gemm(1.0, xd, a.t(), 0.0, &mut u)?;
        blas::gemm(
            self.scale as f32,
            MatRef::dense(&u, rows, r),
            b.t(),
            1.0,
            &mut y,
        )?;
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
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
        let (rows, inp) = x.dims2()?;
        let r = a.dims2()?.0;
        let out = b.dims2()?.0;
        let scale = self.scale as f32;
        let mask = self.mask(rows * inp);
        let xd = match &mask {
            None => x.clone(),
            Some(m) => {
                let xv = x.flatten_all()?.to_vec1::<f32>()?;
                Tensor::from_vec(masked(&xv, m), (rows, inp), x.device())?
            }
        };
        let gb = blas::matmul(&g, &b)?; // (rows, r)
                                        // dx = g W + scale · (gb A) ⊙ m: through the adapter branch the input gradient passes
                                        // the same dropout mask, d(x ⊙ m)/dx · v = v ⊙ m.
        let mut dx = vec![0f32; rows * inp];
        blas::gemm_tensors(1.0, &g, &self.w, 0.0, &mut dx)?;
        match &mask {
            None => blas::gemm_tensors(scale, &gb, &a, 1.0, &mut dx)?,
            Some(m) => {
                let mut dxa = vec![0f32; rows * inp];
                blas::gemm_tensors(1.0, &gb, &a, 0.0, &mut dxa)?;
                for ((d, v), m) in dx.iter_mut().zip(&dxa).zip(m) {
                    *d += v * m * scale;
                }
            }
        }
        let dx = Tensor::from_vec(dx, (rows, inp), x.device())?;
        let mut da = vec![0f32; r * inp];
        blas::gemm_tensors(scale, &gb.t()?, &xd, 0.0, &mut da)?;
        let da = Tensor::from_vec(da, (r, inp), x.device())?;
        let u = blas::matmul(&xd, &a.t()?)?; // (rows, r)
        let mut db = vec![0f32; out * r];
        blas::gemm_tensors(scale, &g.t()?, &u, 0.0, &mut db)?;
        let db = Tensor::from_vec(db, (out, r), x.device())?;
        Ok((Some(dx), Some(da), Some(db)))
    }
}
