//! A policy loaded to answer, under one adapter rule, and its prompts as chat messages.
//!
//! `dtr1 ask` and `/v1/ask` answer with the committed trained adapter unless told otherwise
//! (`--adapter DIR`, `--no-adapter`); `dtr1 eval` and `dtr1 passk` measure what they are
//! given (the adapter when one is given, else the base model). Either way the prompt version
//! is the one asked for, else the adapter's record ([`dtr1_prompt::version::of_adapter`]),
//! else the latest — so a policy is always asked in the prompt it was trained on.

use crate::{ChatMessage, Model, PolicyError, Tokenizer};
use dtr1_prompt::{Message, PromptVersion};
use std::path::{Path, PathBuf};

/// Where the committed trained adapter lives, relative to the repository.
pub const DEFAULT_ADAPTER: &str = "adapters/dtr1-smollm2-135m";

/// The committed adapter's directory, whether or not this checkout has it.
pub fn default_adapter() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DEFAULT_ADAPTER)
}

/// The committed trained adapter, when this checkout has it.
pub fn committed_adapter() -> Option<PathBuf> {
    let dir = default_adapter();
    dir.join("adapter_config.json").is_file().then_some(dir)
}

/// Which LoRA adapter a policy answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterChoice {
    /// The committed trained adapter when this checkout has it, else the base model.
    Committed,
    /// This adapter directory (PEFT format).
    Given(PathBuf),
    /// The base model.
    Base,
}

impl AdapterChoice {
    /// The rule of `dtr1 ask` and `dtr1 serve`: `--adapter DIR`, else the base model with
    /// `--no-adapter`, else the committed adapter.
    pub fn from_flags(adapter: Option<&Path>, no_adapter: bool) -> Self {
        match (adapter, no_adapter) {
            (Some(dir), _) => AdapterChoice::Given(dir.to_path_buf()),
            (None, true) => AdapterChoice::Base,
            (None, false) => AdapterChoice::Committed,
        }
    }

    /// The rule of `dtr1 eval` and `dtr1 passk`, which measure what they are given: the
    /// adapter when one is given, else the base model.
    pub fn given(adapter: Option<&Path>) -> Self {
        adapter.map_or(AdapterChoice::Base, |d| {
            AdapterChoice::Given(d.to_path_buf())
        })
    }

    /// The adapter directory the choice comes to in this checkout.
    pub fn resolve(&self) -> Option<PathBuf> {
        match self {
            AdapterChoice::Committed => committed_adapter(),
            AdapterChoice::Given(dir) => Some(dir.clone()),
            AdapterChoice::Base => None,
        }
    }

    /// The prompt version to ask in: `asked` when given, else the adapter's record, else
    /// the latest.
    pub fn prompt_version(
        &self,
        asked: Option<PromptVersion>,
    ) -> Result<PromptVersion, PolicyError> {
        version_for(asked, self.resolve().as_deref())
    }
}

fn version_for(
    asked: Option<PromptVersion>,
    adapter: Option<&Path>,
) -> Result<PromptVersion, PolicyError> {
    match (asked, adapter) {
        (Some(v), _) => Ok(v),
        (None, Some(dir)) => {
            dtr1_prompt::version::of_adapter(dir).map_err(|source| PolicyError::PromptVersion {
                dir: dir.to_path_buf(),
                source: Box::new(source),
            })
        }
        (None, None) => Ok(PromptVersion::LATEST),
    }
}

/// A policy loaded to answer.
#[derive(Debug)]
pub struct Answering {
    /// The model, with the adapter on it.
    pub model: Model,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// The adapter directory on the model, if any.
    pub adapter: Option<PathBuf>,
    /// The prompt version to ask it in.
    pub version: PromptVersion,
}

/// Loads a model (a GGUF file or an HF directory; `None`: [`crate::default_model_path`]) with
/// its tokenizer, puts the chosen adapter on it and settles the prompt version (see the
/// module docs).
pub fn load(
    model: Option<&Path>,
    adapter: &AdapterChoice,
    version: Option<PromptVersion>,
) -> Result<Answering, PolicyError> {
    let path = model.map_or_else(crate::default_model_path, Path::to_path_buf);
    let (mut m, tokenizer) = crate::load_model(&path)?;
    let dir = adapter.resolve();
    if let Some(dir) = &dir {
        m.load_lora(dir).map_err(|source| PolicyError::AdapterDir {
            dir: dir.clone(),
            source: Box::new(source),
        })?;
    }
    Ok(Answering {
        version: version_for(version, dir.as_deref())?,
        model: m,
        tokenizer,
        adapter: dir,
    })
}

// Roles stay strings on both sides (`system`, `user`, `assistant`): a `Role` type would
// ripple through the chat template, the remote wire format, the prompt crate's builders and
// every `ChatMessage::new("user", …)` in the policy's tests — a change of its own.

/// A prompt message as the chat template takes it: the one conversion from
/// [`dtr1_prompt::Message`].
impl From<Message> for ChatMessage {
    fn from(m: Message) -> Self {
        ChatMessage::new(m.role, m.content)
    }
}

impl From<&Message> for ChatMessage {
    fn from(m: &Message) -> Self {
        ChatMessage::new(m.role.clone(), m.content.clone())
    }
}

/// A prompt's messages as chat messages.
pub fn chat<M: Into<ChatMessage>>(prompt: impl IntoIterator<Item = M>) -> Vec<ChatMessage> {
    prompt.into_iter().map(Into::into).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_choose_the_adapter_and_the_adapter_the_prompt_version() {
        let d = Path::new("/some/adapter");
        assert_eq!(
            AdapterChoice::from_flags(None, false),
            AdapterChoice::Committed
        );
        assert_eq!(AdapterChoice::from_flags(None, true), AdapterChoice::Base);
        assert_eq!(
            AdapterChoice::from_flags(Some(d), false),
            AdapterChoice::Given(d.into())
        );
        assert_eq!(AdapterChoice::given(None), AdapterChoice::Base);
        assert_eq!(
            AdapterChoice::given(Some(d)),
            AdapterChoice::Given(d.into())
        );
        // The committed adapter is in the repository and records prompt version 1; a
        // version asked for wins; the base model is asked in the latest.
        assert_eq!(AdapterChoice::Committed.resolve(), Some(default_adapter()));
        let committed = AdapterChoice::Committed;
        assert_eq!(committed.prompt_version(None).unwrap(), PromptVersion::V1);
        assert_eq!(
            committed.prompt_version(Some(PromptVersion::V2)).unwrap(),
            PromptVersion::V2
        );
        assert_eq!(
            AdapterChoice::Base.prompt_version(None).unwrap(),
            PromptVersion::LATEST
        );
        // A record that cannot be read is an error naming the adapter.
        let dir = std::env::temp_dir().join(format!("dtr1-answering-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(dtr1_prompt::version::ADAPTER_FILE), "not json").unwrap();
        let e = AdapterChoice::Given(dir.clone())
            .prompt_version(None)
            .unwrap_err();
        assert!(
            matches!(&e, PolicyError::PromptVersion { dir: d, .. } if *d == dir),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
