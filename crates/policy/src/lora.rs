//! LoRA adapters: attach, list trainable variables, merge, and PEFT-compatible save/load.
//!
//! Each adapted linear gets two `Var`s, `A (r, in)` (uniform ±1/√in, like PEFT's Kaiming
//! default) and `B (out, r)` (zeros), so a fresh adapter leaves the model unchanged. The base
//! weights are plain tensors, so only adapter tensors can receive gradients.
//!
//! GGUF Llama checkpoints store q/k rows permuted for interleaved RoPE (llama.cpp's
//! converter). PEFT adapters refer to HF row order, so for those models the rows of `B` for
//! q_proj/k_proj are un-permuted on save and permuted back on load.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result};
use crate::model::{LoraPair, Model, Target};

/// Which layers and modules to adapt, and how strongly.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank `r`.
    pub rank: usize,
    /// Scaling numerator: ΔW = (alpha / r) · B A.
    pub alpha: f64,
    /// Modules to adapt.
    pub targets: Vec<Target>,
    /// Layer indices to adapt; `None` = all.
    pub layers: Option<Vec<usize>>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            targets: vec![Target::Q, Target::V],
            layers: None,
        }
    }
}

/// The subset of PEFT's `adapter_config.json` we read and write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeftConfig {
    /// Always `LORA`.
    pub peft_type: String,
    /// `CAUSAL_LM`.
    #[serde(default)]
    pub task_type: Option<String>,
    /// Rank.
    pub r: usize,
    /// Alpha.
    pub lora_alpha: f64,
    /// Dropout used while training (written from the model's [`crate::LoraDropout`] when set;
    /// informational on load).
    #[serde(default)]
    pub lora_dropout: f64,
    /// Module names (`q_proj`, ...).
    pub target_modules: Vec<String>,
    /// Layer subset.
    #[serde(default)]
    pub layers_to_transform: Option<Vec<usize>>,
    /// `none`: biases are not adapted.
    #[serde(default)]
    pub bias: Option<String>,
    /// Always false for Llama-style linears.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Informational.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
}

const WEIGHTS_FILE: &str = "adapter_model.safetensors";
const CONFIG_FILE: &str = "adapter_config.json";

fn peft_key(layer: usize, t: Target, ab: &str) -> String {
    format!(
        "base_model.model.model.layers.{layer}.{}.{}.lora_{ab}.weight",
        t.peft_parent(),
        t.peft_name()
    )
}

fn adapt_err(m: impl std::fmt::Display) -> PolicyError {
    PolicyError::Adapter(m.to_string())
}

impl Model {
    fn lora_layers(&self, cfg: &LoraConfig) -> Result<Vec<usize>> {
        let n = self.layers.len();
        let layers = cfg.layers.clone().unwrap_or_else(|| (0..n).collect());
        if let Some(&bad) = layers.iter().find(|&&l| l >= n) {
            return Err(adapt_err(format!(
                "layer {bad} out of range (model has {n})"
            )));
        }
        Ok(layers)
    }

    /// Attach fresh adapters (A random, B zero) per `cfg`; deterministic in `seed`.
    pub fn add_lora(&mut self, cfg: &LoraConfig, seed: u64) -> Result<()> {
        if cfg.rank == 0 {
            return Err(PolicyError::InvalidArgument("LoRA rank must be > 0".into()));
        }
        let dev = self.device().clone();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for li in self.lora_layers(cfg)? {
            for &t in &cfg.targets {
                let lin = self.layers[li].linear_mut(t);
                let (out, inp) = (lin.out_dim(), lin.in_dim());
                let bound = 1.0 / (inp as f32).sqrt();
                let a: Vec<f32> = (0..cfg.rank * inp)
                    .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * bound)
                    .collect();
                lin.lora = Some(LoraPair {
                    a: Var::from_tensor(&Tensor::from_vec(a, (cfg.rank, inp), &dev)?)?,
                    b: Var::zeros((out, cfg.rank), DType::F32, &dev)?,
                    scale: cfg.alpha / cfg.rank as f64,
                });
            }
        }
        Ok(())
    }

    /// All trainable variables (A and B of every adapter), in a stable order.
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.lora_vars()
            .into_iter()
            .flat_map(|(_, _, p)| [p.a.clone(), p.b.clone()])
            .collect()
    }

    /// Fold every adapter into its base weight (`W += scale·B·A`) and drop the adapters, for
    /// faster inference.
    pub fn merge_lora(&mut self) -> Result<()> {
        for l in &mut self.layers {
            for t in Target::ALL {
                let lin = l.linear_mut(t);
                if let Some(p) = lin.lora.take() {
                    let delta = (p.b.as_tensor().matmul(p.a.as_tensor())? * p.scale)?;
                    lin.weight = (&lin.weight + delta)?;
                    // The 8-bit copy must hold the merged matrix too.
                    if lin.quant.is_some() {
                        lin.quant = crate::int8::Int8Weight::quantize(&lin.weight)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Row permutation mapping HF q/k row order to this model's order (identity unless the
    /// weights came from a GGUF Llama with interleaved RoPE). `perm[gguf_row] = hf_row`.
    fn qk_perm(&self, t: Target) -> Option<Vec<u32>> {
        let heads = match t {
            Target::Q => self.config.num_heads,
            Target::K => self.config.num_kv_heads,
            _ => return None,
        };
        if !self.config.rope_interleaved {
            return None;
        }
        let hd = self.config.head_dim();
        let half = hd / 2;
        let mut perm = Vec::with_capacity(heads * hd);
        for h in 0..heads {
            for i in 0..half {
                for j in 0..2 {
                    perm.push((h * hd + j * half + i) as u32);
                }
            }
        }
        Some(perm)
    }

    /// Save adapters as PEFT `adapter_model.safetensors` + `adapter_config.json` in `dir`.
    pub fn save_lora(&self, dir: impl AsRef<Path>, cfg: &LoraConfig) -> Result<()> {
        let dir = dir.as_ref();
        let io = |e: std::io::Error| PolicyError::Io {
            path: dir.to_path_buf(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (li, t, p) in self.lora_vars() {
            let mut b = p.b.as_tensor().clone();
            if let Some(perm) = self.qk_perm(t) {
                // hf_B[perm[r]] = B[r]  ⇔  hf_B = B[inverse(perm)].
                let mut inv = vec![0u32; perm.len()];
                for (r, &h) in perm.iter().enumerate() {
                    inv[h as usize] = r as u32;
                }
                b = b.index_select(&Tensor::new(inv.as_slice(), b.device())?, 0)?;
            }
            tensors.insert(peft_key(li, t, "A"), p.a.as_tensor().clone());
            tensors.insert(peft_key(li, t, "B"), b);
        }
        if tensors.is_empty() {
            return Err(adapt_err("model has no LoRA adapters to save"));
        }
        // Write to .tmp and rename so a crash never leaves a half-written adapter.
        let wpath = dir.join(WEIGHTS_FILE);
        let tmp = dir.join(format!("{WEIGHTS_FILE}.tmp"));
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, &wpath).map_err(io)?;
        let pc = PeftConfig {
            peft_type: "LORA".into(),
            task_type: Some("CAUSAL_LM".into()),
            r: cfg.rank,
            lora_alpha: cfg.alpha,
            lora_dropout: self.lora_dropout.map(|d| d.p as f64).unwrap_or(0.0),
            target_modules: cfg.targets.iter().map(|t| t.peft_name().into()).collect(),
            layers_to_transform: cfg.layers.clone(),
            bias: Some("none".into()),
            fan_in_fan_out: false,
            base_model_name_or_path: None,
        };
        let json = serde_json::to_string_pretty(&pc).map_err(adapt_err)?;
        let ctmp = dir.join(format!("{CONFIG_FILE}.tmp"));
        std::fs::write(&ctmp, json).map_err(io)?;
        std::fs::rename(&ctmp, dir.join(CONFIG_FILE)).map_err(io)?;
        Ok(())
    }

    /// Load a PEFT adapter directory, replacing any current adapters. Returns its config.
    /// Shapes are checked against the model; a mismatch is an error, not a panic.
    pub fn load_lora(&mut self, dir: impl AsRef<Path>) -> Result<LoraConfig> {
        let dir = dir.as_ref();
        let cpath = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&cpath).map_err(|e| PolicyError::Io {
            path: cpath.clone(),
            source: e,
        })?;
        let pc: PeftConfig = serde_json::from_str(&text)
            .map_err(|e| adapt_err(format!("{}: {e}", cpath.display())))?;
        if pc.peft_type != "LORA" {
            return Err(adapt_err(format!(
                "peft_type `{}` is not LORA",
                pc.peft_type
            )));
        }
        let targets = pc
            .target_modules
            .iter()
            .map(|m| {
                Target::from_peft_name(m)
                    .ok_or_else(|| adapt_err(format!("unknown target module `{m}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        let cfg = LoraConfig {
            rank: pc.r,
            alpha: pc.lora_alpha,
            targets,
            layers: pc.layers_to_transform.clone(),
        };
        let wpath = dir.join(WEIGHTS_FILE);
        let tensors = candle_core::safetensors::load(&wpath, &Device::Cpu)
            .map_err(|e| adapt_err(format!("{}: {e}", wpath.display())))?;
        let layers = self.lora_layers(&cfg)?;
        let dev = self.device().clone();
        let mut staged = Vec::new();
        for &li in &layers {
            for &t in &cfg.targets {
                let lin = self.layers[li].linear(t);
                let get = |ab: &str, shape: [usize; 2]| -> Result<Tensor> {
                    let k = peft_key(li, t, ab);
                    let x = tensors
                        .get(&k)
                        .ok_or_else(|| adapt_err(format!("missing tensor `{k}`")))?;
                    if x.dims() != shape {
                        return Err(adapt_err(format!(
                            "tensor `{k}` has shape {:?}, model needs {:?}",
                            x.dims(),
                            shape
                        )));
                    }
                    Ok(x.to_dtype(DType::F32)?.to_device(&dev)?)
                };
                let a = get("A", [cfg.rank, lin.in_dim()])?;
                let mut b = get("B", [lin.out_dim(), cfg.rank])?;
                if let Some(perm) = self.qk_perm(t) {
                    b = b.index_select(&Tensor::new(perm.as_slice(), &dev)?, 0)?;
                }
                staged.push((li, t, a, b));
            }
        }
        // Only mutate once everything validated, so a bad file leaves the model untouched.
        self.clear_lora();
        for (li, t, a, b) in staged {
            self.layers[li].linear_mut(t).lora = Some(LoraPair {
                a: Var::from_tensor(&a)?,
                b: Var::from_tensor(&b)?,
                scale: cfg.alpha / cfg.rank as f64,
            });
        }
        Ok(cfg)
    }
}
