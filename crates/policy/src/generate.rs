//! Batched sampling with a KV cache.
//!
//! Prompts of different lengths are prefilled one by one and their KV caches left-padded into
//! one batch, so every sequence's next token sits in the same (last) column; per-token positions keep RoPE unaffected by padding and an
//! additive mask hides padded keys. Each sequence has its own RNG seeded from `(seed, index)`,
//! so a sequence's samples do not depend on what else is in the batch.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};

use crate::error::{PolicyError, Result};
use crate::model::{Kernels, KvCache, Model};
use crate::tokenizer::Tokenizer;

/// Sampling controls.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Upper bound on generated tokens per sequence.
    pub max_new_tokens: usize,
    /// Softmax temperature; `<= 0` means greedy (argmax, deterministic).
    pub temperature: f32,
    /// Nucleus mass in `(0, 1]`; 1 disables.
    pub top_p: f32,
    /// Keep only the `top_k` most likely tokens; 0 disables.
    pub top_k: usize,
    /// RNG seed (sequence `i` uses a stream derived from `seed` and `i`).
    pub seed: u64,
    /// Generation stops when the decoded text contains any of these; the text is cut before it.
    pub stop: Vec<String>,
    /// Kernels of the forward passes: [`Kernels::Quantized`] (the default) samples from the
    /// checkpoint's quantised blocks, several times faster on a CPU; [`Kernels::Exact`]
    /// samples from exactly the f32 distribution that log-probabilities are computed with.
    pub kernels: Kernels,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            seed: 0,
            stop: Vec::new(),
            kernels: Kernels::Quantized,
        }
    }
}

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token or stop string.
    Stop,
    /// `max_new_tokens` reached.
    Length,
}

/// One generated completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated ids, including the stop token if one ended the sequence (so log-prob
    /// training also learns to stop).
    pub tokens: Vec<u32>,
    /// Decoded text without special tokens, cut before any stop string.
    pub text: String,
    /// Why generation ended.
    pub finish: FinishReason,
}

/// A left-padded batch ready for [`Model::forward_hidden`].
#[derive(Debug)]
pub struct PaddedBatch {
    /// `(b, t)` ids, padding filled with `pad_id`.
    pub tokens: Tensor,
    /// `(b, t)` positions; 0 for padding, then 0.. for real tokens.
    pub positions: Tensor,
    /// `(b, 1, t, t)` additive causal mask hiding padded keys.
    pub mask: Tensor,
    /// Left padding per sequence.
    pub pads: Vec<usize>,
    /// Padded length `t`.
    pub len: usize,
}

/// Left-pad `seqs` (each non-empty) into one batch.
pub fn left_pad(seqs: &[Vec<u32>], pad_id: u32, device: &Device) -> Result<PaddedBatch> {
    if seqs.is_empty() || seqs.iter().any(|s| s.is_empty()) {
        return Err(PolicyError::InvalidArgument(
            "batch must be non-empty and contain no empty sequence".into(),
        ));
    }
    let b = seqs.len();
    let t = seqs.iter().map(Vec::len).max().unwrap_or(0);
    let pads: Vec<usize> = seqs.iter().map(|s| t - s.len()).collect();
    let mut toks = Vec::with_capacity(b * t);
    let mut pos = Vec::with_capacity(b * t);
    let mut mask = Vec::with_capacity(b * t * t);
    for (s, &p) in seqs.iter().zip(&pads) {
        toks.extend(std::iter::repeat(pad_id).take(p));
        toks.extend_from_slice(s);
        pos.extend((0..t).map(|i| i.saturating_sub(p) as u32));
        for i in 0..t {
            // A padded query attends only to itself: its output is unused, but a fully
            // masked row would make softmax produce NaN that could leak through 0·NaN.
            mask.extend((0..t).map(|j| {
                if j <= i && (j >= p || j == i) {
                    0.0f32
                } else {
                    f32::NEG_INFINITY
                }
            }));
        }
    }
    Ok(PaddedBatch {
        tokens: Tensor::from_vec(toks, (b, t), device)?,
        positions: Tensor::from_vec(pos, (b, t), device)?,
        mask: Tensor::from_vec(mask, (b, 1, t, t), device)?,
        pads,
        len: t,
    })
}

/// Draw a token from `logits` under `p` (argmax when greedy; ties go to the lowest id).
pub fn sample_token(logits: &[f32], p: &SamplingParams, rng: &mut impl Rng) -> u32 {
    if p.temperature <= 0.0 {
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        return best as u32;
    }
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    // Sort descending; NaN-safe via total_cmp.
    idx.sort_unstable_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if p.top_k > 0 && p.top_k < idx.len() {
        idx.truncate(p.top_k);
    }
    let max = logits[idx[0]];
    let mut probs: Vec<f32> = idx
        .iter()
        .map(|&i| ((logits[i] - max) / p.temperature).exp())
        .collect();
    let sum: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|x| *x /= sum);
    if p.top_p < 1.0 {
        let mut cum = 0.0;
        let mut keep = probs.len();
        for (k, &x) in probs.iter().enumerate() {
            cum += x;
            if cum >= p.top_p {
                keep = k + 1;
                break;
            }
        }
        probs.truncate(keep);
        idx.truncate(keep);
    }
    let total: f32 = probs.iter().sum();
    let mut r = rng.random::<f32>() * total;
    for (k, &x) in probs.iter().enumerate() {
        r -= x;
        if r <= 0.0 {
            return idx[k] as u32;
        }
    }
    idx[probs.len() - 1] as u32
}

/// Generate completions for a batch of tokenised prompts in one KV-cached decode loop.
///
/// `adapter` selects the policy (LoRA on) or the reference (LoRA off).
pub fn generate(
    model: &Model,
    tokenizer: &Tokenizer,
    prompts: &[Vec<u32>],
    params: &SamplingParams,
    adapter: bool,
) -> Result<Vec<Generation>> {
    let dev = model.device().clone();
    if prompts.is_empty() || prompts.iter().any(|p| p.is_empty()) {
        return Err(PolicyError::InvalidArgument(
            "batch must be non-empty and contain no empty sequence".into(),
        ));
    }
    // Each prompt is prefilled alone and the caches are then left-padded into one batch:
    // OpenBLAS's products (crate::blas) round a row differently depending on where it sits
    // in the matrix, so a padded batched prefill would make a sequence's samples depend on
    // the rest of its batch. Alone, every prompt gets exactly the numbers it gets by itself.
    let mut caches = Vec::with_capacity(prompts.len());
    let mut first = Vec::with_capacity(prompts.len());
    for p in prompts {
        let mut cache = KvCache::new();
        let toks = Tensor::new(p.as_slice(), &dev)?.unsqueeze(0)?;
        first.push(model.forward_last_with(&toks, Some(&mut cache), adapter, params.kernels)?);
        caches.push(cache);
    }
    let (cache, pads) = KvCache::stack_left_padded(&caches)?;
    let len = cache.len();
    decode(
        model,
        tokenizer,
        cache,
        Tensor::cat(&first, 0)?,
        &pads,
        len,
        params,
        adapter,
    )
}

/// Generate `g` completions of one prompt: the prompt is prefilled once and its KV cache
/// shared by the `g` streams (a GRPO group). Stream `i` samples exactly as sequence `i` of
/// [`generate`] on `g` copies of the prompt would (same RNG streams).
pub fn generate_group(
    model: &Model,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    g: usize,
    params: &SamplingParams,
    adapter: bool,
) -> Result<Vec<Generation>> {
    if prompt.is_empty() || g == 0 {
        return Err(PolicyError::InvalidArgument(
            "generate_group needs a non-empty prompt and at least one stream".into(),
        ));
    }
    let dev = model.device().clone();
    let mut cache = KvCache::new();
    let toks = Tensor::new(prompt, &dev)?.unsqueeze(0)?;
    let logits = model.forward_last_with(&toks, Some(&mut cache), adapter, params.kernels)?;
    cache.expand_batch(g)?;
    let logits = logits.repeat((g, 1))?;
    decode(
        model,
        tokenizer,
        cache,
        logits,
        &vec![0; g],
        prompt.len(),
        params,
        adapter,
    )
}

/// The sampling loop shared by [`generate`] and [`generate_group`]: `logits` `(b, vocab)`
/// predict the first new token of each stream; `pads` is each stream's left padding in a
/// cache of `len` columns.
#[allow(clippy::too_many_arguments)]
fn decode(
    model: &Model,
    tokenizer: &Tokenizer,
    mut cache: KvCache,
    mut logits: Tensor,
    pads: &[usize],
    len: usize,
    params: &SamplingParams,
    adapter: bool,
) -> Result<Vec<Generation>> {
    let dev = model.device().clone();
    let b = pads.len();
    let mut rngs: Vec<rand::rngs::StdRng> = (0..b)
        .map(|i| {
            rand::rngs::StdRng::seed_from_u64(
                params.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )
        })
        .collect();
    let mut out: Vec<Generation> = (0..b)
        .map(|_| Generation {
            tokens: Vec::new(),
            text: String::new(),
            finish: FinishReason::Length,
        })
        .collect();
    let mut done = vec![params.max_new_tokens == 0; b];
    for step in 0..params.max_new_tokens {
        let rows: Vec<Vec<f32>> = logits.to_vec2()?;
        let mut next = vec![tokenizer.eos_id; b];
        for (i, g) in out.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            let tok = sample_token(&rows[i], params, &mut rngs[i]);
            next[i] = tok;
            g.tokens.push(tok);
            if tokenizer.stop_ids.contains(&tok) {
                g.finish = FinishReason::Stop;
                done[i] = true;
            } else if !params.stop.is_empty() {
                let text = tokenizer.decode(&g.tokens, true)?;
                if let Some(cut) = params
                    .stop
                    .iter()
                    .filter_map(|s| text.find(s.as_str()))
                    .min()
                {
                    g.text = text[..cut].to_string();
                    g.finish = FinishReason::Stop;
                    done[i] = true;
                }
            }
        }
        if done.iter().all(|&d| d) || step + 1 == params.max_new_tokens {
            break;
        }
        // Decode step: one new column; keys hidden only where the sequence was padded.
        let tk = len + step + 1;
        let pos: Vec<u32> = (0..b).map(|i| (len - pads[i] + step) as u32).collect();
        let mask: Vec<f32> = (0..b)
            .flat_map(|i| {
                let p = pads[i];
                (0..tk).map(move |j| if j < p { f32::NEG_INFINITY } else { 0.0 })
            })
            .collect();
        let toks = Tensor::from_vec(next, (b, 1), &dev)?;
        let pos = Tensor::from_vec(pos, (b, 1), &dev)?;
        let mask = Tensor::from_vec(mask, (b, 1, 1, tk), &dev)?;
        let h = model.forward_hidden_with(
            &toks,
            &pos,
            Some(&mask),
            Some(&mut cache),
            adapter,
            params.kernels,
        )?;
        logits = model.logits_with(&h.squeeze(1)?, params.kernels)?;
    }
    for g in &mut out {
        if g.finish == FinishReason::Length || g.text.is_empty() {
            let text = tokenizer.decode(&g.tokens, true)?;
            if g.text.is_empty() {
                g.text = match params
                    .stop
                    .iter()
                    .filter_map(|s| text.find(s.as_str()))
                    .min()
                {
                    Some(cut) => text[..cut].to_string(),
                    None => text,
                };
            }
        }
    }
    Ok(out)
}
