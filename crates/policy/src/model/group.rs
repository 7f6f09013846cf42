//! The GRPO group forward: one prompt and its `G` completions in a single pass, the prompt
//! computed once and shared. It is the training hot path and has its own batching layout
//! (prompt batch 1, completions right-padded), so it lives apart from the general forward.

use candle_core::Tensor;

use super::{causal_mask, Model, Target};
use crate::error::{PolicyError, Result};

impl Model {
    /// One forward for a GRPO group: `G` completions that share one prompt.
    ///
    /// The prompt runs once (batch 1); in every block its keys and values are broadcast to
    /// the `G` completions, which run as one right-padded batch at positions `P..P+C`.
    /// Returns, per completion, the final-normed hidden states that predict its tokens:
    /// `(len_i, d)` rows — the last prompt position, then the completion's own positions but
    /// its last. The result equals running each `prompt ++ completion` alone (tested), at a
    /// fraction of the cost, and gradients flow into adapters through the prompt's K/V too.
    pub fn forward_group(
        &self,
        prompt: &[u32],
        completions: &[Vec<u32>],
        adapter: bool,
    ) -> Result<Vec<Tensor>> {
        let mut st = self.group_start(prompt, completions)?;
        self.group_blocks(&mut st, 0..self.layers.len(), adapter)?;
        self.group_finish(&st, completions)
    }

    /// [`Model::forward_group`] with the adapter on and off at once: `(policy, reference)`.
    ///
    /// Blocks below the lowest adapted one compute the same thing either way, so they run
    /// once and only the adapted blocks run twice — with `top_layers = 10` of 30 this saves
    /// two thirds of the reference pass that GRPO's KL term needs. The reference side carries
    /// no gradient.
    pub fn forward_group_pair(
        &self,
        prompt: &[u32],
        completions: &[Vec<u32>],
    ) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let n = self.layers.len();
        let split = self.first_adapted_layer(true);
        let mut st = self.group_start(prompt, completions)?;
        self.group_blocks(&mut st, 0..split, false)?;
        let mut off = st.clone();
        self.group_blocks(&mut st, split..n, true)?;
        self.group_blocks(&mut off, split..n, false)?;
        let on = self.group_finish(&st, completions)?;
        let off = self
            .group_finish(&off, completions)?
            .into_iter()
            .map(|t| t.detach())
            .collect();
        Ok((on, off))
    }

    /// Embeddings, positions and masks of a group (see [`Model::forward_group`]).
    fn group_start(&self, prompt: &[u32], completions: &[Vec<u32>]) -> Result<GroupState> {
        let cfg = &self.config;
        let dev = self.device().clone();
        if prompt.is_empty() || completions.is_empty() || completions.iter().any(|c| c.is_empty()) {
            return Err(PolicyError::InvalidArgument(
                "a group needs a non-empty prompt and non-empty completions".into(),
            ));
        }
        let (p, g) = (prompt.len(), completions.len());
        let c = completions.iter().map(Vec::len).max().unwrap_or(0);
        let d = cfg.hidden_size;
        // Right padding is harmless under a causal mask: padded positions come after every
        // real one, and their outputs are never read.
        let mut ctoks = Vec::with_capacity(g * c);
        for comp in completions {
            ctoks.extend_from_slice(comp);
            ctoks.extend(std::iter::repeat(0u32).take(c - comp.len()));
        }
        let ptoks = Tensor::new(prompt, &dev)?;
        let ctoks = Tensor::from_vec(ctoks, g * c, &dev)?;
        let xp = self.embed.embedding(&ptoks)?.reshape((1, p, d))?;
        let xc = self.embed.embedding(&ctoks)?.reshape((g, c, d))?;
        let ppos = Tensor::arange(0u32, p as u32, &dev)?.unsqueeze(0)?;
        let cpos = Tensor::arange(p as u32, (p + c) as u32, &dev)?
            .unsqueeze(0)?
            .broadcast_as((g, c))?
            .contiguous()?;
        let (pcos, psin) = self.angles(&ppos)?;
        let (ccos, csin) = self.angles(&cpos)?;
        Ok(GroupState {
            xp,
            xc,
            pcos,
            psin,
            ccos,
            csin,
            pmask: causal_mask(p, 0, &dev)?,
            cmask: causal_mask(c, p, &dev)?,
            g,
            p,
        })
    }

    /// Run `blocks` of a group forward, adapter on or off.
    fn group_blocks(
        &self,
        st: &mut GroupState,
        blocks: std::ops::Range<usize>,
        adapter: bool,
    ) -> Result<()> {
        let fused_below = self.first_adapted_layer(adapter);
        let (g, p) = (st.g, st.p);
        for li in blocks {
            let layer = &self.layers[li];
            let fused = li < fused_below;
            let hp = self.norm(&st.xp, &layer.attn_norm, fused)?;
            let hc = self.norm(&st.xc, &layer.attn_norm, fused)?;
            let (mp, mc) = (self.train_mode(li, 1), self.train_mode(li, 2));
            let (qp, kp, vp) = self.qkv(layer, &hp, &st.pcos, &st.psin, adapter, mp)?;
            let (qc, kc, vc) = self.qkv(layer, &hc, &st.ccos, &st.csin, adapter, mc)?;
            let (_, nkv, _, hd) = kp.dims4()?;
            // `contiguous`: cat of a broadcast view comes back with transposed strides, which
            // candle's batched matmul rejects.
            let kall = Tensor::cat(&[&kp.broadcast_as((g, nkv, p, hd))?, &kc], 2)?.contiguous()?;
            let vall = Tensor::cat(&[&vp.broadcast_as((g, nkv, p, hd))?, &vc], 2)?.contiguous()?;
            let yp = self.attend(&qp, &kp, &vp, Some(&st.pmask), fused)?;
            let yc = self.attend(&qc, &kall, &vall, Some(&st.cmask), fused)?;
            let xp = (&st.xp
                + layer
                    .o
                    .forward_impl(&yp, adapter, false, false, mp.drop(Target::O))?)?;
            let xc = (&st.xc
                + layer
                    .o
                    .forward_impl(&yc, adapter, false, false, mc.drop(Target::O))?)?;
            st.xp = (&xp + self.mlp(layer, &xp, adapter, fused, mp)?)?;
            st.xc = (&xc + self.mlp(layer, &xc, adapter, fused, mc)?)?;
        }
        Ok(())
    }

    /// Final norm and the per-completion rows of a group (see [`Model::forward_group`]).
    fn group_finish(&self, st: &GroupState, completions: &[Vec<u32>]) -> Result<Vec<Tensor>> {
        let p = st.p;
        let last = self.norm(&st.xp.narrow(1, p - 1, 1)?.squeeze(0)?, &self.norm, false)?;
        let hc = self.norm(&st.xc, &self.norm, false)?;
        completions
            .iter()
            .enumerate()
            .map(|(i, comp)| {
                let own = comp.len() - 1;
                if own == 0 {
                    return Ok(last.clone());
                }
                Ok(Tensor::cat(&[&last, &hc.get(i)?.narrow(0, 0, own)?], 0)?)
            })
            .collect()
    }
}

/// The activations of a group between blocks, with what every block reads.
#[derive(Clone)]
struct GroupState {
    /// Prompt stream `(1, P, d)`.
    xp: Tensor,
    /// Completion streams `(G, C, d)`.
    xc: Tensor,
    pcos: Tensor,
    psin: Tensor,
    ccos: Tensor,
    csin: Tensor,
    pmask: Tensor,
    cmask: Tensor,
    g: usize,
    p: usize,
}
