//! The architecture numbers a checkpoint declares, apart from the weights: loaders fill
//! them from metadata, and everything that shapes tensors reads them, so they are checked
//! once here rather than at every use.

use crate::error::{PolicyError, Result};

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
