//! Decoder-only transformer (Llama family incl. SmolLM2, and Qwen2) written with
//! differentiable candle ops only.
//!
//! candle 0.11's fused `softmax_last_dim`, `rms_norm`, `rope*` and `sdpa` have no backward
//! (gradients through them are silently zero), so every op here is composed from primitives
//! that autograd understands: RMSNorm is `x * rsqrt(mean(x²) + eps) * w`, softmax is
//! `candle_nn::ops::softmax` (exp/sum/div), RoPE is written out with narrow/mul/cat.
//!
//! Batching: sequences are left-padded; each token carries its own position (so padding does
//! not shift RoPE) and an additive mask hides padded keys. The KV cache stores keys already
//! rotated, shape `(batch, n_kv_heads, time, head_dim)`.

use candle_core::{DType, Device, Tensor, Var};

use crate::error::{PolicyError, Result};
use crate::int8::Int8Weight;
use crate::ops::frozen_matmul;

/// Architecture hyper-parameters, read from checkpoint metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Vocabulary size (rows of the embedding matrix).
    pub vocab_size: usize,
    /// Residual width `d`.
    pub hidden_size: usize,
    /// Number of decoder blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention when < `num_heads`).
    pub num_kv_heads: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    /// RoPE frequency base (θ); SmolLM2 uses 1e5, not the Llama default 1e4.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Output projection shares the token-embedding matrix.
    pub tie_embeddings: bool,
    /// q/k/v projections have biases (Qwen2).
    pub qkv_bias: bool,
    /// RoPE rotates interleaved pairs `(2i, 2i+1)` (GGUF Llama: llama.cpp's converter permutes
    /// q/k rows for this) instead of halves `(i, i+d/2)` (HF layout, GGUF Qwen2).
    pub rope_interleaved: bool,
}

impl ModelConfig {
    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Reject configurations the forward pass cannot run.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(PolicyError::InvalidArgument(format!("model config: {m}")));
        if self.num_heads == 0 || self.num_kv_heads == 0 || self.num_layers == 0 {
            return bad("zero heads or layers");
        }
        if self.hidden_size % self.num_heads != 0 {
            return bad("hidden_size not divisible by num_heads");
        }
        if self.num_heads % self.num_kv_heads != 0 {
            return bad("num_heads not divisible by num_kv_heads");
        }
        if self.head_dim() % 2 != 0 {
            return bad("odd head_dim");
        }
        Ok(())
    }
}

/// The modules LoRA can adapt, named as in PEFT / HF Llama.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Attention query projection.
    Q,
    /// Attention key projection.
    K,
    /// Attention value projection.
    V,
    /// Attention output projection.
    O,
    /// SwiGLU gate.
    Gate,
    /// SwiGLU up.
    Up,
    /// SwiGLU down.
    Down,
}

impl Target {
    /// All seven targets.
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    /// PEFT module name (`q_proj`, ...).
    pub fn peft_name(self) -> &'static str {
        match self {
            Target::Q => "q_proj",
            Target::K => "k_proj",
            Target::V => "v_proj",
            Target::O => "o_proj",
            Target::Gate => "gate_proj",
            Target::Up => "up_proj",
            Target::Down => "down_proj",
        }
    }

    /// PEFT parent module (`self_attn` or `mlp`).
    pub fn peft_parent(self) -> &'static str {
        match self {
            Target::Q | Target::K | Target::V | Target::O => "self_attn",
            _ => "mlp",
        }
    }

    /// Parse a PEFT module name.
    pub fn from_peft_name(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.peft_name() == s)
    }
}

/// Low-rank adapter `ΔW = scale · B · A` beside a frozen linear layer.
#[derive(Debug, Clone)]
pub struct LoraPair {
    /// `A`, shape `(rank, in)`; trainable.
    pub a: Var,
    /// `B`, shape `(out, rank)`; trainable, zero-initialised so a fresh adapter is a no-op.
    pub b: Var,
    /// `alpha / rank`.
    pub scale: f64,
}

/// Which kernels a forward pass uses.
///
/// Training needs gradients and the exact f32 numbers; sampling needs neither, and on a CPU
/// its speed is set by how many weight bytes each token reads. So generation runs on 8-bit
/// copies of the weights ([`Int8Weight`]: blocks of 32 with a scale each, activations rounded
/// the same way, as llama.cpp's Q8_0), while every log-probability that enters the GRPO loss
/// is computed with [`Kernels::Exact`]. The rollouts are then very slightly off-policy, which the
/// importance ratio of the clipped objective already accounts for (vLLM-sampled rollouts in
/// verl/OpenRLHF are off-policy the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// f32 weights and differentiable ops: the numbers training sees.
    #[default]
    Exact,
    /// 8-bit weights where the model has them ([`Model::has_quantized`]), fused
    /// normalisation and softmax everywhere, adapters detached: inference only — no gradient
    /// flows through a forward pass that uses them.
    Quantized,
}

/// How one forward pass runs its linear layers.
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// No gradient: adapters detached.
    infer: bool,
    /// Use 8-bit weights where present.
    int8: bool,
    /// LoRA dropout `(p, seed)` for this block and part of the batch (training only).
    dropout: Option<(f32, u64)>,
}

impl Mode {
    /// The dropout seed of one target module.
    fn drop(&self, t: Target) -> Option<(f32, u64)> {
        let ti = Target::ALL.iter().position(|&x| x == t).unwrap_or(0) as u64;
        self.dropout.map(|(p, seed)| (p, mix(seed, ti)))
    }
}

/// Mix seeds into a well-spread 64-bit value (SplitMix64 finaliser), so nearby steps,
/// groups, blocks and modules get unrelated random streams. The GRPO and SFT trainers derive
/// their seeds with it as well.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// LoRA dropout while training (PEFT's `lora_dropout`): each adapted linear drops inputs of
/// its adapter branch with probability `p`, with masks derived from `seed`, the block, the
/// module and the part of the batch — so a run resumed with the same seeds draws the same
/// masks. Set it before each training forward (the GRPO and SFT trainers do, per step and
/// group); sampling and the adapter-off reference never use it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoraDropout {
    /// Drop probability in `[0, 1)`.
    pub p: f32,
    /// Seed of this forward pass.
    pub seed: u64,
}

/// A frozen linear layer (`y = x Wᵀ + b`) with an optional LoRA adapter.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Weight `(out, in)`; a plain tensor, so autograd never produces a gradient for it.
    pub weight: Tensor,
    /// Optional bias `(out,)`.
    pub bias: Option<Tensor>,
    /// Optional adapter.
    pub lora: Option<LoraPair>,
    /// The weight in 8-bit blocks, used by [`Kernels::Quantized`]; `None` falls back to
    /// `weight`. It must hold the same matrix as `weight` (up to rounding): whoever changes
    /// `weight` replaces or clears it.
    pub quant: Option<Int8Weight>,
}

impl Linear {
    /// A layer without adapter or quantised copy.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            weight,
            bias,
            lora: None,
            quant: None,
        }
    }

    /// Output features.
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Input features.
    pub fn in_dim(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Apply to `x` of shape `(..., in)`; the adapter contributes only when `adapter` is true,
    /// which is how the frozen base doubles as the KL reference.
    pub fn forward(&self, x: &Tensor, adapter: bool) -> Result<Tensor> {
        self.forward_with(x, adapter, Kernels::Exact)
    }

    /// [`Linear::forward`] with a choice of kernels.
    pub fn forward_with(&self, x: &Tensor, adapter: bool, kernels: Kernels) -> Result<Tensor> {
        let infer = kernels == Kernels::Quantized;
        self.forward_impl(x, adapter, infer, infer, None)
    }

    /// `infer`: no gradient (adapters detached); `int8`: use the 8-bit weight if present;
    /// `dropout`: LoRA dropout `(p, seed)` while training.
    fn forward_impl(
        &self,
        x: &Tensor,
        adapter: bool,
        infer: bool,
        int8: bool,
        dropout: Option<(f32, u64)>,
    ) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = *dims.last().expect("linear input has at least one dim");
        let rows = x.elem_count() / in_dim;
        // A 2-D matmul against the transposed weight avoids materialising Wᵀ.
        let x2 = x.reshape((rows, in_dim))?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("non-empty") = self.out_dim();
        if let (true, false, Some(l)) = (adapter, infer, &self.lora) {
            // Training: one fused node keeps the graph (and its memory) small.
            let y = crate::ops::lora_linear(
                &x2,
                &self.weight,
                self.bias.as_ref(),
                l.a.as_tensor(),
                l.b.as_tensor(),
                l.scale,
                dropout,
            )?;
            return Ok(y.reshape(out_dims)?);
        }
        let mut y = match (&self.quant, int8) {
            (Some(q), true) => q.matmul(&x2)?,
            _ => frozen_matmul(&x2, &self.weight)?,
        };
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        if adapter {
            if let Some(l) = &self.lora {
                // Inference only here (training returned above): detached, so sampling
                // builds no autograd graph.
                let (a, b) = (l.a.as_tensor().detach(), l.b.as_tensor().detach());
                let u = crate::blas::matmul(&x2, &a.t()?)?;
                let delta = crate::blas::matmul(&u, &b.t()?)?;
                y = (y + (delta * l.scale)?)?;
            }
        }
        Ok(y.reshape(out_dims)?)
    }
}

/// One decoder block's weights.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Pre-attention RMSNorm weight.
    pub attn_norm: Tensor,
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Attention output projection.
    pub o: Linear,
    /// Pre-MLP RMSNorm weight.
    pub mlp_norm: Tensor,
    /// SwiGLU gate projection.
    pub gate: Linear,
    /// SwiGLU up projection.
    pub up: Linear,
    /// SwiGLU down projection.
    pub down: Linear,
}

impl Layer {
    /// The linear layer for a LoRA target.
    pub fn linear(&self, t: Target) -> &Linear {
        match t {
            Target::Q => &self.q,
            Target::K => &self.k,
            Target::V => &self.v,
            Target::O => &self.o,
            Target::Gate => &self.gate,
            Target::Up => &self.up,
            Target::Down => &self.down,
        }
    }

    /// Mutable access to the linear layer for a LoRA target.
    pub fn linear_mut(&mut self, t: Target) -> &mut Linear {
        match t {
            Target::Q => &mut self.q,
            Target::K => &mut self.k,
            Target::V => &mut self.v,
            Target::O => &mut self.o,
            Target::Gate => &mut self.gate,
            Target::Up => &mut self.up,
            Target::Down => &mut self.down,
        }
    }
}

/// Per-layer key/value cache for incremental decoding.
///
/// Keys and values live in buffers with room to grow, `(batch, n_kv_heads, capacity,
/// head_dim)`, written in place: appending one step costs that step's columns, where
/// concatenating would copy the whole history every token (measured: at batch 8 after a
/// 320-token prompt, ~150 MB of copies per decode step).
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
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
    fn append(
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

/// A Llama/Qwen2 decoder with f32 weights and optional LoRA adapters.
#[derive(Debug, Clone)]
pub struct Model {
    /// Architecture.
    pub config: ModelConfig,
    /// Token embeddings `(vocab, d)`.
    pub embed: Tensor,
    /// Decoder blocks.
    pub layers: Vec<Layer>,
    /// Final RMSNorm weight.
    pub norm: Tensor,
    /// Untied output projection `(vocab, d)`; `None` when tied to `embed`.
    pub lm_head: Option<Tensor>,
    /// The output projection in 8-bit blocks, for [`Kernels::Quantized`].
    pub output_quant: Option<Int8Weight>,
    /// LoRA dropout for training forwards; `None` disables it.
    pub lora_dropout: Option<LoraDropout>,
    inv_freq: Tensor,
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
    /// Assemble a model from its parts (used by the loaders and by tests).
    pub fn from_parts(
        config: ModelConfig,
        embed: Tensor,
        layers: Vec<Layer>,
        norm: Tensor,
        lm_head: Option<Tensor>,
    ) -> Result<Self> {
        config.validate()?;
        let hd = config.head_dim();
        let inv: Vec<f32> = (0..hd / 2)
            .map(|i| (1.0 / config.rope_theta.powf(2.0 * i as f64 / hd as f64)) as f32)
            .collect();
        let inv_freq = Tensor::new(inv.as_slice(), embed.device())?;
        Ok(Self {
            config,
            embed,
            layers,
            norm,
            lm_head,
            output_quant: None,
            lora_dropout: None,
            inv_freq,
        })
    }

    /// Give every linear layer (and the output projection) an 8-bit copy of its weight for
    /// [`Kernels::Quantized`] (the loaders do this; layers whose width is not a whole number
    /// of blocks stay f32).
    pub fn quantize(&mut self) -> Result<()> {
        for l in &mut self.layers {
            for t in Target::ALL {
                let lin = l.linear_mut(t);
                lin.quant = Int8Weight::quantize(&lin.weight)?;
            }
        }
        self.output_quant = Int8Weight::quantize(self.output_weight())?;
        Ok(())
    }

    /// True when every linear layer and the output projection have a quantised copy.
    pub fn has_quantized(&self) -> bool {
        self.output_quant.is_some()
            && self
                .layers
                .iter()
                .all(|l| Target::ALL.iter().all(|&t| l.linear(t).quant.is_some()))
    }

    /// A randomly initialised model (deterministic in `seed`), for tests and benchmarks
    /// that must not depend on a checkpoint.
    pub fn random(config: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        use rand::{Rng, SeedableRng};
        config.validate()?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut mat = |r: usize, c: usize, std: f32| -> Result<Tensor> {
            let v: Vec<f32> = (0..r * c)
                .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * std * 1.732)
                .collect();
            Ok(Tensor::from_vec(v, (r, c), device)?)
        };
        let d = config.hidden_size;
        let hd = config.head_dim();
        let kvd = config.num_kv_heads * hd;
        let f = config.intermediate_size;
        let std = 1.0 / (d as f32).sqrt();
        let embed = mat(config.vocab_size, d, 1.0)?;
        let mut layers = Vec::new();
        for _ in 0..config.num_layers {
            let bias = |n: usize, m: &mut dyn FnMut(usize, usize, f32) -> Result<Tensor>| {
                if config.qkv_bias {
                    m(1, n, 0.1).and_then(|t| Ok(t.reshape(n)?)).map(Some)
                } else {
                    Ok(None)
                }
            };
            let qb = bias(d, &mut mat)?;
            let kb = bias(kvd, &mut mat)?;
            let vb = bias(kvd, &mut mat)?;
            layers.push(Layer {
                attn_norm: (Tensor::ones(d, DType::F32, device)? + mat(1, d, 0.1)?.reshape(d)?)?,
                q: Linear::new(mat(d, d, std)?, qb),
                k: Linear::new(mat(kvd, d, std)?, kb),
                v: Linear::new(mat(kvd, d, std)?, vb),
                o: Linear::new(mat(d, d, std)?, None),
                mlp_norm: (Tensor::ones(d, DType::F32, device)? + mat(1, d, 0.1)?.reshape(d)?)?,
                gate: Linear::new(mat(f, d, std)?, None),
                up: Linear::new(mat(f, d, std)?, None),
                down: Linear::new(mat(d, f, 1.0 / (f as f32).sqrt())?, None),
            });
        }
        let norm = Tensor::ones(d, DType::F32, device)?;
        let lm_head = if config.tie_embeddings {
            None
        } else {
            Some(mat(config.vocab_size, d, std)?)
        };
        Self::from_parts(config, embed, layers, norm, lm_head)
    }

    /// Device the weights live on.
    pub fn device(&self) -> &Device {
        self.embed.device()
    }

    /// The output projection `(vocab, d)` (the embedding when tied).
    pub fn output_weight(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

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
    fn train_mode(&self, li: usize, part: u64) -> Mode {
        Mode {
            infer: false,
            int8: false,
            dropout: self
                .lora_dropout
                .filter(|d| d.p > 0.0)
                .map(|d| (d.p, mix(mix(d.seed, li as u64), part))),
        }
    }

    /// Index of the lowest block whose linears carry an adapter that is switched on
    /// (`num_layers` when none). Blocks below it never need a gradient, so they may use
    /// candle's fused kernels, which have no backward (docs/design.md, the candle gradient trap).
    pub fn first_adapted_layer(&self, adapter: bool) -> usize {
        if !adapter {
            return self.layers.len();
        }
        self.layers
            .iter()
            .position(|l| Target::ALL.iter().any(|&t| l.linear(t).lora.is_some()))
            .unwrap_or(self.layers.len())
    }

    fn norm(&self, x: &Tensor, w: &Tensor, fused: bool) -> Result<Tensor> {
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
    fn qkv(
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
    fn attend(
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
    fn mlp(
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
    fn angles(&self, positions: &Tensor) -> Result<(Tensor, Tensor)> {
        let hd = self.config.head_dim();
        let ang = positions
            .to_dtype(DType::F32)?
            .unsqueeze(2)?
            .broadcast_mul(&self.inv_freq.reshape((1, 1, hd / 2))?)?
            .unsqueeze(1)?;
        Ok((ang.cos()?, ang.sin()?))
    }

    /// One forward for a GRPO group: `G` completions that share one prompt.
    ///
    /// The prompt runs once (batch 1); in every block its keys and values are broadcast to
    /// the `G` completions, which run as one right-padded batch at positions `P..P+C`.
    /// Returns, per completion, the final-normed hidden states that predict its tokens:
    /// `(len_i, d)` rows — the last prompt position, then the completion's own positions but
    /// its last. The result equals running each `prompt ++ completion` alone (tested), at a
    /// fraction of the cost, and gradients flow into adapters through the prompt's K/V too.
    pub fn forward_group(
        &self,
        prompt: &[u32],
        completions: &[Vec<u32>],
        adapter: bool,
    ) -> Result<Vec<Tensor>> {
        let mut st = self.group_start(prompt, completions)?;
        self.group_blocks(&mut st, 0..self.layers.len(), adapter)?;
        self.group_finish(&st, completions)
    }

    /// [`Model::forward_group`] with the adapter on and off at once: `(policy, reference)`.
    ///
    /// Blocks below the lowest adapted one compute the same thing either way, so they run
    /// once and only the adapted blocks run twice — with `top_layers = 10` of 30 this saves
    /// two thirds of the reference pass that GRPO's KL term needs. The reference side carries
    /// no gradient.
    pub fn forward_group_pair(
        &self,
        prompt: &[u32],
        completions: &[Vec<u32>],
    ) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let n = self.layers.len();
        let split = self.first_adapted_layer(true);
        let mut st = self.group_start(prompt, completions)?;
        self.group_blocks(&mut st, 0..split, false)?;
        let mut off = st.clone();
        self.group_blocks(&mut st, split..n, true)?;
        self.group_blocks(&mut off, split..n, false)?;
        let on = self.group_finish(&st, completions)?;
        let off = self
            .group_finish(&off, completions)?
            .into_iter()
            .map(|t| t.detach())
            .collect();
        Ok((on, off))
    }

    /// Embeddings, positions and masks of a group (see [`Model::forward_group`]).
    fn group_start(&self, prompt: &[u32], completions: &[Vec<u32>]) -> Result<GroupState> {
        let cfg = &self.config;
        let dev = self.device().clone();
        if prompt.is_empty() || completions.is_empty() || completions.iter().any(|c| c.is_empty()) {
            return Err(PolicyError::InvalidArgument(
                "a group needs a non-empty prompt and non-empty completions".into(),
            ));
        }
        let (p, g) = (prompt.len(), completions.len());
        let c = completions.iter().map(Vec::len).max().unwrap_or(0);
        let d = cfg.hidden_size;
        // Right padding is harmless under a causal mask: padded positions come after every
        // real one, and their outputs are never read.
        let mut ctoks = Vec::with_capacity(g * c);
        for comp in completions {
            ctoks.extend_from_slice(comp);
            ctoks.extend(std::iter::repeat(0u32).take(c - comp.len()));
        }
        let ptoks = Tensor::new(prompt, &dev)?;
        let ctoks = Tensor::from_vec(ctoks, g * c, &dev)?;
        let xp = self.embed.embedding(&ptoks)?.reshape((1, p, d))?;
        let xc = self.embed.embedding(&ctoks)?.reshape((g, c, d))?;
        let ppos = Tensor::arange(0u32, p as u32, &dev)?.unsqueeze(0)?;
        let cpos = Tensor::arange(p as u32, (p + c) as u32, &dev)?
            .unsqueeze(0)?
            .broadcast_as((g, c))?
            .contiguous()?;
        let (pcos, psin) = self.angles(&ppos)?;
        let (ccos, csin) = self.angles(&cpos)?;
        Ok(GroupState {
            xp,
            xc,
            pcos,
            psin,
            ccos,
            csin,
            pmask: causal_mask(p, 0, &dev)?,
            cmask: causal_mask(c, p, &dev)?,
            g,
            p,
        })
    }

    /// Run `blocks` of a group forward, adapter on or off.
    fn group_blocks(
        &self,
        st: &mut GroupState,
        blocks: std::ops::Range<usize>,
        adapter: bool,
    ) -> Result<()> {
        let fused_below = self.first_adapted_layer(adapter);
        let (g, p) = (st.g, st.p);
        for li in blocks {
            let layer = &self.layers[li];
            let fused = li < fused_below;
            let hp = self.norm(&st.xp, &layer.attn_norm, fused)?;
            let hc = self.norm(&st.xc, &layer.attn_norm, fused)?;
            let (mp, mc) = (self.train_mode(li, 1), self.train_mode(li, 2));
            let (qp, kp, vp) = self.qkv(layer, &hp, &st.pcos, &st.psin, adapter, mp)?;
            let (qc, kc, vc) = self.qkv(layer, &hc, &st.ccos, &st.csin, adapter, mc)?;
            let (_, nkv, _, hd) = kp.dims4()?;
            // `contiguous`: cat of a broadcast view comes back with transposed strides, which
            // candle's batched matmul rejects.
            let kall = Tensor::cat(&[&kp.broadcast_as((g, nkv, p, hd))?, &kc], 2)?.contiguous()?;
            let vall = Tensor::cat(&[&vp.broadcast_as((g, nkv, p, hd))?, &vc], 2)?.contiguous()?;
            let yp = self.attend(&qp, &kp, &vp, Some(&st.pmask), fused)?;
            let yc = self.attend(&qc, &kall, &vall, Some(&st.cmask), fused)?;
            let xp = (&st.xp
                + layer
                    .o
                    .forward_impl(&yp, adapter, false, false, mp.drop(Target::O))?)?;
            let xc = (&st.xc
                + layer
                    .o
                    .forward_impl(&yc, adapter, false, false, mc.drop(Target::O))?)?;
            st.xp = (&xp + self.mlp(layer, &xp, adapter, fused, mp)?)?;
            st.xc = (&xc + self.mlp(layer, &xc, adapter, fused, mc)?)?;
        }
        Ok(())
    }

    /// Final norm and the per-completion rows of a group (see [`Model::forward_group`]).
    fn group_finish(&self, st: &GroupState, completions: &[Vec<u32>]) -> Result<Vec<Tensor>> {
        let p = st.p;
        let last = self.norm(&st.xp.narrow(1, p - 1, 1)?.squeeze(0)?, &self.norm, false)?;
        let hc = self.norm(&st.xc, &self.norm, false)?;
        completions
            .iter()
            .enumerate()
            .map(|(i, comp)| {
                let own = comp.len() - 1;
                if own == 0 {
                    return Ok(last.clone());
                }
                Ok(Tensor::cat(&[&last, &hc.get(i)?.narrow(0, 0, own)?], 0)?)
            })
            .collect()
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

    /// Every LoRA variable with its (layer, target) location, A before B.
    pub fn lora_vars(&self) -> Vec<(usize, Target, &LoraPair)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            for t in Target::ALL {
                if let Some(p) = &l.linear(t).lora {
                    out.push((i, t, p));
                }
            }
        }
        out
    }

    /// Remove all adapters.
    pub fn clear_lora(&mut self) {
        for l in &mut self.layers {
            for t in Target::ALL {
                l.linear_mut(t).lora = None;
            }
        }
    }
}

/// Attention for a few query positions with no gradient (decode steps): the same result as
/// [`Model::attend`], computed directly on the KV cache's buffers.
///
/// Written by hand because at decode shapes (`(b, heads, 1, 64)` against a few hundred keys)
/// candle's batched matmul spends more time dispatching tiny GEMMs than multiplying: a third
/// of a batch-8 decode step in profiles.
fn attend_decode(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
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

/// The activations of a group between blocks, with what every block reads.
#[derive(Clone)]
struct GroupState {
    /// Prompt stream `(1, P, d)`.
    xp: Tensor,
    /// Completion streams `(G, C, d)`.
    xc: Tensor,
    pcos: Tensor,
    psin: Tensor,
    ccos: Tensor,
    csin: Tensor,
    pmask: Tensor,
    cmask: Tensor,
    g: usize,
    p: usize,
}
