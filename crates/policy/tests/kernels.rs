//! The sampling kernels ([`Kernels::Quantized`]) against the exact f32 forward pass.
//!
//! * Without 8-bit weights (widths that are not whole blocks), the quantised path differs only
//!   by the hand-written decode attention and the fused norm/softmax/SiLU, so it must equal the
//!   exact path to float rounding, through a left-padded prefill and several cached decode
//!   steps.
//! * With 8-bit weights (SmolLM2), the next-token distributions along a greedy f32
//!   continuation must stay close: same argmax almost everywhere and a small KL.

mod common;

use candle_core::{Device, Tensor};
use dtr1_policy::generate::left_pad;
use dtr1_policy::{Kernels, KvCache, Model, ModelConfig};

/// Logits `(b, vocab)` of a padded prefill and then `steps` greedy decode steps (tokens chosen
/// by `pick` from the exact logits, so both kernels see the same sequences).
fn run(m: &Model, prompts: &[Vec<u32>], forced: &[Vec<u32>], kernels: Kernels) -> Vec<Vec<f32>> {
    let dev = Device::Cpu;
    let batch = left_pad(prompts, 0, &dev).unwrap();
    let mut cache = KvCache::new();
    let h = m
        .forward_hidden_with(
            &batch.tokens,
            &batch.positions,
            Some(&batch.mask),
            Some(&mut cache),
            true,
            kernels,
        )
        .unwrap();
    let mut out: Vec<Vec<f32>> = m
        .logits_with(
            &h.narrow(1, batch.len - 1, 1).unwrap().squeeze(1).unwrap(),
            kernels,
        )
        .unwrap()
        .to_vec2()
        .unwrap();
    let b = prompts.len();
    for (step, toks) in forced.iter().enumerate() {
        let tk = batch.len + step + 1;
        let pos: Vec<u32> = (0..b)
            .map(|i| (batch.len - batch.pads[i] + step) as u32)
            .collect();
        let mask: Vec<f32> = (0..b)
            .flat_map(|i| {
                let p = batch.pads[i];
                (0..tk).map(move |j| if j < p { f32::NEG_INFINITY } else { 0.0 })
            })
            .collect();
        let h = m
            .forward_hidden_with(
                &Tensor::from_vec(toks.clone(), (b, 1), &dev).unwrap(),
                &Tensor::from_vec(pos, (b, 1), &dev).unwrap(),
                Some(&Tensor::from_vec(mask, (b, 1, 1, tk), &dev).unwrap()),
                Some(&mut cache),
                true,
                kernels,
            )
            .unwrap();
        out.extend(
            m.logits_with(&h.squeeze(1).unwrap(), kernels)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap(),
        );
    }
    out
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

fn log_softmax(v: &[f32]) -> Vec<f64> {
    let max = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = v.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln() + max;
    v.iter().map(|&x| x as f64 - lse).collect()
}

#[test]
fn sampling_kernels_equal_exact_path_without_int8_weights() {
    let cfg = ModelConfig {
        vocab_size: 40,
        hidden_size: 24, // not a whole number of 32-blocks: every layer stays f32
        num_layers: 2,
        num_heads: 6,
        num_kv_heads: 2,
        intermediate_size: 40,
        rope_theta: 10_000.0,
        rms_norm_eps: 1e-5,
        tie_embeddings: true,
        qkv_bias: false,
        rope_interleaved: true,
    };
    let mut m = Model::random(cfg, 5, &Device::Cpu).unwrap();
    m.quantize().unwrap();
    assert!(!m.has_quantized());
    let prompts = vec![vec![3, 9, 1, 7, 2], vec![5, 6], vec![11, 12, 13]];
    let forced: Vec<Vec<u32>> = (0..4).map(|s| vec![s + 1, s + 20, s + 30]).collect();
    let a = run(&m, &prompts, &forced, Kernels::Exact);
    let b = run(&m, &prompts, &forced, Kernels::Quantized);
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
}

#[test]
fn int8_sampling_stays_close_to_f32_on_smollm2() {
    let (m, tok) = common::smollm();
    assert!(
        m.has_quantized(),
        "GGUF loading must give every layer an int8 copy"
    );
    let prompts: Vec<Vec<u32>> = [
        "The digital twin lists a red cube left of a blue sphere. Which object is",
        "def add(a, b):\n    return",
        "La capitale de la France est",
    ]
    .iter()
    .map(|p| tok.encode(p).unwrap())
    .collect();
    // Greedy continuation under the exact kernels, then both kernels teacher-forced on it.
    let steps = 12;
    let mut forced: Vec<Vec<u32>> = Vec::new();
    let mut logits = run(m, &prompts, &forced, Kernels::Exact);
    for _ in 0..steps {
        let last = &logits[logits.len() - prompts.len()..];
        forced.push(last.iter().map(|l| argmax(l) as u32).collect());
        logits = run(m, &prompts, &forced, Kernels::Exact);
    }
    let q = run(m, &prompts, &forced, Kernels::Quantized);
    let (mut agree, mut kl) = (0usize, 0f64);
    for (e, qq) in logits.iter().zip(&q) {
        agree += usize::from(argmax(e) == argmax(qq));
        let (pe, pq) = (log_softmax(e), log_softmax(qq));
        kl += pe
            .iter()
            .zip(&pq)
            .map(|(a, b)| a.exp() * (a - b))
            .sum::<f64>();
    }
    let n = logits.len();
    let kl = kl / n as f64;
    eprintln!("int8 vs f32: argmax agreement {agree}/{n}, mean KL {kl:.5}");
    // Measured: 36/39 and KL 0.0033; near-ties may flip under 8-bit rounding.
    assert!(agree * 10 >= n * 8, "argmax agreement {agree}/{n}");
    assert!(kl < 0.02, "mean KL {kl}");
}
