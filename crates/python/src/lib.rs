//! The native part of the `dtr1` Python package (`dtr1._native`): twin building and rollout
//! scoring, with the GIL released while Rust works so trainer threads keep running. The
//! trainer adapters (TRL, verl, OpenRLHF) are thin Python functions in `python/dtr1`.

use dtr1_reward::{GroundTruth, RewardBreakdown, RewardConfig, Task};
use dtr1_serve::label::{split_completion as split, Label, ParsedLabel};
use dtr1_serve::twin::TwinSource;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::path::PathBuf;

fn config(config_json: Option<&str>) -> PyResult<RewardConfig> {
    match config_json {
        None => Ok(RewardConfig::default()),
        Some(t) => serde_json::from_str(t)
            .map_err(|e| PyValueError::new_err(format!("reward config: {e}"))),
    }
}

fn breakdown<'py>(py: Python<'py>, b: &RewardBreakdown) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("total", b.total)?;
    d.set_item("format", b.format)?;
    d.set_item("structure", b.structure)?;
    d.set_item("accuracy", b.accuracy)?;
    d.set_item("penalty", b.penalty)?;
    d.set_item("structure_checks", &b.structure_checks)?;
    d.set_item("problems", &b.problems)?;
    Ok(d)
}

/// Scores one completion against an input twin and a ground truth; returns the reward
/// components as a dict (`total`, `format`, `structure`, `accuracy`, `penalty`,
/// `structure_checks`, `problems`). `config_json` overrides the reward weights.
#[pyfunction]
#[pyo3(signature = (completion, twin_json, truth_json, task, query, config_json=None))]
fn score_rollout<'py>(
    py: Python<'py>,
    completion: String,
    twin_json: String,
    truth_json: String,
    task: String,
    query: String,
    config_json: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config(config_json.as_deref())?;
    let b = py
        .allow_threads(move || -> Result<RewardBreakdown, String> {
            let task = Task::from_name(&task).ok_or_else(|| {
                format!(
                    "unknown task {task:?} (one of: {})",
                    Task::ALL.map(|t| t.name()).join(", ")
                )
            })?;
            let truth: GroundTruth =
                serde_json::from_str(&truth_json).map_err(|e| format!("truth: {e}"))?;
            let twin = RawValue::from_string(twin_json).map_err(|e| format!("twin: {e}"))?;
            let label = Label {
                task,
                query,
                truth,
                twin,
            }
            .parse()
            .map_err(|e| e.to_string())?;
            Ok(label.score(&completion, &cfg))
        })
        .map_err(PyValueError::new_err)?;
    breakdown(py, &b)
}

/// Scores a batch: completion `i` against label `i` (a dt-r1 label JSON string). With
/// `prompts`, each completion is a trainer's query (prompt + completion) and is split first;
/// trailing end-of-turn tokens are removed either way. Identical labels are parsed once.
#[pyfunction]
#[pyo3(signature = (completions, labels, prompts=None, config_json=None))]
fn score_labels<'py>(
    py: Python<'py>,
    completions: Vec<String>,
    labels: Vec<String>,
    prompts: Option<Vec<String>>,
    config_json: Option<String>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let cfg = config(config_json.as_deref())?;
    if labels.len() != completions.len() {
        return Err(PyValueError::new_err(format!(
            "{} completions but {} labels",
            completions.len(),
            labels.len()
        )));
    }
    if let Some(p) = &prompts {
        if p.len() != completions.len() {
            return Err(PyValueError::new_err(format!(
                "{} completions but {} prompts",
                completions.len(),
                p.len()
            )));
        }
    }
    let out = py
        .allow_threads(|| -> Result<Vec<RewardBreakdown>, String> {
            let mut parsed: HashMap<&str, ParsedLabel> = HashMap::new();
            let mut out = Vec::with_capacity(completions.len());
            for (i, (c, l)) in completions.iter().zip(&labels).enumerate() {
                if !parsed.contains_key(l.as_str()) {
                    let p = ParsedLabel::from_json(l).map_err(|e| format!("labels[{i}]: {e}"))?;
                    parsed.insert(l, p);
                }
                let prompt = prompts.as_ref().map_or("", |p| p[i].as_str());
                let completion = split(c, prompt).map_err(|e| format!("completions[{i}]: {e}"))?;
                out.push(parsed[l.as_str()].score(completion, &cfg));
            }
            Ok(out)
        })
        .map_err(PyValueError::new_err)?;
    out.iter().map(|b| breakdown(py, b)).collect()
}

/// Builds an image twin from an image and detections (COCO results JSON or a
/// Grounded-SAM-2 dump), optionally with a depth map (16-bit PNG or `.npy`); returns the
/// twin as JSON.
#[pyfunction]
#[pyo3(signature = (image, detections, depth=None, image_id=None, invert_depth=false))]
fn build_twin(
    py: Python<'_>,
    image: PathBuf,
    detections: PathBuf,
    depth: Option<PathBuf>,
    image_id: Option<String>,
    invert_depth: bool,
) -> PyResult<String> {
    let src = TwinSource {
        image,
        detections,
        image_id,
        depth,
        invert_depth,
    };
    let twin = py
        .allow_threads(|| src.build())
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    serde_json::to_string(&twin).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Recovers the completion from a trainer's query (prompt + completion) and prompt: what
/// follows the prompt (after padding/BOS tokens only); the whole query when the prompt is
/// empty. Raises `ValueError` when the query does not start with the prompt.
#[pyfunction]
fn split_completion(query: String, prompt: String) -> PyResult<String> {
    split(&query, &prompt)
        .map(str::to_string)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The task names.
#[pyfunction]
fn tasks() -> Vec<&'static str> {
    Task::ALL.map(|t| t.name()).to_vec()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(score_rollout, m)?)?;
    m.add_function(wrap_pyfunction!(score_labels, m)?)?;
    m.add_function(wrap_pyfunction!(build_twin, m)?)?;
    m.add_function(wrap_pyfunction!(split_completion, m)?)?;
    m.add_function(wrap_pyfunction!(tasks, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
