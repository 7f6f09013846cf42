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
    /// The environment (prompts, reward) failed.
    #[error("environment: {0}")]
    Environment(String),
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
