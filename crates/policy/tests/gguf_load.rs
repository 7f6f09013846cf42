//! GGUF loading: configuration from metadata, and clear errors for bad files.

mod common;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use dtr1_policy::{GgufFile, PolicyError};

#[test]
fn smollm2_config_from_metadata() {
    let g = GgufFile::open(common::model_path()).unwrap();
    let c = g.config().unwrap();
    assert_eq!(c.num_layers, 30);
    assert_eq!(c.hidden_size, 576);
    assert_eq!(c.num_heads, 9);
    assert_eq!(c.num_kv_heads, 3);
    assert_eq!(c.intermediate_size, 1536);
    assert_eq!(c.vocab_size, 49152);
    assert_eq!(c.rope_theta, 100_000.0);
    assert!(c.tie_embeddings);
    assert!(!c.qkv_bias);
}

#[test]
fn smollm2_weights_load_as_f32() {
    let (m, _) = common::smollm();
    assert_eq!(m.embed.dims(), &[49152, 576]);
    assert_eq!(m.layers.len(), 30);
    assert_eq!(m.layers[0].k.weight.dims(), &[192, 576]);
    assert_eq!(m.layers[29].down.weight.dims(), &[576, 1536]);
    assert_eq!(m.embed.dtype(), candle_core::DType::F32);
}

fn truncated_copy(len: u64, name: &str) -> std::path::PathBuf {
    let src = std::fs::read(common::model_path()).unwrap();
    let p = std::env::temp_dir().join(format!("dtr1-policy-{}-{name}.gguf", std::process::id()));
    std::fs::write(&p, &src[..len as usize]).unwrap();
    p
}

#[test]
fn truncated_files_are_errors_not_panics() {
    let full = std::fs::metadata(common::model_path()).unwrap().len();
    // Inside the magic, inside the metadata (vocabulary), and inside the tensor data.
    for (cut, name) in [
        (3, "magic"),
        (200_000, "metadata"),
        (full - 1_000_000, "data"),
    ] {
        let p = truncated_copy(cut, name);
        let r = GgufFile::open(&p).and_then(|mut g| g.load_model(&Device::Cpu));
        std::fs::remove_file(&p).ok();
        match r {
            Err(PolicyError::CorruptGguf { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("cut at {cut}: expected CorruptGguf, got {other:?}"),
        }
    }
}

#[test]
fn missing_file_and_garbage_are_errors() {
    let r = GgufFile::open("/nonexistent/model.gguf");
    assert!(matches!(r, Err(PolicyError::Io { .. })), "{r:?}");
    let p = std::env::temp_dir().join(format!("dtr1-policy-{}-garbage.gguf", std::process::id()));
    std::fs::write(&p, b"this is not a gguf file at all, just text").unwrap();
    let r = GgufFile::open(&p);
    std::fs::remove_file(&p).ok();
    assert!(matches!(r, Err(PolicyError::CorruptGguf { .. })), "{r:?}");
}

/// Write a small synthetic GGUF with the given architecture and tensors.
fn synthetic(name: &str, arch: &str, tensors: &[(&str, QTensor)]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("dtr1-policy-{}-{name}.gguf", std::process::id()));
    let v = |x: u32| gguf_file::Value::U32(x);
    let md = [
        (
            "general.architecture",
            gguf_file::Value::String(arch.into()),
        ),
        ("llama.embedding_length", v(32)),
        ("llama.block_count", v(1)),
        ("llama.attention.head_count", v(2)),
        ("llama.attention.head_count_kv", v(1)),
        ("llama.feed_forward_length", v(64)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            gguf_file::Value::F32(1e-5),
        ),
    ];
    let md_refs: Vec<(&str, &gguf_file::Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (*k, t)).collect();
    let mut f = std::fs::File::create(&p).unwrap();
    gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
    p
}

fn qt(rows: usize, cols: usize, dt: GgmlDType) -> QTensor {
    let t = Tensor::ones((rows, cols), candle_core::DType::F32, &Device::Cpu).unwrap();
    QTensor::quantize(&t, dt).unwrap()
}

#[test]
fn unsupported_architecture_is_named() {
    let p = synthetic(
        "arch",
        "mamba",
        &[("token_embd.weight", qt(8, 32, GgmlDType::F32))],
    );
    let r = GgufFile::open(&p).unwrap().config();
    std::fs::remove_file(&p).ok();
    assert!(
        matches!(r, Err(PolicyError::UnsupportedArchitecture(ref a)) if a == "mamba"),
        "{r:?}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let p = synthetic(
        "missing",
        "llama",
        &[("token_embd.weight", qt(8, 32, GgmlDType::F32))],
    );
    let r = GgufFile::open(&p).unwrap().load_model(&Device::Cpu);
    std::fs::remove_file(&p).ok();
    assert!(
        matches!(r, Err(PolicyError::MissingTensor(ref n)) if n == "output_norm.weight"),
        "{r:?}"
    );
}

#[test]
fn unsupported_quantization_and_bad_shape_are_named() {
    let p = synthetic(
        "quant",
        "llama",
        &[
            ("token_embd.weight", qt(8, 32, GgmlDType::Q8_1)),
            ("output_norm.weight", qt(1, 32, GgmlDType::F32)),
        ],
    );
    let mut g = GgufFile::open(&p).unwrap();
    let r = g.load_model(&Device::Cpu);
    assert!(
        matches!(r, Err(PolicyError::UnsupportedQuantization { ref name, .. }) if name == "token_embd.weight"),
        "{r:?}"
    );
    // output_norm is stored (1, 32) but the model needs (32,).
    let r = g.tensor_f32("output_norm.weight", &[32], &Device::Cpu);
    std::fs::remove_file(&p).ok();
    assert!(matches!(r, Err(PolicyError::ShapeMismatch { .. })), "{r:?}");
}
