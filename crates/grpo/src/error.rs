//! Errors of training: each names the file, key or step it concerns.

use std::path::{Path, PathBuf};

/// Everything that can go wrong configuring, running, checkpointing or resuming training.
#[derive(Debug, thiserror::Error)]
pub enum GrpoError {
    /// A configuration value is missing, mistyped or out of range.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// File-system failure.
    #[error("{path}: {source}")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// Underlying OS error.
        source: std::io::Error,
    },
    /// A checkpoint is incomplete, corrupt, or does not belong to this run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// Checkpoint directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A split of the training data could not be read.
    #[error("environment: {}: {source}", dir.display())]
    Data {
        /// Dataset directory.
        dir: PathBuf,
        /// Why it could not be read.
        #[source]
        source: dtr1_data::DataError,
    },
    /// A sample's input twin could not be loaded.
    #[error("environment: {0}")]
    InputTwin(#[source] dtr1_prompt::PromptError),
    /// The environment has no prompts to train on.
    #[error("environment: no training prompts")]
    NoPrompts,
    /// A split has no sample of the requested tasks.
    #[error("environment: {}: split `{split}` has no samples of the requested tasks", dir.display())]
    NoSamples {
        /// Dataset directory.
        dir: PathBuf,
        /// The split.
        split: String,
    },
    /// An environment was asked for an item it does not have.
    #[error("environment: item {index} of {len} {action}")]
    NoItem {
        /// The index asked for.
        index: usize,
        /// Items the environment has.
        len: usize,
        /// What was asked: `requested` or `scored`.
        action: &'static str,
    },
    /// A prompt is longer than training allows.
    #[error(
        "environment: prompt {index} has {tokens} tokens, more than grpo.max_prompt_tokens = {max}"
    )]
    PromptTooLong {
        /// Data index of the prompt.
        index: usize,
        /// Its length in tokens.
        tokens: usize,
        /// `grpo.max_prompt_tokens`.
        max: usize,
    },
    /// The environment scored a completion with a non-finite reward.
    #[error("environment: reward of prompt {index} is {reward}")]
    NonFiniteReward {
        /// Data index of the prompt.
        index: usize,
        /// The reward.
        reward: f64,
    },
    /// No SFT example fits the token budget.
    #[error("environment: no SFT example fits sft.max_tokens = {max_tokens} ({given} given)")]
    NoSftExample {
        /// `sft.max_tokens`.
        max_tokens: usize,
        /// Examples given.
        given: usize,
    },
    /// The policy model failed.
    #[error(transparent)]
    Policy(#[from] dtr1_policy::PolicyError),
    /// A tensor operation failed.
    #[error("tensor operation: {0}")]
    Tensor(#[from] candle_core::Error),
    /// Training diverged (a non-finite loss or gradient).
    #[error("training diverged at step {step}: {what}")]
    Diverged {
        /// Step at which it was noticed.
        step: usize,
        /// What was non-finite.
        what: String,
    },
    /// Plotting failed.
    #[error("plot: {0}")]
    Plot(String),
}

impl GrpoError {
    /// Wrap an I/O error with its path.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        GrpoError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, GrpoError>;
