//! `dtr1 perceive-eval`: how good perception is, measured on a dataset split with ground
//! truth (TwinBench val by default).

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Options of `dtr1 perceive-eval`.
#[derive(Args)]
pub struct PerceiveEvalArgs {
    /// Dataset directory (e.g. written by `dtr1 data generate`).
    pub data: PathBuf,
    /// Split to measure on.
    #[arg(long, default_value = "val")]
    pub split: String,
    /// Backends to measure (repeat the option for several); `annotations` uses the true
    /// masks, so its video rows measure tracking and event detection alone.
    #[arg(long = "backend", default_values_t = ["annotations".to_string(), "pixels".to_string()])]
    pub backends: Vec<String>,
}

/// Runs every section and prints its table.
pub fn run(a: &PerceiveEvalArgs) -> Result<()> {
    let clips = crate::perceive_video::clips(&a.data, &a.split)?;
    if clips.is_empty() {
        return crate::out(&format!("video: no clips in split {:?}\n", a.split));
    }
    let results = crate::perceive_video::run(&clips, &a.backends)?;
    crate::out(&crate::perceive_video::table(&results, clips.len()))
}
