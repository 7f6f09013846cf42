//! GGUF loading: metadata → [`ModelConfig`], weights dequantised to f32, tokenizer metadata.
//!
//! candle's reader already bounds-checks lengths against the file size; we turn its errors
//! into [`PolicyError::CorruptGguf`] and add the checks candle leaves to the model code
//! (architecture, quantisation type, presence and shape of every tensor).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType};
use candle_core::{Device, Tensor};

use crate::error::{PolicyError, Result};
use crate::model::{Layer, Linear, Model, ModelConfig};

/// A parsed GGUF header plus an open reader for its tensor data.
pub struct GgufFile {
    path: PathBuf,
    content: gguf_file::Content,
    reader: BufReader<File>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("tensors", &self.content.tensor_infos.len())
            .finish()
    }
}

const SUPPORTED: &[GgmlDType] = &[
    GgmlDType::F32,
    GgmlDType::F16,
    GgmlDType::BF16,
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q8_0,
    GgmlDType::Q2K,
    GgmlDType::Q3K,
    GgmlDType::Q4K,
    GgmlDType::Q5K,
    GgmlDType::Q6K,
];

impl GgufFile {
    /// Open and parse the header (metadata and tensor directory) of a GGUF file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| PolicyError::Io {
            path: path.clone(),
            source,
        })?;
        let mut reader = BufReader::new(file);
        let content =
            gguf_file::Content::read(&mut reader).map_err(|e| PolicyError::CorruptGguf {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            path,
            content,
            reader,
        })
    }

    /// Raw metadata.
    pub fn metadata(&self) -> &HashMap<String, gguf_file::Value> {
        &self.content.metadata
    }

    fn md(&self, key: &str) -> Result<&gguf_file::Value> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| PolicyError::Metadata {
                key: key.to_string(),
                reason: "absent".into(),
            })
    }

    fn md_err(key: &str, e: candle_core::Error) -> PolicyError {
        PolicyError::Metadata {
            key: key.to_string(),
            reason: e.to_string(),
        }
    }

    /// A metadata string.
    pub fn md_str(&self, key: &str) -> Result<&str> {
        self.md(key)?
            .to_string()
            .map(|s| s.as_str())
            .map_err(|e| Self::md_err(key, e))
    }

    /// A metadata unsigned integer of any width.
    pub fn md_u64(&self, key: &str) -> Result<u64> {
        use gguf_file::Value as V;
        match self.md(key)? {
            V::U8(v) => Ok(*v as u64),
            V::U16(v) => Ok(*v as u64),
            V::U32(v) => Ok(*v as u64),
            V::U64(v) => Ok(*v),
            V::I8(v) if *v >= 0 => Ok(*v as u64),
            V::I16(v) if *v >= 0 => Ok(*v as u64),
            V::I32(v) if *v >= 0 => Ok(*v as u64),
            V::I64(v) if *v >= 0 => Ok(*v as u64),
            v => Err(PolicyError::Metadata {
                key: key.into(),
                reason: format!(
                    "expected a non-negative integer, found {:?}",
                    v.value_type()
                ),
            }),
        }
    }

    /// A metadata float (f32 or f64).
    pub fn md_f64(&self, key: &str) -> Result<f64> {
        use gguf_file::Value as V;
        match self.md(key)? {
            V::F32(v) => Ok(*v as f64),
            V::F64(v) => Ok(*v),
            v => Err(PolicyError::Metadata {
                key: key.into(),
                reason: format!("expected a float, found {:?}", v.value_type()),
            }),
        }
    }

    /// A metadata array.
    pub fn md_array(&self, key: &str) -> Result<&Vec<gguf_file::Value>> {
        self.md(key)?.to_vec().map_err(|e| Self::md_err(key, e))
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str> {
        self.md_str("general.architecture")
    }

    /// Build the model configuration from `<arch>.*` metadata.
    pub fn config(&self) -> Result<ModelConfig> {
        let arch = self.architecture()?.to_string();
        let (qkv_bias, rope_interleaved) = match arch.as_str() {
            // llama.cpp's converter permutes Llama q/k rows for interleaved RoPE.
            "llama" => (false, true),
            "qwen2" => (true, false),
            _ => return Err(PolicyError::UnsupportedArchitecture(arch)),
        };
        let k = |s: &str| format!("{arch}.{s}");
        let hidden = self.md_u64(&k("embedding_length"))? as usize;
        let num_heads = self.md_u64(&k("attention.head_count"))? as usize;
        let num_kv_heads = self
            .md_u64(&k("attention.head_count_kv"))
            .unwrap_or(num_heads as u64) as usize;
        let vocab_size = match self.content.tensor_infos.get("token_embd.weight") {
            Some(t) => t.shape.dims()[0],
            None => return Err(PolicyError::MissingTensor("token_embd.weight".into())),
        };
        let cfg = ModelConfig {
            vocab_size,
            hidden_size: hidden,
            num_layers: self.md_u64(&k("block_count"))? as usize,
            num_heads,
            num_kv_heads,
            intermediate_size: self.md_u64(&k("feed_forward_length"))? as usize,
            rope_theta: self.md_f64(&k("rope.freq_base")).unwrap_or(10_000.0),
            rms_norm_eps: self.md_f64(&k("attention.layer_norm_rms_epsilon"))?,
            tie_embeddings: !self.content.tensor_infos.contains_key("output.weight"),
            qkv_bias,
            rope_interleaved,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read one tensor, check its type and shape, and dequantise it to f32.
    pub fn tensor_f32(
        &mut self,
        name: &str,
        expected: &[usize],
        device: &Device,
    ) -> Result<Tensor> {
        let q = self.tensor_q(name, expected, device)?;
        Ok(q.dequantize(device)?)
    }

    /// Read one tensor in its stored blocks, checking its type and shape.
    pub fn tensor_q(
        &mut self,
        name: &str,
        expected: &[usize],
        device: &Device,
    ) -> Result<candle_core::quantized::QTensor> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| PolicyError::MissingTensor(name.to_string()))?;
        if !SUPPORTED.contains(&info.ggml_dtype) {
            return Err(PolicyError::UnsupportedQuantization {
                name: name.into(),
                dtype: format!("{:?}", info.ggml_dtype),
            });
        }
        if info.shape.dims() != expected {
            return Err(PolicyError::ShapeMismatch {
                name: name.into(),
                expected: expected.to_vec(),
                got: info.shape.dims().to_vec(),
            });
        }
        info.read(&mut self.reader, self.content.tensor_data_offset, device)
            .map_err(|e| PolicyError::CorruptGguf {
                path: self.path.clone(),
                reason: format!("tensor `{name}`: {e}"),
            })
    }

    /// Load the whole model, dequantising every weight to f32.
    pub fn load_model(&mut self, device: &Device) -> Result<Model> {
        let cfg = self.config()?;
        let d = cfg.hidden_size;
        let kvd = cfg.num_kv_heads * cfg.head_dim();
        let f = cfg.intermediate_size;
        let embed = self.tensor_f32("token_embd.weight", &[cfg.vocab_size, d], device)?;
        let norm = self.tensor_f32("output_norm.weight", &[d], device)?;
        let lm_head = if cfg.tie_embeddings {
            None
        } else {
            Some(self.tensor_f32("output.weight", &[cfg.vocab_size, d], device)?)
        };
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let p = format!("blk.{i}");
            let mut lin = |s: &str, out: usize, inp: usize, bias: bool| -> Result<Linear> {
                let w = self.tensor_f32(&format!("{p}.{s}.weight"), &[out, inp], device)?;
                let b = if bias {
                    Some(self.tensor_f32(&format!("{p}.{s}.bias"), &[out], device)?)
                } else {
                    None
                };
                Ok(Linear::new(w, b))
            };
            let q = lin("attn_q", d, d, cfg.qkv_bias)?;
            let k = lin("attn_k", kvd, d, cfg.qkv_bias)?;
            let v = lin("attn_v", kvd, d, cfg.qkv_bias)?;
            let o = lin("attn_output", d, d, false)?;
            let gate = lin("ffn_gate", f, d, false)?;
            let up = lin("ffn_up", f, d, false)?;
            let down = lin("ffn_down", d, f, false)?;
            let attn_norm = self.tensor_f32(&format!("{p}.attn_norm.weight"), &[d], device)?;
            let mlp_norm = self.tensor_f32(&format!("{p}.ffn_norm.weight"), &[d], device)?;
            layers.push(Layer {
                attn_norm,
                q,
                k,
                v,
                o,
                mlp_norm,
                gate,
                up,
                down,
            });
        }
        let mut model = Model::from_parts(cfg, embed, layers, norm, lm_head)?;
        // 8-bit copies for sampling (Kernels::Quantized). Not the file's own blocks: candle
        // has no SIMD kernel for Q4_1, and int8 blocks of the dequantised weights keep them
        // to within 1/254 of each block's largest value.
        model.quantize()?;
        Ok(model)
    }
}
