//! Loading HF-format checkpoints: a directory with `config.json` and one or more
//! `*.safetensors` shards (Llama / SmolLM2 / Qwen2 naming). HF stores q/k in their original
//! row order, so RoPE rotates halves (`rope_interleaved = false`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::error::{PolicyError, Result};
use crate::model::{Layer, Linear, Model, ModelConfig};

#[derive(Debug, Deserialize)]
struct HfConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    #[serde(default = "default_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    #[serde(default)]
    tie_word_embeddings: bool,
}

fn default_eps() -> f64 {
    1e-6
}

fn default_theta() -> f64 {
    10_000.0
}

/// Load a model from an HF directory (`config.json` + `*.safetensors`), converting to f32.
pub fn load_hf_dir(dir: impl AsRef<Path>, device: &Device) -> Result<Model> {
    let dir = dir.as_ref();
    let cpath = dir.join("config.json");
    let text = std::fs::read_to_string(&cpath).map_err(|source| PolicyError::Io {
        path: cpath.clone(),
        source,
    })?;
    let hc: HfConfig = serde_json::from_str(&text).map_err(|e| PolicyError::Metadata {
        key: cpath.display().to_string(),
        reason: e.to_string(),
    })?;
    let qkv_bias = match hc.model_type.as_str() {
        "llama" => false,
        "qwen2" => true,
        other => return Err(PolicyError::UnsupportedArchitecture(other.into())),
    };
    let cfg = ModelConfig {
        vocab_size: hc.vocab_size,
        hidden_size: hc.hidden_size,
        num_layers: hc.num_hidden_layers,
        num_heads: hc.num_attention_heads,
        num_kv_heads: hc.num_key_value_heads.unwrap_or(hc.num_attention_heads),
        intermediate_size: hc.intermediate_size,
        rope_theta: hc.rope_theta,
        rms_norm_eps: hc.rms_norm_eps,
        tie_embeddings: hc.tie_word_embeddings,
        qkv_bias,
        rope_interleaved: false,
    };
    cfg.validate()?;
    let mut shards: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| PolicyError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    shards.sort();
    let mut all: HashMap<String, Tensor> = HashMap::new();
    for s in &shards {
        let t = candle_core::safetensors::load(s, device).map_err(|e| {
            PolicyError::CorruptSafetensors {
                path: s.clone(),
                reason: e.to_string(),
            }
        })?;
        all.extend(t);
    }
    let mut take = |name: &str, shape: &[usize]| -> Result<Tensor> {
        let t = all
            .remove(name)
            .ok_or_else(|| PolicyError::MissingTensor(name.into()))?;
        if t.dims() != shape {
            return Err(PolicyError::ShapeMismatch {
                name: name.into(),
                expected: shape.to_vec(),
                got: t.dims().to_vec(),
            });
        }
        Ok(t.to_dtype(DType::F32)?)
    };
    let d = cfg.hidden_size;
    let kvd = cfg.num_kv_heads * cfg.head_dim();
    let f = cfg.intermediate_size;
    let embed = take("model.embed_tokens.weight", &[cfg.vocab_size, d])?;
    let norm = take("model.norm.weight", &[d])?;
    let lm_head = if cfg.tie_embeddings {
        None
    } else {
        Some(take("lm_head.weight", &[cfg.vocab_size, d])?)
    };
    let mut layers = Vec::with_capacity(cfg.num_layers);
    for i in 0..cfg.num_layers {
        let p = format!("model.layers.{i}");
        let mut lin = |s: &str, out: usize, inp: usize, bias: bool| -> Result<Linear> {
            Ok(Linear::new(
                take(&format!("{p}.{s}.weight"), &[out, inp])?,
                if bias {
                    Some(take(&format!("{p}.{s}.bias"), &[out])?)
                } else {
                    None
                },
            ))
        };
        let q = lin("self_attn.q_proj", d, d, qkv_bias)?;
        let k = lin("self_attn.k_proj", kvd, d, qkv_bias)?;
        let v = lin("self_attn.v_proj", kvd, d, qkv_bias)?;
        let o = lin("self_attn.o_proj", d, d, false)?;
        let gate = lin("mlp.gate_proj", f, d, false)?;
        let up = lin("mlp.up_proj", f, d, false)?;
        let down = lin("mlp.down_proj", d, f, false)?;
        layers.push(Layer {
            attn_norm: take(&format!("{p}.input_layernorm.weight"), &[d])?,
            mlp_norm: take(&format!("{p}.post_attention_layernorm.weight"), &[d])?,
            q,
            k,
            v,
            o,
            gate,
            up,
            down,
        });
    }
    let mut model = Model::from_parts(cfg, embed, layers, norm, lm_head)?;
    // Sampling decodes on Q8_0 blocks (Kernels::Quantized); training keeps the f32 weights.
    model.quantize()?;
    Ok(model)
}
