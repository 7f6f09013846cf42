//! What the trainer optimises: a fixed list of prompts and a reward for completions of them.
//!
//! The trainer knows nothing about twins or tasks; [`crate::twinbench`] implements this
//! interface for the six benchmarks with the DT-R1 reward, and tests implement it for toy
//! problems.

use crate::error::Result;

/// One training prompt, tokenised.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvItem {
    /// Prompt token ids (chat template applied, generation prompt included).
    pub prompt: Vec<u32>,
    /// Task name, for per-task metrics.
    pub task: String,
}

/// The reward of one completion and the parts worth logging.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    /// What GRPO maximises.
    pub total: f64,
    /// Task accuracy in [0, 1].
    pub accuracy: f64,
    /// 1 when the completion met the output contract.
    pub format: f64,
    /// Structure score in [0, 1].
    pub structure: f64,
}

/// A set of prompts with a reward.
pub trait Environment {
    /// Number of prompts.
    fn len(&self) -> usize;

    /// True when there are no prompts.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Prompt `i` (`i < len()`).
    fn item(&self, i: usize) -> Result<EnvItem>;

    /// Reward of `completion` (decoded text, special tokens removed) for prompt `i`.
    fn score(&self, i: usize, completion: &str) -> Result<Score>;
}
