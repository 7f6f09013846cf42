//! Prompt versions, and the record of the version an adapter was trained with.
//!
//! Numbers measured with different prompt versions are not comparable, and a policy answers
//! well only in the contract it was trained on. So every adapter dt-r1 trains records its
//! version in [`ADAPTER_FILE`] beside the PEFT files, and everything that runs an adapter
//! (`dtr1 eval`, `dtr1 ask`, GRPO from an initial adapter) reads it from there. An adapter
//! without the file predates versioning and is version 1.

use crate::PromptError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A version of the prompt templates, the task views and the rollout contract.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub enum PromptVersion {
    /// Twin lines start with the id (`#8 cube … color=red`); depths as `MEAN[MIN,MAX]`; the
    /// `<twin>` block is JSON (`{"objects":[{"id":8,"label":"cube",…}]}`).
    #[serde(rename = "1")]
    V1,
    /// The contract for a small policy: the id comes after the words that identify the
    /// object, in the prompt (`cube color=red … #8`) and in the rollout; the `<twin>` block
    /// is compact lines copied from the prompt (`cube color=red #8`); depths are their mean
    /// alone, image headers carry no depth source, video tracks show only what the queries
    /// ask about (label, colour, frames) and the events; the system message and the
    /// reasoning are short. About a third fewer prompt tokens and a third the trace tokens
    /// of version 1 (`crates/prompt/tests/token_budget.rs`).
    #[default]
    #[serde(rename = "2")]
    V2,
}

impl PromptVersion {
    /// The version new prompts, traces and adapters use.
    pub const LATEST: PromptVersion = PromptVersion::V2;
    /// Every version, oldest first.
    pub const ALL: [PromptVersion; 2] = [PromptVersion::V1, PromptVersion::V2];

    /// `"1"`, `"2"`: how reports and files write the version.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptVersion::V1 => "1",
            PromptVersion::V2 => "2",
        }
    }
}

impl fmt::Display for PromptVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A prompt version that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown prompt version {0:?} (known: 1, 2)")]
pub struct UnknownVersion(pub String);

impl FromStr for PromptVersion {
    type Err = UnknownVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        PromptVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

/// The file in an adapter directory that records its prompt version.
pub const ADAPTER_FILE: &str = "dtr1_prompt.json";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdapterRecord {
    prompt_version: PromptVersion,
}

/// The prompt version an adapter was trained with: its [`ADAPTER_FILE`], or version 1 when
/// the directory has none (adapters from before versioning).
pub fn of_adapter(dir: &Path) -> Result<PromptVersion, PromptError> {
    let path = dir.join(ADAPTER_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PromptVersion::V1),
        Err(source) => {
            return Err(PromptError::Record {
                path,
                source: source.into(),
            })
        }
    };
    serde_json::from_str::<AdapterRecord>(&text)
        .map(|r| r.prompt_version)
        .map_err(|e| PromptError::Record {
            path,
            source: Box::new(e),
        })
}

/// Records `version` in an adapter directory (atomically: a reader sees the old record or
/// the new one).
pub fn record(dir: &Path, version: PromptVersion) -> Result<(), PromptError> {
    let path = dir.join(ADAPTER_FILE);
    let text = serde_json::to_string_pretty(&AdapterRecord {
        prompt_version: version,
    })
    .expect("the record serialises");
    dtr1_data::dataset::write_atomic(&path, format!("{text}\n").as_bytes()).map_err(|e| {
        PromptError::Record {
            path,
            source: Box::new(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_print_and_round_trip_through_the_adapter_record() {
        assert_eq!("2".parse::<PromptVersion>().unwrap(), PromptVersion::V2);
        assert_eq!("v1".parse::<PromptVersion>().unwrap(), PromptVersion::V1);
        let e = "3".parse::<PromptVersion>().unwrap_err();
        assert!(e.to_string().contains("known: 1, 2"), "{e}");
        assert_eq!(PromptVersion::V1.to_string(), "1");
        let dir = tempfile::tempdir().unwrap();
        // No record: an adapter from before versioning.
        assert_eq!(of_adapter(dir.path()).unwrap(), PromptVersion::V1);
        record(dir.path(), PromptVersion::V2).unwrap();
        assert_eq!(of_adapter(dir.path()).unwrap(), PromptVersion::V2);
        let text = std::fs::read_to_string(dir.path().join(ADAPTER_FILE)).unwrap();
        assert!(text.contains("\"prompt_version\": \"2\""), "{text}");
        // A damaged record is an error that names the file, never a silent version 1.
        std::fs::write(dir.path().join(ADAPTER_FILE), "{\"prompt_version\": \"9\"}").unwrap();
        let e = of_adapter(dir.path()).unwrap_err().to_string();
        assert!(e.contains(ADAPTER_FILE), "{e}");
    }
}
