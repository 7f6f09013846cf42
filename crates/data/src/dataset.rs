//! The dataset format on disk (documented in `docs/dataset-format.md`):
//!
//! ```text
//! DIR/manifest.json        {"format": "dtr1-dataset", "version": 2, "name": …, "splits": {"train": "train.jsonl", …}}
//! DIR/<split>.jsonl        one Sample per line (JSON), media paths relative to DIR
//! DIR/…                    media and twins, wherever the samples point
//! ```
//!
//! Writes are atomic (temporary file, then rename), so an interrupted write never leaves a
//! half-written split or manifest behind.

use crate::error::{read, read_json, DataError};
use crate::Sample;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `format` value of a dt-r1 manifest.
pub const FORMAT: &str = "dtr1-dataset";
/// The manifest version this build reads and writes. Version 2 stores a generated query's
/// meaning as a typed `spec` field of the sample ([`crate::QuerySpec`]); version 1 kept it as
/// Rust debug text in `meta.spec`, which nothing reads any more.
pub const VERSION: u32 = 2;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Dataset name.
    pub name: String,
    /// Split name → JSONL file, relative to the manifest's directory.
    pub splits: BTreeMap<String, PathBuf>,
    /// Free-form provenance (generator, seed, source files…).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub info: BTreeMap<String, String>,
}

/// Writes `bytes` to `path` atomically: a temporary file beside it (`NAME.EXT.tmp`, so
/// files of one stem never share a temporary), fsync, rename. The workspace's one atomic
/// writer: every file a user keeps (datasets, reports, checkpoints, pictures) goes through it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes a dataset: one JSONL file per split and the manifest (last, so a manifest on disk
/// always points at complete splits).
pub fn write(
    dir: &Path,
    name: &str,
    splits: &BTreeMap<String, Vec<Sample>>,
) -> Result<Manifest, DataError> {
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        name: name.into(),
        splits: BTreeMap::new(),
        info: BTreeMap::new(),
    };
    for (split, samples) in splits {
        let file = PathBuf::from(format!("{split}.jsonl"));
        let mut text = String::new();
        for s in samples {
            text.push_str(&serde_json::to_string(s).expect("samples serialise"));
            text.push('\n');
        }
        write_atomic(&dir.join(&file), text.as_bytes())?;
        manifest.splits.insert(split.clone(), file);
    }
    let json = serde_json::to_string_pretty(&manifest).expect("manifests serialise");
    write_atomic(&dir.join("manifest.json"), json.as_bytes())?;
    Ok(manifest)
}

/// Reads a manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest, DataError> {
    let path = dir.join("manifest.json");
    let m: Manifest = read_json(&path)?;
    if m.format != FORMAT {
        return Err(DataError::invalid(
            &path,
            format!("format is {:?}, expected {FORMAT:?}", m.format),
        ));
    }
    if m.version < VERSION {
        return Err(DataError::OldVersion {
            path,
            found: m.version,
            expected: VERSION,
        });
    }
    if m.version != VERSION {
        return Err(DataError::invalid(
            &path,
            format!(
                "version {} is not supported (this build reads {VERSION})",
                m.version
            ),
        ));
    }
    Ok(m)
}

/// Reads one split; media and twin paths are made absolute (joined to `dir`).
pub fn read_split(dir: &Path, split: &str) -> Result<Vec<Sample>, DataError> {
    let m = read_manifest(dir)?;
    let file = m.splits.get(split).ok_or_else(|| {
        DataError::invalid(
            dir.join("manifest.json"),
            format!(
                "no split {split:?} (have: {:?})",
                m.splits.keys().collect::<Vec<_>>()
            ),
        )
    })?;
    let path = dir.join(file);
    let text = String::from_utf8(read(&path)?)
        .map_err(|e| DataError::invalid(&path, format!("not UTF-8: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut s: Sample = serde_json::from_str(line)
            .map_err(|e| DataError::invalid(&path, format!("line {}: {e}", i + 1)))?;
        absolutise(&mut s, dir);
        out.push(s);
    }
    Ok(out)
}

fn absolutise(s: &mut Sample, dir: &Path) {
    match &mut s.media {
        crate::Media::Image { path, .. } => *path = dir.join(&*path),
        crate::Media::Video { frames, .. } => {
            for f in frames {
                *f = dir.join(&*f);
            }
        }
    }
    if let Some(t) = &mut s.twin {
        *t = dir.join(&*t);
    }
}
