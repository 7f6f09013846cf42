//! Combining backends by configuration: one object backend, an optional depth estimator that
//! replaces the backend's own depth, and describers whose attributes go into the twin.
//!
//! A configuration is TOML or JSON:
//!
//! ```toml
//! backend = "pixels"              # pixels | annotations | import | onnx | photo
//! depth = "backend"               # backend (its own, if any) | ground_plane | import | onnx | none
//! describe = ["pixels"]           # describers run on every object, in order
//!
//! [build]                         # twin builder options
//! max_relations = 6
//! min_score = 0.3
//! min_area = 20
//!
//! [pixels]                        # options of the pixels backend (all optional)
//! horizon = 0.3
//!
//! [import]                        # the import backend, or depth = "import"
//! detections = "gsam2.json"
//! depth = "depth.npy"
//! invert_depth = true
//!
//! [annotations]                   # the annotations backend
//! format = "twinbench"            # twinbench | coco | reasonseg | revos
//! path = "twins/scene_00001.json"
//!
//! [onnx]                          # the onnx backend, or depth = "onnx" (see crate::onnx)
//! seg_model = "yolov8n-seg.onnx"
//! depth_model = "depth_anything.onnx"
//!
//! [photo]                         # the photo backend (see crate::photo)
//! stereo_right = "right.png"
//! ```

use crate::annotations::{AnnotationFormat, Annotations};
use crate::builder::{build_described, BuildConfig};
use crate::import::Import;
use crate::pixels::{GroundPlaneDepth, Pixels, PixelsConfig, PixelsDescriber};
use crate::{Backend, DepthEstimator, DepthSource, Describer, Perception, PerceptionError};
use dtr1_twin::ImageTwin;
use image::RgbImage;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Builder options as they appear in a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildSection {
    /// Relations kept per object.
    pub max_relations: usize,
    /// Detections below this score are dropped.
    pub min_score: f64,
    /// Masks smaller than this (pixels) are dropped.
    pub min_area: u64,
}

impl Default for BuildSection {
    fn default() -> Self {
        let d = BuildConfig::default();
        BuildSection {
            max_relations: d.max_relations,
            min_score: d.min_score,
            min_area: d.min_area,
        }
    }
}

impl From<BuildSection> for BuildConfig {
    fn from(s: BuildSection) -> Self {
        BuildConfig {
            max_relations: s.max_relations,
            min_score: s.min_score,
            min_area: s.min_area,
        }
    }
}

/// Options of the `import` backend.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSection {
    /// COCO results JSON or Grounded-SAM-2 dump (needed when `backend = "import"`).
    #[serde(default)]
    pub detections: Option<PathBuf>,
    /// COCO image id to keep from a COCO results file.
    #[serde(default)]
    pub image_id: Option<String>,
    /// Category names of COCO results, by id.
    #[serde(default)]
    pub categories: BTreeMap<u64, String>,
    /// Depth map (16-bit PNG or 2-D `.npy`).
    #[serde(default)]
    pub depth: Option<PathBuf>,
    /// The depth file holds disparity (larger = nearer).
    #[serde(default)]
    pub invert_depth: bool,
}

/// Where ground-truth annotations come from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnotationsSection {
    /// Their format.
    pub format: AnnotationFormat,
    /// The annotation file: a twin JSON (`twinbench`), COCO instances JSON (`coco`), a LISA
    /// JSON (`reasonseg`) or a ReVOS `mask_dict.json` (`revos`).
    pub path: PathBuf,
    /// COCO image id (`coco`; otherwise the image whose `file_name` matches the image file).
    #[serde(default)]
    pub image_id: Option<u64>,
    /// ReVOS annotation ids to read (`revos`; all of the mask dict when empty).
    #[serde(default)]
    pub anno_ids: Vec<String>,
    /// ReVOS frame index (`revos`).
    #[serde(default)]
    pub frame: usize,
}

/// Which depth the pipeline uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepthChoice {
    /// The object backend's own depth, if it has one.
    #[default]
    Backend,
    /// Depth from the ground-plane geometry (objects' contact rows; TwinBench-style camera).
    GroundPlane,
    /// The depth file of the `[import]` section.
    Import,
    /// The depth model of the `[onnx]` section.
    Onnx,
    /// No depth.
    None,
}

/// A perception configuration (see the module docs for the file layout).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerceptionConfig {
    /// The object backend: `pixels`, `annotations` or `import`.
    pub backend: String,
    /// Which depth to use.
    #[serde(default)]
    pub depth: DepthChoice,
    /// Describers to run: `pixels` (TwinBench palette colour, physical size class, material).
    #[serde(default)]
    pub describe: Vec<String>,
    /// Builder options.
    #[serde(default)]
    pub build: BuildSection,
    /// Options of the pixels backend.
    #[serde(default)]
    pub pixels: PixelsConfig,
    /// The import backend's files.
    #[serde(default)]
    pub import: Option<ImportSection>,
    /// The annotations backend's source.
    #[serde(default)]
    pub annotations: Option<AnnotationsSection>,
    /// The onnx backend's models.
    #[serde(default)]
    pub onnx: Option<crate::onnx::OnnxSection>,
    /// The photo backend's models and stereo pair (see crate::photo).
    #[serde(default)]
    pub photo: Option<crate::photo::PhotoSection>,
}

impl PerceptionConfig {
    /// A configuration that uses `backend` with every option at its default.
    pub fn with_backend(backend: &str) -> Self {
        PerceptionConfig {
            backend: backend.into(),
            depth: DepthChoice::Backend,
            describe: if backend == "pixels" {
                vec!["pixels".into()]
            } else {
                Vec::new()
            },
            build: BuildSection::default(),
            pixels: PixelsConfig::default(),
            import: None,
            annotations: None,
            onnx: None,
            photo: None,
        }
    }

    /// Parses a configuration from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, PerceptionError> {
        toml::from_str(text).map_err(PerceptionError::ConfigSyntax)
    }

    /// Reads a configuration file: `.json` as JSON, anything else as TOML.
    pub fn load(path: &Path) -> Result<Self, PerceptionError> {
        let file_err = |message: String| PerceptionError::File {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| file_err(format!("bad config: {e}")))
        } else {
            toml::from_str(&text).map_err(|e| file_err(format!("bad config: {e}")))
        }
    }
}

/// A configured perception pipeline.
pub struct Pipeline {
    /// Finds the objects.
    pub objects: Box<dyn Backend>,
    /// Replaces the object backend's depth when set.
    pub depth: Option<Box<dyn DepthEstimator>>,
    /// Drop the object backend's depth and estimate none.
    pub no_depth: bool,
    /// Describe every object.
    pub describers: Vec<Box<dyn Describer>>,
    /// Builder options.
    pub build: BuildConfig,
}

fn import_from(s: &ImportSection, detections: PathBuf) -> Import {
    Import {
        detections,
        image_id: s.image_id.clone(),
        categories: s.categories.clone(),
        depth: s.depth.clone(),
        invert_depth: s.invert_depth,
    }
}

/// Depth read from a file (the `[import]` section's `depth`), for any object backend.
struct FileDepth {
    path: PathBuf,
    invert: bool,
}

impl DepthEstimator for FileDepth {
    fn name(&self) -> &str {
        "import"
    }

    fn source(&self) -> DepthSource {
        DepthSource::Import
    }

    fn estimate(
        &self,
        image: &RgbImage,
        _: &Perception,
    ) -> Result<crate::DepthMap, PerceptionError> {
        let d = crate::import::read_depth(&self.path, self.invert)?;
        if (d.width, d.height) != image.dimensions() {
            return Err(PerceptionError::File {
                path: self.path.display().to_string(),
                message: format!(
                    "depth map is {}x{} but the image is {}x{}",
                    d.width,
                    d.height,
                    image.width(),
                    image.height()
                ),
            });
        }
        Ok(d)
    }
}

impl Pipeline {
    /// Builds the pipeline a configuration describes.
    pub fn from_config(cfg: &PerceptionConfig) -> Result<Self, PerceptionError> {
        let missing = |section: &'static str| PerceptionError::MissingSection {
            backend: cfg.backend.clone(),
            section,
        };
        let mut describers: Vec<Box<dyn Describer>> = Vec::new();
        let objects: Box<dyn Backend> = match cfg.backend.as_str() {
            "pixels" => Box::new(Pixels::new(cfg.pixels)?),
            "import" => {
                let s = cfg.import.as_ref().ok_or_else(|| missing("import"))?;
                let det = s
                    .detections
                    .clone()
                    .ok_or(PerceptionError::MissingSetting {
                        choice: "backend `import`",
                        key: "detections",
                        section: "import",
                    })?;
                Box::new(import_from(s, det))
            }
            "annotations" => {
                let s = cfg
                    .annotations
                    .as_ref()
                    .ok_or_else(|| missing("annotations"))?;
                let a = Annotations::from_section(s)?;
                // Annotated attributes (colour, size, material) come with the objects.
                describers.push(Box::new(a.clone()));
                Box::new(a)
            }
            "onnx" => Box::new(
                cfg.onnx
                    .as_ref()
                    .ok_or_else(|| missing("onnx"))?
                    .segmenter()?,
            ),
            "photo" => Box::new(crate::photo::Photo::new(
                &cfg.photo.clone().unwrap_or_default(),
            )?),
            other => return Err(PerceptionError::UnknownBackend(other.to_string())),
        };
        let depth: Option<Box<dyn DepthEstimator>> = match cfg.depth {
            DepthChoice::Backend | DepthChoice::None => None,
            DepthChoice::Onnx => Some(Box::new(
                cfg.onnx.as_ref().ok_or_else(|| missing("onnx"))?.depth()?,
            )),
            DepthChoice::GroundPlane => Some(Box::new(GroundPlaneDepth {
                horizon: cfg.pixels.horizon,
            })),
            DepthChoice::Import => {
                let s = cfg.import.as_ref().ok_or_else(|| missing("import"))?;
                let path = s.depth.clone().ok_or(PerceptionError::MissingSetting {
                    choice: "depth = \"import\"",
                    key: "depth",
                    section: "import",
                })?;
                Some(Box::new(FileDepth {
                    path,
                    invert: s.invert_depth,
                }))
            }
        };
        for d in &cfg.describe {
            match d.as_str() {
                "pixels" => describers.push(Box::new(PixelsDescriber::new(cfg.pixels)?)),
                other => return Err(PerceptionError::UnknownDescriber(other.to_string())),
            }
        }
        Ok(Pipeline {
            objects,
            depth,
            no_depth: cfg.depth == DepthChoice::None,
            describers,
            build: cfg.build.into(),
        })
    }

    /// Objects and depth for `image`.
    pub fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError> {
        let mut p = self.objects.perceive(image)?;
        if self.no_depth {
            p.depth = None;
            p.depth_source = None;
        } else if let Some(est) = &self.depth {
            p.depth = Some(est.estimate(image, &p)?);
            p.depth_source = Some(est.source());
        }
        Ok(p)
    }

    /// The validated twin of `image`.
    pub fn twin(&self, image: &RgbImage) -> Result<ImageTwin, PerceptionError> {
        let p = self.perceive(image)?;
        let mut described = Vec::with_capacity(p.detections.len());
        for d in &p.detections {
            let mut attrs = Vec::new();
            for desc in &self.describers {
                attrs.extend(desc.describe(image, d, p.depth.as_ref())?);
            }
            described.push(attrs);
        }
        build_described(image, &p, &self.build, &described)
    }
}

impl Backend for Pipeline {
    fn name(&self) -> &str {
        self.objects.name()
    }

    fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError> {
        Pipeline::perceive(self, image)
    }
}

/// Reads an image file as RGB, with a clear error for missing or corrupt files.
pub fn read_image(path: &Path) -> Result<RgbImage, PerceptionError> {
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| PerceptionError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    let img = reader.decode().map_err(|e| PerceptionError::File {
        path: path.display().to_string(),
        message: format!("not a readable image: {e}"),
    })?;
    Ok(img.to_rgb8())
}
