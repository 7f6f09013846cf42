//! Cross-check against TF.js itself: `scripts/ref/tfjs_nanodet.mjs` runs the same models with
//! `@tensorflow/tfjs` 4.22.0 (pure-JS CPU backend) under Node on the same images and writes
//! the raw outputs and decoded detections to `target/ref-vectors/tfjs_nanodet.json`
//! (`scripts/test.sh` generates it; a missing file fails the test).
//!
//! Tolerances: raw nanodet outputs within 5e-4 absolute (sigmoid scores in 0..1, box logits of
//! order 10; measured ≤ 8e-5), selfie probabilities within 5e-4 (measured ≤ 1.4e-4); the same
//! detections in the same order, scores within 1e-4 and box corners within 1e-3 of the
//! image's larger side.

mod common;

use dtr1_tfjs::nanodet::{NanoDet, COCO_LABELS, STRIDES};
use dtr1_tfjs::segment::PersonSegmenter;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    tfjs_version: String,
    min_score: f32,
    iou_threshold: f32,
    max_detections: usize,
    nanodet: Vec<NanoCase>,
    selfie: Vec<SelfieCase>,
}

#[derive(Deserialize)]
struct NanoCase {
    file: String,
    width: u32,
    height: u32,
    outputs: Vec<Output>,
    detections: Vec<RefDetection>,
}

#[derive(Deserialize)]
struct Output {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
}

#[derive(Deserialize)]
struct RefDetection {
    class_id: usize,
    label: String,
    score: f32,
    bbox: [f32; 4],
}

#[derive(Deserialize)]
struct SelfieCase {
    file: String,
    shape: Vec<usize>,
    data: Vec<f32>,
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn labels_match_the_reference_list() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/ref/tfjs_coco_labels.json");
    let labels: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(labels, COCO_LABELS.to_vec());
}

#[test]
fn nanodet_and_selfie_agree_with_tfjs() {
    let path = dtr1_refvec::dir().join("tfjs_nanodet.json");
    assert!(
        path.is_file(),
        "TF.js reference vectors {} are missing; generate them with `bash scripts/setup.sh && \
         node scripts/ref/tfjs_nanodet.mjs {}` (scripts/test.sh does both)",
        path.display(),
        path.display()
    );
    let v: Vectors = dtr1_refvec::load("tfjs_nanodet");
    assert_eq!(v.tfjs_version, "4.22.0");
    assert_eq!(v.nanodet.len(), 4);
    let dir = common::model_dir();
    let mut det = NanoDet::load(&dir).unwrap();
    det.iou_threshold = v.iou_threshold;
    det.max_detections = v.max_detections;
    let seg = PersonSegmenter::load(&dir).unwrap();
    for case in &v.nanodet {
        let img = common::media(&case.file);
        assert_eq!((img.width(), img.height()), (case.width, case.height));
        let raw = det.raw(&img).unwrap();
        for out in &case.outputs {
            let cells = out.shape[1];
            let level = STRIDES
                .iter()
                .position(|&s| (416 / s) * (416 / s) == cells)
                .unwrap();
            let ours = if out.shape[2] == 80 {
                &raw.scores[level]
            } else {
                &raw.boxes[level]
            };
            let d = max_abs_diff(ours, &out.data);
            println!("{} {}: max |Δ| = {d:.2e}", case.file, out.name);
            assert!(
                d < 5e-4,
                "{} output {} differs from TF.js by {d}",
                case.file,
                out.name
            );
        }
        let ours = det.decode(&raw, case.width as f32, case.height as f32, v.min_score);
        let names: Vec<&str> = ours.iter().map(|d| d.label).collect();
        let want: Vec<&str> = case.detections.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(names, want, "{}: detections differ from TF.js", case.file);
        let tol = 1e-3 * case.width.max(case.height) as f32;
        for (a, b) in ours.iter().zip(&case.detections) {
            assert_eq!(a.class_id, b.class_id);
            assert!(
                (a.score - b.score).abs() < 1e-4,
                "{}: score {} vs {}",
                case.file,
                a.score,
                b.score
            );
            for k in 0..4 {
                assert!(
                    (a.bbox[k] - b.bbox[k]).abs() <= tol,
                    "{}: {} box {:?} vs TF.js {:?} (tolerance {tol} px)",
                    case.file,
                    a.label,
                    a.bbox,
                    b.bbox
                );
            }
        }
    }
    assert!(!v.selfie.is_empty());
    for case in &v.selfie {
        let img = common::media(&case.file);
        let p = seg.probabilities(&img).unwrap();
        assert_eq!(p.shape, case.shape);
        let d = max_abs_diff(p.as_f32().unwrap(), &case.data);
        println!("selfie {}: max |Δ| = {d:.2e}", case.file);
        assert!(
            d < 5e-4,
            "selfie on {} differs from TF.js by {d}",
            case.file
        );
    }
}
