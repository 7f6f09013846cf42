//! Dataset export for distributed trainers: every sample of a dt-r1 dataset becomes one row
//! with the prompt dt-r1's templates build ([`dtr1_prompt::build`]) and the dt-r1 label
//! ([`crate::label`]) the reward adapters read.
//!
//! | format | file per split | columns |
//! |---|---|---|
//! | `verl` | `SPLIT.parquet` | `data_source`, `prompt` (chat list), `ability`, `reward_model {style, ground_truth}`, `extra_info {split, index, id, task, query, prompt_version}` |
//! | `trl` | `SPLIT.jsonl` | `prompt` (chat list), `label`, `task`, `id` |
//! | `openrlhf` | `SPLIT.jsonl` | `input` (chat list), `label`, `task`, `id` |
//!
//! Each export also writes `dtr1_reward.py`, a one-line reward file for the trainer to load
//! by path. Every file is written atomically.

use crate::label::ParsedLabel;
use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields};
use dtr1_data::dataset::{read_manifest, read_split, write_atomic};
use dtr1_data::Sample;
use dtr1_prompt::PromptVersion;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// The trainer to export for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// verl (parquet).
    Verl,
    /// TRL (JSONL, conversational prompts).
    Trl,
    /// OpenRLHF (JSONL for `--input_key input --label_key label --apply_chat_template`).
    Openrlhf,
}

impl Format {
    /// Parses `verl`, `trl` or `openrlhf`.
    pub fn from_name(s: &str) -> Option<Format> {
        match s {
            "verl" => Some(Format::Verl),
            "trl" => Some(Format::Trl),
            "openrlhf" => Some(Format::Openrlhf),
            _ => None,
        }
    }
}

/// Why an export failed.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The dataset could not be read or a file not written.
    #[error(transparent)]
    Data(#[from] dtr1_data::DataError),
    /// A sample has no usable input twin.
    #[error(transparent)]
    Prompt(#[from] dtr1_prompt::PromptError),
    /// A sample's label does not check.
    #[error("sample {id}: {source}")]
    Label {
        /// Sample id.
        id: String,
        /// Why.
        source: crate::label::LabelError,
    },
    /// Arrow or parquet refused the table.
    #[error("writing parquet: {0}")]
    Parquet(String),
    /// A split that the manifest does not list.
    #[error("no split {0:?} in the dataset")]
    NoSplit(String),
}

/// One exported row, before formatting.
struct Row {
    id: String,
    task: &'static str,
    query: String,
    messages: Vec<dtr1_prompt::Message>,
    label: String,
}

fn row(dir: &Path, s: &Sample, version: PromptVersion) -> Result<Row, ExportError> {
    let twin = dtr1_prompt::load_input_twin(dir, s)?;
    let messages = dtr1_prompt::build(version, s.task, &s.query, &twin);
    let label = ParsedLabel {
        task: s.task,
        query: s.query.clone(),
        truth: s.truth.clone(),
        twin,
    };
    // Check the label the way the reward will read it, so a broken sample fails here and
    // not in the middle of a distributed run.
    let text = label.to_json();
    ParsedLabel::from_json(&text).map_err(|source| ExportError::Label {
        id: s.id.clone(),
        source,
    })?;
    Ok(Row {
        id: s.id.clone(),
        task: s.task.name(),
        query: s.query.clone(),
        messages,
        label: text,
    })
}

fn jsonl(rows: &[Row], prompt_key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        let v = serde_json::json!({
            prompt_key: r.messages,
            "label": r.label,
            "task": r.task,
            "id": r.id,
        });
        serde_json::to_writer(&mut out, &v).expect("JSON values serialise");
        out.push(b'\n');
    }
    out
}

fn parquet(rows: &[Row], split: &str, version: PromptVersion) -> Result<Vec<u8>, ExportError> {
    let strings = |f: &dyn Fn(&Row) -> String| -> ArrayRef {
        Arc::new(rows.iter().map(f).map(Some).collect::<StringArray>())
    };
    let msg_fields = Fields::from(vec![
        Field::new("role", DataType::Utf8, false),
        Field::new("content", DataType::Utf8, false),
    ]);
    let mut prompt = ListBuilder::new(StructBuilder::from_fields(msg_fields, rows.len() * 2));
    for r in rows {
        let sb = prompt.values();
        for m in &r.messages {
            sb.field_builder::<StringBuilder>(0)
                .expect("role column")
                .append_value(&m.role);
            sb.field_builder::<StringBuilder>(1)
                .expect("content column")
                .append_value(&m.content);
            sb.append(true);
        }
        prompt.append(true);
    }
    let field = |name: &str, t: DataType| Arc::new(Field::new(name, t, false));
    let reward_model = StructArray::from(vec![
        (
            field("style", DataType::Utf8),
            strings(&|_| "rule".to_string()),
        ),
        (
            field("ground_truth", DataType::Utf8),
            strings(&|r| r.label.clone()),
        ),
    ]);
    let extra_info = StructArray::from(vec![
        (
            field("split", DataType::Utf8),
            strings(&|_| split.to_string()),
        ),
        (
            field("index", DataType::Int64),
            Arc::new(Int64Array::from_iter_values(0..rows.len() as i64)) as ArrayRef,
        ),
        (field("id", DataType::Utf8), strings(&|r| r.id.clone())),
        (
            field("task", DataType::Utf8),
            strings(&|r| r.task.to_string()),
        ),
        (
            field("query", DataType::Utf8),
            strings(&|r| r.query.clone()),
        ),
        (
            field("prompt_version", DataType::Utf8),
            strings(&|_| version.to_string()),
        ),
    ]);
    let batch = RecordBatch::try_from_iter(vec![
        ("data_source", strings(&|r| format!("dtr1/{}", r.task))),
        ("prompt", Arc::new(prompt.finish()) as ArrayRef),
        ("ability", strings(&|r| r.task.to_string())),
        ("reward_model", Arc::new(reward_model) as ArrayRef),
        ("extra_info", Arc::new(extra_info) as ArrayRef),
    ])
    .map_err(|e| ExportError::Parquet(e.to_string()))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))
        .map_err(|e| ExportError::Parquet(e.to_string()))?;
    w.write(&batch)
        .map_err(|e| ExportError::Parquet(e.to_string()))?;
    w.close().map_err(|e| ExportError::Parquet(e.to_string()))?;
    Ok(buf)
}

/// Exports `splits` (all of the manifest's when empty) of the dataset in `dir` to `out`, with
/// prompts of `version`; `progress` is told each sample done. Returns the files written with
/// their row counts.
pub fn export(
    dir: &Path,
    format: Format,
    version: PromptVersion,
    out: &Path,
    splits: &[String],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<(PathBuf, usize)>, ExportError> {
    // read_split joins media and twin paths to `dir`; an absolute `dir` keeps the twin
    // loader from joining a relative one twice.
    let abs = dir
        .canonicalize()
        .map_err(|source| dtr1_data::DataError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    let dir = abs.as_path();
    let manifest = read_manifest(dir)?;
    let names: Vec<String> = if splits.is_empty() {
        manifest.splits.keys().cloned().collect()
    } else {
        for s in splits {
            if !manifest.splits.contains_key(s) {
                return Err(ExportError::NoSplit(s.clone()));
            }
        }
        splits.to_vec()
    };
    let mut written = vec![];
    let mut done = 0;
    for split in names {
        let samples = read_split(dir, &split)?;
        let mut rows = Vec::with_capacity(samples.len());
        for s in &samples {
            rows.push(row(dir, s, version)?);
            done += 1;
            progress(done);
        }
        let (file, bytes) = match format {
            Format::Verl => (format!("{split}.parquet"), parquet(&rows, &split, version)?),
            Format::Trl => (format!("{split}.jsonl"), jsonl(&rows, "prompt")),
            Format::Openrlhf => (format!("{split}.jsonl"), jsonl(&rows, "input")),
        };
        let path = out.join(file);
        write_atomic(&path, &bytes)?;
        written.push((path, rows.len()));
    }
    let reward = match format {
        Format::Verl => "# verl: custom_reward_function.path=<this file> custom_reward_function.name=compute_score\nfrom dtr1.adapters import compute_score  # noqa: F401\n",
        Format::Trl => "# TRL: GRPOTrainer(reward_funcs=[trl_reward], ...)\nfrom dtr1.adapters import trl_reward  # noqa: F401\n",
        Format::Openrlhf => "# OpenRLHF: --remote_rm_url <this file> --label_key label\nfrom dtr1.adapters import reward_func  # noqa: F401\n",
    };
    write_atomic(&out.join("dtr1_reward.py"), reward.as_bytes())?;
    Ok(written)
}

/// Samples in the given splits (all when empty), for a progress bar's length.
pub fn count(dir: &Path, splits: &[String]) -> Result<usize, ExportError> {
    let manifest = read_manifest(dir)?;
    let mut n = 0;
    for s in manifest.splits.keys() {
        if splits.is_empty() || splits.contains(s) {
            n += read_split(dir, s)?.len();
        }
    }
    Ok(n)
}
