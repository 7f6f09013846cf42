//! Per-token log-probabilities of given completions.
//!
//! The batched path runs the decoder once over the left-padded `prompt ++ completion`
//! batch, then projects hidden states to the vocabulary `chunk` rows at a time, reducing each
//! chunk to one log-prob per row (log-sum-exp and a gather) before the next chunk is formed.
//! Without an autograd graph (inference, reference model) at most `chunk × vocab` logits exist
//! at once. With a graph, candle keeps each chunk's intermediates until `backward`, so the
//! chunking bounds peak forward memory but not what the graph retains.

use candle_core::{IndexOp, Tensor, D};

use crate::error::{PolicyError, Result};
use crate::generate::left_pad;
use crate::model::Model;

fn check(batch: &[(Vec<u32>, Vec<u32>)]) -> Result<()> {
    if batch.is_empty() {
        return Err(PolicyError::InvalidArgument("empty batch".into()));
    }
    for (p, c) in batch {
        if p.is_empty() || c.is_empty() {
            return Err(PolicyError::InvalidArgument(
                "every (prompt, completion) pair needs a non-empty prompt and completion".into(),
            ));
        }
    }
    Ok(())
}

fn joined(batch: &[(Vec<u32>, Vec<u32>)]) -> Vec<Vec<u32>> {
    batch
        .iter()
        .map(|(p, c)| p.iter().chain(c).copied().collect())
        .collect()
}

/// Log-probs `(len(completion),)` of each completion token given its prompt and the
/// preceding completion tokens, batched and chunked. The returned tensors carry the autograd
/// graph, so they can be used directly in a loss.
pub fn completion_logprobs(
    model: &Model,
    batch: &[(Vec<u32>, Vec<u32>)],
    adapter: bool,
    chunk: usize,
) -> Result<Vec<Tensor>> {
    check(batch)?;
    let padded = left_pad(&joined(batch), 0, model.device())?;
    let hidden = model.forward_hidden(
        &padded.tokens,
        &padded.positions,
        Some(&padded.mask),
        None,
        adapter,
    )?;
    let t = padded.len;
    let mut out = Vec::with_capacity(batch.len());
    for (bi, (_, comp)) in batch.iter().enumerate() {
        let c = comp.len();
        // Hidden state at column j predicts the token at column j + 1; the completion
        // occupies the last c columns, so its predictors are columns t-c-1 .. t-2.
        let h = hidden.i((bi, t - c - 1..t - 1))?;
        out.push(token_logprobs(model, &h, comp, chunk)?);
    }
    Ok(out)
}

/// Log-probs of each completion of a GRPO group (one shared prompt), from
/// [`Model::forward_group`]: the prompt runs once for the whole group. Equal to
/// [`completion_logprobs`] on the `(prompt, completion)` pairs (tested).
pub fn group_logprobs(
    model: &Model,
    prompt: &[u32],
    completions: &[Vec<u32>],
    adapter: bool,
    chunk: usize,
) -> Result<Vec<Tensor>> {
    let hidden = model.forward_group(prompt, completions, adapter)?;
    group_rows_logprobs(model, &hidden, completions, chunk)
}

/// Per completion, the log-probs of its tokens from the group's hidden rows.
fn group_rows_logprobs(
    model: &Model,
    hidden: &[Tensor],
    completions: &[Vec<u32>],
    chunk: usize,
) -> Result<Vec<Tensor>> {
    hidden
        .iter()
        .zip(completions)
        .map(|(h, c)| token_logprobs(model, h, c, chunk))
        .collect()
}

/// [`group_logprobs`] under the policy (adapter on) and the reference (adapter off) from one
/// shared pass through the blocks that carry no adapter ([`Model::forward_group_pair`]):
/// `(policy, reference)`, the reference without gradient.
pub fn group_logprobs_pair(
    model: &Model,
    prompt: &[u32],
    completions: &[Vec<u32>],
    chunk: usize,
) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
    let (on, off) = model.forward_group_pair(prompt, completions)?;
    Ok((
        group_rows_logprobs(model, &on, completions, chunk)?,
        group_rows_logprobs(model, &off, completions, chunk)?,
    ))
}

/// Log-prob of each `target` token from the hidden states `(len, d)` that predict them,
/// projecting `chunk` rows to the vocabulary at a time.
fn token_logprobs(model: &Model, hidden: &Tensor, target: &[u32], chunk: usize) -> Result<Tensor> {
    let chunk = chunk.max(1);
    let c = target.len();
    let mut parts = Vec::new();
    let mut s = 0;
    while s < c {
        let n = chunk.min(c - s);
        let logits = model.logits(&hidden.narrow(0, s, n)?)?;
        // Shift by the (detached) row max for stability; the gradient of log-sum-exp does
        // not depend on the shift.
        let m = logits.max_keepdim(D::Minus1)?.detach();
        let lse = (logits
            .broadcast_sub(&m)?
            .exp()?
            .sum_keepdim(D::Minus1)?
            .log()?
            + &m)?;
        let ids = Tensor::new(&target[s..s + n], model.device())?.unsqueeze(1)?;
        let tgt = logits.gather(&ids, 1)?;
        parts.push((tgt - lse)?.squeeze(1)?);
        s += n;
    }
    Ok(Tensor::cat(&parts, 0)?)
}

/// Reference implementation: each pair alone, full `(seq, vocab)` logits and `log_softmax`.
/// Memory-hungry by design; used to test [`completion_logprobs`].
pub fn completion_logprobs_naive(
    model: &Model,
    batch: &[(Vec<u32>, Vec<u32>)],
    adapter: bool,
) -> Result<Vec<Tensor>> {
    check(batch)?;
    let mut out = Vec::new();
    for seq in joined(batch).iter().zip(batch) {
        let (full, (p, c)) = seq;
        let n = full.len();
        let toks = Tensor::new(full.as_slice(), model.device())?.unsqueeze(0)?;
        let pos = Tensor::arange(0u32, n as u32, model.device())?.unsqueeze(0)?;
        let h = model.forward_hidden(&toks, &pos, None, None, adapter)?;
        let lsm = candle_nn::ops::log_softmax(&model.logits(&h.squeeze(0)?)?, D::Minus1)?;
        let ids = Tensor::new(c.as_slice(), model.device())?.unsqueeze(1)?;
        let rows = lsm.narrow(0, p.len() - 1, c.len())?;
        out.push(rows.gather(&ids, 1)?.squeeze(1)?);
    }
    Ok(out)
}
