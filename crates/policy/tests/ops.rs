//! The fused differentiable ops against the same computations composed from candle
//! primitives: equal forward values and equal gradients for every input.

use candle_core::{Device, Tensor, Var, D};
use dtr1_policy::ops;

fn var(shape: &[usize], seed: u64) -> Var {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect();
    Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
}

fn close(a: &Tensor, b: &Tensor, what: &str) {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len(), "{what}: sizes");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * (1.0 + x.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// Gradients of `Σ f(inputs) ⊙ probe` for both implementations, compared input by input.
fn check(
    inputs: &[Var],
    fused: impl Fn(&[Tensor]) -> Tensor,
    composed: impl Fn(&[Tensor]) -> Tensor,
    what: &str,
) {
    let ts: Vec<Tensor> = inputs.iter().map(|v| v.as_tensor().clone()).collect();
    let yf = fused(&ts);
    let yc = composed(&ts);
    close(&yf, &yc, &format!("{what} forward"));
    // A non-uniform probe so every output element's gradient path matters.
    let probe = var(yf.dims(), 99).as_tensor().detach();
    let gf = (yf * &probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gc = (yc * &probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (i, v) in inputs.iter().enumerate() {
        let a = gf
            .get(v)
            .unwrap_or_else(|| panic!("{what}: no fused gradient for input {i}"));
        let b = gc.get(v).expect("composed gradient");
        close(a, b, &format!("{what} gradient of input {i}"));
        assert!(
            a.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
    }
}

#[test]
fn softmax_matches_composed() {
    let mut x = var(&[2, 3, 7], 1);
    // Masked entries, as attention has them.
    let mut v = x
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    v[3] = f32::NEG_INFINITY;
    v[20] = f32::NEG_INFINITY;
    x = Var::from_tensor(&Tensor::from_vec(v, (2, 3, 7), &Device::Cpu).unwrap()).unwrap();
    check(
        &[x],
        |t| ops::softmax_last_dim(&t[0]).unwrap(),
        |t| candle_nn::ops::softmax(&t[0], D::Minus1).unwrap(),
        "softmax",
    );
}

#[test]
fn silu_mul_matches_composed() {
    check(
        &[var(&[4, 9], 2), var(&[4, 9], 3)],
        |t| ops::silu_mul(&t[0], &t[1]).unwrap(),
        |t| {
            let g = &t[0];
            ((g / (g.neg().unwrap().exp().unwrap() + 1.0).unwrap()).unwrap() * &t[1]).unwrap()
        },
        "silu_mul",
    );
}

#[test]
fn rms_norm_matches_composed() {
    check(
        &[var(&[2, 5, 8], 4), var(&[8], 5)],
        |t| ops::rms_norm(&t[0], &t[1], 1e-5).unwrap(),
        |t| {
            let ms = t[0].sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
            t[0].broadcast_div(&(ms + 1e-5).unwrap().sqrt().unwrap())
                .unwrap()
                .broadcast_mul(&t[1])
                .unwrap()
        },
        "rms_norm",
    );
}

#[test]
fn lora_linear_matches_composed() {
    let w = var(&[6, 8], 6).as_tensor().detach();
    let bias = var(&[6], 7).as_tensor().detach();
    for with_bias in [false, true] {
        let bias = with_bias.then_some(&bias);
        check(
            &[var(&[5, 8], 8), var(&[3, 8], 9), var(&[6, 3], 10)],
            |t| ops::lora_linear(&t[0], &w, bias, &t[1], &t[2], 0.7, None).unwrap(),
            |t| {
                let mut y = t[0].matmul(&w.t().unwrap()).unwrap();
                if let Some(b) = bias {
                    y = y.broadcast_add(b).unwrap();
                }
                let d = t[0]
                    .matmul(&t[1].t().unwrap())
                    .unwrap()
                    .matmul(&t[2].t().unwrap())
                    .unwrap();
                (y + (d * 0.7).unwrap()).unwrap()
            },
            "lora_linear",
        );
    }
}

/// `Σ lora_linear(x, …) ⊙ probe` as a plain number, for finite differences.
fn lora_objective(
    x: &Tensor,
    a: &Tensor,
    b: &Tensor,
    w: &Tensor,
    probe: &Tensor,
    seed: u64,
) -> f64 {
    let y = ops::lora_linear(x, w, None, a, b, 0.7, Some((0.4, seed))).unwrap();
    (y * probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64
}

#[test]
fn lora_dropout_is_seeded_and_its_gradient_matches_finite_differences() {
    let w = var(&[6, 8], 11).as_tensor().detach();
    let (x, a, b) = (var(&[5, 8], 12), var(&[3, 8], 13), var(&[6, 3], 14));
    let probe = var(&[5, 6], 15).as_tensor().detach();
    let call = |dropout| {
        ops::lora_linear(
            x.as_tensor(),
            &w,
            None,
            a.as_tensor(),
            b.as_tensor(),
            0.7,
            dropout,
        )
    };
    let f = |seed| call(Some((0.4, seed))).unwrap();
    // Same seed, same masks; another seed, other masks; p = 0 is no dropout.
    close(&f(1), &f(1), "same seed");
    let diff = (f(1) - f(2))
        .unwrap()
        .abs()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff > 1e-3, "different seeds gave the same output");
    close(
        &call(Some((0.0, 1))).unwrap(),
        &call(None).unwrap(),
        "p = 0",
    );
    assert!(call(Some((1.0, 1))).is_err());

    // The objective is linear in each input separately, so central differences are exact up
    // to float rounding: check a few entries of every input's gradient.
    let y = (f(7) * &probe).unwrap().sum_all().unwrap();
    let grads = y.backward().unwrap();
    for (vi, v) in [&x, &a, &b].into_iter().enumerate() {
        let g = grads
            .get(v)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let base = v
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for idx in [0, base.len() / 2, base.len() - 1] {
            let shifted = |d: f32| {
                let mut vals = base.clone();
                vals[idx] += d;
                Tensor::from_vec(vals, v.as_tensor().shape(), &Device::Cpu).unwrap()
            };
            let obj = |t: Tensor| match vi {
                0 => lora_objective(&t, a.as_tensor(), b.as_tensor(), &w, &probe, 7),
                1 => lora_objective(x.as_tensor(), &t, b.as_tensor(), &w, &probe, 7),
                _ => lora_objective(x.as_tensor(), a.as_tensor(), &t, &w, &probe, 7),
            };
            let fd = (obj(shifted(0.05)) - obj(shifted(-0.05))) / 0.1;
            assert!(
                (fd - g[idx] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
                "input {vi}[{idx}]: finite difference {fd} vs autograd {}",
                g[idx]
            );
        }
    }
}
