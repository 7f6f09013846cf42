//! `dtr1 data export`: a dt-r1 dataset as the parquet (verl) or JSONL (TRL, OpenRLHF) each
//! trainer reads, prompts from dt-r1's templates, labels for dt-r1's reward adapters.

use anyhow::{Context, Result};
use dtr1_serve::export::{count, export, Format};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Options of `dtr1 data export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// Dataset directory (with manifest.json), e.g. from `dtr1 data generate`.
    dir: PathBuf,
    /// Trainer format: verl (parquet), trl or openrlhf (JSONL).
    #[arg(long, value_parser = ["verl", "trl", "openrlhf"])]
    format: String,
    /// Output directory (files are replaced atomically).
    #[arg(long)]
    out: PathBuf,
    /// Splits to export (repeatable; default: all).
    #[arg(long)]
    split: Vec<String>,
    /// Prompt version of the exported prompts (1 or 2; default: the latest). Use the
    /// version the policy you will train was cold-started on (its adapter's
    /// `dtr1_prompt.json`).
    #[arg(long, default_value_t = dtr1_prompt::PromptVersion::LATEST)]
    prompt_version: dtr1_prompt::PromptVersion,
}

/// Runs the export and prints the files written.
pub fn run(a: &ExportArgs) -> Result<()> {
    let format = Format::from_name(&a.format).context("unknown --format")?;
    let total = count(&a.dir, &a.split)
        .with_context(|| format!("reading the dataset {}", a.dir.display()))?;
    let pb = ProgressBar::new(total as u64);
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} samples {elapsed}")
            .expect("valid template"),
    );
    let files = export(
        &a.dir,
        format,
        a.prompt_version,
        &a.out,
        &a.split,
        &mut |n| pb.set_position(n as u64),
    )
    .with_context(|| format!("exporting {} for {}", a.dir.display(), a.format))?;
    pb.finish_and_clear();
    let mut text = String::new();
    for (path, rows) in files {
        text.push_str(&format!("{}: {rows} rows\n", path.display()));
    }
    text.push_str(&format!(
        "{}: reward file for the trainer\n",
        a.out.join("dtr1_reward.py").display()
    ));
    crate::out(&text)
}
