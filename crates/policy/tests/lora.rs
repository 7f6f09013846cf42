//! LoRA: adapter off = reference, gradients reach every adapter tensor (real model), autograd
//! agrees with finite differences (tiny model), PEFT save/load and merge.

mod common;

use candle_core::{Device, Tensor};
use dtr1_policy::{completion_logprobs, LoraConfig, Model, PolicyError, Target};

/// Give every B a random value: a fresh adapter has B = 0, which makes A's gradient zero.
fn randomize_b(m: &Model, std: f32) {
    for (i, (_, _, p)) in m.lora_vars().into_iter().enumerate() {
        let shape = p.b.as_tensor().shape().clone();
        let t = Tensor::randn(0f32, std, shape, &Device::Cpu).unwrap();
        // Different layers get different values; randn is seeded globally, index keeps it varied.
        p.b.set(&(t * (1.0 + i as f64 * 1e-3)).unwrap()).unwrap();
    }
}

fn all_targets(rank: usize) -> LoraConfig {
    LoraConfig {
        rank,
        alpha: 2.0 * rank as f64,
        targets: Target::ALL.to_vec(),
        layers: None,
    }
}

fn batch() -> Vec<(Vec<u32>, Vec<u32>)> {
    vec![
        (vec![1, 2, 3, 4, 5], vec![6, 7, 8]),
        (vec![9, 10], vec![11, 12, 13, 14]),
    ]
}

fn loss(m: &Model, adapter: bool) -> Tensor {
    let lps = completion_logprobs(m, &batch(), adapter, 2).unwrap();
    // Weighted so every position matters differently (like an advantage-weighted loss).
    let mut total = Tensor::new(0f32, &Device::Cpu).unwrap();
    for (k, lp) in lps.iter().enumerate() {
        let n = lp.dims()[0];
        let w: Vec<f32> = (0..n)
            .map(|i| 0.5 + 0.3 * i as f32 - 0.2 * k as f32)
            .collect();
        let w = Tensor::new(w.as_slice(), &Device::Cpu).unwrap();
        total = (total + (lp * w).unwrap().sum_all().unwrap()).unwrap();
    }
    total
}

fn scalar(t: &Tensor) -> f32 {
    t.to_scalar::<f32>().unwrap()
}

#[test]
fn adapter_off_is_reference_and_fresh_adapter_is_noop() {
    let base = Model::random(common::tiny_config(false), 1, &Device::Cpu).unwrap();
    let mut m = base.clone();
    m.add_lora(&all_targets(4), 5).unwrap();
    let r = scalar(&loss(&base, false));
    assert!(
        (scalar(&loss(&m, true)) - r).abs() < 1e-5,
        "B = 0 adapter must be a no-op"
    );
    randomize_b(&m, 0.2);
    assert!(
        (scalar(&loss(&m, true)) - r).abs() > 1e-3,
        "adapter must change the output"
    );
    assert_eq!(
        scalar(&loss(&m, false)),
        r,
        "adapter off must equal the base exactly"
    );
}

#[test]
fn finite_differences_agree_with_autograd() {
    for qwen in [false, true] {
        let mut m = Model::random(common::tiny_config(qwen), 2, &Device::Cpu).unwrap();
        m.add_lora(&all_targets(3), 9).unwrap();
        randomize_b(&m, 0.3);
        let grads = loss(&m, true).backward().unwrap();
        let h = 1e-2f32;
        let mut checked = 0;
        for (vi, var) in m.trainable_vars().iter().enumerate() {
            let g = grads
                .get(var.as_tensor())
                .expect("every LoRA tensor has a gradient");
            let g: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
            let orig: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let shape = var.as_tensor().shape().clone();
            // Two elements per tensor, spread deterministically.
            for e in [vi % orig.len(), (vi * 7 + 3) % orig.len()] {
                let eval = |delta: f32| {
                    let mut v = orig.clone();
                    v[e] += delta;
                    var.set(&Tensor::from_vec(v, shape.clone(), &Device::Cpu).unwrap())
                        .unwrap();
                    scalar(&loss(&m, true))
                };
                let fd = (eval(h) - eval(-h)) / (2.0 * h);
                var.set(&Tensor::from_vec(orig.clone(), shape.clone(), &Device::Cpu).unwrap())
                    .unwrap();
                assert!(
                    (fd - g[e]).abs() <= 5e-3 + 0.03 * fd.abs(),
                    "qwen={qwen} var {vi} elem {e}: autograd {} vs finite difference {fd}",
                    g[e]
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 2 * 2 * 7 * 2);
    }
}

#[test]
fn every_lora_tensor_gets_a_gradient_through_smollm2() {
    let (base, tok) = common::smollm();
    let mut m = base.clone();
    m.add_lora(&all_targets(2), 1).unwrap();
    randomize_b(&m, 0.01);
    let b = vec![(
        tok.encode("The sky is").unwrap(),
        tok.encode(" blue today.").unwrap(),
    )];
    let lp = completion_logprobs(&m, &b, true, 4).unwrap();
    let grads = lp[0].sum_all().unwrap().backward().unwrap();
    let vars = m.trainable_vars();
    assert_eq!(vars.len(), 30 * 7 * 2);
    for (i, v) in vars.iter().enumerate() {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("var {i} has no gradient"));
        let s = scalar(&g.abs().unwrap().sum_all().unwrap());
        assert!(s.is_finite() && s > 0.0, "var {i}: |grad| sum = {s}");
    }
    // The frozen base never gets a gradient.
    assert!(grads.get(&m.layers[0].q.weight).is_none());
    assert!(grads.get(&m.embed).is_none());
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dtr1-policy-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

#[test]
fn peft_save_load_round_trip_and_merge() {
    for qwen in [false, true] {
        let base = Model::random(common::tiny_config(qwen), 4, &Device::Cpu).unwrap();
        let mut m = base.clone();
        let cfg = LoraConfig {
            rank: 4,
            alpha: 8.0,
            targets: vec![Target::Q, Target::K, Target::V, Target::Down],
            layers: Some(vec![1]),
        };
        m.add_lora(&cfg, 3).unwrap();
        randomize_b(&m, 0.2);
        let want = scalar(&loss(&m, true));
        let dir = tmpdir(&format!("adapter-{qwen}"));
        m.save_lora(&dir, &cfg).unwrap();
        let names =
            candle_core::safetensors::load(dir.join("adapter_model.safetensors"), &Device::Cpu)
                .unwrap();
        assert!(
            names.contains_key("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")
        );
        assert!(names.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
        assert_eq!(names.len(), 8);
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("adapter_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["peft_type"], "LORA");
        assert_eq!(json["r"], 4);
        let mut loaded = base.clone();
        let got_cfg = loaded.load_lora(&dir).unwrap();
        assert_eq!(got_cfg, cfg);
        assert!((scalar(&loss(&loaded, true)) - want).abs() < 1e-5);
        if !qwen {
            // GGUF-Llama q/k rows are stored permuted; PEFT's B must be in HF order, i.e. differ.
            let saved_b = &names["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"];
            let ours = m.layers[1].q.lora.as_ref().unwrap().b.as_tensor();
            let diff = scalar(&(saved_b - ours).unwrap().abs().unwrap().sum_all().unwrap());
            assert!(diff > 0.0);
        }
        let mut merged = m.clone();
        merged.merge_lora().unwrap();
        assert!(merged.lora_vars().is_empty());
        assert!((scalar(&loss(&merged, false)) - want).abs() < 1e-3);
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn mismatched_adapter_is_an_error() {
    let mut m = Model::random(common::tiny_config(false), 4, &Device::Cpu).unwrap();
    let cfg = LoraConfig {
        rank: 2,
        alpha: 4.0,
        targets: vec![Target::V],
        layers: None,
    };
    m.add_lora(&cfg, 1).unwrap();
    let dir = tmpdir("mismatch");
    m.save_lora(&dir, &cfg).unwrap();
    let mut other_cfg = common::tiny_config(false);
    other_cfg.hidden_size = 32;
    let mut other = Model::random(other_cfg, 4, &Device::Cpu).unwrap();
    let r = other.load_lora(&dir);
    assert!(
        matches!(r, Err(PolicyError::Adapter(ref s)) if s.contains("shape")),
        "{r:?}"
    );
    assert!(
        other.lora_vars().is_empty(),
        "a failed load leaves the model untouched"
    );
    std::fs::remove_file(dir.join("adapter_model.safetensors")).unwrap();
    assert!(matches!(m.load_lora(&dir), Err(PolicyError::Adapter(_))));
    std::fs::remove_dir_all(&dir).ok();
}
