//! Atomic checkpoints.
//!
//! A checkpoint is a directory `ckpt-NNNNNN/` in the run directory holding the adapter
//! (`adapter/`, PEFT format), the optimiser moments (`optimizer.safetensors`) and the
//! trainer state (`state.json`, written last). The file `latest` names the newest complete
//! checkpoint and is replaced atomically (write + rename), so a run killed at any instant
//! leaves either the previous checkpoint or the new one, never a torn one. Older
//! checkpoints are removed after `latest` moves on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{GrpoError, Result};
use crate::optim::AdamW;

/// What a trainer needs besides weights to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Which trainer wrote it (`grpo` or `sft`).
    pub kind: String,
    /// Steps completed.
    pub step: usize,
    /// Optimiser updates taken.
    pub updates: usize,
    /// Position in the data stream (items consumed).
    pub data_cursor: usize,
    /// The configuration of the run, as TOML, so a resume with a different one is refused.
    pub config_toml: String,
}

/// Write `bytes` to `path` atomically: the workspace's one atomic writer,
/// [`dtr1_data::dataset::write_atomic`], with its error as ours.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    dtr1_data::dataset::write_atomic(path, bytes).map_err(|e| match e {
        dtr1_data::DataError::Io { path, source } => GrpoError::Io { path, source },
        other => GrpoError::Data {
            dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            source: other,
        },
    })
}

fn ckpt_err(path: &Path, reason: impl Into<String>) -> GrpoError {
    GrpoError::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Save a checkpoint of `model`'s adapter, `opt` and `state` into `run_dir`.
pub fn save(
    run_dir: &Path,
    model: &dtr1_policy::Model,
    lora: &dtr1_policy::LoraConfig,
    opt: &AdamW,
    state: &TrainerState,
) -> Result<PathBuf> {
    let name = format!("ckpt-{:06}", state.step);
    let dir = run_dir.join(&name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| GrpoError::io(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| GrpoError::io(&dir, e))?;
    model.save_lora(dir.join("adapter"), lora)?;
    // The run's prompt-version record goes with every adapter it writes, so that a
    // checkpoint's adapter is evaluated in the prompts it was trained on.
    let record = run_dir.join(dtr1_prompt::version::ADAPTER_FILE);
    if record.is_file() {
        let to = dir.join("adapter").join(dtr1_prompt::version::ADAPTER_FILE);
        std::fs::copy(&record, &to).map_err(|e| GrpoError::io(&to, e))?;
    }
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (i, (m, v)) in opt.m.iter().zip(&opt.v).enumerate() {
        tensors.push((format!("m.{i}"), m.clone()));
        tensors.push((format!("v.{i}"), v.clone()));
    }
    let map: HashMap<String, Tensor> = tensors.into_iter().collect();
    let opt_path = dir.join("optimizer.safetensors");
    candle_core::safetensors::save(&map, &opt_path)
        .map_err(|e| ckpt_err(&opt_path, e.to_string()))?;
    let mut st = serde_json::to_value(state).map_err(|e| ckpt_err(&dir, e.to_string()))?;
    st["optimizer_t"] = serde_json::json!(opt.t);
    write_atomic(
        &dir.join("state.json"),
        serde_json::to_string_pretty(&st)
            .map_err(|e| ckpt_err(&dir, e.to_string()))?
            .as_bytes(),
    )?;
    write_atomic(&run_dir.join("latest"), name.as_bytes())?;
    // Older checkpoints are superseded once `latest` points past them.
    if let Ok(entries) = std::fs::read_dir(run_dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with("ckpt-") && n != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(dir)
}

/// The newest complete checkpoint of `run_dir`, if any.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>> {
    let p = run_dir.join("latest");
    match std::fs::read_to_string(&p) {
        Ok(name) => {
            let dir = run_dir.join(name.trim());
            if !dir.join("state.json").is_file() {
                return Err(ckpt_err(&dir, "named by `latest` but has no state.json"));
            }
            Ok(Some(dir))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(GrpoError::io(&p, e)),
    }
}

/// Load a checkpoint: the adapter goes into `model` (replacing any), the optimiser state
/// into `opt`; returns the trainer state and the adapter's configuration.
pub fn load(
    dir: &Path,
    model: &mut dtr1_policy::Model,
    opt: &mut AdamW,
) -> Result<(TrainerState, dtr1_policy::LoraConfig)> {
    let sp = dir.join("state.json");
    let text = std::fs::read_to_string(&sp).map_err(|e| GrpoError::io(&sp, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ckpt_err(&sp, format!("not JSON: {e}")))?;
    let state: TrainerState =
        serde_json::from_value(v.clone()).map_err(|e| ckpt_err(&sp, e.to_string()))?;
    model.clear_lora();
    let lora = model.load_lora(dir.join("adapter"))?;
    let vars = model.trainable_vars();
    let op = dir.join("optimizer.safetensors");
    let map = candle_core::safetensors::load(&op, &Device::Cpu)
        .map_err(|e| ckpt_err(&op, e.to_string()))?;
    if map.len() != 2 * vars.len() {
        return Err(ckpt_err(
            &op,
            format!(
                "holds {} moment tensors, the adapter needs {}",
                map.len(),
                2 * vars.len()
            ),
        ));
    }
    let mut m = Vec::new();
    let mut vv = Vec::new();
    for (i, var) in vars.iter().enumerate() {
        let get = |k: String| {
            map.get(&k)
                .cloned()
                .ok_or_else(|| ckpt_err(&op, format!("missing tensor {k}")))
        };
        let (mi, vi) = (get(format!("m.{i}"))?, get(format!("v.{i}"))?);
        if mi.dims() != var.as_tensor().dims() || vi.dims() != var.as_tensor().dims() {
            return Err(ckpt_err(&op, format!("moment {i} has the wrong shape")));
        }
        m.push(mi);
        vv.push(vi);
    }
    opt.m = m;
    opt.v = vv;
    opt.t = v["optimizer_t"].as_u64().unwrap_or(state.updates as u64) as usize;
    Ok((state, lora))
}
