//! The [`Policy`] interface, for a model in this process ([`LocalPolicy`]) or behind an
//! OpenAI-compatible chat-completions server ([`RemotePolicy`]: vLLM, llama.cpp server,
//! SGLang …), so evaluation and asking can use either.
//!
//! The remote client speaks plain HTTP (`http://host:port`, the usual way such servers run
//! beside the trainer); it sets a per-request timeout and retries connection failures, 429
//! and 5xx answers with exponential back-off, and reports anything else as an error that
//! names the server and what it said.

use std::time::Duration;

use crate::error::{PolicyError, Result};
use crate::generate::{generate, SamplingParams};
use crate::model::Model;
use crate::tokenizer::{ChatMessage, Tokenizer};

/// Something that answers chats: one completion per conversation.
pub trait Policy {
    /// A short description for reports (`local SmolLM2…`, `remote http://…`).
    fn describe(&self) -> String;

    /// Complete each conversation (messages rendered by the policy's own chat template).
    fn complete(
        &mut self,
        conversations: &[Vec<ChatMessage>],
        params: &SamplingParams,
    ) -> Result<Vec<String>>;
}

/// A model loaded in this process, with the adapter on when it has one.
pub struct LocalPolicy {
    /// The model.
    pub model: Model,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Report name.
    pub name: String,
}

impl Policy for LocalPolicy {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn complete(
        &mut self,
        conversations: &[Vec<ChatMessage>],
        params: &SamplingParams,
    ) -> Result<Vec<String>> {
        let prompts = conversations
            .iter()
            .map(|c| self.tokenizer.encode_chat(c, true))
            .collect::<Result<Vec<_>>>()?;
        Ok(
            generate(&self.model, &self.tokenizer, &prompts, params, true)?
                .into_iter()
                .map(|g| g.text)
                .collect(),
        )
    }
}

/// An OpenAI-compatible `POST /v1/chat/completions` endpoint.
pub struct RemotePolicy {
    base: String,
    model: String,
    agent: ureq::Agent,
    /// Attempts per request (≥ 1).
    pub attempts: u32,
    /// First back-off; doubled after each failed attempt.
    pub backoff: Duration,
}

impl RemotePolicy {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8000`, with or without `/v1`)
    /// asking for `model`, giving up on a request after `timeout`.
    pub fn new(base_url: &str, model: &str, timeout: Duration) -> Result<Self> {
        let base = base_url
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_string();
        if !base.starts_with("http://") {
            return Err(PolicyError::InvalidArgument(format!(
                "remote policy URL `{base_url}` must start with http:// (TLS is not built in; run the server on loopback or behind a local proxy)"
            )));
        }
        if timeout.is_zero() {
            return Err(PolicyError::InvalidArgument(
                "remote policy timeout must be > 0".into(),
            ));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout(timeout)
            .build();
        Ok(Self {
            base,
            model: model.to_string(),
            agent,
            attempts: 3,
            backoff: Duration::from_millis(200),
        })
    }

    fn url(&self) -> String {
        format!("{}/v1/chat/completions", self.base)
    }

    fn one(&self, messages: &[ChatMessage], params: &SamplingParams) -> Result<String> {
        let msgs: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| serde_json::json!({"role": m.role, "content": m.content}))
            .collect();
        let mut body = serde_json::json!({
            "model": self.model,
            "messages": msgs,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature.max(0.0),
            "top_p": params.top_p,
            "seed": params.seed,
            "n": 1,
        });
        if !params.stop.is_empty() {
            body["stop"] = serde_json::json!(params.stop);
        }
        if params.top_k > 0 {
            // Not in the OpenAI API; vLLM and llama.cpp read it.
            body["top_k"] = serde_json::json!(params.top_k);
        }
        let url = self.url();
        let remote = |m: String| PolicyError::Remote {
            url: url.clone(),
            reason: m,
        };
        let mut wait = self.backoff;
        let mut last = String::new();
        for attempt in 1..=self.attempts.max(1) {
            match self.agent.post(&url).send_json(body.clone()) {
                Ok(resp) => {
                    let v: serde_json::Value = resp
                        .into_json()
                        .map_err(|e| remote(format!("answer is not JSON: {e}")))?;
                    let content =
                        v["choices"][0]["message"]["content"]
                            .as_str()
                            .ok_or_else(|| {
                                remote(format!(
                                    "answer has no choices[0].message.content: {}",
                                    truncate(&v.to_string(), 200)
                                ))
                            })?;
                    return Ok(content.to_string());
                }
                Err(ureq::Error::Status(code, resp)) if code == 429 || code >= 500 => {
                    last = format!(
                        "HTTP {code}: {}",
                        truncate(&resp.into_string().unwrap_or_default(), 200)
                    );
                }
                Err(ureq::Error::Status(code, resp)) => {
                    return Err(remote(format!(
                        "HTTP {code}: {}",
                        truncate(&resp.into_string().unwrap_or_default(), 200)
                    )));
                }
                Err(ureq::Error::Transport(t)) => last = t.to_string(),
            }
            if attempt < self.attempts {
                std::thread::sleep(wait);
                wait *= 2;
            }
        }
        Err(remote(format!(
            "gave up after {} attempts; last error: {last}",
            self.attempts.max(1)
        )))
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

impl Policy for RemotePolicy {
    fn describe(&self) -> String {
        format!("remote {} ({})", self.base, self.model)
    }

    fn complete(
        &mut self,
        conversations: &[Vec<ChatMessage>],
        params: &SamplingParams,
    ) -> Result<Vec<String>> {
        conversations.iter().map(|c| self.one(c, params)).collect()
    }
}
