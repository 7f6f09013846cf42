//! 8-bit weights for sampling: `y = x Wᵀ` with `W` stored as int8 blocks of 32 values, each
//! with an f32 scale (the Q8_0 layout of GGUF), and `x` rounded the same way per row.
//!
//! Written here because no crate does it for the shapes that matter: a decode step multiplies a
//! handful of rows (one per stream of a GRPO group) by every weight matrix, so the speed is set
//! by reading each weight block once for all rows. candle's Q8_0 kernel re-reads a block per
//! row, and its repacked fast path needs `in % 256 == 0`, which SmolLM2's width 576 misses;
//! its Q4_1 kernel (the default GGUF's own type) has no SIMD at all. Measured on this
//! machine: f32 at 8 rows 41 tokens/s, candle Q8_0 28, this kernel — see docs/benchmarks.md.

use candle_core::{Device, Tensor};

use crate::error::{PolicyError, Result};

/// Values per block (one scale each).
pub const BLOCK: usize = 32;

/// Columns per parallel work item.
const CHUNK: usize = 64;

/// A weight matrix `(out, in)` in int8 blocks.
#[derive(Debug, Clone)]
pub struct Int8Weight {
    out: usize,
    inp: usize,
    /// `out × in` values in `[-127, 127]` (never -128: the AVX2 product trick needs `|q|` to
    /// fit in a signed byte).
    qs: Vec<i8>,
    /// `out × in/BLOCK` scales.
    scales: Vec<f32>,
}

/// Round `x` (a multiple of [`BLOCK`] long) to int8 blocks: returns values and scales.
fn quantize_blocks(x: &[f32], qs: &mut Vec<i8>, scales: &mut Vec<f32>) {
    for blk in x.chunks_exact(BLOCK) {
        let amax = blk.iter().fold(0f32, |a, &v| a.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        scales.push(d);
        // Round half away from zero by hand: `f32::round` is a libm call here (no SSE4.1 in
        // the baseline target), which showed up in profiles.
        qs.extend(blk.iter().map(|&v| {
            let r = v * inv;
            (r + 0.5f32.copysign(r)).clamp(-127.0, 127.0) as i8
        }));
    }
}

impl Int8Weight {
    /// Quantise an f32 weight `(out, in)`; `None` when `in` is not a multiple of [`BLOCK`]
    /// (tiny test models), which leaves that layer on its f32 weight.
    pub fn quantize(w: &Tensor) -> Result<Option<Self>> {
        let (out, inp) = w.dims2()?;
        if inp % BLOCK != 0 || inp == 0 {
            return Ok(None);
        }
        let data = w.flatten_all()?.to_vec1::<f32>()?;
        let mut qs = Vec::with_capacity(out * inp);
        let mut scales = Vec::with_capacity(out * inp / BLOCK);
        quantize_blocks(&data, &mut qs, &mut scales);
        Ok(Some(Self {
            out,
            inp,
            qs,
            scales,
        }))
    }

    /// Output features.
    pub fn out_dim(&self) -> usize {
        self.out
    }

    /// `x Wᵀ` for `x` of shape `(rows, in)`; returns `(rows, out)`.
    pub fn matmul(&self, x: &Tensor) -> Result<Tensor> {
        let (m, k) = x.dims2()?;
        if k != self.inp {
            return Err(PolicyError::InvalidArgument(format!(
                "int8 matmul: input width {k}, weight expects {}",
                self.inp
            )));
        }
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let y = self.matmul_slice(&xs, m, kernel());
        Ok(Tensor::from_vec(y, (m, self.out), &Device::Cpu)?)
    }

    /// The product on plain slices with a chosen kernel (tests compare the kernels).
    fn matmul_slice(&self, x: &[f32], m: usize, kern: Kernel) -> Vec<f32> {
        let (n, k) = (self.out, self.inp);
        let nb = k / BLOCK;
        let mut xq = Vec::with_capacity(m * k);
        let mut xs = Vec::with_capacity(m * nb);
        quantize_blocks(x, &mut xq, &mut xs);
        let chunks = n.div_ceil(CHUNK);
        // Each work item computes `CHUNK` columns for every row, column-major, so that each
        // weight block is read once per step whatever the number of rows.
        let run = |c: usize| -> Vec<f32> {
            let cols = c * CHUNK..((c + 1) * CHUNK).min(n);
            let mut out = vec![0f32; cols.len() * m];
            for (j, col) in cols.enumerate() {
                let wq = &self.qs[col * k..(col + 1) * k];
                let ws = &self.scales[col * nb..(col + 1) * nb];
                let dst = &mut out[j * m..(j + 1) * m];
                match kern {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `Kernel::Avx2` is only chosen when the CPU reports AVX2 and FMA.
                    Kernel::Avx2 => unsafe { avx2::column(wq, ws, &xq, &xs, m, k, dst) },
                    Kernel::Scalar => column_scalar(wq, ws, &xq, &xs, m, k, dst),
                }
            }
            out
        };
        let parts: Vec<Vec<f32>> = if n * m * k >= 1 << 18 {
            use rayon::prelude::*;
            (0..chunks).into_par_iter().map(run).collect()
        } else {
            (0..chunks).map(run).collect()
        };
        let mut y = vec![0f32; m * n];
        for (c, part) in parts.iter().enumerate() {
            let c0 = c * CHUNK;
            for (j, colv) in part.chunks_exact(m).enumerate() {
                for (r, &v) in colv.iter().enumerate() {
                    y[r * n + c0 + j] = v;
                }
            }
        }
        y
    }
}

/// Which dot-product kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// Portable integer loop.
    Scalar,
    /// AVX2 + FMA (x86_64, detected at run time).
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

fn kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return Kernel::Avx2;
    }
    Kernel::Scalar
}

/// One weight column against every row: `dst[r] = Σ_b sw_b · sx_rb · Σ_i w_bi x_rbi`.
fn column_scalar(
    wq: &[i8],
    ws: &[f32],
    xq: &[i8],
    xs: &[f32],
    m: usize,
    k: usize,
    dst: &mut [f32],
) {
    let nb = k / BLOCK;
    for (r, d) in dst.iter_mut().enumerate().take(m) {
        let mut acc = 0f32;
        for b in 0..nb {
            let w = &wq[b * BLOCK..(b + 1) * BLOCK];
            let x = &xq[r * k + b * BLOCK..r * k + (b + 1) * BLOCK];
            let s: i32 = w.iter().zip(x).map(|(&a, &c)| a as i32 * c as i32).sum();
            acc += s as f32 * ws[b] * xs[r * nb + b];
        }
        *d = acc;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::BLOCK;
    use std::arch::x86_64::*;

    /// [`super::column_scalar`] with AVX2: rows go in tiles of up to 8, whose accumulators
    /// stay in registers while each weight block is loaded once.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; slices must have the sizes `column_scalar` reads.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn column(
        wq: &[i8],
        ws: &[f32],
        xq: &[i8],
        xs: &[f32],
        m: usize,
        k: usize,
        dst: &mut [f32],
    ) {
        let mut r0 = 0;
        while r0 < m {
            let rows = (m - r0).min(8);
            match rows {
                8 => tile::<8>(wq, ws, xq, xs, r0, k, dst),
                7 => tile::<7>(wq, ws, xq, xs, r0, k, dst),
                6 => tile::<6>(wq, ws, xq, xs, r0, k, dst),
                5 => tile::<5>(wq, ws, xq, xs, r0, k, dst),
                4 => tile::<4>(wq, ws, xq, xs, r0, k, dst),
                3 => tile::<3>(wq, ws, xq, xs, r0, k, dst),
                2 => tile::<2>(wq, ws, xq, xs, r0, k, dst),
                _ => tile::<1>(wq, ws, xq, xs, r0, k, dst),
            }
            r0 += rows;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize>(
        wq: &[i8],
        ws: &[f32],
        xq: &[i8],
        xs: &[f32],
        r0: usize,
        k: usize,
        dst: &mut [f32],
    ) {
        let nb = k / BLOCK;
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); R];
        for b in 0..nb {
            let w = _mm256_loadu_si256(wq.as_ptr().add(b * BLOCK) as *const __m256i);
            // maddubs multiplies unsigned by signed bytes: move w's sign onto x.
            let aw = _mm256_sign_epi8(w, w);
            let sw = *ws.get_unchecked(b);
            for (r, a) in acc.iter_mut().enumerate() {
                let row = r0 + r;
                let x = _mm256_loadu_si256(xq.as_ptr().add(row * k + b * BLOCK) as *const __m256i);
                let sx = _mm256_sign_epi8(x, w);
                let p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones);
                let d = _mm256_set1_ps(sw * *xs.get_unchecked(row * nb + b));
                *a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, *a);
            }
        }
        for (r, a) in acc.iter().enumerate() {
            let hi = _mm256_extractf128_ps(*a, 1);
            let s = _mm_add_ps(_mm256_castps256_ps128(*a), hi);
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            *dst.get_unchecked_mut(r0 + r) = _mm_cvtss_f32(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
    }

    #[test]
    fn matches_f32_product_within_rounding() {
        let (m, n, k) = (5, 70, 96);
        let w = random(n * k, 1);
        let x = random(m * k, 2);
        let q = Int8Weight::quantize(&Tensor::from_vec(w.clone(), (n, k), &Device::Cpu).unwrap())
            .unwrap()
            .unwrap();
        let y = q
            .matmul(&Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for r in 0..m {
            for c in 0..n {
                let exact: f32 = (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum();
                // Two 8-bit roundings of uniform values: error well under 2% of √k.
                assert!(
                    (y[r][c] - exact).abs() < 0.02 * (k as f32).sqrt(),
                    "({r},{c}): {} vs {exact}",
                    y[r][c]
                );
            }
        }
    }

    #[test]
    fn simd_kernel_equals_scalar_kernel() {
        // Every row-tile size 1..=8 and a tile split (m = 11), extreme values included.
        for m in [1, 2, 3, 4, 5, 6, 7, 8, 11] {
            let (n, k) = (130, 64);
            let mut w = random(n * k, 3);
            w[0] = -1.0; // a block whose extreme is negative: rounds to -127, never -128
            let x = random(m * k, 4 + m as u64);
            let q = Int8Weight::quantize(&Tensor::from_vec(w, (n, k), &Device::Cpu).unwrap())
                .unwrap()
                .unwrap();
            assert!(q.qs.iter().all(|&v| v != i8::MIN));
            let a = q.matmul_slice(&x, m, Kernel::Scalar);
            let b = q.matmul_slice(&x, m, kernel());
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() <= 1e-4 * (1.0 + u.abs()), "m={m}: {u} vs {v}");
            }
        }
    }

    #[test]
    fn widths_that_are_not_whole_blocks_are_left_unquantised() {
        let w = Tensor::zeros((4, 40), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(Int8Weight::quantize(&w).unwrap().is_none());
        let q = Int8Weight::quantize(
            &Tensor::zeros((4, 64), candle_core::DType::F32, &Device::Cpu).unwrap(),
        )
        .unwrap()
        .unwrap();
        let bad = Tensor::zeros((2, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(q.matmul(&bad).is_err());
    }
}
