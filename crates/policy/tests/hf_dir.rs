//! HF safetensors directories: a GGUF-layout (interleaved-RoPE, permuted q/k) model exported
//! to HF layout and reloaded gives the same log-probs, and a PEFT adapter saved from one
//! layout loads into the other with the same effect (so adapters really are HF-order).

mod common;

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use dtr1_policy::{completion_logprobs, load_hf_dir, LoraConfig, Model, PolicyError, Target};

/// Undo llama.cpp's q/k permutation: HF row `h*hd + j*half + i` is GGUF row `h*hd + 2i + j`.
fn unpermute(w: &Tensor, heads: usize) -> Tensor {
    let hd = w.dims()[0] / heads;
    let half = hd / 2;
    let mut idx = Vec::new();
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                idx.push((h * hd + 2 * i + j) as u32);
            }
        }
    }
    w.index_select(&Tensor::new(idx.as_slice(), w.device()).unwrap(), 0)
        .unwrap()
}

fn export_hf(m: &Model, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let c = &m.config;
    let mut t: HashMap<String, Tensor> = HashMap::new();
    t.insert("model.embed_tokens.weight".into(), m.embed.clone());
    t.insert("model.norm.weight".into(), m.norm.clone());
    for (i, l) in m.layers.iter().enumerate() {
        let p = format!("model.layers.{i}");
        t.insert(
            format!("{p}.self_attn.q_proj.weight"),
            unpermute(&l.q.weight, c.num_heads),
        );
        t.insert(
            format!("{p}.self_attn.k_proj.weight"),
            unpermute(&l.k.weight, c.num_kv_heads),
        );
        t.insert(format!("{p}.self_attn.v_proj.weight"), l.v.weight.clone());
        t.insert(format!("{p}.self_attn.o_proj.weight"), l.o.weight.clone());
        t.insert(format!("{p}.mlp.gate_proj.weight"), l.gate.weight.clone());
        t.insert(format!("{p}.mlp.up_proj.weight"), l.up.weight.clone());
        t.insert(format!("{p}.mlp.down_proj.weight"), l.down.weight.clone());
        t.insert(format!("{p}.input_layernorm.weight"), l.attn_norm.clone());
        t.insert(
            format!("{p}.post_attention_layernorm.weight"),
            l.mlp_norm.clone(),
        );
    }
    candle_core::safetensors::save(&t, dir.join("model.safetensors")).unwrap();
    let cfg = serde_json::json!({
        "model_type": "llama", "vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size, "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.num_heads, "num_key_value_heads": c.num_kv_heads,
        "rms_norm_eps": c.rms_norm_eps, "rope_theta": c.rope_theta, "tie_word_embeddings": true
    });
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
}

fn lps(m: &Model, adapter: bool) -> Vec<f32> {
    let batch = vec![
        (vec![1, 2, 3, 4, 5, 6], vec![7, 8, 9, 10]),
        (vec![30, 31], vec![32, 33]),
    ];
    completion_logprobs(m, &batch, adapter, 3)
        .unwrap()
        .iter()
        .flat_map(|t| t.to_vec1::<f32>().unwrap())
        .collect()
}

fn close(a: &[f32], b: &[f32]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
}

#[test]
fn gguf_layout_and_hf_layout_agree_and_share_adapters() {
    let dir = std::env::temp_dir().join(format!("dtr1-policy-{}-hf", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let mut gguf_style = Model::random(common::tiny_config(false), 11, &Device::Cpu).unwrap();
    export_hf(&gguf_style, &dir.join("model"));
    let mut hf_style = load_hf_dir(dir.join("model"), &Device::Cpu).unwrap();
    assert!(!hf_style.config.rope_interleaved);
    close(&lps(&gguf_style, false), &lps(&hf_style, false));

    // An adapter trained on the GGUF layout, saved as PEFT, must act identically on HF layout.
    let cfg = LoraConfig {
        rank: 3,
        alpha: 6.0,
        targets: Target::ALL.to_vec(),
        layers: None,
    };
    gguf_style.add_lora(&cfg, 2).unwrap();
    for (_, _, p) in gguf_style.lora_vars() {
        let s = p.b.as_tensor().shape().clone();
        p.b.set(&Tensor::randn(0f32, 0.3, s, &Device::Cpu).unwrap())
            .unwrap();
    }
    gguf_style.save_lora(dir.join("adapter"), &cfg).unwrap();
    hf_style.load_lora(dir.join("adapter")).unwrap();
    let (a, b) = (lps(&gguf_style, true), lps(&hf_style, true));
    assert!(a
        .iter()
        .zip(&lps(&gguf_style, false))
        .any(|(x, y)| (x - y).abs() > 1e-3));
    close(&a, &b);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hf_dir_errors_are_named() {
    let dir = std::env::temp_dir().join(format!("dtr1-policy-{}-hf-bad", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let m = Model::random(common::tiny_config(false), 1, &Device::Cpu).unwrap();
    export_hf(&m, &dir);
    // Truncated shard.
    let p = dir.join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let r = load_hf_dir(&dir, &Device::Cpu);
    assert!(
        matches!(r, Err(PolicyError::CorruptSafetensors { .. })),
        "{r:?}"
    );
    // No shard at all: the first tensor is reported missing.
    std::fs::remove_file(&p).unwrap();
    let r = load_hf_dir(&dir, &Device::Cpu);
    assert!(
        matches!(r, Err(PolicyError::MissingTensor(ref n)) if n == "model.embed_tokens.weight"),
        "{r:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
