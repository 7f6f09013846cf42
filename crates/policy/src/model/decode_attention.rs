//! Hand-written CPU attention for decode steps (a few query positions, no gradient), with
//! an AVX2 + FMA build of its inner loop. Kept apart because it is `unsafe`, CPU-specific
//! and exists only for speed: [`Model::attend`](super::Model::attend) defines the result.

use candle_core::Tensor;

use crate::error::{PolicyError, Result};

/// Attention for a few query positions with no gradient (decode steps): the same result as
/// [`Model::attend`](super::Model::attend), computed directly on the KV cache's buffers.
///
/// Written by hand because at decode shapes (`(b, heads, 1, 64)` against a few hundred keys)
/// candle's batched matmul spends more time dispatching tiny GEMMs than multiplying: a third
/// of a batch-8 decode step in profiles.
pub(super) fn attend_decode(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, nh, t, hd) = q.dims4()?;
    let (_, nkv, tk, _) = k.dims4()?;
    let rep = nh / nkv;
    let scale = 1.0 / (hd as f32).sqrt();
    let qv = q.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
    let (mv, mb) = match mask {
        Some(m) => {
            let (mb, _, mt, mk) = m.dims4()?;
            if mt != t || mk != tk {
                return Err(PolicyError::InvalidArgument(format!(
                    "mask {:?} does not fit {t} queries over {tk} keys",
                    m.dims()
                )));
            }
            (Some(m.contiguous()?.flatten_all()?.to_vec1::<f32>()?), mb)
        }
        None => (None, 1),
    };
    let (ks, kl) = k.storage_and_layout();
    let (vs, vl) = v.storage_and_layout();
    let (candle_core::Storage::Cpu(kc), candle_core::Storage::Cpu(vc)) = (&*ks, &*vs) else {
        return Err(PolicyError::InvalidArgument(
            "decode attention runs on the CPU".into(),
        ));
    };
    if kl.stride().last() != Some(&1) || vl.stride().last() != Some(&1) {
        return Err(PolicyError::InvalidArgument(
            "decode attention needs keys and values with a unit-stride last dimension".into(),
        ));
    }
    let geo = AttnGeometry {
        t,
        tk,
        hd,
        rep,
        scale,
        kst: [kl.stride()[0], kl.stride()[1], kl.stride()[2]],
        vst: [vl.stride()[0], vl.stride()[1], vl.stride()[2]],
        koff: kl.start_offset(),
        voff: vl.start_offset(),
    };
    let (kd, vd) = (kc.as_slice::<f32>()?, vc.as_slice::<f32>()?);
    // One work item per (sequence, KV head): its `rep` query heads read each key and value
    // row once between them.
    let unit = |u: usize| -> Vec<f32> {
        let (bi, g) = (u / nkv, u % nkv);
        let qs = &qv[(bi * nh + g * rep) * t * hd..][..rep * t * hd];
        let mrows = mv
            .as_ref()
            .map(|m| &m[(if mb == 1 { 0 } else { bi }) * t * tk..][..t * tk]);
        let mut out = vec![0f32; rep * t * hd];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { attend_unit_avx2(&geo, bi, g, qs, mrows, kd, vd, &mut out) };
            return out;
        }
        attend_unit(&geo, bi, g, qs, mrows, kd, vd, &mut out);
        out
    };
    let units: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        (0..b * nkv).into_par_iter().map(unit).collect()
    };
    drop((ks, vs));
    // Units hold (head in group, time, dim); the output is (b, t, head·dim).
    let mut out = vec![0f32; b * t * nh * hd];
    for (u, part) in units.iter().enumerate() {
        let (bi, g) = (u / nkv, u % nkv);
        for r in 0..rep {
            let h = g * rep + r;
            for ti in 0..t {
                out[((bi * t + ti) * nh + h) * hd..][..hd]
                    .copy_from_slice(&part[(r * t + ti) * hd..][..hd]);
            }
        }
    }
    Ok(Tensor::from_vec(out, (b, t, nh * hd), q.device())?)
}

/// Shapes and strides one decode-attention work item needs.
struct AttnGeometry {
    t: usize,
    tk: usize,
    hd: usize,
    rep: usize,
    scale: f32,
    kst: [usize; 3],
    vst: [usize; 3],
    koff: usize,
    voff: usize,
}

/// [`attend_unit`] compiled for AVX2 + FMA, so its loops vectorise 8 wide.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_unit_avx2(
    geo: &AttnGeometry,
    bi: usize,
    g: usize,
    qs: &[f32],
    mask: Option<&[f32]>,
    kd: &[f32],
    vd: &[f32],
    out: &mut [f32],
) {
    attend_unit(geo, bi, g, qs, mask, kd, vd, out)
}

/// Attention of the `rep` query heads of KV head `g` of sequence `bi`: `qs` and `out` are
/// `(rep, t, hd)`, `mask` `(t, tk)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attend_unit(
    geo: &AttnGeometry,
    bi: usize,
    g: usize,
    qs: &[f32],
    mask: Option<&[f32]>,
    kd: &[f32],
    vd: &[f32],
    out: &mut [f32],
) {
    let AttnGeometry {
        t,
        tk,
        hd,
        rep,
        scale,
        kst,
        vst,
        koff,
        voff,
    } = *geo;
    let kbase = koff + bi * kst[0] + g * kst[1];
    let vbase = voff + bi * vst[0] + g * vst[1];
    let mut scores = vec![0f32; rep * tk];
    for ti in 0..t {
        for j in 0..tk {
            let krow = &kd[kbase + j * kst[2]..][..hd];
            for r in 0..rep {
                let qrow = &qs[(r * t + ti) * hd..][..hd];
                scores[r * tk + j] = dot(qrow, krow) * scale;
            }
        }
        for r in 0..rep {
            let row = &mut scores[r * tk..(r + 1) * tk];
            if let Some(m) = mask {
                row.iter_mut()
                    .zip(&m[ti * tk..][..tk])
                    .for_each(|(s, m)| *s += m);
            }
            let max = row.iter().fold(f32::NEG_INFINITY, |a, &s| a.max(s));
            let mut sum = 0f32;
            for s in row.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|s| *s *= inv);
        }
        for j in 0..tk {
            let vrow = &vd[vbase + j * vst[2]..][..hd];
            for r in 0..rep {
                let p = scores[r * tk + j];
                if p == 0.0 {
                    continue;
                }
                let dst = &mut out[(r * t + ti) * hd..][..hd];
                dst.iter_mut().zip(vrow).for_each(|(o, &x)| *o += p * x);
            }
        }
    }
}

/// Dot product with eight independent partial sums, which the compiler turns into SIMD (a
/// single running f32 sum would have to stay sequential).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}
