//! The `onnx` backend on small graphs with exactly known outputs
//! (`scripts/ref/onnx_vectors.py` builds them with the `onnx` package).

use dtr1_perception::onnx::{
    find_runtime, find_runtime_from, parse_names, postprocess_depth, postprocess_seg, DepthConfig,
    Letterbox, OnnxDepth, OnnxSegmenter, SegConfig,
};
use dtr1_perception::Backend;
use dtr1_rle::Rle;
use image::{Rgb, RgbImage};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Expected {
    dir: String,
    seg: SegCase,
    depth: DepthCase,
}

#[derive(Deserialize)]
struct SegCase {
    model: String,
    image: [u32; 2],
    detections: Vec<Det>,
}

#[derive(Deserialize)]
struct Det {
    label: String,
    score: f64,
    rect: [u32; 4],
}

#[derive(Deserialize)]
struct DepthCase {
    model: String,
    image: [u32; 2],
    columns: BTreeMap<String, f64>,
}

fn load() -> (Expected, PathBuf) {
    let e: Expected = dtr1_refvec::load("onnx");
    let dir = dtr1_refvec::dir().join(&e.dir);
    (e, dir)
}

fn rect(w: u32, h: u32, r: [u32; 4]) -> Rle {
    let mut m = vec![0u8; (w * h) as usize];
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            m[(y * w + x) as usize] = 1;
        }
    }
    Rle::encode_row_major(h, w, &m).unwrap()
}

/// A noisy picture, so the result cannot depend on the pixels (the graphs ignore them).
fn picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, 200])
    })
}

#[test]
fn yolov8_seg_layout_gives_the_known_detections() {
    let (e, dir) = load();
    let seg = OnnxSegmenter::new(&dir.join(&e.seg.model), SegConfig::default()).unwrap();
    assert_eq!(seg.names(), ["cup", "ball"]);
    let [w, h] = e.seg.image;
    let p = seg.perceive(&picture(w, h)).unwrap();
    assert_eq!(
        p.detections.len(),
        e.seg.detections.len(),
        "{:?}",
        p.detections
    );
    for (got, want) in p.detections.iter().zip(&e.seg.detections) {
        assert_eq!(got.label, want.label);
        assert!(
            (got.score - want.score).abs() < 1e-6,
            "{} vs {}",
            got.score,
            want.score
        );
        assert_eq!(got.mask, rect(w, h, want.rect), "{}", want.label);
        assert_eq!(got.mask_source, dtr1_perception::MaskSource::Model);
    }
    // A twin can be built from them.
    let twin = dtr1_perception::builder::build(&picture(w, h), &p, &Default::default()).unwrap();
    assert_eq!(twin.objects.len(), 2);
}

#[test]
fn depth_model_output_is_resized_and_turned_to_smaller_nearer() {
    let (e, dir) = load();
    let d = OnnxDepth::new(&dir.join(&e.depth.model), DepthConfig::default()).unwrap();
    let [w, h] = e.depth.image;
    let map = d.depth(&picture(w, h)).unwrap();
    assert_eq!((map.width, map.height), (w, h));
    for (x, want) in &e.depth.columns {
        let x: u32 = x.parse().unwrap();
        for y in [0, h / 2, h - 1] {
            let got = f64::from(map.values[(y * w + x) as usize]);
            assert!((got - want).abs() < 1e-5, "x {x} y {y}: {got} vs {want}");
        }
    }
}

#[test]
fn bad_models_and_outputs_are_clear_errors() {
    let (_, dir) = load();
    let e = OnnxDepth::new(&dir.join("depth_nan.onnx"), DepthConfig::default())
        .unwrap()
        .depth(&picture(20, 10))
        .unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    let seg = OnnxSegmenter::new(&dir.join("seg_bad_shape.onnx"), SegConfig::default()).unwrap();
    let e = seg.perceive(&picture(64, 48)).unwrap_err();
    assert!(e.to_string().contains("output0 has shape"), "{e}");
    let e = OnnxSegmenter::new(&dir.join("missing.onnx"), SegConfig::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("no such model file"), "{e}");
    // A file that is not a model.
    let junk = std::env::temp_dir().join(format!("dtr1-onnx-junk-{}.onnx", std::process::id()));
    std::fs::write(&junk, b"not a protobuf at all").unwrap();
    let e = OnnxDepth::new(&junk, DepthConfig::default()).err().unwrap();
    assert!(e.to_string().contains("not a usable ONNX model"), "{e}");
    // A depth model is not a segmenter: it has one output.
    let e = OnnxSegmenter::new(&dir.join("depth.onnx"), SegConfig::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("two (output0, output1)"), "{e}");
}

#[test]
fn post_processing_rejects_bad_shapes_and_values() {
    let lb = Letterbox::new(10, 10, [10, 10]);
    let protos = vec![0f32; 2 * 4 * 4];
    let e = postprocess_seg(
        (&[1, 7, 1], &[0.0; 7]),
        (&[1, 4, 4], &protos),
        &lb,
        10,
        10,
        &[],
        &SegConfig::default(),
    );
    assert!(e.unwrap_err().to_string().contains("output1 has shape"));
    // 4 + 0 classes + 2 coefficients leaves no class score.
    let e = postprocess_seg(
        (&[1, 6, 1], &[0.0; 6]),
        (&[1, 2, 4, 4], &protos),
        &lb,
        10,
        10,
        &[],
        &SegConfig::default(),
    );
    assert!(e.is_err());
    assert!(postprocess_depth(&[2, 3], &[0.0; 6], 4, 4).is_err());
    assert!(postprocess_depth(&[1, 2, 2], &[0.0, 1.0, f32::NAN, 0.0], 4, 4).is_err());
    // A flat output is all "equally near".
    let d = postprocess_depth(&[1, 1, 2, 2], &[3.0; 4], 4, 4).unwrap();
    assert!(d.values.iter().all(|&v| v == 0.0));
}

#[test]
fn letterbox_and_names_follow_ultralytics() {
    let lb = Letterbox::new(64, 48, [64, 64]);
    assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (1.0, 0.0, 8.0));
    let lb = Letterbox::new(1280, 720, [640, 640]);
    assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (0.5, 0.0, 140.0));
    assert_eq!(
        parse_names("{0: 'person', 1: \"traffic light\", 2: 'x'}").unwrap(),
        ["person", "traffic light", "x"]
    );
    assert!(parse_names("{1: 'a'}").is_none());
    assert!(parse_names("person, car").is_none());
}

#[test]
fn the_runtime_is_found_in_the_venv_and_a_wrong_path_is_an_error() {
    // Set-up installs the onnxruntime wheel into .venv; its library is what gets loaded.
    let found = find_runtime().unwrap();
    assert!(
        found.to_string_lossy().contains("libonnxruntime.so"),
        "{}",
        found.display()
    );
    let e = find_runtime_from(Some("/nonexistent/libonnxruntime.so".into())).unwrap_err();
    assert!(
        e.to_string().contains("ORT_DYLIB_PATH names no file"),
        "{e}"
    );
}

#[test]
fn onnx_models_plug_into_a_configured_pipeline() {
    use dtr1_perception::pipeline::{PerceptionConfig, Pipeline};
    let (e, dir) = load();
    let toml = format!(
        "backend = \"onnx\"\ndepth = \"onnx\"\n[onnx]\nseg_model = {:?}\ndepth_model = {:?}\n",
        dir.join(&e.seg.model),
        dir.join(&e.depth.model)
    );
    let p = Pipeline::from_config(&PerceptionConfig::from_toml(&toml).unwrap()).unwrap();
    let [w, h] = e.seg.image;
    let twin = p.twin(&picture(w, h)).unwrap();
    let labels: Vec<&str> = twin.objects.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["cup", "ball"]);
    // Inverse depth grows to the right, so the ball (right) is nearer than the cup.
    let d = |i: usize| twin.objects[i].depth.unwrap().mean;
    assert!(d(1) < d(0), "{} vs {}", d(1), d(0));
    let cfg = PerceptionConfig::from_toml("backend = \"onnx\"\n[onnx]\n").unwrap();
    let err = Pipeline::from_config(&cfg).err().unwrap();
    assert!(err.to_string().contains("seg_model"), "{err}");
}
