//! A TF.js graph model compiled for execution: nodes resolved to ops with parsed attributes,
//! ordered topologically, validated as a whole at load time.

use crate::error::{Error, Result};
use crate::model::{ModelFile, NodeDef};
use crate::ops::{self, Act, BinOp, ConvAttr, Epilogue, Padding, UnOp};
use crate::tensor::Tensor;
use base64::Engine;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// Ops this runtime implements (TensorFlow names as they appear in `model.json`).
pub const SUPPORTED_OPS: &[&str] = &[
    "Const",
    "Placeholder",
    "Identity",
    "NoOp",
    "Conv2D",
    "_FusedConv2D",
    "DepthwiseConv2dNative",
    "FusedDepthwiseConv2dNative",
    "Conv2DBackpropInput",
    "MatMul",
    "_FusedMatMul",
    "BiasAdd",
    "Add",
    "AddV2",
    "Sub",
    "Mul",
    "RealDiv",
    "Maximum",
    "Minimum",
    "AddN",
    "Relu",
    "Relu6",
    "LeakyRelu",
    "Elu",
    "Sigmoid",
    "Tanh",
    "Square",
    "Sqrt",
    "Rsqrt",
    "Exp",
    "Neg",
    "MaxPool",
    "AvgPool",
    "ResizeBilinear",
    "ResizeNearestNeighbor",
    "ConcatV2",
    "Reshape",
    "Squeeze",
    "ExpandDims",
    "Transpose",
    "Pad",
    "PadV2",
    "Split",
    "SplitV",
    "Slice",
    "StridedSlice",
    "SparseToDense",
];

/// Whether [`SUPPORTED_OPS`] lists `op`.
pub fn is_supported(op: &str) -> bool {
    SUPPORTED_OPS.contains(&op)
}

/// Counts the ops of a model.json (no weights are read) and marks which ones this runtime
/// supports: `op → (count, supported)`.
pub fn census(path: &Path) -> Result<BTreeMap<String, (usize, bool)>> {
    let mut out: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    for n in crate::model::read_nodes(path)? {
        let e = out.entry(n.op.clone()).or_insert((0, is_supported(&n.op)));
        e.0 += 1;
    }
    Ok(out)
}

#[derive(Debug)]
pub(crate) enum Op {
    Const(Arc<Tensor>),
    Placeholder,
    Identity,
    Conv2D(ConvAttr, Epilogue),
    Depthwise(ConvAttr, Epilogue),
    ConvTranspose(ConvAttr),
    MatMul {
        ta: bool,
        tb: bool,
        epi: Epilogue,
    },
    BiasAdd,
    Binary(BinOp),
    AddN,
    Unary(UnOp),
    Pool {
        max: bool,
        k: [usize; 2],
        s: [usize; 2],
        pad: Padding,
    },
    Resize {
        bilinear: bool,
        align_corners: bool,
        half_pixel: bool,
    },
    Concat,
    Reshape,
    Squeeze(Vec<i64>),
    ExpandDims,
    Transpose,
    Pad,
    Split(usize),
    SplitV,
    Slice,
    StridedSlice {
        begin_mask: i64,
        end_mask: i64,
        shrink_mask: i64,
    },
    SparseToDense,
}

#[derive(Debug)]
struct Node {
    name: String,
    op_name: String,
    op: Op,
    inputs: Vec<(usize, usize)>,
}

/// A loaded, validated graph model ready to run on the CPU.
#[derive(Debug)]
pub struct Graph {
    nodes: Vec<Node>,
    /// Execution order (indices into `nodes`), restricted to what the outputs need.
    order: Vec<usize>,
    /// How many times each node's outputs are read during a run (plus one per graph output).
    uses: Vec<usize>,
    inputs: Vec<(String, usize)>,
    /// Declared placeholder shapes (-1 = any), by input position.
    input_shapes: Vec<Option<Vec<i64>>>,
    outputs: Vec<(String, (usize, usize))>,
    threads: usize,
}

fn node_err(n: &NodeDef, msg: impl Into<String>) -> Error {
    Error::Node {
        node: n.name.clone(),
        op: n.op.clone(),
        msg: msg.into(),
    }
}

fn attr<'a>(n: &'a NodeDef, key: &str) -> Option<&'a serde_json::Value> {
    n.attr.get(key)
}

fn attr_s(n: &NodeDef, key: &str) -> Result<Option<String>> {
    let Some(v) = attr(n, key)
        .and_then(|v| v.get("s"))
        .and_then(|s| s.as_str())
    else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v)
        .map_err(|e| node_err(n, format!("attr {key}: bad base64 ({e})")))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn attr_b(n: &NodeDef, key: &str) -> bool {
    attr(n, key)
        .and_then(|v| v.get("b"))
        .and_then(|b| b.as_bool())
        .unwrap_or(false)
}

fn attr_f(n: &NodeDef, key: &str) -> Option<f32> {
    attr(n, key)
        .and_then(|v| v.get("f"))
        .and_then(|f| f.as_f64())
        .map(|f| f as f32)
}

fn json_int(v: &serde_json::Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn attr_i(n: &NodeDef, key: &str) -> Option<i64> {
    attr(n, key).and_then(|v| v.get("i")).and_then(json_int)
}

fn attr_list_i(n: &NodeDef, key: &str) -> Result<Option<Vec<i64>>> {
    let Some(list) = attr(n, key).and_then(|v| v.get("list")) else {
        return Ok(None);
    };
    let Some(items) = list.get("i").and_then(|i| i.as_array()) else {
        return Ok(Some(Vec::new()));
    };
    items
        .iter()
        .map(|v| json_int(v).ok_or_else(|| node_err(n, format!("attr {key}: not an integer list"))))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn attr_list_s(n: &NodeDef, key: &str) -> Result<Vec<String>> {
    let Some(items) = attr(n, key)
        .and_then(|v| v.get("list"))
        .and_then(|l| l.get("s"))
        .and_then(|s| s.as_array())
    else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|v| {
            let s = v.as_str().unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| node_err(n, format!("attr {key}: bad base64 ({e})")))
        })
        .collect()
}

fn nhwc_only(n: &NodeDef) -> Result<()> {
    match attr_s(n, "data_format")?.as_deref() {
        None | Some("NHWC") => Ok(()),
        Some(f) => Err(node_err(
            n,
            format!("data_format {f} is not supported (NHWC only)"),
        )),
    }
}

fn hw_pair(n: &NodeDef, key: &str, v: Option<Vec<i64>>) -> Result<[usize; 2]> {
    match v.as_deref() {
        None | Some([]) => Ok([1, 1]),
        Some([a, b, c, d]) => {
            if *a != 1 || *d != 1 {
                return Err(node_err(
                    n,
                    format!("{key} over batch or channels is not supported"),
                ));
            }
            if *b < 1 || *c < 1 {
                return Err(node_err(n, format!("{key} must be positive")));
            }
            Ok([*b as usize, *c as usize])
        }
        Some(other) => Err(node_err(n, format!("{key} {other:?}: expected 4 values"))),
    }
}

fn padding(n: &NodeDef) -> Result<Padding> {
    match attr_s(n, "padding")?.as_deref() {
        Some("VALID") => Ok(Padding::Valid),
        Some("SAME") => Ok(Padding::Same),
        Some("EXPLICIT") => {
            let p = attr_list_i(n, "explicit_paddings")?.unwrap_or_default();
            if p.len() != 8
                || p.iter().any(|&x| x < 0)
                || p[0] != 0
                || p[1] != 0
                || p[6] != 0
                || p[7] != 0
            {
                return Err(node_err(
                    n,
                    format!("explicit_paddings {p:?} not supported"),
                ));
            }
            Ok(Padding::Explicit([
                p[2] as usize,
                p[3] as usize,
                p[4] as usize,
                p[5] as usize,
            ]))
        }
        other => Err(node_err(n, format!("padding {other:?} is not supported"))),
    }
}

fn conv_attr(n: &NodeDef) -> Result<ConvAttr> {
    nhwc_only(n)?;
    Ok(ConvAttr {
        strides: hw_pair(n, "strides", attr_list_i(n, "strides")?)?,
        dilations: hw_pair(n, "dilations", attr_list_i(n, "dilations")?)?,
        padding: padding(n)?,
    })
}

/// The fused activations of `_FusedConv2D` and friends: `fused_ops` lists `BiasAdd` (and
/// `Prelu`) taking extra inputs in order, then at most one activation.
fn epilogue(n: &NodeDef, extra_inputs: usize) -> Result<Epilogue> {
    let mut epi = Epilogue::default();
    let mut consumed = 0;
    for f in attr_list_s(n, "fused_ops")? {
        match f.as_str() {
            "BiasAdd" | "Add" | "AddV2" => {
                epi.bias = true;
                consumed += 1;
            }
            "Relu" => epi.act = Act::Relu,
            "Relu6" => epi.act = Act::Relu6,
            "Elu" => epi.act = Act::Elu,
            "Sigmoid" => epi.act = Act::Sigmoid,
            "Tanh" => epi.act = Act::Tanh,
            "LeakyRelu" => epi.act = Act::Leaky(attr_f(n, "leakyrelu_alpha").unwrap_or(0.2)),
            "Prelu" => {
                epi.act = Act::Prelu;
                consumed += 1;
            }
            other => return Err(node_err(n, format!("fused op `{other}` is not supported"))),
        }
    }
    if consumed != extra_inputs {
        return Err(node_err(
            n,
            format!("fused_ops need {consumed} extra inputs, node has {extra_inputs}"),
        ));
    }
    Ok(epi)
}

fn compile_op(n: &NodeDef, weights: &mut HashMap<String, Tensor>, n_inputs: usize) -> Result<Op> {
    let need = |k: usize| -> Result<()> {
        if n_inputs < k {
            Err(node_err(n, format!("needs {k} inputs, has {n_inputs}")))
        } else {
            Ok(())
        }
    };
    let op = match n.op.as_str() {
        "Const" => {
            let t = weights
                .remove(&n.name)
                .ok_or_else(|| node_err(n, "no weight of this name in the weights manifest"))?;
            Op::Const(Arc::new(t))
        }
        "Placeholder" => Op::Placeholder,
        "Identity" | "NoOp" => Op::Identity,
        "Conv2D" => {
            need(2)?;
            Op::Conv2D(conv_attr(n)?, Epilogue::default())
        }
        "_FusedConv2D" => {
            need(2)?;
            Op::Conv2D(conv_attr(n)?, epilogue(n, n_inputs - 2)?)
        }
        "DepthwiseConv2dNative" => {
            need(2)?;
            Op::Depthwise(conv_attr(n)?, Epilogue::default())
        }
        "FusedDepthwiseConv2dNative" => {
            need(2)?;
            Op::Depthwise(conv_attr(n)?, epilogue(n, n_inputs - 2)?)
        }
        "Conv2DBackpropInput" => {
            need(3)?;
            let a = conv_attr(n)?;
            if a.dilations != [1, 1] {
                return Err(node_err(
                    n,
                    "dilated transposed convolution is not supported",
                ));
            }
            Op::ConvTranspose(a)
        }
        "MatMul" | "_FusedMatMul" => {
            need(2)?;
            let epi = if n.op == "MatMul" {
                Epilogue::default()
            } else {
                epilogue(n, n_inputs - 2)?
            };
            Op::MatMul {
                ta: attr_b(n, "transpose_a"),
                tb: attr_b(n, "transpose_b"),
                epi,
            }
        }
        "BiasAdd" => {
            need(2)?;
            nhwc_only(n)?;
            Op::BiasAdd
        }
        "Add" | "AddV2" | "Sub" | "Mul" | "RealDiv" | "Maximum" | "Minimum" => {
            need(2)?;
            Op::Binary(match n.op.as_str() {
                "Add" | "AddV2" => BinOp::Add,
                "Sub" => BinOp::Sub,
                "Mul" => BinOp::Mul,
                "RealDiv" => BinOp::Div,
                "Maximum" => BinOp::Max,
                _ => BinOp::Min,
            })
        }
        "AddN" => {
            need(1)?;
            Op::AddN
        }
        "Relu" => Op::Unary(UnOp::Act(Act::Relu)),
        "Relu6" => Op::Unary(UnOp::Act(Act::Relu6)),
        "Elu" => Op::Unary(UnOp::Act(Act::Elu)),
        "Sigmoid" => Op::Unary(UnOp::Act(Act::Sigmoid)),
        "Tanh" => Op::Unary(UnOp::Act(Act::Tanh)),
        "LeakyRelu" => Op::Unary(UnOp::Act(Act::Leaky(attr_f(n, "alpha").unwrap_or(0.2)))),
        "Square" => Op::Unary(UnOp::Square),
        "Sqrt" => Op::Unary(UnOp::Sqrt),
        "Rsqrt" => Op::Unary(UnOp::Rsqrt),
        "Exp" => Op::Unary(UnOp::Exp),
        "Neg" => Op::Unary(UnOp::Neg),
        "MaxPool" | "AvgPool" => {
            nhwc_only(n)?;
            let pad = padding(n)?;
            if matches!(pad, Padding::Explicit(_)) {
                return Err(node_err(n, "explicit pool padding is not supported"));
            }
            Op::Pool {
                max: n.op == "MaxPool",
                k: hw_pair(n, "ksize", attr_list_i(n, "ksize")?)?,
                s: hw_pair(n, "strides", attr_list_i(n, "strides")?)?,
                pad,
            }
        }
        "ResizeBilinear" | "ResizeNearestNeighbor" => {
            need(2)?;
            Op::Resize {
                bilinear: n.op == "ResizeBilinear",
                align_corners: attr_b(n, "align_corners"),
                half_pixel: attr_b(n, "half_pixel_centers"),
            }
        }
        "ConcatV2" => {
            need(2)?;
            Op::Concat
        }
        "Reshape" => {
            need(2)?;
            Op::Reshape
        }
        "Squeeze" => Op::Squeeze(attr_list_i(n, "squeeze_dims")?.unwrap_or_default()),
        "ExpandDims" => {
            need(2)?;
            Op::ExpandDims
        }
        "Transpose" => {
            need(2)?;
            Op::Transpose
        }
        "Pad" | "PadV2" => {
            need(2)?;
            Op::Pad
        }
        "Split" => {
            need(2)?;
            let k = attr_i(n, "num_split")
                .filter(|&k| k > 0)
                .ok_or_else(|| node_err(n, "num_split missing"))?;
            Op::Split(k as usize)
        }
        "SplitV" => {
            need(3)?;
            Op::SplitV
        }
        "SparseToDense" => {
            need(4)?;
            Op::SparseToDense
        }
        "Slice" => {
            need(3)?;
            Op::Slice
        }
        "StridedSlice" => {
            need(4)?;
            let mask = |k: &str| attr_i(n, k).unwrap_or(0);
            if mask("ellipsis_mask") != 0 || mask("new_axis_mask") != 0 {
                return Err(node_err(
                    n,
                    "ellipsis_mask and new_axis_mask are not supported",
                ));
            }
            Op::StridedSlice {
                begin_mask: mask("begin_mask"),
                end_mask: mask("end_mask"),
                shrink_mask: mask("shrink_axis_mask"),
            }
        }
        other => {
            return Err(Error::UnsupportedOp {
                op: other.to_string(),
                node: n.name.clone(),
            })
        }
    };
    Ok(op)
}

/// Splits `node:k` into the node name and the output index (`^ctrl` is handled by the caller).
fn parse_ref(s: &str) -> (&str, usize) {
    if let Some((name, k)) = s.rsplit_once(':') {
        if let Ok(k) = k.parse() {
            return (name, k);
        }
    }
    (s, 0)
}

impl Graph {
    /// Loads `model.json` and its weight shards, and validates the whole graph: every op must
    /// be implemented and every input must exist, so nothing unsupported surfaces mid-run.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let file = ModelFile::load(path.as_ref())?;
        Self::from_model(file)
    }

    /// Compiles an already parsed model file.
    pub fn from_model(file: ModelFile) -> Result<Self> {
        let ModelFile {
            nodes: defs,
            mut weights,
            signature_inputs,
            signature_outputs,
            ..
        } = file;
        // Unsupported ops first, all of them named by the first node using each: the error a
        // user sees for a model that cannot run.
        if let Some(n) = defs.iter().find(|n| !is_supported(&n.op)) {
            return Err(Error::UnsupportedOp {
                op: n.op.clone(),
                node: n.name.clone(),
            });
        }
        let index: HashMap<&str, usize> = defs
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        if index.len() != defs.len() {
            return Err(Error::Graph("duplicate node names".into()));
        }
        let mut nodes = Vec::with_capacity(defs.len());
        for n in &defs {
            let mut inputs = Vec::new();
            for inp in n.input.iter().filter(|i| !i.starts_with('^')) {
                let (name, k) = parse_ref(inp);
                let &j = index.get(name).ok_or_else(|| {
                    node_err(n, format!("input `{inp}` is not a node of the graph"))
                })?;
                inputs.push((j, k));
            }
            let op = compile_op(n, &mut weights, inputs.len())?;
            nodes.push(Node {
                name: n.name.clone(),
                op_name: n.op.clone(),
                op,
                inputs,
            });
        }
        let resolve = |t: &str| -> Result<(usize, usize)> {
            let (name, k) = parse_ref(t);
            index
                .get(name)
                .map(|&i| (i, k))
                .ok_or_else(|| Error::Graph(format!("signature names `{t}`, which is not a node")))
        };
        let outputs: Vec<(String, (usize, usize))> = if signature_outputs.is_empty() {
            // No signature: the outputs are the nodes nothing reads.
            let mut read = vec![false; nodes.len()];
            for n in &nodes {
                for &(j, _) in &n.inputs {
                    read[j] = true;
                }
            }
            nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| !read[*i] && !matches!(n.op, Op::Const(_) | Op::Placeholder))
                .map(|(i, n)| (n.name.clone(), (i, 0)))
                .collect()
        } else {
            signature_outputs
                .iter()
                .map(|t| Ok((parse_ref(t).0.to_string(), resolve(t)?)))
                .collect::<Result<_>>()?
        };
        let inputs: Vec<(String, usize)> = if signature_inputs.is_empty() {
            nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| matches!(n.op, Op::Placeholder))
                .map(|(i, n)| (n.name.clone(), i))
                .collect()
        } else {
            signature_inputs
                .iter()
                .map(|t| Ok((parse_ref(t).0.to_string(), resolve(t)?.0)))
                .collect::<Result<_>>()?
        };
        // Depth-first topological order from the outputs, iteratively (deep graphs would
        // overflow a recursive walk); 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; nodes.len()];
        let mut order = Vec::new();
        for &(_, (root, _)) in &outputs {
            let mut stack = vec![(root, 0usize)];
            while let Some((i, next)) = stack.pop() {
                if state[i] == 2 {
                    continue;
                }
                state[i] = 1;
                if let Some(&(j, _)) = nodes[i].inputs.get(next) {
                    stack.push((i, next + 1));
                    match state[j] {
                        0 => stack.push((j, 0)),
                        1 => {
                            return Err(Error::Graph(format!(
                                "cycle through node `{}`",
                                nodes[j].name
                            )))
                        }
                        _ => {}
                    }
                } else {
                    state[i] = 2;
                    order.push(i);
                }
            }
        }
        let input_shapes = inputs
            .iter()
            .map(|(_, i)| {
                let dims = defs[*i]
                    .attr
                    .get("shape")?
                    .get("shape")?
                    .get("dim")?
                    .as_array()?;
                dims.iter()
                    .map(|d| d.get("size").and_then(json_int))
                    .collect()
            })
            .collect();
        let mut uses = vec![0usize; nodes.len()];
        for &i in &order {
            for &(j, _) in &nodes[i].inputs {
                uses[j] += 1;
            }
        }
        for &(_, (i, _)) in &outputs {
            uses[i] += 1;
        }
        Ok(Self {
            nodes,
            order,
            uses,
            inputs,
            input_shapes,
            outputs,
            threads: 1,
        })
    }

    /// Sets how many threads the matrix products use (1, the default, runs on one core).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Input names (placeholders), in signature order.
    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The shape the model declares for input `name` (-1 for a free dimension), if any.
    pub fn input_shape(&self, name: &str) -> Option<&[i64]> {
        let i = self.inputs.iter().position(|(n, _)| n == name)?;
        self.input_shapes[i].as_deref()
    }

    /// Output names, in the order [`Graph::run`] returns them.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Runs the graph on `feeds` (input name → tensor) and returns the outputs in
    /// [`Graph::output_names`] order.
    pub fn run(&self, feeds: &[(&str, Tensor)]) -> Result<Vec<Tensor>> {
        self.run_inner(feeds, None)
    }

    /// Like [`Graph::run`], also returning the wall time spent per op type (milliseconds),
    /// for finding where a model spends its time.
    pub fn run_profiled(
        &self,
        feeds: &[(&str, Tensor)],
    ) -> Result<(Vec<Tensor>, BTreeMap<String, f64>)> {
        let mut prof = BTreeMap::new();
        let out = self.run_inner(feeds, Some(&mut prof))?;
        Ok((out, prof))
    }

    fn run_inner(
        &self,
        feeds: &[(&str, Tensor)],
        mut prof: Option<&mut BTreeMap<String, f64>>,
    ) -> Result<Vec<Tensor>> {
        let mut values: Vec<Option<Vec<Val>>> = vec![None; self.nodes.len()];
        let mut remaining = self.uses.clone();
        for (name, _) in &self.inputs {
            if !feeds.iter().any(|(f, _)| f == name) {
                return Err(Error::Input {
                    name: name.clone(),
                    msg: "not fed".into(),
                });
            }
        }
        for (name, t) in feeds {
            let Some((_, i)) = self.inputs.iter().find(|(n, _)| n == name) else {
                return Err(Error::Input {
                    name: name.to_string(),
                    msg: format!(
                        "the model has no such input (inputs: {:?})",
                        self.input_names()
                    ),
                });
            };
            values[*i] = Some(vec![Val::plain(Arc::new(t.clone()))]);
        }
        for &i in &self.order {
            let node = &self.nodes[i];
            if let Op::Placeholder = node.op {
                if values[i].is_none() {
                    return Err(Error::Input {
                        name: node.name.clone(),
                        msg: "placeholder not fed".into(),
                    });
                }
                continue;
            }
            if let Op::Const(t) = &node.op {
                // Constants are shared, never copied.
                values[i] = Some(vec![Val::plain(Arc::clone(t))]);
                continue;
            }
            let mut args = Vec::with_capacity(node.inputs.len());
            for &(j, k) in &node.inputs {
                let outs = values[j].as_ref().ok_or_else(|| {
                    Error::Graph(format!("node `{}` ran before its input", node.name))
                })?;
                let t = outs.get(k).cloned().ok_or_else(|| Error::Node {
                    node: node.name.clone(),
                    op: node.op_name.clone(),
                    msg: format!(
                        "input {}:{k} does not exist ({} outputs)",
                        self.nodes[j].name,
                        outs.len()
                    ),
                })?;
                args.push(t);
            }
            for &(j, _) in &node.inputs {
                remaining[j] -= 1;
                if remaining[j] == 0 {
                    // Last reader: drop the stored copy so the op may reuse the buffer.
                    values[j] = None;
                }
            }
            let start = prof.is_some().then(std::time::Instant::now);
            let node_err = |msg| Error::Node {
                node: node.name.clone(),
                op: node.op_name.clone(),
                msg,
            };
            let out = match lazy_layout(&node.op, &mut args, self.threads).map_err(node_err)? {
                Some(v) => v,
                None => {
                    let plain = args
                        .into_iter()
                        .map(Val::materialize)
                        .collect::<std::result::Result<Vec<_>, String>>()
                        .map_err(node_err)?;
                    ops::execute(&node.op, plain, self.threads)
                        .map_err(node_err)?
                        .into_iter()
                        .map(|t| Val::plain(Arc::new(t)))
                        .collect()
                }
            };
            if let (Some(p), Some(t)) = (prof.as_deref_mut(), start) {
                *p.entry(node.op_name.clone()).or_default() += t.elapsed().as_secs_f64() * 1e3;
            }
            values[i] = Some(out);
        }
        self.outputs
            .iter()
            .map(|(name, (i, k))| {
                let v = values[*i]
                    .as_ref()
                    .and_then(|o| o.get(*k))
                    .cloned()
                    .ok_or_else(|| Error::Graph(format!("output `{name}` was not produced")))?;
                let t = v
                    .materialize()
                    .map_err(|msg| Error::Graph(format!("output `{name}`: {msg}")))?;
                Ok(Arc::try_unwrap(t).unwrap_or_else(|a| (*a).clone()))
            })
            .collect()
    }
}

/// A value during a run: a stored tensor and, when a transpose was deferred, the permutation
/// that turns it into the logical tensor (`logical axis i` = `stored axis perm[i]`).
///
/// Graphs converted from ONNX (nanodet) wrap every NHWC convolution in NCHW ↔ NHWC transposes;
/// deferring them through element-wise ops, padding and concatenation lets most pairs cancel
/// without ever moving the data.
#[derive(Debug, Clone)]
struct Val {
    t: Arc<Tensor>,
    perm: Option<Vec<usize>>,
}

impl Val {
    fn plain(t: Arc<Tensor>) -> Self {
        Self { t, perm: None }
    }

    fn materialize(self) -> std::result::Result<Arc<Tensor>, String> {
        match self.perm {
            None => Ok(self.t),
            Some(p) => {
                let p: Vec<i64> = p.iter().map(|&x| x as i64).collect();
                Ok(Arc::new(ops::transpose(&self.t, &p)?))
            }
        }
    }
}

fn int_values(v: &Val) -> Option<Vec<i64>> {
    if v.perm.is_some() {
        return None;
    }
    v.t.as_i32().map(|x| x.iter().map(|&y| y as i64).collect())
}

/// Runs `op` on deferred-transpose values when it can work on the stored layout; `None` when
/// the op needs its inputs in logical layout.
fn lazy_layout(
    op: &Op,
    args: &mut Vec<Val>,
    threads: usize,
) -> std::result::Result<Option<Vec<Val>>, String> {
    let keep = |t: Tensor, perm: &Option<Vec<usize>>| Val {
        t: Arc::new(t),
        perm: perm.clone(),
    };
    let one = |v: Val| Ok(Some(vec![v]));
    match op {
        Op::Transpose => {
            let (Some(x), Some(q)) = (args.first(), args.get(1).and_then(int_values)) else {
                return Ok(None);
            };
            let r = x.t.shape.len();
            let mut seen = vec![false; r];
            if q.len() != r
                || q.iter().any(|&a| {
                    a < 0 || a as usize >= r || std::mem::replace(&mut seen[a as usize], true)
                })
            {
                return Ok(None);
            }
            let base: Vec<usize> = x.perm.clone().unwrap_or_else(|| (0..r).collect());
            let composed: Vec<usize> = q.iter().map(|&a| base[a as usize]).collect();
            let identity = composed.iter().enumerate().all(|(i, &p)| i == p);
            one(Val {
                t: Arc::clone(&x.t),
                perm: (!identity).then_some(composed),
            })
        }
        Op::Identity if args.first().is_some_and(|a| a.perm.is_some()) => one(args[0].clone()),
        Op::Unary(_) if args[0].perm.is_some() => {
            // Moved out, so the op can reuse the buffer when this was its last reader.
            let a = args.remove(0);
            let mut out = ops::execute(op, vec![a.t], threads)?;
            one(keep(out.remove(0), &a.perm))
        }
        Op::Binary(_) if args.iter().any(|a| a.perm.is_some()) => {
            let (a, b) = (&args[0], &args[1]);
            let same = a.perm == b.perm && a.t.shape == b.t.shape;
            let perm = if same || (b.perm.is_none() && b.t.len() == 1) {
                a.perm.clone()
            } else if a.perm.is_none() && a.t.len() == 1 {
                b.perm.clone()
            } else {
                return Ok(None);
            };
            let b = args.pop().map(|v| v.t).ok_or("missing operand")?;
            let a = args.pop().map(|v| v.t).ok_or("missing operand")?;
            let mut out = ops::execute(op, vec![a, b], threads)?;
            one(keep(out.remove(0), &perm))
        }
        Op::Pad if args[0].perm.is_some() => {
            let (Some(p), Some(pads)) = (&args[0].perm, args.get(1).and_then(int_values)) else {
                return Ok(None);
            };
            if pads.len() != 2 * p.len() || args.get(2).is_some_and(|c| c.perm.is_some()) {
                return Ok(None);
            }
            let mut stored = vec![0i32; pads.len()];
            for (i, &s) in p.iter().enumerate() {
                stored[2 * s] = pads[2 * i] as i32;
                stored[2 * s + 1] = pads[2 * i + 1] as i32;
            }
            let pt = Tensor::i32(vec![p.len(), 2], stored).ok_or("paddings")?;
            let perm = args[0].perm.clone();
            let mut inputs = vec![Arc::clone(&args[0].t), Arc::new(pt)];
            if let Some(c) = args.get(2) {
                inputs.push(Arc::clone(&c.t));
            }
            let mut out = ops::execute(op, inputs, threads)?;
            one(keep(out.remove(0), &perm))
        }
        Op::Concat if args.len() >= 2 => {
            let (parts, ax) = args.split_at(args.len() - 1);
            let perm = &parts[0].perm;
            let Some(p) = perm else { return Ok(None) };
            if parts.iter().any(|v| &v.perm != perm) {
                return Ok(None);
            }
            let Some(a) = int_values(&ax[0]).filter(|v| v.len() == 1).map(|v| v[0]) else {
                return Ok(None);
            };
            let r = p.len() as i64;
            let logical = if a < 0 { a + r } else { a };
            if !(0..r).contains(&logical) {
                return Ok(None);
            }
            let axis = Tensor::i32(vec![], vec![p[logical as usize] as i32]).ok_or("axis")?;
            let mut inputs: Vec<Arc<Tensor>> = parts.iter().map(|v| Arc::clone(&v.t)).collect();
            inputs.push(Arc::new(axis));
            let mut out = ops::execute(op, inputs, threads)?;
            one(keep(out.remove(0), perm))
        }
        _ => Ok(None),
    }
}
