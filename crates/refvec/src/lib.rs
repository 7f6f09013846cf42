//! Test-only loader for reference vectors.
//!
//! The vectors are produced by the reference implementations themselves (pycocotools,
//! rouge-score, sacrebleu, …) through `scripts/ref/generate.sh`, which `scripts/test.sh`
//! runs before `cargo test`. A missing file is a test failure, never a silent skip: a
//! cross-check that does not run must not look like one that passed.

use serde::de::DeserializeOwned;
use std::path::PathBuf;

/// Directory holding the vectors: `$DTR1_REF_VECTORS`, or `target/ref-vectors` at the
/// workspace root.
pub fn dir() -> PathBuf {
    match std::env::var_os("DTR1_REF_VECTORS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ref-vectors"),
    }
}

/// Loads `NAME.json` from [`dir`], panicking with instructions when it is absent.
pub fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reference vectors {} are missing ({e}); generate them with \
             `bash scripts/setup.sh && bash scripts/ref/generate.sh` (scripts/test.sh does both)",
            path.display()
        )
    });
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("reference vectors {} do not parse: {e}", path.display()))
}
