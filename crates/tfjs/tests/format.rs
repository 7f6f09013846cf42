//! The graph-model format on small hand-written models: weight decoding (float32, int32,
//! uint8/uint16/float16 quantisation), op semantics with exactly known results, and a clear
//! error for every kind of broken model.

use dtr1_tfjs::{Error, Graph, Tensor};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dtr1-tfjs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `model.json` (nodes, weight specs) and `w.bin` (bytes) into `dir`.
fn write_model(dir: &Path, nodes: Value, weights: Value, bytes: &[u8]) -> PathBuf {
    let model = json!({
        "format": "graph-model",
        "modelTopology": { "node": nodes },
        "weightsManifest": [{ "paths": ["w.bin"], "weights": weights }],
    });
    let path = dir.join("model.json");
    std::fs::write(&path, serde_json::to_string(&model).unwrap()).unwrap();
    std::fs::write(dir.join("w.bin"), bytes).unwrap();
    path
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn placeholder(name: &str) -> Value {
    json!({ "name": name, "op": "Placeholder", "attr": { "dtype": { "type": "DT_FLOAT" } } })
}

fn constant(name: &str) -> Value {
    json!({ "name": name, "op": "Const" })
}

/// x [1,3,3,1] → Conv2D (2×2 filter of ones, SAME, stride 2) + bias (BiasAdd) → Relu6.
fn conv_model(dir: &Path) -> PathBuf {
    let nodes = json!([
        placeholder("x"),
        constant("w"),
        constant("b"),
        { "name": "conv", "op": "_FusedConv2D", "input": ["x", "w", "b"], "attr": {
            "strides": { "list": { "i": ["1", "2", "2", "1"] } },
            "padding": { "s": b64("SAME") },
            "data_format": { "s": b64("NHWC") },
            "fused_ops": { "list": { "s": [b64("BiasAdd"), b64("Relu6")] } } } },
        { "name": "out", "op": "Identity", "input": ["conv"] },
    ]);
    let weights = json!([
        { "name": "w", "shape": [2, 2, 1, 1], "dtype": "float32" },
        { "name": "b", "shape": [1], "dtype": "float32" },
    ]);
    let mut bytes = f32_bytes(&[1.0, 1.0, 1.0, 1.0]);
    bytes.extend(f32_bytes(&[-1.0]));
    write_model(dir, nodes, weights, &bytes)
}

#[test]
fn fused_conv_same_padding_stride_two() {
    let dir = scratch("conv");
    let g = Graph::load(conv_model(&dir)).unwrap();
    assert_eq!(g.input_names(), vec!["x"]);
    assert_eq!(g.output_names(), vec!["out"]);
    let x = Tensor::f32(vec![1, 3, 3, 1], (1..=9).map(|v| v as f32).collect()).unwrap();
    let out = g.run(&[("x", x)]).unwrap();
    // SAME on 3×3 with a 2×2 kernel and stride 2: output 2×2, one row/column of padding at the
    // end. Window sums 1+2+4+5=12, 3+6=9, 7+8=15, 9; minus 1, clipped at 6.
    assert_eq!(out[0].shape, vec![1, 2, 2, 1]);
    assert_eq!(out[0].as_f32().unwrap(), &[6.0, 6.0, 6.0, 6.0][..]);
    let x = Tensor::f32(
        vec![1, 3, 3, 1],
        vec![0.5, 0.5, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.25],
    )
    .unwrap();
    let out = g.run(&[("x", x)]).unwrap();
    assert_eq!(out[0].as_f32().unwrap(), &[1.5, 0.0, 0.0, 0.0][..]);
}

#[test]
fn quantised_weights_decode() {
    let dir = scratch("quant");
    let nodes = json!([constant("u8"), constant("u16"), constant("f16"), constant("i32"),
        { "name": "a", "op": "Identity", "input": ["u8"] },
        { "name": "b", "op": "Identity", "input": ["u16"] },
        { "name": "c", "op": "Identity", "input": ["f16"] },
        { "name": "d", "op": "Identity", "input": ["i32"] }]);
    let weights = json!([
        { "name": "u8", "shape": [3], "dtype": "float32", "quantization": { "dtype": "uint8", "scale": 0.5, "min": -1.0 } },
        { "name": "u16", "shape": [2], "dtype": "float32", "quantization": { "dtype": "uint16", "scale": 0.25, "min": 2.0 } },
        { "name": "f16", "shape": [2], "dtype": "float32", "quantization": { "dtype": "float16" } },
        { "name": "i32", "shape": [2], "dtype": "int32" },
    ]);
    let mut bytes = vec![0u8, 2, 4];
    bytes.extend(4u16.to_le_bytes());
    bytes.extend(400u16.to_le_bytes());
    bytes.extend(half::f16::from_f32(1.5).to_le_bytes());
    bytes.extend(half::f16::from_f32(-0.25).to_le_bytes());
    bytes.extend(i32_bytes(&[7, -3]));
    let g = Graph::load(write_model(&dir, nodes, weights, &bytes)).unwrap();
    let out = g.run(&[]).unwrap();
    let names = g.output_names();
    let get = |n: &str| out[names.iter().position(|x| *x == n).unwrap()].clone();
    assert_eq!(get("a").as_f32().unwrap(), &[-1.0, 0.0, 1.0][..]);
    assert_eq!(get("b").as_f32().unwrap(), &[3.0, 102.0][..]);
    assert_eq!(get("c").as_f32().unwrap(), &[1.5, -0.25][..]);
    assert_eq!(get("d").as_i32().unwrap(), &[7, -3][..]);
}

#[test]
fn transposes_pads_and_concat_round_trip() {
    // NHWC → NCHW, pad H by one row on top, concat with itself on C, back to NHWC: the
    // deferred-transpose path and the plain kernels must agree with the definition.
    let dir = scratch("layout");
    let nodes = json!([
        placeholder("x"), constant("to_nchw"), constant("to_nhwc"), constant("pads"), constant("axis"),
        { "name": "t1", "op": "Transpose", "input": ["x", "to_nchw"] },
        { "name": "r", "op": "Relu", "input": ["t1"] },
        { "name": "p", "op": "Pad", "input": ["r", "pads"] },
        { "name": "c", "op": "ConcatV2", "input": ["p", "p", "axis"] },
        { "name": "out", "op": "Transpose", "input": ["c", "to_nhwc"] },
    ]);
    let weights = json!([
        { "name": "to_nchw", "shape": [4], "dtype": "int32" },
        { "name": "to_nhwc", "shape": [4], "dtype": "int32" },
        { "name": "pads", "shape": [4, 2], "dtype": "int32" },
        { "name": "axis", "shape": [], "dtype": "int32" },
    ]);
    let mut bytes = i32_bytes(&[0, 3, 1, 2]);
    bytes.extend(i32_bytes(&[0, 2, 3, 1]));
    bytes.extend(i32_bytes(&[0, 0, 0, 0, 1, 0, 0, 0]));
    bytes.extend(i32_bytes(&[1]));
    let g = Graph::load(write_model(&dir, nodes, weights, &bytes)).unwrap();
    // x: 1×1×2×2 (H=1, W=2, C=2) = [[a0,a1],[b0,b1]] with a negative value for Relu.
    let x = Tensor::f32(vec![1, 1, 2, 2], vec![1.0, -2.0, 3.0, 4.0]).unwrap();
    let out = g.run(&[("x", x)]).unwrap();
    assert_eq!(out[0].shape, vec![1, 2, 2, 4]);
    // Row 0 is the padding; row 1 holds each pixel's channels twice.
    assert_eq!(
        out[0].as_f32().unwrap(),
        &[0., 0., 0., 0., 0., 0., 0., 0., 1., 0., 1., 0., 3., 4., 3., 4.][..]
    );
}

fn load_err(path: &Path) -> String {
    let e = Graph::load(path).unwrap_err();
    e.to_string()
}

#[test]
fn truncated_and_missing_shards_are_named() {
    let dir = scratch("trunc");
    let path = conv_model(&dir);
    let bin = dir.join("w.bin");
    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &bytes[..bytes.len() - 3]).unwrap();
    let e = Graph::load(&path).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShardSize {
                expected: 20,
                got: 17,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("w.bin") && e.to_string().contains("truncated"),
        "{e}"
    );
    std::fs::remove_file(&bin).unwrap();
    let msg = load_err(&path);
    assert!(
        msg.contains("cannot read") && msg.contains("w.bin"),
        "{msg}"
    );
}

#[test]
fn bad_json_and_unknown_dtypes_are_named() {
    let dir = scratch("json");
    let path = dir.join("model.json");
    std::fs::write(&path, "{ \"modelTopology\": ").unwrap();
    let msg = load_err(&path);
    assert!(
        msg.contains("model.json") && msg.contains("not a TF.js graph model"),
        "{msg}"
    );
    let path = write_model(
        &dir,
        json!([constant("s")]),
        json!([{ "name": "s", "shape": [1], "dtype": "complex64" }]),
        &[0; 8],
    );
    let e = Graph::load(&path).unwrap_err();
    assert!(
        matches!(&e, Error::UnknownDtype { weight, dtype, .. } if weight == "s" && dtype == "complex64"),
        "{e}"
    );
    let path = write_model(
        &dir,
        json!([constant("s")]),
        json!([{ "name": "s", "shape": [1], "dtype": "float32", "quantization": { "dtype": "int4" } }]),
        &[0; 1],
    );
    assert!(load_err(&path).contains("int4"));
    assert!(load_err(&dir.join("absent.json")).contains("absent.json"));
}

#[test]
fn unknown_ops_are_named_at_load_time() {
    let dir = scratch("op");
    let nodes = json!([placeholder("x"), { "name": "fancy_1", "op": "FancyOp", "input": ["x"] }]);
    let e = Graph::load(write_model(&dir, nodes, json!([]), &[])).unwrap_err();
    assert!(
        matches!(&e, Error::UnsupportedOp { op, node } if op == "FancyOp" && node == "fancy_1"),
        "{e}"
    );
    assert!(e.to_string().contains("`FancyOp`") && e.to_string().contains("`fancy_1`"));
    // A node reading a node that does not exist.
    let nodes = json!([{ "name": "r", "op": "Relu", "input": ["ghost"] }]);
    let msg = load_err(&write_model(&dir, nodes, json!([]), &[]));
    assert!(msg.contains("ghost"), "{msg}");
}

#[test]
fn bad_feeds_are_errors() {
    let dir = scratch("feeds");
    let g = Graph::load(conv_model(&dir)).unwrap();
    assert!(g.run(&[]).unwrap_err().to_string().contains("input `x`"));
    let wrong = Tensor::f32(vec![1, 3, 3, 2], vec![0.0; 18]).unwrap();
    let msg = g.run(&[("x", wrong)]).unwrap_err().to_string();
    assert!(
        msg.contains("node `conv`") && msg.contains("input channels"),
        "{msg}"
    );
    let x = Tensor::f32(vec![1, 3, 3, 1], vec![0.0; 9]).unwrap();
    assert!(g.run(&[("y", x)]).is_err());
}

#[test]
fn matmul_split_broadcast_and_shape_ops() {
    let dir = scratch("misc");
    let nodes = json!([
        placeholder("x"), placeholder("img"), constant("w"), constant("b"), constant("one"),
        constant("ax1"), constant("ax0"), constant("size"),
        { "name": "mm", "op": "MatMul", "input": ["x", "w"], "attr": { "transpose_a": { "b": false }, "transpose_b": { "b": false } } },
        { "name": "ba", "op": "BiasAdd", "input": ["mm", "b"] },
        { "name": "sp", "op": "Split", "input": ["ax1", "ba"], "attr": { "num_split": { "i": "2" } } },
        { "name": "diff", "op": "Sub", "input": ["sp", "sp:1"] },
        { "name": "ratio", "op": "RealDiv", "input": ["sp", "sp:1"] },
        { "name": "mx", "op": "Maximum", "input": ["sp:1", "one"] },
        { "name": "sq", "op": "Squeeze", "input": ["mx"], "attr": { "squeeze_dims": { "list": { "i": ["1"] } } } },
        { "name": "ex", "op": "ExpandDims", "input": ["sq", "ax0"] },
        { "name": "nn", "op": "ResizeNearestNeighbor", "input": ["img", "size"] },
        { "name": "pool", "op": "MaxPool", "input": ["img"], "attr": {
            "ksize": { "list": { "i": ["1", "2", "2", "1"] } },
            "strides": { "list": { "i": ["1", "1", "1", "1"] } },
            "padding": { "s": b64("SAME") } } },
    ]);
    let weights = json!([
        { "name": "w", "shape": [3, 2], "dtype": "float32" },
        { "name": "b", "shape": [2], "dtype": "float32" },
        { "name": "one", "shape": [], "dtype": "float32" },
        { "name": "ax1", "shape": [], "dtype": "int32" },
        { "name": "ax0", "shape": [], "dtype": "int32" },
        { "name": "size", "shape": [2], "dtype": "int32" },
    ]);
    let mut bytes = f32_bytes(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, -1.0, 4.5]);
    bytes.extend(i32_bytes(&[1, 0, 4, 4]));
    let g = Graph::load(write_model(&dir, nodes, weights, &bytes)).unwrap();
    let x = Tensor::f32(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let img = Tensor::f32(vec![1, 2, 2, 1], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let out = g.run(&[("x", x), ("img", img)]).unwrap();
    let names = g.output_names();
    let get = |n: &str| out[names.iter().position(|x| *x == n).unwrap()].clone();
    // x·w = [[4, 5], [10, 11]], + [1, −1] = [[5, 4], [11, 10]], split into columns.
    assert_eq!(get("diff").as_f32().unwrap(), &[1.0, 1.0][..]);
    assert_eq!(get("ratio").as_f32().unwrap(), &[1.25, 1.1][..]);
    let ex = get("ex");
    assert_eq!(ex.shape, vec![1, 2]);
    assert_eq!(ex.as_f32().unwrap(), &[4.5, 10.0][..]);
    let nn = get("nn");
    assert_eq!(nn.shape, vec![1, 4, 4, 1]);
    assert_eq!(
        nn.as_f32().unwrap(),
        &[1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.][..]
    );
    // SAME max pooling 2×2 stride 1 pads at the end: the window runs off the image.
    assert_eq!(get("pool").as_f32().unwrap(), &[4.0, 4.0, 4.0, 4.0][..]);
}

#[test]
fn slices() {
    let dir = scratch("slice");
    let nodes = json!([
        placeholder("x"), constant("b"), constant("e"), constant("s"), constant("sb"), constant("ss"),
        { "name": "rev", "op": "StridedSlice", "input": ["x", "b", "e", "s"], "attr": {
            "begin_mask": { "i": "1" }, "end_mask": { "i": "3" }, "shrink_axis_mask": { "i": "0" } } },
        { "name": "row", "op": "StridedSlice", "input": ["x", "b", "e", "s"], "attr": {
            "begin_mask": { "i": "0" }, "end_mask": { "i": "2" }, "shrink_axis_mask": { "i": "1" } } },
        { "name": "sl", "op": "Slice", "input": ["x", "sb", "ss"] },
    ]);
    let weights = json!([
        { "name": "b", "shape": [2], "dtype": "int32" },
        { "name": "e", "shape": [2], "dtype": "int32" },
        { "name": "s", "shape": [2], "dtype": "int32" },
        { "name": "sb", "shape": [2], "dtype": "int32" },
        { "name": "ss", "shape": [2], "dtype": "int32" },
    ]);
    // begin [1, -1], end [0, 0] (masked where noted), strides [1, -1]; Slice begin [1, 1] size [-1, 2].
    let bytes = i32_bytes(&[1, -1, 0, 0, 1, -1, 1, 1, -1, 2]);
    let g = Graph::load(write_model(&dir, nodes, weights, &bytes)).unwrap();
    let x = Tensor::f32(vec![3, 3], (0..9).map(|v| v as f32).collect()).unwrap();
    let out = g.run(&[("x", x)]).unwrap();
    let names = g.output_names();
    let get = |n: &str| out[names.iter().position(|x| *x == n).unwrap()].clone();
    // All rows, columns reversed.
    assert_eq!(get("rev").shape, vec![3, 3]);
    assert_eq!(
        get("rev").as_f32().unwrap(),
        &[2., 1., 0., 5., 4., 3., 8., 7., 6.][..]
    );
    // Row 1 (shrunk), columns from the last backwards.
    assert_eq!(get("row").shape, vec![3]);
    assert_eq!(get("row").as_f32().unwrap(), &[5., 4., 3.][..]);
    assert_eq!(get("sl").shape, vec![2, 2]);
    assert_eq!(get("sl").as_f32().unwrap(), &[4., 5., 7., 8.][..]);
}
