//! Twin building for the service and the Python package: an image plus someone else's
//! detections (COCO results or a Grounded-SAM-2 dump) and an optional depth map, through the
//! perception `import` backend and the twin builder.

use dtr1_perception::{builder, import::Import, Backend, PerceptionError};
use dtr1_twin::ImageTwin;
use serde::Deserialize;
use std::path::PathBuf;
use thiserror::Error;

/// Why a twin could not be built.
#[derive(Debug, Error)]
pub enum TwinError {
    /// The image could not be read or decoded.
    #[error("cannot read image {path}: {message}")]
    Image {
        /// The image file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Perception or the builder refused the input.
    #[error(transparent)]
    Perception(#[from] PerceptionError),
}

/// What to build a twin from: files on disk.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwinSource {
    /// The image (PNG or JPEG).
    pub image: PathBuf,
    /// Detections: COCO results JSON or a Grounded-SAM-2 dump.
    pub detections: PathBuf,
    /// COCO image id to keep from a COCO results file.
    #[serde(default)]
    pub image_id: Option<String>,
    /// Depth map: 16-bit PNG or 2-D `.npy`.
    #[serde(default)]
    pub depth: Option<PathBuf>,
    /// The depth file holds disparity (larger = nearer).
    #[serde(default)]
    pub invert_depth: bool,
}

impl TwinSource {
    /// Builds and validates the image twin.
    pub fn build(&self) -> Result<ImageTwin, TwinError> {
        Ok(self.build_with_image()?.1)
    }

    /// Builds and validates the image twin, and returns the decoded image with it.
    pub fn build_with_image(&self) -> Result<(image::RgbImage, ImageTwin), TwinError> {
        let img = image::open(&self.image)
            .map_err(|e| TwinError::Image {
                path: self.image.display().to_string(),
                message: e.to_string(),
            })?
            .to_rgb8();
        let backend = Import {
            detections: self.detections.clone(),
            image_id: self.image_id.clone(),
            categories: Default::default(),
            depth: self.depth.clone(),
            invert_depth: self.invert_depth,
        };
        let p = backend.perceive(&img)?;
        let twin = builder::build(&img, &p, &Default::default())?;
        Ok((img, twin))
    }
}
