//! Why perception failed: one error type for every backend, keeping the underlying error
//! where there is one and the offending sizes and values where there is not.

use thiserror::Error;

/// Why perception failed.
#[derive(Debug, Error)]
pub enum PerceptionError {
    /// A file could not be read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Something does not have the size of what it belongs to (a mask and its image, a
    /// depth map and its frame, the two views of a stereo pair).
    #[error("{what} is {size} but {other} is {expected}")]
    SizeMismatch {
        /// What has the wrong size.
        what: String,
        /// Its size.
        size: Size,
        /// What it must match.
        other: &'static str,
        /// That one's size.
        expected: Size,
    },
    /// A value that must be a finite number is not (NaN or infinite depth).
    #[error("non-finite {what}")]
    NonFinite {
        /// Which value, and where.
        what: String,
    },
    /// A number outside the range it must lie in (a score, a setting).
    #[error("{what} {value} is outside {range}")]
    OutOfRange {
        /// Which number.
        what: String,
        /// Its value.
        value: f64,
        /// The allowed range, in interval notation.
        range: &'static str,
    },
    /// An image too small for the method.
    #[error("{what} is {size}; at least {min} is needed")]
    TooSmall {
        /// Which image.
        what: &'static str,
        /// Its size.
        size: Size,
        /// The smallest size the method works on.
        min: Size,
    },
    /// Two lists that must agree in length do not.
    #[error("{what}: {got}, but {expected} expected")]
    CountMismatch {
        /// Which list, and what its length must match.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length it must have.
        expected: usize,
    },
    /// Input with nothing to work on (no frames, no known ground truth).
    #[error("{0}")]
    Empty(&'static str),
    /// An object without a mask where one is needed.
    #[error("{who} object {id} has no mask")]
    NoMask {
        /// Whose twin: `predicted` or `true`.
        who: &'static str,
        /// The object's id.
        id: u32,
    },
    /// The ONNX Runtime library is not installed.
    #[error(
        "ONNX Runtime not found: no libonnxruntime.so in .venv/lib/python3*/site-packages/\
         onnxruntime/capi/ (run scripts/setup.sh, which installs the onnxruntime wheel) and \
         ORT_DYLIB_PATH is not set"
    )]
    OnnxRuntimeNotFound,
    /// The ONNX Runtime library could not be loaded. The message is kept as text because
    /// the outcome of loading is cached once per process and shared by every caller, and
    /// `ort`'s error is not `Clone`.
    #[error("{0}")]
    OnnxRuntimeLoad(String),
    /// A model's output does not have the layout the backend reads.
    #[error("{output} has shape {shape:?}; {expected} is expected")]
    ModelOutput {
        /// Which output.
        output: &'static str,
        /// Its shape.
        shape: Vec<i64>,
        /// The layout the backend reads.
        expected: &'static str,
    },
    /// The configuration names a backend that does not exist.
    #[error("unknown backend `{0}` (known: pixels, annotations, import, onnx, photo)")]
    UnknownBackend(String),
    /// The configuration names a describer that does not exist.
    #[error("unknown describer `{0}` (known: pixels)")]
    UnknownDescriber(String),
    /// The chosen backend's section is absent from the configuration.
    #[error("backend `{backend}` needs the [{section}] section of the configuration")]
    MissingSection {
        /// The configured backend.
        backend: String,
        /// The section it needs.
        section: &'static str,
    },
    /// A setting the chosen backend or depth source needs is absent.
    #[error("{choice} needs `{key}` in the [{section}] section")]
    MissingSetting {
        /// The choice that needs it, as written in the configuration.
        choice: &'static str,
        /// The missing key.
        key: &'static str,
        /// Its section.
        section: &'static str,
    },
    /// Perceiving or measuring one frame of a video failed.
    #[error("frame {frame}: {source}")]
    Frame {
        /// Frame index.
        frame: u64,
        /// What failed.
        #[source]
        source: Box<PerceptionError>,
    },
    /// A mask operation (encoding, IoU) failed.
    #[error("{context}: {source}")]
    Mask {
        /// Where: the frame, the backend or the operation.
        context: String,
        /// The mask error.
        #[source]
        source: dtr1_rle::RleError,
    },
    /// A dataset or ground-truth file could not be read.
    #[error("{0}")]
    Data(#[source] dtr1_data::DataError),
    /// The twin built from the detections fails validation.
    #[error("built {what} is invalid: {source}")]
    InvalidTwin {
        /// `twin` or `video twin`.
        what: &'static str,
        /// The problems.
        #[source]
        source: dtr1_twin::ValidationErrors,
    },
    /// A perception configuration does not parse.
    #[error("perception config: {0}")]
    ConfigSyntax(#[source] toml::de::Error),
    /// The photo backend's models failed.
    #[error("photo backend: {0}")]
    Photo(#[source] dtr1_tfjs::error::Error),
}

/// A width × height in pixels, printed `WxH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Size {
    /// `width × height`.
    pub fn new(width: u32, height: u32) -> Self {
        Size { width, height }
    }

    /// The size of a mask, whose RLE size is `[height, width]`.
    pub fn of_mask(mask: &dtr1_rle::Rle) -> Self {
        Self::from_mask_size(mask.size())
    }

    /// The size of an RLE `[height, width]`.
    pub fn from_mask_size([height, width]: [u32; 2]) -> Self {
        Size { width, height }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}
