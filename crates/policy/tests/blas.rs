//! The products on OpenBLAS against the same products on candle's own kernel: every
//! BLAS-backed op, forward values and the gradient of every input, at the policy's widths.
//!
//! Tolerance: `|a − b| ≤ 1e-4 · max(1, max |a|)` over each tensor. The kernels add the same
//! terms in different orders; the rounding that moves scales with the size of the terms, not
//! of a result that cancels to near zero, hence the tensor-wide scale. Measured differences
//! are around 1e-6 of it; a wrong index, a missing term or a wrong transpose moves entries by
//! the order of the entries themselves.

use candle_core::{Device, Tensor, Var};
use dtr1_policy::{blas, ops};

fn var(shape: &[usize], seed: u64) -> Var {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
}

fn close(a: &Tensor, b: &Tensor, what: &str) {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len(), "{what}: sizes");
    let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
    let mut worst = 0f32;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale,
            "{what}[{i}]: {x} vs {y} (scale {scale})"
        );
        worst = worst.max((x - y).abs() / scale);
    }
    if std::env::var_os("DTR1_SHOW_ERR").is_some() {
        eprintln!("{what}: worst difference {worst:.1e} of scale {scale}");
    }
    assert!(a.iter().any(|v| *v != 0.0), "{what}: all zero");
}

/// When the machine has OpenBLAS (set up by scripts/setup.sh), the comparisons below must
/// really run it: otherwise they would compare candle with itself.
#[test]
fn openblas_is_used_where_installed() {
    let installed = std::path::Path::new(&format!(
        "/usr/lib/{}-linux-gnu/openblas-pthread/libopenblas.so.0",
        std::env::consts::ARCH
    ))
    .exists();
    if installed && std::env::var_os("DTR1_BLAS").is_none() {
        assert_eq!(
            blas::backend(),
            blas::Backend::OpenBlas,
            "{}",
            blas::describe()
        );
        assert!(
            blas::describe().contains("OpenBLAS"),
            "{}",
            blas::describe()
        );
    }
    assert_eq!(
        blas::with_candle_kernel(blas::backend),
        blas::Backend::Candle
    );
}

/// Output and gradients of `Σ f(inputs) ⊙ probe`, on the default kernel or candle's.
fn run(inputs: &[Var], f: &dyn Fn(&[Tensor]) -> Tensor, candle: bool) -> (Tensor, Vec<Tensor>) {
    let go = || {
        let ts: Vec<Tensor> = inputs.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&ts);
        let probe = var(y.dims(), 99).as_tensor().detach();
        let grads = (&y * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gs = inputs
            .iter()
            .map(|v| grads.get(v).expect("every input gets a gradient").clone())
            .collect();
        (y, gs)
    };
    if candle {
        blas::with_candle_kernel(go)
    } else {
        go()
    }
}

fn same_on_both_kernels(inputs: &[Var], f: &dyn Fn(&[Tensor]) -> Tensor, what: &str) {
    let (yb, gb) = run(inputs, f, false);
    let (yc, gc) = run(inputs, f, true);
    close(&yb, &yc, &format!("{what} forward"));
    for (i, (a, b)) in gb.iter().zip(&gc).enumerate() {
        close(a, b, &format!("{what} gradient of input {i}"));
    }
}

#[test]
fn frozen_matmul_equals_candle_kernel() {
    // A GRPO-sized block row count and the policy's widths: 576 → 1536 and the transpose.
    let w_up = var(&[1536, 576], 1).as_tensor().detach();
    let w_down = var(&[576, 1536], 2).as_tensor().detach();
    same_on_both_kernels(
        &[var(&[67, 576], 3)],
        &|t| ops::frozen_matmul(&t[0], &w_up).unwrap(),
        "frozen_matmul 576→1536",
    );
    same_on_both_kernels(
        &[var(&[67, 1536], 4)],
        &|t| ops::frozen_matmul(&t[0], &w_down).unwrap(),
        "frozen_matmul 1536→576",
    );
    // Without a graph (prefill, reference, logits) it is the plain product.
    let x = var(&[33, 576], 5).as_tensor().detach();
    let plain = ops::frozen_matmul(&x, &w_up).unwrap();
    close(
        &plain,
        &x.matmul(&w_up.t().unwrap()).unwrap(),
        "frozen_matmul without graph vs Tensor::matmul",
    );
}

#[test]
fn lora_linear_equals_candle_kernel() {
    let w = var(&[1536, 576], 6).as_tensor().detach();
    let bias = var(&[1536], 7).as_tensor().detach();
    for (bias, dropout) in [
        (None, None),
        (Some(&bias), None),
        (None, Some((0.3f32, 11u64))),
    ] {
        same_on_both_kernels(
            &[var(&[70, 576], 8), var(&[16, 576], 9), var(&[1536, 16], 10)],
            &|t| ops::lora_linear(&t[0], &w, bias, &t[1], &t[2], 2.0, dropout).unwrap(),
            &format!("lora_linear bias={} dropout={dropout:?}", bias.is_some()),
        );
    }
}

#[test]
fn matmul_equals_tensor_matmul_on_policy_shapes() {
    // The three sgemm shapes bench-policy reports, scaled down in rows to keep the test quick.
    for (m, k, n) in [(64, 576, 1536), (96, 1536, 576), (5, 576, 49152)] {
        let a = var(&[m, k], m as u64).as_tensor().detach();
        let b = var(&[n, k], n as u64).as_tensor().detach();
        let want = a.matmul(&b.t().unwrap()).unwrap();
        close(
            &blas::matmul(&a, &b.t().unwrap()).unwrap(),
            &want,
            &format!("{m}×{k}×{n}"),
        );
    }
}

#[test]
fn bmm_equals_candle_kernel_and_candle_matmul() {
    // Attention's shapes: (batch, kv heads, rep·t, hd) × (…, hd, tk) through a transposed key
    // view, then (…, rep·t, tk) × (…, tk, hd).
    let inputs = [var(&[2, 3, 24, 64], 20), var(&[2, 3, 40, 64], 21)];
    let f = |t: &[Tensor]| ops::bmm(&t[0], &t[1].t().unwrap()).unwrap();
    same_on_both_kernels(&inputs, &f, "bmm Q·Kᵀ");
    let inputs2 = [var(&[2, 3, 24, 40], 22), var(&[2, 3, 40, 64], 23)];
    let g = |t: &[Tensor]| ops::bmm(&t[0], &t[1]).unwrap();
    same_on_both_kernels(&inputs2, &g, "bmm P·V");
    // And against candle's own batched matmul with its autograd.
    let (yb, gb) = run(&inputs, &f, false);
    let (yc, gc) = run(
        &inputs,
        &|t: &[Tensor]| t[0].matmul(&t[1].t().unwrap()).unwrap(),
        true,
    );
    close(&yb, &yc, "bmm vs Tensor::matmul forward");
    for (i, (a, b)) in gb.iter().zip(&gc).enumerate() {
        close(
            a,
            b,
            &format!("bmm vs Tensor::matmul gradient of input {i}"),
        );
    }
    // A strided view (a KV cache narrowed to its filled columns) without a graph.
    let cache = var(&[2, 3, 50, 64], 24).as_tensor().detach();
    let k = cache.narrow(2, 0, 40).unwrap();
    let q = var(&[2, 3, 24, 64], 25).as_tensor().detach();
    close(
        &ops::bmm(&q, &k.t().unwrap()).unwrap(),
        &q.matmul(&k.t().unwrap().contiguous().unwrap()).unwrap(),
        "bmm on a narrowed cache",
    );
}
