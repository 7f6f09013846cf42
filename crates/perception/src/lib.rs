//! Perception: from pixels (or from someone else's detections) to a digital twin.
//!
//! A [`Backend`] finds objects (label, score, mask) and, optionally, a depth map; the
//! [`builder`] turns that into a validated [`dtr1_twin::ImageTwin`]: ids, boxes, areas,
//! centroids, depth statistics, attributes measured on the pixels (named colour in CIELAB,
//! size class relative to the scene, shape descriptor) and relations from geometry.
//!
//! Backends here: [`import`] (COCO results JSON and Grounded-SAM-2 JSON dumps, plus a depth
//! map as 16-bit PNG or `.npy`), [`pixels`] (TwinBench-style renders segmented from the pixels
//! alone, depth from the ground plane) and [`annotations`] (ground truth: TwinBench twins, COCO
//! instances, ReasonSeg, ReVOS). The three roles — objects ([`Backend`]), depth
//! ([`DepthEstimator`]) and attributes ([`Describer`]) — are combined by a [`pipeline::Pipeline`]
//! built from a [`pipeline::PerceptionConfig`] (TOML or JSON), so backends can be swapped and
//! mixed by configuration. [`eval`] measures a pipeline against ground-truth twins.

pub mod annotations;
pub mod builder;
pub mod color;
pub mod eval;
pub mod events;
pub mod import;
pub mod onnx;
pub mod overlay;
pub mod photo;
pub mod pipeline;
pub mod pixels;
pub mod refine;
pub mod shapes;
pub mod stereo;
pub mod track;
pub mod video;
pub mod video_eval;

use dtr1_rle::Rle;
use image::RgbImage;
use thiserror::Error;

/// One detected object.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Class label.
    pub label: String,
    /// Confidence in [0, 1].
    pub score: f64,
    /// Instance mask of the whole image.
    pub mask: Rle,
    /// Where the mask came from (`model`, `refined`, `box`, `import`, …).
    pub mask_source: String,
}

/// Relative depth per pixel, row-major, smaller = nearer.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthMap {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Values, `width × height`, finite.
    pub values: Vec<f32>,
}

/// What a backend saw in one image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Perception {
    /// Objects.
    pub detections: Vec<Detection>,
    /// Depth, when the backend estimates it.
    pub depth: Option<DepthMap>,
    /// Where the depth came from (`import`, `ground_plane`, …).
    pub depth_source: Option<String>,
}

/// A perception backend: detects and segments objects (and may estimate depth).
pub trait Backend {
    /// Short name, recorded in the twin.
    fn name(&self) -> &str;
    /// Finds objects (and depth) in an image.
    fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError>;
}

/// A depth estimator: relative depth per pixel (smaller = nearer) for an image, given what
/// the object backend found (geometric estimators use the objects' contact points).
pub trait DepthEstimator {
    /// Short name, recorded in the objects' `depth_source` attribute.
    fn name(&self) -> &str;
    /// The depth map of `image`, `width × height`, finite.
    fn estimate(&self, image: &RgbImage, found: &Perception) -> Result<DepthMap, PerceptionError>;
}

/// An attribute describer: named attributes of one detected object (`color`, `size`,
/// `material`, …). The builder measures colour, size class and a shape descriptor itself;
/// a describer's values take precedence over those.
pub trait Describer {
    /// Short name.
    fn name(&self) -> &str;
    /// Attributes of `det` in `image` (pairs of attribute name and value).
    fn describe(
        &self,
        image: &RgbImage,
        det: &Detection,
        depth: Option<&DepthMap>,
    ) -> Result<Vec<(String, String)>, PerceptionError>;
}

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
    /// Input that does not fit the image or makes no sense.
    #[error("{0}")]
    Invalid(String),
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
