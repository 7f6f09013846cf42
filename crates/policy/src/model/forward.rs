//! The decoder pass: embeddings, blocks (norm, projections, RoPE, attention, SwiGLU) and
//! logits. Training, sampling and the reference pass all go through these functions, with
//! the kernel choice and LoRA dropout carried by a [`Mode`], so that the numbers training
//! sees and the numbers sampling sees differ only where [`Kernels`] says they do.

use candle_core::{DType, Device, Tensor};

use super::decode_attention::attend_decode;
use super::{mix, Kernels, KvCache, Layer, Model, Target};
use crate::error::Result;
use crate::ops::frozen_matmul;

/// How one forward pass runs its linear layers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mode {
    /// No gradient: adapters detached.
    infer: bool,
    /// Use 8-bit weights where present.
    int8: bool,
    /// LoRA dropout `(p, seed)` for this block and part of the batch (training only).
    dropout: Option<(f32, u64)>,
}

impl Mode {
    /// The dropout seed of one target module.
    pub(super) fn drop(&self, t: Target) -> Option<(f32, u64)> {
        let ti = Target::ALL.iter().position(|&x| x == t).unwrap_or(0) as u64;
        self.dropout.map(|(p, seed)| (p, mix(seed, ti)))
    }
}

/// Rotate `x` `(b, h, t, hd)` by angles whose cos/sin are `(b, 1, t, hd/2)`.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, interleaved: bool) -> Result<Tensor> {
    let (b, h, t, hd) = x.dims4()?;
    let half = hd / 2;
    if interleaved {
        // Pairs (2i, 2i+1).
        let xr = x.reshape((b, h, t, half, 2))?;
        let x0 = xr.narrow(4, 0, 1)?;
        let x1 = xr.narrow(4, 1, 1)?;
        let c = cos.unsqueeze(4)?;
        let s = sin.unsqueeze(4)?;
        let r0 = (x0.broadcast_mul(&c)? - x1.broadcast_mul(&s)?)?;
        let r1 = (x0.broadcast_mul(&s)? + x1.broadcast_mul(&c)?)?;
        Ok(Tensor::cat(&[r0, r1], 4)?.reshape((b, h, t, hd))?)
    } else {
        // Halves (i, i + hd/2).
        let x0 = x.narrow(3, 0, half)?;
        let x1 = x.narrow(3, half, half)?;
        let r0 = (x0.broadcast_mul(cos)? - x1.broadcast_mul(sin)?)?;
        let r1 = (x1.broadcast_mul(cos)? + x0.broadcast_mul(sin)?)?;
        Ok(Tensor::cat(&[r0, r1], 3)?)
    }
}

impl Model {
    /// Run the decoder and return final-normed hidden states `(b, t, d)`.
    ///
    /// * `tokens`, `positions`: `(b, t)` u32; positions are per token so left padding does not
    ///   shift RoPE.
    /// * `mask`: additive f32 `(b, 1, t, t_cache + t)` (0 = attend, -inf = hide) or `None`
    ///   for a plain causal mask over an unpadded batch.
    /// * `cache`: appended to when given.
    /// * `adapter`: include LoRA deltas.
    pub fn forward_hidden(
        &self,
        tokens: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
        adapter: bool,
    ) -> Result<Tensor> {
        self.forward_hidden_with(tokens, positions, mask, cache, adapter, Kernels::Exact)
    }

    /// [`Model::forward_hidden`] with a choice of kernels.
    pub fn forward_hidden_with(
        &self,
        tokens: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        adapter: bool,
        kernels: Kernels,
    ) -> Result<Tensor> {
        let cfg = &self.config;
        let (b, t) = tokens.dims2()?;
        let past = cache.as_ref().map(|c| c.len()).unwrap_or(0);
        let owned_mask;
        let mask = match mask {
            Some(m) => Some(m),
            None if t > 1 => {
                owned_mask = causal_mask(t, past, self.device())?;
                Some(&owned_mask)
            }
            None => None,
        };
        let (cos, sin) = self.angles(positions)?;
        if let Some(c) = cache.as_deref_mut() {
            if c.layers.len() != cfg.num_layers {
                c.layers = vec![None; cfg.num_layers];
            }
        }
        let mut x =
            self.embed
                .embedding(&tokens.flatten_all()?)?
                .reshape((b, t, cfg.hidden_size))?;
        let infer = kernels == Kernels::Quantized;
        // 8-bit weights only for single-token decode steps: there the speed is set by reading
        // the weights; a prefill is compute-bound, where the f32 GEMM is faster. Deciding by
        // step kind, not by row count, keeps every sequence's result independent of what
        // else is in its batch.
        let base = Mode {
            infer,
            int8: infer && t == 1,
            dropout: None,
        };
        let fused_below = self.first_adapted_layer(adapter);
        for (li, layer) in self.layers.iter().enumerate() {
            let fused = infer || li < fused_below;
            let mode = if infer { base } else { self.train_mode(li, 0) };
            let h = self.norm(&x, &layer.attn_norm, fused)?;
            let (q, mut k, mut v) = self.qkv(layer, &h, &cos, &sin, adapter, mode)?;
            if let Some(c) = cache.as_deref_mut() {
                (k, v) = c.append(li, past, &k, &v)?;
            }
            let y = if infer && t <= 4 {
                attend_decode(&q, &k, &v, mask)?
            } else {
                self.attend(&q, &k, &v, mask, fused)?
            };
            x = (x + layer.o.forward_impl(
                &y,
                adapter,
                mode.infer,
                mode.int8,
                mode.drop(Target::O),
            )?)?;
            x = (&x + self.mlp(layer, &x, adapter, fused, mode)?)?;
        }
        if let Some(c) = cache {
            c.len = past + t;
        }
        self.norm(&x, &self.norm, infer)
    }

    /// The mode of a training forward through block `li`, `part` telling apart the pieces of
    /// one pass (a group's prompt and its completions) so their dropout masks differ.
    pub(super) fn train_mode(&self, li: usize, part: u64) -> Mode {
        Mode {
            infer: false,
            int8: false,
            dropout: self
                .lora_dropout
                .filter(|d| d.p > 0.0)
                .map(|d| (d.p, mix(mix(d.seed, li as u64), part))),
        }
    }

    pub(super) fn norm(&self, x: &Tensor, w: &Tensor, fused: bool) -> Result<Tensor> {
        if fused {
            Ok(candle_nn::ops::rms_norm(
                x,
                w,
                self.config.rms_norm_eps as f32,
            )?)
        } else {
            // Ours has a backward; candle's fused kernel above has none.
            crate::ops::rms_norm(x, w, self.config.rms_norm_eps)
        }
    }

    /// Projections and RoPE of one block: `q (b, nh, t, hd)`, `k, v (b, nkv, t, hd)`.
    pub(super) fn qkv(
        &self,
        layer: &Layer,
        h: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        adapter: bool,
        mode: Mode,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let cfg = &self.config;
        let (b, t, _) = h.dims3()?;
        let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim());
        let q = layer
            .q
            .forward_impl(h, adapter, mode.infer, mode.int8, mode.drop(Target::Q))?;
        let k = layer
            .k
            .forward_impl(h, adapter, mode.infer, mode.int8, mode.drop(Target::K))?;
        let v = layer
            .v
            .forward_impl(h, adapter, mode.infer, mode.int8, mode.drop(Target::V))?;
        let q = q.reshape((b, t, nh, hd))?.transpose(1, 2)?.contiguous()?;
        let k = k.reshape((b, t, nkv, hd))?.transpose(1, 2)?.contiguous()?;
        let v = v.reshape((b, t, nkv, hd))?.transpose(1, 2)?.contiguous()?;
        let q = rope(&q, cos, sin, cfg.rope_interleaved)?;
        let k = rope(&k, cos, sin, cfg.rope_interleaved)?;
        Ok((q, k, v))
    }

    /// Scaled dot-product attention with an additive mask; returns `(b, t, nh·hd)`.
    ///
    /// Grouped-query attention without copying keys and values per query head: the `rep`
    /// query heads that share a KV head are stacked along time, `(b, nkv, rep·t, hd)`, so one
    /// batched product per KV head serves them all.
    pub(super) fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        fused: bool,
    ) -> Result<Tensor> {
        let (b, nh, t, hd) = q.dims4()?;
        let (_, nkv, tk, _) = k.dims4()?;
        let rep = nh / nkv;
        let q = (q * (1.0 / (hd as f64).sqrt()))?.reshape((b, nkv, rep * t, hd))?;
        let mut att = crate::ops::bmm(&q, &k.t()?)?;
        if let Some(m) = mask {
            // Rows are (kv head, shared head, query time): the mask broadcasts over both heads.
            att = att
                .reshape((b, nkv, rep, t, tk))?
                .broadcast_add(&m.unsqueeze(2)?)?
                .reshape((b, nkv, rep * t, tk))?;
        }
        let att = if fused {
            candle_nn::ops::softmax_last_dim(&att)?
        } else {
            // Ours has a backward, unlike candle_nn's softmax_last_dim.
            crate::ops::softmax_last_dim(&att)?
        };
        Ok(crate::ops::bmm(&att, v)?
            .reshape((b, nh, t, hd))?
            .transpose(1, 2)?
            .reshape((b, t, nh * hd))?)
    }

    /// The SwiGLU half of a block (pre-norm included), without the residual.
    pub(super) fn mlp(
        &self,
        layer: &Layer,
        x: &Tensor,
        adapter: bool,
        fused: bool,
        mode: Mode,
    ) -> Result<Tensor> {
        let h = self.norm(x, &layer.mlp_norm, fused)?;
        let g =
            layer
                .gate
                .forward_impl(&h, adapter, mode.infer, mode.int8, mode.drop(Target::Gate))?;
        let u = layer
            .up
            .forward_impl(&h, adapter, mode.infer, mode.int8, mode.drop(Target::Up))?;
        let gated = if fused {
            (candle_nn::ops::silu(&g)? * u)?
        } else {
            crate::ops::silu_mul(&g, &u)?
        };
        layer.down.forward_impl(
            &gated,
            adapter,
            mode.infer,
            mode.int8,
            mode.drop(Target::Down),
        )
    }

    /// RoPE angles `(b, 1, t, hd/2)` as (cos, sin) for per-token positions `(b, t)`.
    pub(super) fn angles(&self, positions: &Tensor) -> Result<(Tensor, Tensor)> {
        let hd = self.config.head_dim();
        let ang = positions
            .to_dtype(DType::F32)?
            .unsqueeze(2)?
            .broadcast_mul(&self.inv_freq.reshape((1, 1, hd / 2))?)?
            .unsqueeze(1)?;
        Ok((ang.cos()?, ang.sin()?))
    }

    /// Project hidden states `(..., d)` to logits `(..., vocab)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.logits_with(hidden, Kernels::Exact)
    }

    /// [`Model::logits`] with a choice of kernels.
    pub fn logits_with(&self, hidden: &Tensor, kernels: Kernels) -> Result<Tensor> {
        let dims = hidden.dims().to_vec();
        let d = *dims.last().unwrap_or(&0);
        let rows = hidden.elem_count() / d.max(1);
        let h2 = hidden.reshape((rows, d))?.contiguous()?;
        let l = match (&self.output_quant, kernels) {
            (Some(q), Kernels::Quantized) => q.matmul(&h2)?,
            _ => frozen_matmul(&h2, self.output_weight())?,
        };
        let mut out = dims;
        *out.last_mut().expect("non-empty") = self.config.vocab_size;
        Ok(l.reshape(out)?)
    }

    /// Convenience: logits of the last position for an unpadded batch `(b, t)` starting at
    /// position 0 (or continuing `cache`). Returns `(b, vocab)`.
    pub fn forward_last(
        &self,
        tokens: &Tensor,
        cache: Option<&mut KvCache>,
        adapter: bool,
    ) -> Result<Tensor> {
        self.forward_last_with(tokens, cache, adapter, Kernels::Exact)
    }

    /// [`Model::forward_last`] with a choice of kernels.
    pub fn forward_last_with(
        &self,
        tokens: &Tensor,
        cache: Option<&mut KvCache>,
        adapter: bool,
        kernels: Kernels,
    ) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let past = cache.as_ref().map(|c| c.len()).unwrap_or(0) as u32;
        let pos: Vec<u32> = (0..b).flat_map(|_| past..past + t as u32).collect();
        let pos = Tensor::from_vec(pos, (b, t), self.device())?;
        let h = self.forward_hidden_with(tokens, &pos, None, cache, adapter, kernels)?;
        self.logits_with(&h.narrow(1, t - 1, 1)?.squeeze(1)?, kernels)
    }
}

/// Causal additive mask `(1, 1, t, past + t)` for an unpadded batch.
pub fn causal_mask(t: usize, past: usize, device: &Device) -> Result<Tensor> {
    let total = past + t;
    let v: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j <= past + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(v, (1, 1, t, total), device)?)
}
