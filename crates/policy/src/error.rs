//! Error type for the policy crate: every failure names the problem and, where there is
//! one, the file or tensor it concerns, so a bad checkpoint never surfaces as a panic.

use std::path::PathBuf;

/// Everything that can go wrong loading, running or adapting a policy model.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A LoRA adapter directory could not be put on the model.
    #[error("adapter {}: {source}", dir.display())]
    AdapterDir {
        /// The adapter directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: Box<PolicyError>,
    },
    /// The prompt version an adapter records could not be read.
    #[error("adapter {}: {source}", dir.display())]
    PromptVersion {
        /// The adapter directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: Box<dtr1_prompt::PromptError>,
    },
    /// The model file could not be opened or read at the OS level.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying OS error.
        source: std::io::Error,
    },
    /// The GGUF header, metadata or tensor data is malformed or cut short.
    #[error("corrupt or truncated GGUF file {path}: {reason}")]
    CorruptGguf {
        /// File concerned.
        path: PathBuf,
        /// What the reader found wrong.
        reason: String,
    },
    /// A safetensors shard is malformed or cut short.
    #[error("corrupt or truncated safetensors file {path}: {reason}")]
    CorruptSafetensors {
        /// File concerned.
        path: PathBuf,
        /// What the reader found wrong.
        reason: String,
    },
    /// The checkpoint's `general.architecture` is not one this crate implements.
    #[error("unsupported architecture `{0}` (supported: llama, qwen2)")]
    UnsupportedArchitecture(String),
    /// A weight is stored in a quantisation type we do not dequantise.
    #[error("tensor `{name}` uses unsupported quantisation type {dtype} (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2K..Q6K)")]
    UnsupportedQuantization {
        /// Tensor name in the file.
        name: String,
        /// GGML type as named by candle.
        dtype: String,
    },
    /// A tensor the architecture needs is not in the file.
    #[error("missing tensor `{0}` in model file")]
    MissingTensor(String),
    /// A metadata key is missing or has the wrong type.
    #[error("missing or invalid metadata `{key}`: {reason}")]
    Metadata {
        /// Metadata key.
        key: String,
        /// Why it could not be used.
        reason: String,
    },
    /// A tensor's shape does not match what the configuration implies.
    #[error("tensor `{name}` has shape {got:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Tensor name.
        name: String,
        /// Shape implied by the model configuration.
        expected: Vec<usize>,
        /// Shape found.
        got: Vec<usize>,
    },
    /// A LoRA adapter file or config does not fit the model.
    #[error("adapter: {0}")]
    Adapter(String),
    /// Tokenizer construction or encoding failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Caller passed something unusable (empty batch, zero rank, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A remote (OpenAI-compatible) policy server failed or answered something unusable.
    #[error("remote policy {url}: {reason}")]
    Remote {
        /// Endpoint.
        url: String,
        /// What went wrong (timeout, HTTP status and body, malformed answer).
        reason: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, PolicyError>;
