//! Decode-time key/value storage. It is kept apart from the forward pass because its
//! concern is memory traffic (buffers grown in place, batching of per-prompt caches), not
//! arithmetic, and generation builds and reshapes caches without running the model.

use candle_core::Tensor;

use crate::error::{PolicyError, Result};

/// Per-layer key/value cache for incremental decoding.
///
/// Keys and values live in buffers with room to grow, `(batch, n_kv_heads, capacity,
/// head_dim)`, written in place: appending one step costs that step's columns, where
/// concatenating would copy the whole history every token (measured: at batch 8 after a
/// 320-token prompt, ~150 MB of copies per decode step).
#[derive(Debug, Default)]
pub struct KvCache {
    pub(super) layers: Vec<Option<(Tensor, Tensor)>>,
    pub(super) len: usize,
}

impl Clone for KvCache {
    /// A deep copy: the buffers are written in place, so two caches must never share one.
    fn clone(&self) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref()
                    .map(|(k, v)| Ok::<_, candle_core::Error>((k.copy()?, v.copy()?)))
                    .transpose()
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .expect("copying a CPU tensor cannot fail");
        Self {
            layers,
            len: self.len,
        }
    }
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cached time steps (0 when empty).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Repeat a batch-1 cache `g` times along the batch, so `g` streams continue one
    /// shared prefix (one prefill per GRPO group).
    pub fn expand_batch(&mut self, g: usize) -> Result<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            if k.dims()[0] != 1 {
                return Err(PolicyError::InvalidArgument(format!(
                    "expand_batch needs a batch-1 cache, found batch {}",
                    k.dims()[0]
                )));
            }
            *k = k.repeat((g, 1, 1, 1))?;
            *v = v.repeat((g, 1, 1, 1))?;
        }
        Ok(())
    }

    /// Batch caches of single sequences (batch 1 each, as one prefill per prompt leaves
    /// them) into one left-padded cache: sequence `i`'s columns end at the longest one's
    /// length, and the columns before them hold zeros, which decode steps must mask. Returns
    /// the cache and each sequence's padding.
    pub fn stack_left_padded(parts: &[KvCache]) -> Result<(KvCache, Vec<usize>)> {
        let len = parts.iter().map(KvCache::len).max().unwrap_or(0);
        let pads: Vec<usize> = parts.iter().map(|c| len - c.len()).collect();
        let n_layers = parts.first().map(|c| c.layers.len()).unwrap_or(0);
        if parts
            .iter()
            .any(|c| c.layers.len() != n_layers || c.is_empty())
        {
            return Err(PolicyError::InvalidArgument(
                "stack_left_padded needs non-empty caches of one model".into(),
            ));
        }
        let mut layers = Vec::with_capacity(n_layers);
        for li in 0..n_layers {
            let mut ks = Vec::with_capacity(parts.len());
            let mut vs = Vec::with_capacity(parts.len());
            for (c, &pad) in parts.iter().zip(&pads) {
                let Some((k, v)) = &c.layers[li] else {
                    return Err(PolicyError::InvalidArgument(format!(
                        "cache layer {li} is empty"
                    )));
                };
                let (b, nkv, _, hd) = k.dims4()?;
                if b != 1 {
                    return Err(PolicyError::InvalidArgument(format!(
                        "stack_left_padded needs batch-1 caches, found batch {b}"
                    )));
                }
                let (k, v) = (k.narrow(2, 0, c.len)?, v.narrow(2, 0, c.len)?);
                if pad == 0 {
                    ks.push(k.contiguous()?);
                    vs.push(v.contiguous()?);
                } else {
                    let z = Tensor::zeros((1, nkv, pad, hd), k.dtype(), k.device())?;
                    ks.push(Tensor::cat(&[&z, &k], 2)?);
                    vs.push(Tensor::cat(&[&z, &v], 2)?);
                }
            }
            layers.push(Some((Tensor::cat(&ks, 0)?, Tensor::cat(&vs, 0)?)));
        }
        Ok((KvCache { layers, len }, pads))
    }

    /// Write layer `li`'s new keys/values `(b, nkv, t, hd)` at columns `past..past+t` and
    /// return views of all `past + t` columns.
    pub(super) fn append(
        &mut self,
        li: usize,
        past: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (b, nkv, t, hd) = k.dims4()?;
        let need = past + t;
        let slot = &mut self.layers[li];
        let cap = slot.as_ref().map(|(kb, _)| kb.dims()[2]).unwrap_or(0);
        if let Some((kb, _)) = slot.as_ref() {
            if kb.dims()[0] != b || kb.dims()[1] != nkv || kb.dims()[3] != hd {
                return Err(PolicyError::InvalidArgument(format!(
                    "KV cache holds shape {:?}, new keys are {:?}",
                    kb.dims(),
                    k.dims()
                )));
            }
        }
        if cap < need {
            // Grow geometrically so a long generation reallocates O(log n) times.
            let new_cap = need.max(2 * cap).max(need + 64);
            let kb = Tensor::zeros((b, nkv, new_cap, hd), k.dtype(), k.device())?;
            let vb = Tensor::zeros((b, nkv, new_cap, hd), v.dtype(), v.device())?;
            if let Some((ok, ov)) = slot.as_ref() {
                if past > 0 {
                    kb.slice_set(&ok.narrow(2, 0, past)?.contiguous()?, 2, 0)?;
                    vb.slice_set(&ov.narrow(2, 0, past)?.contiguous()?, 2, 0)?;
                }
            }
            *slot = Some((kb, vb));
        }
        let (kb, vb) = slot.as_ref().expect("allocated above");
        // The cache serves decoding only; stored detached, it does not chain every step's
        // autograd graph (and so every step's activations) into the next.
        kb.slice_set(&k.detach().contiguous()?, 2, past)?;
        vb.slice_set(&v.detach().contiguous()?, 2, past)?;
        let (kv, vv) = (kb.narrow(2, 0, need)?, vb.narrow(2, 0, need)?);
        if (k.track_op() || v.track_op()) && past > 0 {
            // Keep the gradient path through this step's own keys and values.
            let kh = Tensor::cat(&[&kv.narrow(2, 0, past)?, k], 2)?;
            let vh = Tensor::cat(&[&vv.narrow(2, 0, past)?, v], 2)?;
            return Ok((kh, vh));
        }
        Ok((kv, vv))
    }
}
