//! Chunked, batched completion log-probs equal the naive full-logits path.

mod common;

use candle_core::Device;
use dtr1_policy::{completion_logprobs, completion_logprobs_naive, Model};

fn assert_close(a: &[candle_core::Tensor], b: &[candle_core::Tensor], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        let x: Vec<f32> = x.to_vec1().unwrap();
        let y: Vec<f32> = y.to_vec1().unwrap();
        assert_eq!(x.len(), y.len());
        for (u, v) in x.iter().zip(&y) {
            assert!(u.is_finite() && *u <= 0.0);
            assert!((u - v).abs() < tol, "{u} vs {v}");
        }
    }
}

#[test]
fn chunked_equals_naive_on_smollm2() {
    let (m, t) = common::smollm();
    let batch = vec![
        (
            t.encode("The capital of France is").unwrap(),
            t.encode(" Paris, a city on the Seine.").unwrap(),
        ),
        (t.encode("1, 2, 3,").unwrap(), t.encode(" 4").unwrap()),
        (
            t.encode("{\"id\": 3, \"label\": \"cup\"}").unwrap(),
            t.encode(" is JSON").unwrap(),
        ),
    ];
    let naive = completion_logprobs_naive(m, &batch, false).unwrap();
    for chunk in [1, 3, 64] {
        let fast = completion_logprobs(m, &batch, false, chunk).unwrap();
        assert_close(&fast, &naive, 2e-3);
    }
    // Sanity: the model finds " Paris" likely after the prompt.
    let lp: Vec<f32> = naive[0].to_vec1().unwrap();
    assert!(lp[0] > -2.0, "log p(Paris) = {}", lp[0]);
}

#[test]
fn chunked_equals_naive_on_tiny_models() {
    for qwen in [false, true] {
        let m = Model::random(common::tiny_config(qwen), 3, &Device::Cpu).unwrap();
        let batch = vec![
            (vec![1, 2, 3, 4, 5, 6, 7], vec![8, 9, 10]),
            (vec![11], vec![12, 13, 14, 15, 16]),
            (vec![20, 21, 22], vec![23]),
        ];
        let naive = completion_logprobs_naive(&m, &batch, false).unwrap();
        let fast = completion_logprobs(&m, &batch, false, 2).unwrap();
        assert_close(&fast, &naive, 1e-4);
    }
}
