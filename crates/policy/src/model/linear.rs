//! The frozen linear layer and its LoRA adapter: the one place where base weights, the
//! trainable low-rank delta, LoRA dropout and the exact/8-bit kernel choice meet, so the
//! forward passes only say which module and which mode, never how a projection is computed.

use candle_core::{Tensor, Var};

use crate::error::Result;
use crate::int8::Int8Weight;
use crate::ops::frozen_matmul;

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
    /// 8-bit weights where the model has them ([`Model::has_quantized`](super::Model::has_quantized)), fused
    /// normalisation and softmax everywhere, adapters detached: inference only — no gradient
    /// flows through a forward pass that uses them.
    Quantized,
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
    pub(super) fn forward_impl(
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
