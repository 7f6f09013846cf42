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
mod error;
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
pub use dtr1_twin::{DepthSource, MaskSource};
pub use error::{PerceptionError, Size};
use image::RgbImage;

/// One detected object.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Class label.
    pub label: String,
    /// Confidence in [0, 1].
    pub score: f64,
    /// Instance mask of the whole image.
    pub mask: Rle,
    /// Where the mask came from.
    pub mask_source: MaskSource,
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
    /// Where the depth came from.
    pub depth_source: Option<DepthSource>,
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
    /// Short name, for messages.
    fn name(&self) -> &str;
    /// Where its depth comes from, recorded in the twin's `depth_source`.
    fn source(&self) -> DepthSource;
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
