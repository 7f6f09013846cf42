//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a TF.js graph model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `model.json` is not valid JSON or not a TF.js graph model.
    #[error("{path} is not a TF.js graph model: {msg}")]
    Format {
        /// The model.json file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A weight uses a dtype or quantisation this runtime does not know.
    #[error("{path}: weight `{weight}` has unsupported dtype `{dtype}`")]
    UnknownDtype {
        /// The model.json file.
        path: PathBuf,
        /// The weight's name.
        weight: String,
        /// The dtype as written.
        dtype: String,
    },
    /// The weight shards hold fewer (or more) bytes than the manifest describes.
    #[error("{path}: weight shards hold {got} bytes but the manifest needs {expected} (truncated or wrong file?)")]
    ShardSize {
        /// The shard (the last one of its group).
        path: PathBuf,
        /// Bytes the manifest describes.
        expected: usize,
        /// Bytes found.
        got: usize,
    },
    /// The graph contains an op this runtime does not implement.
    #[error("op `{op}` (node `{node}`) is not implemented by dtr1-tfjs")]
    UnsupportedOp {
        /// The op name.
        op: String,
        /// The first node using it.
        node: String,
    },
    /// A node's attributes or constant inputs are invalid or unsupported.
    #[error("node `{node}` ({op}): {msg}")]
    Node {
        /// The node.
        node: String,
        /// Its op.
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// The graph's structure is broken (a missing input, a cycle, an unknown output).
    #[error("graph: {0}")]
    Graph(String),
    /// The caller's inputs do not fit the model.
    #[error("input `{name}`: {msg}")]
    Input {
        /// The input's name.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// An image given to a model wrapper is unusable.
    #[error("image: {0}")]
    Image(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
