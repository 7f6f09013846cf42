//! Perception: from pixels (or from someone else's detections) to a digital twin.
//!
//! A [`Backend`] finds objects (label, score, mask) and, optionally, a depth map; the
//! [`builder`] turns that into a validated [`dtr1_twin::ImageTwin`]: ids, boxes, areas,
//! centroids, depth statistics, attributes measured on the pixels (named colour in CIELAB,
//! size class relative to the scene, shape descriptor) and relations from geometry.
//!
//! Backends here: [`import`] (COCO results JSON and Grounded-SAM-2 JSON dumps, plus a depth
//! map as 16-bit PNG or `.npy`).

pub mod builder;
pub mod color;
pub mod import;

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

/// A perception backend.
pub trait Backend {
    /// Short name, recorded in the twin.
    fn name(&self) -> &str;
    /// Finds objects (and depth) in an image.
    fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError>;
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
}
