//! The `onnx` backend: user-supplied ONNX models run with ONNX Runtime.
//!
//! ONNX Runtime is not linked: `libonnxruntime.so` is loaded at run time (crate `ort`,
//! `load-dynamic`) from, in order, `$ORT_DYLIB_PATH`, or the PyPI `onnxruntime` wheel in a
//! `.venv` (`.venv/lib/python3*/site-packages/onnxruntime/capi/`) in the current directory
//! or one above it, or in this workspace (set-up creates it).
//!
//! - [`OnnxSegmenter`] ([`Backend`]): instance segmentation with the YOLOv8-seg export
//!   layout. The image is letterboxed into the model's input (aspect kept, gray 114
//!   padding split evenly, RGB / 255, NCHW); `output0` is `[1, 4 + nc + nm, N]` (box centre
//!   and size in input pixels, `nc` class scores, `nm` mask coefficients per anchor) and
//!   `output1` `[1, nm, mh, mw]` prototypes. Anchors below the confidence threshold are
//!   dropped, the rest go through per-class NMS on box IoU; a kept anchor's mask is
//!   `sigmoid(coefficients · prototypes)`, sampled bilinearly (half-pixel centres) at each
//!   image pixel's position in the input, kept inside the box and thresholded. Class names
//!   come from the model's `names` metadata (as Ultralytics writes it) unless given.
//! - [`OnnxDepth`] ([`DepthEstimator`]): a single-channel relative depth model
//!   (Depth-Anything style): the image resized to the model's input, ImageNet-normalised;
//!   the output `[1, H', W']` (or `[1, 1, H', W']`) of relative *inverse* depth is resized
//!   bilinearly to the image and mapped to `(max − v) / (max − min)`, so smaller = nearer.
//!
//! Missing libraries, outputs of the wrong shape and non-finite outputs are errors.

use crate::{
    Backend, DepthEstimator, DepthMap, DepthSource, Detection, MaskSource, Perception,
    PerceptionError,
};
use dtr1_rle::Rle;
use image::{imageops, Rgb, RgbImage};
use ort::session::Session;
use ort::value::{Tensor, ValueType};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

fn model_err(path: &Path, m: impl Into<String>) -> PerceptionError {
    PerceptionError::File {
        path: path.display().to_string(),
        message: m.into(),
    }
}

fn venv_runtime(root: &Path) -> Option<PathBuf> {
    let lib = root.join(".venv").join("lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
        })
        .flat_map(|py| {
            let capi = py.join("site-packages/onnxruntime/capi");
            std::fs::read_dir(capi)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with("libonnxruntime.so")
                    })
                })
        })
        .collect();
    found.sort();
    found.pop()
}

/// Where `libonnxruntime.so` is (see the module doc for the search order).
pub fn find_runtime() -> Result<PathBuf, PerceptionError> {
    find_runtime_from(std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
}

/// [`find_runtime`] with `explicit` in place of `$ORT_DYLIB_PATH`.
pub fn find_runtime_from(explicit: Option<PathBuf>) -> Result<PathBuf, PerceptionError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(model_err(
                &p,
                "ORT_DYLIB_PATH names no file (it must be the path of libonnxruntime.so)",
            ))
        };
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().take(2).map(Path::to_path_buf));
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
    roots
        .iter()
        .find_map(|r| venv_runtime(r))
        .ok_or(PerceptionError::OnnxRuntimeNotFound)
}

static RUNTIME: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Loads ONNX Runtime once per process from `path` (or [`find_runtime`]).
pub fn init_runtime(path: Option<&Path>) -> Result<PathBuf, PerceptionError> {
    let r = RUNTIME.get_or_init(|| {
        let p = match path {
            Some(p) => p.to_path_buf(),
            None => find_runtime().map_err(|e| e.to_string())?,
        };
        if !p.is_file() {
            return Err(format!("{}: no such ONNX Runtime library", p.display()));
        }
        let shown = p.display().to_string();
        // `ort` panics when the library cannot be loaded or is too old; turn that into an
        // error (the message names the library).
        std::panic::catch_unwind(|| ort::init_from(shown.clone()).commit())
            .map_err(|_| format!("{shown}: cannot load ONNX Runtime from this library"))?
            .map_err(|e| format!("{shown}: {e}"))?;
        Ok(p)
    });
    r.clone().map_err(PerceptionError::OnnxRuntimeLoad)
}

fn open_session(model: &Path) -> Result<Session, PerceptionError> {
    init_runtime(None)?;
    if !model.is_file() {
        return Err(model_err(model, "no such model file"));
    }
    std::panic::catch_unwind(|| {
        Session::builder()
            .and_then(|b| b.with_intra_threads(1))
            .and_then(|b| b.commit_from_file(model))
    })
    .map_err(|_| model_err(model, "ONNX Runtime failed while loading the model"))?
    .map_err(|e| model_err(model, format!("not a usable ONNX model: {e}")))
}

/// The single input of `s`: its name and `[height, width]` when fixed.
fn image_input(s: &Session, model: &Path) -> Result<(String, Option<[u32; 2]>), PerceptionError> {
    let [inp] = s.inputs.as_slice() else {
        return Err(model_err(
            model,
            format!(
                "the model has {} inputs; one image input is expected",
                s.inputs.len()
            ),
        ));
    };
    let ValueType::Tensor { shape, .. } = &inp.input_type else {
        return Err(model_err(model, "the model's input is not a tensor"));
    };
    if shape.len() != 4 || (shape[1] != 3 && shape[1] != -1) {
        return Err(model_err(
            model,
            format!(
                "input {} has shape {:?}; [1, 3, H, W] is expected",
                inp.name,
                &shape[..]
            ),
        ));
    }
    let hw = (shape[2] > 0 && shape[3] > 0).then(|| [shape[2] as u32, shape[3] as u32]);
    Ok((inp.name.clone(), hw))
}

/// An output of a run: name, shape, values.
type NamedOutput = (String, Vec<i64>, Vec<f32>);

/// Runs `s` on one NCHW float tensor and returns every output as (shape, values).
fn run(
    s: &Mutex<Session>,
    model: &Path,
    input: &str,
    shape: [usize; 4],
    data: Vec<f32>,
) -> Result<Vec<NamedOutput>, PerceptionError> {
    let err = |e: ort::Error| model_err(model, format!("inference failed: {e}"));
    let tensor = Tensor::from_array((shape.map(|v| v as i64).to_vec(), data)).map_err(err)?;
    let mut s = s
        .lock()
        .map_err(|_| model_err(model, "the session was poisoned by an earlier failure"))?;
    let outputs = s.run(ort::inputs![input => tensor]).map_err(err)?;
    let mut out = Vec::new();
    for (name, v) in outputs.iter() {
        let (shape, vals) = v
            .try_extract_tensor::<f32>()
            .map_err(|e| model_err(model, format!("output {name} is not a float tensor: {e}")))?;
        if let Some(i) = vals.iter().position(|x| !x.is_finite()) {
            return Err(model_err(
                model,
                format!("output {name} has a non-finite value at index {i}"),
            ));
        }
        out.push((name.to_string(), shape.to_vec(), vals.to_vec()));
    }
    Ok(out)
}

/// Parses Ultralytics' `names` metadata, `{0: 'person', 1: 'bicycle'}`.
pub fn parse_names(s: &str) -> Option<Vec<String>> {
    let body = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (k, r) = rest.split_once(':')?;
        let k: usize = k.trim().parse().ok()?;
        let r = r.trim_start();
        let q = r.chars().next()?;
        if q != '\'' && q != '"' {
            return None;
        }
        let end = r[1..].find(q)? + 1;
        out.push((k, r[1..end].to_string()));
        rest = r[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    out.sort();
    out.iter()
        .enumerate()
        .all(|(i, (k, _))| *k == i)
        .then(|| out.into_iter().map(|(_, v)| v).collect())
}

/// Options of [`OnnxSegmenter`].
#[derive(Debug, Clone, PartialEq)]
pub struct SegConfig {
    /// Anchors scoring below this are dropped.
    pub confidence: f32,
    /// NMS drops an anchor whose box overlaps a better one of its class by more than this IoU.
    pub iou: f32,
    /// Mask probability threshold.
    pub mask_threshold: f32,
    /// Most detections kept.
    pub max_detections: usize,
    /// Input size `[height, width]` for models with a dynamic input.
    pub input_size: [u32; 2],
    /// Class names (overrides the model's `names` metadata).
    pub names: Option<Vec<String>>,
}

impl Default for SegConfig {
    fn default() -> Self {
        SegConfig {
            confidence: 0.25,
            iou: 0.45,
            mask_threshold: 0.5,
            max_detections: 100,
            input_size: [640, 640],
            names: None,
        }
    }
}

/// Where an image sits in a letterboxed input: scale and padding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Input pixels per image pixel.
    pub scale: f64,
    /// Left padding (input pixels).
    pub pad_x: f64,
    /// Top padding (input pixels).
    pub pad_y: f64,
    /// Input `[height, width]`.
    pub input: [u32; 2],
}

impl Letterbox {
    /// The letterbox of a `w × h` image in an `input = [height, width]` tensor (padding
    /// split as Ultralytics does: `round(d/2 − 0.1)` before, the rest after).
    pub fn new(w: u32, h: u32, input: [u32; 2]) -> Self {
        let [ih, iw] = input.map(f64::from);
        let scale = (iw / f64::from(w)).min(ih / f64::from(h));
        let (nw, nh) = (
            (f64::from(w) * scale).round(),
            (f64::from(h) * scale).round(),
        );
        Letterbox {
            scale,
            pad_x: ((iw - nw) / 2.0 - 0.1).round(),
            pad_y: ((ih - nh) / 2.0 - 0.1).round(),
            input,
        }
    }

    /// The letterboxed input tensor of `img` (NCHW, RGB / 255).
    pub fn tensor(&self, img: &RgbImage) -> Vec<f32> {
        let [ih, iw] = self.input;
        let nw = (f64::from(img.width()) * self.scale).round().max(1.0) as u32;
        let nh = (f64::from(img.height()) * self.scale).round().max(1.0) as u32;
        let resized = imageops::resize(img, nw, nh, imageops::FilterType::Triangle);
        let mut canvas = RgbImage::from_pixel(iw, ih, Rgb([114, 114, 114]));
        imageops::replace(&mut canvas, &resized, self.pad_x as i64, self.pad_y as i64);
        nchw(&canvas, |_, v| v / 255.0)
    }
}

fn nchw(img: &RgbImage, f: impl Fn(usize, f32) -> f32) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = f(c, f32::from(p.0[c]));
        }
    }
    out
}

/// Bilinear sample of a `h × w` row-major grid at `(u, v)` in grid cells, half-pixel
/// centres, clamped at the edges (PyTorch's `align_corners=False`).
fn bilinear(grid: &[f32], w: usize, h: usize, u: f64, v: f64) -> f32 {
    let x = u.clamp(0.0, (w - 1) as f64);
    let y = v.clamp(0.0, (h - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let at = |xx: usize, yy: usize| grid[yy * w + xx];
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bot = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bot * fy
}

fn box_iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// YOLOv8-seg post-processing (see the module doc): detections of a `w × h` image from
/// `output0` and `output1` (shapes and values).
pub fn postprocess_seg(
    out0: (&[i64], &[f32]),
    out1: (&[i64], &[f32]),
    lb: &Letterbox,
    w: u32,
    h: u32,
    names: &[String],
    cfg: &SegConfig,
) -> Result<Vec<Detection>, PerceptionError> {
    let (s1, protos) = out1;
    let [1, nm, mh, mw] = *s1 else {
        return Err(PerceptionError::ModelOutput {
            output: "output1",
            shape: s1.to_vec(),
            expected: "[1, nm, mh, mw] prototypes",
        });
    };
    let (s0, pred) = out0;
    let [1, c, n] = *s0 else {
        return Err(PerceptionError::ModelOutput {
            output: "output0",
            shape: s0.to_vec(),
            expected: "[1, 4 + classes + nm, anchors]",
        });
    };
    if nm <= 0 || mh <= 0 || mw <= 0 || c <= 4 + nm || n < 0 {
        return Err(PerceptionError::ModelOutput {
            output: "output0",
            shape: s0.to_vec(),
            expected: "[1, 4 + classes + nm, anchors] with classes > 0, beside output1's \
                       [1, nm, mh, mw] with positive sizes (the YOLOv8-seg layout)",
        });
    }
    let (nm, mh, mw, c, n) = (
        nm as usize,
        mh as usize,
        mw as usize,
        c as usize,
        n as usize,
    );
    if pred.len() != c * n || protos.len() != nm * mh * mw {
        return Err(PerceptionError::CountMismatch {
            what: "values of output0 and output1 (their shapes' products)",
            got: pred.len() + protos.len(),
            expected: c * n + nm * mh * mw,
        });
    }
    let nc = c - 4 - nm;
    let at = |row: usize, k: usize| pred[row * n + k];
    // (score, class, box in input pixels, anchor)
    let mut cands: Vec<(f32, usize, [f64; 4], usize)> = Vec::new();
    for k in 0..n {
        let (cls, score) = (0..nc)
            .map(|j| (j, at(4 + j, k)))
            .fold((0, f32::MIN), |b, x| if x.1 > b.1 { x } else { b });
        if score < cfg.confidence {
            continue;
        }
        let (cx, cy, bw, bh) = (at(0, k), at(1, k), at(2, k), at(3, k)).map4(f64::from);
        cands.push((
            score,
            cls,
            [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0],
            k,
        ));
    }
    cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.3.cmp(&b.3)));
    let mut kept: Vec<(f32, usize, [f64; 4], usize)> = Vec::new();
    for cand in cands {
        if kept.len() >= cfg.max_detections {
            break;
        }
        if kept
            .iter()
            .any(|k| k.1 == cand.1 && box_iou(&k.2, &cand.2) > f64::from(cfg.iou))
        {
            continue;
        }
        kept.push(cand);
    }
    let [ih, iw] = lb.input.map(f64::from);
    let mut out = Vec::new();
    for (score, cls, b, k) in kept {
        // Mask probabilities at prototype resolution.
        let mut prob = vec![0f32; mh * mw];
        for (j, p) in prob.iter_mut().enumerate() {
            let mut s = 0f32;
            for q in 0..nm {
                s += at(4 + nc + q, k) * protos[q * mh * mw + j];
            }
            *p = 1.0 / (1.0 + (-s).exp());
        }
        let mut dense = vec![0u8; (w * h) as usize];
        for y in 0..h {
            let v = (f64::from(y) + 0.5) * lb.scale + lb.pad_y;
            if v < b[1] || v >= b[3] {
                continue;
            }
            for x in 0..w {
                let u = (f64::from(x) + 0.5) * lb.scale + lb.pad_x;
                if u < b[0] || u >= b[2] {
                    continue;
                }
                let p = bilinear(
                    &prob,
                    mw,
                    mh,
                    u / iw * mw as f64 - 0.5,
                    v / ih * mh as f64 - 0.5,
                );
                if p > cfg.mask_threshold {
                    dense[(y * w + x) as usize] = 1;
                }
            }
        }
        let mask = Rle::encode_row_major(h, w, &dense).map_err(|source| PerceptionError::Mask {
            context: "mask encoding failed".into(),
            source,
        })?;
        if mask.area() == 0 {
            continue;
        }
        out.push(Detection {
            label: names
                .get(cls)
                .cloned()
                .unwrap_or_else(|| format!("class_{cls}")),
            score: f64::from(score).clamp(0.0, 1.0),
            mask,
            mask_source: MaskSource::Model,
        });
    }
    Ok(out)
}

trait Map4 {
    fn map4(self, f: impl Fn(f32) -> f64) -> (f64, f64, f64, f64);
}

impl Map4 for (f32, f32, f32, f32) {
    fn map4(self, f: impl Fn(f32) -> f64) -> (f64, f64, f64, f64) {
        (f(self.0), f(self.1), f(self.2), f(self.3))
    }
}

/// Instance segmentation with a YOLOv8-seg ONNX export (see the module doc).
pub struct OnnxSegmenter {
    model: PathBuf,
    session: Mutex<Session>,
    input: String,
    size: [u32; 2],
    names: Vec<String>,
    cfg: SegConfig,
}

impl OnnxSegmenter {
    /// Loads the model (and ONNX Runtime, on first use).
    pub fn new(model: &Path, cfg: SegConfig) -> Result<Self, PerceptionError> {
        let session = open_session(model)?;
        let (input, hw) = image_input(&session, model)?;
        let outs: Vec<&str> = session.outputs.iter().map(|o| o.name.as_str()).collect();
        if outs.len() != 2 {
            return Err(model_err(
                model,
                format!("the model has outputs {outs:?}; YOLOv8-seg has two (output0, output1)"),
            ));
        }
        let names = match &cfg.names {
            Some(n) => n.clone(),
            None => session
                .metadata()
                .ok()
                .and_then(|m| m.custom("names").ok().flatten())
                .and_then(|s| parse_names(&s))
                .unwrap_or_default(),
        };
        Ok(OnnxSegmenter {
            model: model.to_path_buf(),
            size: hw.unwrap_or(cfg.input_size),
            session: Mutex::new(session),
            input,
            names,
            cfg,
        })
    }

    /// Class names (from the model's metadata or the configuration).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl Backend for OnnxSegmenter {
    fn name(&self) -> &str {
        "onnx"
    }

    fn perceive(&self, image: &RgbImage) -> Result<Perception, PerceptionError> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(PerceptionError::Empty("the image is empty"));
        }
        let lb = Letterbox::new(w, h, self.size);
        let [ih, iw] = self.size;
        let outs = run(
            &self.session,
            &self.model,
            &self.input,
            [1, 3, ih as usize, iw as usize],
            lb.tensor(image),
        )?;
        let find = |k: usize, name: &str| {
            outs.iter()
                .find(|o| o.0 == name)
                .or_else(|| outs.get(k))
                .ok_or_else(|| model_err(&self.model, format!("the model gave no {name}")))
        };
        let (o0, o1) = (find(0, "output0")?, find(1, "output1")?);
        let detections = postprocess_seg(
            (&o0.1, &o0.2),
            (&o1.1, &o1.2),
            &lb,
            w,
            h,
            &self.names,
            &self.cfg,
        )
        .map_err(|e| model_err(&self.model, e.to_string()))?;
        Ok(Perception {
            detections,
            depth: None,
            depth_source: None,
        })
    }
}

/// Options of [`OnnxDepth`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepthConfig {
    /// Input size `[height, width]` for models with a dynamic input.
    pub input_size: [u32; 2],
    /// Per-channel mean subtracted after scaling to [0, 1].
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by.
    pub std: [f32; 3],
}

impl Default for DepthConfig {
    fn default() -> Self {
        DepthConfig {
            input_size: [518, 518],
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }
}

/// Relative inverse depth `[1, H', W']` (or `[1, 1, H', W']`) to a depth map of `w × h`,
/// smaller = nearer (see the module doc).
pub fn postprocess_depth(
    shape: &[i64],
    values: &[f32],
    w: u32,
    h: u32,
) -> Result<DepthMap, PerceptionError> {
    let (oh, ow) = match *shape {
        [1, oh, ow] | [1, 1, oh, ow] if oh > 0 && ow > 0 => (oh as usize, ow as usize),
        _ => {
            return Err(PerceptionError::ModelOutput {
                output: "depth output",
                shape: shape.to_vec(),
                expected: "[1, H, W] or [1, 1, H, W]",
            })
        }
    };
    if values.len() != oh * ow {
        return Err(PerceptionError::CountMismatch {
            what: "values of the depth output (its shape's product)",
            got: values.len(),
            expected: oh * ow,
        });
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(PerceptionError::NonFinite {
            what: format!("depth output value at index {i}"),
        });
    }
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        let v = (f64::from(y) + 0.5) * oh as f64 / f64::from(h) - 0.5;
        for x in 0..w {
            let u = (f64::from(x) + 0.5) * ow as f64 / f64::from(w) - 0.5;
            out.push(bilinear(values, ow, oh, u, v));
        }
    }
    let (mn, mx) = out
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let range = mx - mn;
    for v in &mut out {
        *v = if range > 0.0 { (mx - *v) / range } else { 0.0 };
    }
    Ok(DepthMap {
        width: w,
        height: h,
        values: out,
    })
}

/// Relative depth from a Depth-Anything-style ONNX model (see the module doc).
pub struct OnnxDepth {
    model: PathBuf,
    session: Mutex<Session>,
    input: String,
    size: [u32; 2],
    cfg: DepthConfig,
}

impl OnnxDepth {
    /// Loads the model (and ONNX Runtime, on first use).
    pub fn new(model: &Path, cfg: DepthConfig) -> Result<Self, PerceptionError> {
        let session = open_session(model)?;
        let (input, hw) = image_input(&session, model)?;
        if session.outputs.is_empty() {
            return Err(model_err(model, "the model has no output"));
        }
        Ok(OnnxDepth {
            model: model.to_path_buf(),
            size: hw.unwrap_or(cfg.input_size),
            session: Mutex::new(session),
            input,
            cfg,
        })
    }

    /// The depth map of `image`.
    pub fn depth(&self, image: &RgbImage) -> Result<DepthMap, PerceptionError> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(PerceptionError::Empty("the image is empty"));
        }
        let [ih, iw] = self.size;
        let resized = imageops::resize(image, iw, ih, imageops::FilterType::Triangle);
        let cfg = self.cfg;
        let data = nchw(&resized, |c, v| (v / 255.0 - cfg.mean[c]) / cfg.std[c]);
        let outs = run(
            &self.session,
            &self.model,
            &self.input,
            [1, 3, ih as usize, iw as usize],
            data,
        )?;
        let (_, shape, values) = &outs[0];
        postprocess_depth(shape, values, w, h).map_err(|e| model_err(&self.model, e.to_string()))
    }
}

impl DepthEstimator for OnnxDepth {
    fn name(&self) -> &str {
        "onnx"
    }

    fn source(&self) -> DepthSource {
        DepthSource::Model
    }

    fn estimate(&self, image: &RgbImage, _found: &Perception) -> Result<DepthMap, PerceptionError> {
        self.depth(image)
    }
}

/// The `[onnx]` section of a perception configuration (`backend = "onnx"` uses the
/// segmentation model; `depth = "onnx"` the depth model).
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxSection {
    /// YOLOv8-seg model file.
    #[serde(default)]
    pub seg_model: Option<PathBuf>,
    /// Depth model file.
    #[serde(default)]
    pub depth_model: Option<PathBuf>,
    /// Confidence threshold of the segmentation model (default 0.25).
    #[serde(default)]
    pub confidence: Option<f32>,
    /// Class names, overriding the model's `names` metadata.
    #[serde(default)]
    pub names: Option<Vec<String>>,
}

impl OnnxSection {
    /// The segmenter this section describes.
    pub fn segmenter(&self) -> Result<OnnxSegmenter, PerceptionError> {
        let model = self
            .seg_model
            .as_ref()
            .ok_or(PerceptionError::MissingSetting {
                choice: "backend = \"onnx\"",
                key: "seg_model",
                section: "onnx",
            })?;
        let mut cfg = SegConfig {
            names: self.names.clone(),
            ..Default::default()
        };
        if let Some(c) = self.confidence {
            if !(0.0..=1.0).contains(&c) {
                return Err(PerceptionError::OutOfRange {
                    what: "[onnx] confidence".into(),
                    value: f64::from(c),
                    range: "[0, 1]",
                });
            }
            cfg.confidence = c;
        }
        OnnxSegmenter::new(model, cfg)
    }

    /// The depth estimator this section describes.
    pub fn depth(&self) -> Result<OnnxDepth, PerceptionError> {
        let model = self
            .depth_model
            .as_ref()
            .ok_or(PerceptionError::MissingSetting {
                choice: "depth = \"onnx\"",
                key: "depth_model",
                section: "onnx",
            })?;
        OnnxDepth::new(model, DepthConfig::default())
    }
}
