//! Loading the policy that answers (local with the adapter rule, or a remote server) and
//! generating rollouts with it.

use super::args::{AskArgs, PolicyKind};
use anyhow::{bail, Context, Result};
use dtr1_policy::answering::DEFAULT_ADAPTER;
use dtr1_policy::{
    AdapterChoice, ChatMessage, Model, Policy, RemotePolicy, SamplingParams, Tokenizer,
};
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

/// Loads the policy that answers: a remote server, or the local model under the adapter rule
/// every answering path follows ([`AdapterChoice::from_flags`]: `--adapter DIR`, else the base
/// model with `--no-adapter`, else the committed adapter), asked in `--prompt-version` or
/// the adapter's recorded version. The note says which, for the user.
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
    let model_path = a.model.as_deref().map(Path::new);
    let choice = AdapterChoice::from_flags(a.adapter.as_deref(), a.no_adapter);
    let loaded = dtr1_policy::answering::load(model_path, &choice, a.prompt_version)
        .with_context(|| {
            format!(
                "cannot load the model {} or its adapter (run scripts/setup.sh to fetch the default model)",
                model_path.map_or_else(dtr1_policy::default_model_path, Path::to_path_buf).display()
            )
        })?;
    let model_name = a.model.clone().map_or_else(
        || dtr1_policy::DEFAULT_MODEL_FILE.to_string(),
        |m| {
            Path::new(&m)
                .file_name()
                .map_or(m.clone(), |f| f.to_string_lossy().into_owned())
        },
    );
    let note = match (&choice, &loaded.adapter) {
        (AdapterChoice::Base, _) => format!("{model_name}, base model (--no-adapter)"),
        (AdapterChoice::Given(dir), _) => format!("{model_name} + adapter {}", dir.display()),
        (AdapterChoice::Committed, Some(_)) => {
            format!("{model_name} + the committed adapter {DEFAULT_ADAPTER}/")
        }
        (AdapterChoice::Committed, None) => format!(
            "{model_name}, BASE MODEL: no trained adapter at {DEFAULT_ADAPTER}/ yet, so the untrained model answers (expect poor answers; pass --adapter DIR for a trained one)"
        ),
    };
    Ok((
        Loaded::Local {
            model: Box::new(loaded.model),
            tokenizer: Box::new(loaded.tokenizer),
            adapter: loaded.adapter,
            version: loaded.version,
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
