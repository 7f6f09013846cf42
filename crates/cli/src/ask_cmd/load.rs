//! Loading the policy that answers (local with the adapter rule, or a remote server) and
//! generating rollouts with it.

use super::args::{AskArgs, PolicyKind};
use super::DEFAULT_ADAPTER;
use anyhow::{bail, Context, Result};
use dtr1_policy::{ChatMessage, Model, Policy, RemotePolicy, SamplingParams, Tokenizer};
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The policy that answers, with what the user should know about it.
pub(super) enum Loaded {
    Local {
        model: Box<Model>,
        tokenizer: Box<Tokenizer>,
        adapter: Option<PathBuf>,
        /// The prompt version it is asked in.
        version: dtr1_prompt::PromptVersion,
    },
    Remote(RemotePolicy, String),
}

impl Loaded {
    /// The prompt version to ask in: the local adapter's (or `--prompt-version`); for a
    /// remote server, `--prompt-version` or the latest.
    pub(super) fn version(&self, a: &AskArgs) -> dtr1_prompt::PromptVersion {
        match self {
            Loaded::Local { version, .. } => *version,
            Loaded::Remote(..) => a
                .prompt_version
                .unwrap_or(dtr1_prompt::PromptVersion::LATEST),
        }
    }
}

/// The committed trained adapter, when this checkout has it: what `dtr1 ask` and `/v1/ask`
/// answer with unless told otherwise.
pub fn committed_adapter() -> Option<PathBuf> {
    let dir = default_adapter();
    dir.join("adapter_config.json").is_file().then_some(dir)
}

/// The committed adapter's directory.
pub(super) fn default_adapter() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DEFAULT_ADAPTER)
}

pub(super) fn load_policy(a: &AskArgs) -> Result<(Loaded, String)> {
    let remote = match (a.policy, &a.remote) {
        (_, Some(url)) => Some(url.as_str()),
        (PolicyKind::Remote, None) => bail!("--policy remote needs --remote URL"),
        (PolicyKind::Local, None) => None,
    };
    if let Some(url) = remote {
        if a.adapter.is_some() {
            bail!("--adapter applies to the local policy; load it into the remote server instead");
        }
        let name = a.model.clone().unwrap_or_else(|| "default".into());
        let p = RemotePolicy::new(url, &name, Duration::from_secs(a.timeout))
            .with_context(|| format!("remote policy {url}"))?;
        let note = format!("remote {url} (model {name:?}); the server's own weights answer");
        return Ok((Loaded::Remote(p, url.to_string()), note));
    }
    let (mut model, tokenizer) = crate::train_cmd::load_model(a.model.as_deref().map(Path::new))?;
    let model_name = a.model.clone().map_or_else(
        || dtr1_policy::DEFAULT_MODEL_FILE.to_string(),
        |m| {
            Path::new(&m)
                .file_name()
                .map_or(m.clone(), |f| f.to_string_lossy().into_owned())
        },
    );
    let (adapter, note) = if a.no_adapter {
        (None, format!("{model_name}, base model (--no-adapter)"))
    } else if let Some(dir) = &a.adapter {
        (
            Some(dir.clone()),
            format!("{model_name} + adapter {}", dir.display()),
        )
    } else {
        if let Some(dir) = committed_adapter() {
            (
                Some(dir),
                format!("{model_name} + the committed adapter {DEFAULT_ADAPTER}/"),
            )
        } else {
            (
                None,
                format!(
                    "{model_name}, BASE MODEL: no trained adapter at {DEFAULT_ADAPTER}/ yet, so the untrained model answers (expect poor answers; pass --adapter DIR for a trained one)"
                ),
            )
        }
    };
    if let Some(dir) = &adapter {
        model
            .load_lora(dir)
            .with_context(|| format!("cannot load the adapter {}", dir.display()))?;
    }
    let version = match (a.prompt_version, &adapter) {
        (Some(v), _) => v,
        (None, Some(dir)) => dtr1_prompt::version::of_adapter(dir)?,
        (None, None) => dtr1_prompt::PromptVersion::LATEST,
    };
    Ok((
        Loaded::Local {
            model: Box::new(model),
            tokenizer: Box::new(tokenizer),
            adapter,
            version,
        },
        note,
    ))
}

/// Completions with their generated-token counts (local only), and the prompt's length in
/// tokens (local only).
pub(super) type Generated = (Vec<(String, Option<usize>)>, Option<usize>);

pub(super) fn generate(
    policy: &mut Loaded,
    messages: &[ChatMessage],
    params: &SamplingParams,
    n: usize,
) -> Result<Generated> {
    match policy {
        Loaded::Local {
            model,
            tokenizer,
            adapter,
            ..
        } => {
            let prompt = tokenizer
                .encode_chat(messages, true)
                .context("cannot tokenise the prompt")?;
            let plen = prompt.len();
            let pb = ProgressBar::new_spinner();
            pb.set_message(format!(
                "generating {n} rollout(s) from a {plen}-token prompt"
            ));
            pb.enable_steady_tick(Duration::from_millis(200));
            // One prefill shared by the n streams.
            let gens = dtr1_policy::generate_group(
                model,
                tokenizer,
                &prompt,
                n,
                params,
                adapter.is_some(),
            )
            .context("generation failed")?;
            pb.finish_and_clear();
            Ok((
                gens.into_iter()
                    .map(|g| (g.text, Some(g.tokens.len())))
                    .collect(),
                Some(plen),
            ))
        }
        Loaded::Remote(p, url) => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                // Each rollout gets its own seed, so a seeded server samples n different ones.
                let params = SamplingParams {
                    seed: params.seed.wrapping_add(i as u64),
                    ..params.clone()
                };
                let text = p
                    .complete(&[messages.to_vec()], &params)
                    .with_context(|| format!("the remote policy at {url} did not answer"))?
                    .pop()
                    .with_context(|| {
                        format!("the remote policy at {url} returned no completion")
                    })?;
                out.push((text, None));
            }
            Ok((out, None))
        }
    }
}
