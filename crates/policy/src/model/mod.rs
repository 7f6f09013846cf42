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
//!
//! The pieces live in submodules along the seams where they change for different reasons:
//! `config` (architecture numbers), `linear` (a frozen linear layer with its
//! LoRA adapter and kernel choice), `kv_cache` (decode-time storage), `forward` (the decoder
//! pass itself), `group` (the shared-prompt GRPO forward) and `decode_attention` (hand-written
//! CPU attention for decode steps). This file holds the model's weights and what builds them.

mod config;
mod decode_attention;
mod forward;
mod group;
mod kv_cache;
mod linear;

pub use config::ModelConfig;
pub use forward::causal_mask;
pub use kv_cache::KvCache;
pub use linear::{mix, Kernels, Layer, Linear, LoraDropout, LoraPair, Target};

use candle_core::{DType, Device, Tensor};

use crate::error::Result;
use crate::int8::Int8Weight;

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
