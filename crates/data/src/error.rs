use std::path::PathBuf;
use thiserror::Error;

/// Why a dataset or a public-format file could not be read or written.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape; serde names the field and position.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A pickle that could not be read.
    #[error("{path}: not a readable refs pickle: {message}")]
    Pickle {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An image whose size could not be read.
    #[error("{path}: cannot read the image: {message}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A dataset written by an older build, in a format version this build no longer reads.
    /// Generation is deterministic, so regenerating gives the same samples in the new form.
    #[error(
        "{path}: dataset format version {found} is no longer read (this build reads version \
         {expected}); regenerate it with `dtr1 data generate …` with the arguments it was made \
         with (generation is deterministic, so only the stored query specs change)"
    )]
    OldVersion {
        /// The manifest.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The content is well formed but inconsistent (a dangling id, a size mismatch, …).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is inconsistent, with the JSON location when known.
        message: String,
    },
}

impl DataError {
    /// A [`DataError::Invalid`] about `path` (a file, or what was being made, such as
    /// `scene config`).
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Reads a file, naming it in the error.
pub(crate) fn read(path: &std::path::Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses a JSON file, naming it in the error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<T, DataError> {
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).map_err(|source| DataError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads an image's width and height from its header.
pub(crate) fn image_size(path: &std::path::Path) -> Result<(u32, u32), DataError> {
    image::image_dimensions(path).map_err(|e| DataError::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
