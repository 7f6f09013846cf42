//! The shared-prompt paths of a GRPO group: one prompt forward with its K/V broadcast to the
//! G completions must give the same log-probs (and adapter gradients) as running every
//! `prompt ++ completion` on its own, and one prefill shared by G decode streams must sample
//! the same tokens as a batch of G copies of the prompt.

mod common;

use candle_core::{Device, Tensor};
use dtr1_policy::{
    completion_logprobs, completion_logprobs_naive, generate, generate_group, group_logprobs,
    group_logprobs_pair, LoraConfig, Model, SamplingParams, Target,
};

fn adapted(qwen: bool, layers: Option<Vec<usize>>) -> Model {
    let mut m = Model::random(common::tiny_config(qwen), 5, &Device::Cpu).unwrap();
    let cfg = LoraConfig {
        rank: 4,
        alpha: 8.0,
        targets: Target::ALL.to_vec(),
        layers,
    };
    m.add_lora(&cfg, 9).unwrap();
    // Non-zero B so the adapter changes the function (fresh B is zero).
    for (_, _, p) in m.lora_vars() {
        let dims = p.b.as_tensor().dims().to_vec();
        p.b.set(&Tensor::randn(0f32, 0.3, dims, &Device::Cpu).unwrap())
            .unwrap();
    }
    m
}

fn max_diff(a: &[Tensor], b: &[Tensor]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            (x - y)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        })
        .fold(0.0, f32::max)
}

#[test]
fn shared_prompt_logprobs_equal_unshared() {
    let prompt = vec![3u32, 7, 11, 2, 9, 4];
    let comps = vec![vec![5u32, 6, 7, 8], vec![9u32], vec![10u32, 1, 2]];
    for qwen in [false, true] {
        // LoRA only on the top layer: the bottom one runs the fused inference kernels.
        for layers in [None, Some(vec![1])] {
            let m = adapted(qwen, layers);
            for adapter in [false, true] {
                let pairs: Vec<_> = comps.iter().map(|c| (prompt.clone(), c.clone())).collect();
                let naive = completion_logprobs_naive(&m, &pairs, adapter).unwrap();
                let batched = completion_logprobs(&m, &pairs, adapter, 2).unwrap();
                let group = group_logprobs(&m, &prompt, &comps, adapter, 2).unwrap();
                assert!(
                    max_diff(&group, &naive) < 1e-4,
                    "qwen={qwen} adapter={adapter}"
                );
                assert!(max_diff(&batched, &naive) < 1e-4);
            }
        }
    }
}

#[test]
fn shared_prompt_gradients_equal_unshared() {
    let prompt = vec![3u32, 7, 11, 2];
    let comps = vec![vec![5u32, 6], vec![9u32, 1, 4]];
    let m = adapted(false, Some(vec![1]));
    let vars = m.trainable_vars();
    let loss_of = |lps: Vec<Tensor>| {
        let parts: Vec<Tensor> = lps.iter().map(|t| t.sum_all().unwrap()).collect();
        Tensor::stack(&parts, 0).unwrap().sum_all().unwrap()
    };
    let pairs: Vec<_> = comps.iter().map(|c| (prompt.clone(), c.clone())).collect();
    let g1 = loss_of(completion_logprobs_naive(&m, &pairs, true).unwrap())
        .backward()
        .unwrap();
    let g2 = loss_of(group_logprobs(&m, &prompt, &comps, true, 3).unwrap())
        .backward()
        .unwrap();
    let mut nonzero = 0;
    for v in &vars {
        let a = g1.get(v.as_tensor()).expect("unshared grad");
        let b = g2.get(v.as_tensor()).expect("shared grad");
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-4);
        if b.abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            > 0.0
        {
            nonzero += 1;
        }
    }
    // Every adapter tensor of the adapted block gets a gradient through the shared path.
    assert_eq!(nonzero, vars.len());
}

#[test]
fn policy_and_reference_from_one_pass_equal_two_passes() {
    let prompt = vec![3u32, 7, 11, 2, 9];
    let comps = vec![vec![5u32, 6, 7], vec![9u32], vec![10u32, 1]];
    let loss_of = |lps: &[Tensor]| {
        let parts: Vec<Tensor> = lps.iter().map(|t| t.sum_all().unwrap()).collect();
        Tensor::stack(&parts, 0).unwrap().sum_all().unwrap()
    };
    for qwen in [false, true] {
        // Adapters on both blocks (nothing shared) and on the top one (the bottom shared).
        for layers in [None, Some(vec![1])] {
            let m = adapted(qwen, layers.clone());
            let on = group_logprobs(&m, &prompt, &comps, true, 2).unwrap();
            let off = group_logprobs(&m, &prompt, &comps, false, 2).unwrap();
            let (pon, poff) = group_logprobs_pair(&m, &prompt, &comps, 2).unwrap();
            assert!(max_diff(&pon, &on) < 1e-5, "qwen={qwen} {layers:?}");
            assert!(max_diff(&poff, &off) < 1e-5, "qwen={qwen} {layers:?}");
            // The adapter changes the function, so equal results are not a coincidence.
            assert!(max_diff(&on, &off) > 1e-3);
            let g1 = loss_of(&on).backward().unwrap();
            let g2 = loss_of(&pon).backward().unwrap();
            for v in m.trainable_vars() {
                let a = g1.get(v.as_tensor()).expect("two-pass grad");
                let b = g2.get(v.as_tensor()).expect("one-pass grad");
                let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
                assert!(d.to_scalar::<f32>().unwrap() < 1e-5);
            }
        }
    }
}

#[test]
fn group_generation_equals_batched_copies() {
    let (m, tok) = common::smollm();
    let prompt = tok
        .encode_chat(
            &[dtr1_policy::ChatMessage::new("user", "Name three colours.")],
            true,
        )
        .unwrap();
    let params = SamplingParams {
        max_new_tokens: 12,
        temperature: 0.9,
        top_p: 0.95,
        seed: 41,
        ..Default::default()
    };
    let g = 4;
    let copies = vec![prompt.clone(); g];
    let a = generate(m, tok, &copies, &params, false).unwrap();
    let b = generate_group(m, tok, &prompt, g, &params, false).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.tokens, y.tokens);
    }
    // Sampling at temperature 0.9 with different streams gives different completions.
    assert!(b.iter().any(|x| x.tokens != b[0].tokens));
}

#[test]
fn bad_groups_are_errors() {
    let m = adapted(false, None);
    assert!(group_logprobs(&m, &[], &[vec![1]], true, 2).is_err());
    assert!(group_logprobs(&m, &[1], &[vec![]], true, 2).is_err());
    assert!(group_logprobs(&m, &[1], &[], true, 2).is_err());
}
