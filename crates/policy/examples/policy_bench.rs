//! Throughput of the f32 policy on the default model: prefill tokens/s and greedy decode
//! tokens/s at batch 1 and 8 (KV cache, LoRA off).
//!
//! `CARGO_TARGET_DIR=/work/target-policy cargo run --release -p dtr1-policy --example policy_bench`

use std::time::Instant;

use candle_core::{Device, Tensor};
use dtr1_policy::{default_model_path, load_gguf, KvCache, Model};

fn argmax_rows(l: &Tensor) -> Vec<u32> {
    l.argmax(candle_core::D::Minus1).unwrap().to_vec1().unwrap()
}

/// Prefill `prompt` for `b` identical streams, then decode `steps` tokens; returns
/// (prefill seconds, decode seconds).
fn run(m: &Model, prompt: &[u32], b: usize, steps: usize) -> (f64, f64) {
    let t = prompt.len();
    let toks: Vec<u32> = (0..b).flat_map(|_| prompt.iter().copied()).collect();
    let toks = Tensor::from_vec(toks, (b, t), &Device::Cpu).unwrap();
    let mut cache = KvCache::new();
    let t0 = Instant::now();
    let l = m.forward_last(&toks, Some(&mut cache), false).unwrap();
    let prefill = t0.elapsed().as_secs_f64();
    let mut next = argmax_rows(&l);
    let t1 = Instant::now();
    for _ in 0..steps {
        let x = Tensor::from_vec(next.clone(), (b, 1), &Device::Cpu).unwrap();
        next = argmax_rows(&m.forward_last(&x, Some(&mut cache), false).unwrap());
    }
    (prefill, t1.elapsed().as_secs_f64())
}

fn main() {
    let (m, tok) = load_gguf(default_model_path()).expect("run scripts/fetch_model.sh first");
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(30);
    let long: Vec<u32> = tok.encode(&text).unwrap()[..256].to_vec();
    let short: Vec<u32> = long[..32].to_vec();
    let _ = run(&m, &short, 1, 2); // warm-up
    let (p, _) = run(&m, &long, 1, 0);
    println!("prefill: 256 tokens in {p:.3} s = {:.1} tok/s", 256.0 / p);
    let steps = 64;
    for b in [1, 8] {
        let (_, d) = run(&m, &short, b, steps);
        println!(
            "decode batch {b}: {steps} steps after a 32-token prompt in {d:.2} s = {:.1} tok/s aggregate",
            (b * steps) as f64 / d
        );
    }
}
