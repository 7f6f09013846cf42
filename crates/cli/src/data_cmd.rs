//! `dtr1 data generate` and `dtr1 data stats`.

use anyhow::{Context, Result};
use dtr1_data::dataset;
use dtr1_twinbench::{scene::SceneConfig, suite};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// The export lives in its own file beside this one.
#[path = "export_cmd.rs"]
mod export_cmd;

/// `dtr1 data …`.
#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Generate a TwinBench suite: scenes and clips, true twins, queries for all six benchmarks.
    Generate {
        /// Output directory (created; existing files are replaced atomically).
        #[arg(long)]
        out: PathBuf,
        /// Number of scenes.
        #[arg(long, default_value_t = 50)]
        scenes: usize,
        /// Number of video clips (32 frames each).
        #[arg(long, default_value_t = 10)]
        clips: usize,
        /// Seed of scene 0 (scene i uses seed + i).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Queries per image benchmark per scene (at most).
        #[arg(long, default_value_t = 3)]
        per_task: usize,
    },
    /// Draw one sample's ground truth on its image, with the query and answer above it (PNG).
    Show {
        /// Dataset directory.
        dir: PathBuf,
        /// Split.
        #[arg(long, default_value = "test")]
        split: String,
        /// Sample index in the split, or its id.
        #[arg(long, default_value = "0")]
        sample: String,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Count samples by split, task, category and level.
    Stats {
        /// Dataset directory (with manifest.json).
        dir: PathBuf,
    },
    /// Export a dataset for verl (parquet), TRL or OpenRLHF (JSONL) with dt-r1 prompts and labels.
    Export(export_cmd::ExportArgs),
}

/// Runs a data subcommand.
pub fn run(cmd: &DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Generate {
            out,
            scenes,
            clips,
            seed,
            per_task,
        } => {
            let pb = ProgressBar::new((*scenes + *clips) as u64);
            pb.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} scenes and clips {elapsed}")
                    .expect("valid template"),
            );
            let counts = suite::generate(
                out,
                *scenes,
                *clips,
                *seed,
                *per_task,
                &SceneConfig::default(),
                &mut |i| pb.set_position(i as u64),
            )
            .with_context(|| format!("generating TwinBench into {}", out.display()))?;
            pb.finish_and_clear();
            for (split, n) in counts {
                println!("{split}: {n} samples");
            }
            println!("wrote {}", out.join("manifest.json").display());
            Ok(())
        }
        DataCommand::Stats { dir } => stats(dir),
        DataCommand::Export(args) => export_cmd::run(args),
        DataCommand::Show {
            dir,
            split,
            sample,
            out,
        } => show(dir, split, sample, out),
    }
}

fn stats(dir: &Path) -> Result<()> {
    let m = dataset::read_manifest(dir)?;
    let mut text =
        String::from("| split | task | category | level | samples |\n|---|---|---|---:|---:|\n");
    for split in m.splits.keys() {
        let mut counts: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for s in dataset::read_split(dir, split)? {
            let cat = s
                .category
                .map_or("-".into(), |c| format!("{c:?}").to_lowercase());
            let lvl = s.level.map_or("-".into(), |l| l.to_string());
            *counts.entry((s.task.name().into(), cat, lvl)).or_default() += 1;
        }
        for ((task, cat, lvl), n) in counts {
            text.push_str(&format!("| {split} | {task} | {cat} | {lvl} | {n} |\n"));
        }
    }
    crate::out(&text)
}

fn show(dir: &Path, split: &str, which: &str, out: &Path) -> Result<()> {
    let samples = dataset::read_split(dir, split)?;
    let s = match which.parse::<usize>() {
        Ok(i) => samples
            .get(i)
            .with_context(|| format!("split {split} has {} samples", samples.len()))?,
        Err(_) => samples
            .iter()
            .find(|s| s.id == which)
            .with_context(|| format!("no sample {which:?} in {split}"))?,
    };
    let answer_text = match &s.truth {
        dtr1_data::GroundTruth::Answers { answers, .. } => answers.join(" | "),
        dtr1_data::GroundTruth::Summaries { references, .. } => references[..1].join(""),
        t => format!("ids {:?}", t.target_ids().unwrap_or(&[])),
    };
    let img = dtr1_data::overlay::caption(
        &dtr1_data::overlay::render(s)?,
        &[
            format!("[{}] {}", s.task.name(), s.query),
            format!("answer: {answer_text}"),
        ],
    );
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)?;
    dataset::write_atomic(out, &png.into_inner())?;
    let answer = match &s.truth {
        dtr1_data::GroundTruth::Answers { answers, .. } => answers.join(" | "),
        dtr1_data::GroundTruth::Summaries { references, .. } => references.join(" | "),
        t => format!("ids {:?}", t.target_ids().unwrap_or(&[])),
    };
    crate::out(&format!(
        "{} [{}]\nquery: {}\nanswer: {answer}\nwrote {}\n",
        s.id,
        s.task.name(),
        s.query,
        out.display()
    ))
}
