//! Shared test helpers: locate the default model (failing loudly when absent) and load it
//! once per test binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use dtr1_policy::{default_model_path, load_gguf, Model, Tokenizer};

/// Path of the SmolLM2 GGUF; panics with set-up instructions when it is missing, because
/// CI fetches it first and a silently skipped model test would hide regressions.
pub fn model_path() -> PathBuf {
    let p = default_model_path();
    assert!(
        p.is_file(),
        "model not found at {}: run `scripts/fetch_model.sh` (or set DTR1_MODEL to a GGUF file)",
        p.display()
    );
    p
}

/// The default model and tokenizer, loaded once.
pub fn smollm() -> &'static (Model, Tokenizer) {
    static M: OnceLock<(Model, Tokenizer)> = OnceLock::new();
    M.get_or_init(|| load_gguf(model_path()).expect("load default model"))
}

/// A tiny Llama-style config for random-weight tests.
pub fn tiny_config(qwen: bool) -> dtr1_policy::ModelConfig {
    dtr1_policy::ModelConfig {
        vocab_size: 50,
        hidden_size: 16,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        intermediate_size: 24,
        rope_theta: 10_000.0,
        rms_norm_eps: 1e-5,
        tie_embeddings: !qwen,
        qkv_bias: qwen,
        rope_interleaved: !qwen,
    }
}
