//! The TF.js graph-model file format: `model.json` (graph + weights manifest) and the binary
//! weight shards it names.
//!
//! Format facts (from the TF.js converter's documentation): `modelTopology.node` is a
//! TensorFlow GraphDef in JSON (`name`, `op`, `input`, `attr`); `weightsManifest` is a list of
//! groups, each with `paths` (shards, concatenated in order) and `weights` laid out back to back
//! in that buffer. A weight may be quantised: `quantization.dtype` `uint8`/`uint16` store
//! `q` with `value = q * scale + min`, `float16` stores IEEE half floats.

use crate::error::{Error, Result};
use crate::tensor::{Data, Tensor};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One node of the graph, as written in `model.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeDef {
    /// Unique node name.
    pub name: String,
    /// TensorFlow op name (`Conv2D`, `Const`, …).
    pub op: String,
    /// Inputs as `node`, `node:k` (k-th output) or `^node` (control dependency).
    #[serde(default)]
    pub input: Vec<String>,
    /// Attributes in TensorFlow's AttrValue JSON form.
    #[serde(default)]
    pub attr: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Topology {
    #[serde(default)]
    node: Vec<NodeDef>,
}

#[derive(Debug, Deserialize)]
struct Quantization {
    dtype: String,
    #[serde(default)]
    scale: Option<f32>,
    #[serde(default)]
    min: Option<f32>,
}

#[derive(Debug, Deserialize)]
struct WeightSpec {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    #[serde(default)]
    quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
struct ManifestGroup {
    paths: Vec<String>,
    weights: Vec<WeightSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelJson {
    #[serde(default)]
    format: Option<String>,
    model_topology: Topology,
    weights_manifest: Vec<ManifestGroup>,
    #[serde(default)]
    signature: Option<serde_json::Value>,
}

/// A parsed graph model: its nodes, decoded weights and declared signature.
#[derive(Debug)]
pub struct ModelFile {
    /// The model.json path.
    pub path: PathBuf,
    /// Graph nodes in file order.
    pub nodes: Vec<NodeDef>,
    /// Decoded weights by name (the `Const` nodes' values).
    pub weights: HashMap<String, Tensor>,
    /// Signature input tensor names (e.g. `input_1:0`), if declared.
    pub signature_inputs: Vec<String>,
    /// Signature output tensor names (e.g. `Identity:0`), if declared.
    pub signature_outputs: Vec<String>,
}

fn format_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Reads only the graph of a model.json (no weights): enough for an op census.
pub fn read_nodes(path: &Path) -> Result<Vec<NodeDef>> {
    Ok(read_json(path)?.model_topology.node)
}

fn read_json(path: &Path) -> Result<ModelJson> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let model: ModelJson =
        serde_json::from_str(&text).map_err(|e| format_err(path, e.to_string()))?;
    if let Some(f) = &model.format {
        if f != "graph-model" {
            return Err(format_err(
                path,
                format!(
                    "format is `{f}`, expected `graph-model` (layers models are not supported)"
                ),
            ));
        }
    }
    if model.model_topology.node.is_empty() {
        return Err(format_err(path, "modelTopology.node is empty"));
    }
    Ok(model)
}

/// Bytes per stored element and the decoder for one weight.
enum Storage {
    F32,
    I32,
    Bool,
    Affine { bytes: usize, scale: f32, min: f32 },
    F16,
}

fn storage(path: &Path, w: &WeightSpec) -> Result<Storage> {
    let unknown = |dtype: &str| Error::UnknownDtype {
        path: path.to_path_buf(),
        weight: w.name.clone(),
        dtype: dtype.to_string(),
    };
    if !matches!(w.dtype.as_str(), "float32" | "int32" | "bool") {
        return Err(unknown(&w.dtype));
    }
    match &w.quantization {
        None => Ok(match w.dtype.as_str() {
            "float32" => Storage::F32,
            "int32" => Storage::I32,
            _ => Storage::Bool,
        }),
        Some(q) => {
            if w.dtype == "bool" {
                return Err(unknown(&format!("bool quantised as {}", q.dtype)));
            }
            match q.dtype.as_str() {
                "uint8" | "uint16" => {
                    let (Some(scale), Some(min)) = (q.scale, q.min) else {
                        return Err(format_err(
                            path,
                            format!(
                                "weight `{}`: {} quantisation without scale/min",
                                w.name, q.dtype
                            ),
                        ));
                    };
                    let bytes = if q.dtype == "uint8" { 1 } else { 2 };
                    Ok(Storage::Affine { bytes, scale, min })
                }
                "float16" if w.dtype == "float32" => Ok(Storage::F16),
                other => Err(unknown(&format!("{} quantised as {other}", w.dtype))),
            }
        }
    }
}

impl Storage {
    fn bytes(&self) -> usize {
        match self {
            Storage::F32 | Storage::I32 => 4,
            Storage::Bool => 1,
            Storage::Affine { bytes, .. } => *bytes,
            Storage::F16 => 2,
        }
    }
}

fn decode(st: &Storage, int: bool, shape: Vec<usize>, b: &[u8]) -> Tensor {
    let data = match st {
        Storage::F32 => Data::F32(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Storage::I32 => Data::I32(
            b.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Storage::Bool => Data::Bool(b.iter().map(|&x| x != 0).collect()),
        Storage::F16 => Data::F32(
            b.chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        Storage::Affine { bytes, scale, min } => {
            let q: Vec<f32> = if *bytes == 1 {
                b.iter().map(|&x| x as f32).collect()
            } else {
                b.chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]) as f32)
                    .collect()
            };
            let v = q.into_iter().map(|q| q * scale + min);
            if int {
                Data::I32(v.map(|x| x.round() as i32).collect())
            } else {
                Data::F32(v.collect())
            }
        }
    };
    Tensor { shape, data }
}

impl ModelFile {
    /// Reads `model.json` and the weight shards next to it, decoding every weight.
    pub fn load(path: &Path) -> Result<Self> {
        let model = read_json(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut weights = HashMap::new();
        for group in &model.weights_manifest {
            let mut buf = Vec::new();
            let mut last = dir.to_path_buf();
            for p in &group.paths {
                last = dir.join(p);
                let bytes = std::fs::read(&last).map_err(|source| Error::Io {
                    path: last.clone(),
                    source,
                })?;
                buf.extend_from_slice(&bytes);
            }
            let mut specs = Vec::with_capacity(group.weights.len());
            let mut need = 0usize;
            for w in &group.weights {
                let st = storage(path, w)?;
                need += st.bytes() * w.shape.iter().product::<usize>();
                specs.push(st);
            }
            if need != buf.len() {
                return Err(Error::ShardSize {
                    path: last,
                    expected: need,
                    got: buf.len(),
                });
            }
            let mut off = 0;
            for (w, st) in group.weights.iter().zip(&specs) {
                let n = st.bytes() * w.shape.iter().product::<usize>();
                let t = decode(st, w.dtype == "int32", w.shape.clone(), &buf[off..off + n]);
                off += n;
                weights.insert(w.name.clone(), t);
            }
        }
        let names = |key: &str| -> Vec<String> {
            let Some(obj) = model
                .signature
                .as_ref()
                .and_then(|s| s.get(key))
                .and_then(|v| v.as_object())
            else {
                return Vec::new();
            };
            let mut v: Vec<String> = obj
                .iter()
                .map(|(k, t)| {
                    t.get("name")
                        .and_then(|n| n.as_str())
                        .unwrap_or(k)
                        .to_string()
                })
                .collect();
            v.sort();
            v
        };
        Ok(Self {
            path: path.to_path_buf(),
            signature_inputs: names("inputs"),
            signature_outputs: names("outputs"),
            nodes: model.model_topology.node,
            weights,
        })
    }
}
