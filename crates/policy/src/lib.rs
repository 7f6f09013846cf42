//! dt-r1 policy: a trainable decoder-only language model (Llama family / SmolLM2, Qwen2) in
//! candle, loaded from GGUF (dequantised to f32), with a GGUF-built tokenizer and ChatML,
//! batched KV-cache sampling, chunked per-token log-probabilities, and LoRA adapters whose
//! gradients flow (every op in the trained path is composed from differentiable primitives).

pub mod answering;
pub mod blas;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod hf;
pub mod int8;
pub mod logprobs;
pub mod lora;
pub mod model;
pub mod ops;
pub mod remote;
pub mod tokenizer;

pub use answering::{chat, AdapterChoice, Answering};
pub use error::{PolicyError, Result};
pub use generate::{generate, generate_group, FinishReason, Generation, SamplingParams};
pub use gguf::GgufFile;
pub use hf::load_hf_dir;
pub use logprobs::{
    completion_logprobs, completion_logprobs_naive, group_logprobs, group_logprobs_pair,
};
pub use lora::LoraConfig;
pub use model::{mix, Kernels, KvCache, LoraDropout, Model, ModelConfig, Target};
pub use remote::{LocalPolicy, Policy, RemotePolicy};
pub use tokenizer::{ChatMessage, Tokenizer};

use std::path::{Path, PathBuf};

/// Load model and tokenizer from one GGUF file onto the CPU.
pub fn load_gguf(path: impl AsRef<Path>) -> Result<(Model, Tokenizer)> {
    let mut g = GgufFile::open(path)?;
    let tok = Tokenizer::from_gguf(&g)?;
    let model = g.load_model(&candle_core::Device::Cpu)?;
    Ok((model, tok))
}

/// Load a model and its tokenizer from a GGUF file or an HF checkpoint directory
/// (`config.json`, safetensors shards and `tokenizer.json`; ChatML models end turns with
/// `<|im_end|>`) onto the CPU.
pub fn load_model(path: &Path) -> Result<(Model, Tokenizer)> {
    if path.is_dir() {
        let m = load_hf_dir(path, &candle_core::Device::Cpu)?;
        Ok((
            m,
            Tokenizer::from_json_file(path.join("tokenizer.json"), "<|im_end|>")?,
        ))
    } else {
        load_gguf(path)
    }
}

/// File name of the default model that `scripts/fetch_model.sh` places in `models/`.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where the default model is expected: `$DTR1_MODEL`, else `<repo>/models/<DEFAULT_MODEL_FILE>`.
pub fn default_model_path() -> PathBuf {
    if let Ok(p) = std::env::var("DTR1_MODEL") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(DEFAULT_MODEL_FILE)
}
