//! Tokenizer built from GGUF metadata (or a `tokenizer.json`) and ChatML templating.
//!
//! GGUF stores a GPT-2 style byte-level BPE as `tokenizer.ggml.tokens` (already in the
//! byte-to-unicode alphabet, e.g. `Ġthe`), `tokenizer.ggml.merges` (`"Ġ t"`), per-token types
//! (3 = control, 4 = user-defined) and a pre-tokenizer name. We rebuild the same pipeline the
//! HF `tokenizer.json` describes with the `tokenizers` crate.

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::error::{PolicyError, Result};
use crate::gguf::GgufFile;

/// Qwen2's pre-tokenizer split pattern (from its `tokenizer.json`).
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Message text.
    pub content: String,
}

impl ChatMessage {
    /// Build a message.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A byte-level BPE tokenizer plus the special ids generation needs.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Beginning-of-sequence id, if the checkpoint defines one.
    pub bos_id: Option<u32>,
    /// End-of-sequence id.
    pub eos_id: u32,
    /// Ids that end generation (EOS and `<|im_end|>` when present).
    pub stop_ids: Vec<u32>,
    /// The checkpoint's Jinja chat template, if any (we render ChatML ourselves; this is kept
    /// so callers can check the checkpoint actually uses ChatML).
    pub chat_template: Option<String>,
}

fn tok_err(e: impl std::fmt::Display) -> PolicyError {
    PolicyError::Tokenizer(e.to_string())
}

impl Tokenizer {
    /// Build from GGUF `tokenizer.ggml.*` metadata.
    pub fn from_gguf(g: &GgufFile) -> Result<Self> {
        let model = g.md_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(PolicyError::Tokenizer(format!(
                "tokenizer.ggml.model `{model}` not supported (only byte-level BPE `gpt2`)"
            )));
        }
        let tokens: Vec<String> = g
            .md_array("tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<std::result::Result<_, _>>()
            .map_err(tok_err)?;
        let merges: Vec<(String, String)> = g
            .md_array("tokenizer.ggml.merges")?
            .iter()
            .map(|v| {
                let s = v.to_string().map_err(tok_err)?;
                let (a, b) = s
                    .split_once(' ')
                    .ok_or_else(|| tok_err(format!("merge `{s}` has no space")))?;
                Ok((a.to_string(), b.to_string()))
            })
            .collect::<Result<_>>()?;
        let types: Vec<i64> = match g.md_array("tokenizer.ggml.token_type") {
            Ok(a) => a
                .iter()
                .map(|v| v.to_i32().map(|x| x as i64))
                .collect::<std::result::Result<_, _>>()
                .map_err(tok_err)?,
            Err(_) => vec![1; tokens.len()],
        };
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(tok_err)?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let pre = g.md_str("tokenizer.ggml.pre").unwrap_or("default");
        let pre_tok: PreTokenizerWrapper = match pre {
            // SmolLM2's tokenizer.json: single digits, then GPT-2 byte-level with its regex.
            "smollm" | "starcoder" | "refact" => Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])
            .into(),
            "qwen2" => Sequence::new(vec![
                Split::new(
                    SplitPattern::Regex(QWEN2_PATTERN.into()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(tok_err)?
                .into(),
                ByteLevel::new(false, false, false).into(),
            ])
            .into(),
            "default" | "gpt2" | "gpt-2" => ByteLevel::new(false, true, true).into(),
            other => {
                return Err(PolicyError::Tokenizer(format!(
                    "pre-tokenizer `{other}` not supported (smollm, qwen2, gpt2)"
                )))
            }
        };
        inner.with_pre_tokenizer(Some(pre_tok));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        // Control (3) tokens are special; user-defined (4) are added but not special.
        let added: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == 3 || **t == 4)
            .map(|(s, t)| AddedToken::from(s.clone(), *t == 3))
            .collect();
        inner.add_special_tokens(&added);
        let eos_id = g.md_u64("tokenizer.ggml.eos_token_id")? as u32;
        let bos_id = g
            .md_u64("tokenizer.ggml.bos_token_id")
            .ok()
            .map(|x| x as u32);
        let mut stop_ids = vec![eos_id];
        if let Some(id) = inner.token_to_id("<|im_end|>") {
            if id != eos_id {
                stop_ids.push(id);
            }
        }
        let chat_template = g.md_str("tokenizer.chat_template").ok().map(String::from);
        Ok(Self {
            inner,
            bos_id,
            eos_id,
            stop_ids,
            chat_template,
        })
    }

    /// A word-level tokenizer over the words of `corpus` (split at whitespace and
    /// punctuation, BERT-style), with the ChatML control tokens, role names and `[UNK]`. Meant for tiny
    /// randomly initialised models — learning tests and ablations — where a 49 k-token BPE
    /// vocabulary would make every output token astronomically unlikely. Words are
    /// numbered by first appearance, so the same corpus always gives the same ids.
    pub fn word_level(corpus: &[&str]) -> Result<Self> {
        use tokenizers::models::wordlevel::WordLevel;
        use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
        use tokenizers::tokenizer::PreTokenizer;
        let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"];
        let mut vocab: std::collections::HashMap<String, u32> = Default::default();
        for s in specials {
            let n = vocab.len() as u32;
            vocab.insert(s.to_string(), n);
        }
        // ChatML role names are words of every rendered prompt.
        for s in ["system", "user", "assistant"] {
            let n = vocab.len() as u32;
            vocab.insert(s.to_string(), n);
        }
        let pre = BertPreTokenizer;
        for text in corpus {
            // Control tokens inside the corpus text are not words.
            let mut clean = text.to_string();
            for s in specials {
                clean = clean.replace(s, " ");
            }
            let mut pts = tokenizers::PreTokenizedString::from(clean.as_str());
            pre.pre_tokenize(&mut pts).map_err(tok_err)?;
            for (w, _, _) in pts.get_splits(
                tokenizers::OffsetReferential::Original,
                tokenizers::OffsetType::Byte,
            ) {
                if !vocab.contains_key(w) {
                    let n = vocab.len() as u32;
                    vocab.insert(w.to_string(), n);
                }
            }
        }
        let model = WordLevel::builder()
            .vocab(vocab.into_iter().collect())
            .unk_token("[UNK]".into())
            .build()
            .map_err(tok_err)?;
        let mut inner = tokenizers::Tokenizer::new(model);
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.add_special_tokens(
            &specials[..3]
                .iter()
                .map(|s| AddedToken::from(*s, true))
                .collect::<Vec<_>>(),
        );
        let id = |s: &str| {
            inner
                .token_to_id(s)
                .ok_or_else(|| tok_err(format!("{s} missing")))
        };
        let eos_id = id("<|endoftext|>")?;
        let stop_ids = vec![eos_id, id("<|im_end|>")?];
        Ok(Self {
            inner,
            bos_id: None,
            eos_id,
            stop_ids,
            chat_template: None,
        })
    }

    /// Load a HF `tokenizer.json`; `eos` names the end token (e.g. `<|im_end|>`).
    pub fn from_json_file(path: impl AsRef<Path>, eos: &str) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(path.as_ref()).map_err(tok_err)?;
        let eos_id = inner
            .token_to_id(eos)
            .ok_or_else(|| tok_err(format!("eos token `{eos}` not in vocabulary")))?;
        let mut stop_ids = vec![eos_id];
        for s in ["<|im_end|>", "<|endoftext|>"] {
            if let Some(id) = inner.token_to_id(s) {
                if !stop_ids.contains(&id) {
                    stop_ids.push(id);
                }
            }
        }
        Ok(Self {
            inner,
            bos_id: None,
            eos_id,
            stop_ids,
            chat_template: None,
        })
    }

    /// Encode text; special-token strings in `text` (e.g. `<|im_start|>`) map to their ids.
    /// No BOS is added (ChatML checkpoints such as SmolLM2-Instruct do not use one).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec())
    }

    /// Decode ids to text; `skip_special` drops control tokens.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner.decode(ids, skip_special).map_err(tok_err)
    }

    /// Id of a token string.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Render ChatML: `<|im_start|>role\ncontent<|im_end|>\n` per message, then
    /// `<|im_start|>assistant\n` when `add_generation_prompt`.
    pub fn apply_chatml(messages: &[ChatMessage], add_generation_prompt: bool) -> String {
        let mut s = String::new();
        for m in messages {
            s.push_str("<|im_start|>");
            s.push_str(&m.role);
            s.push('\n');
            s.push_str(&m.content);
            s.push_str("<|im_end|>\n");
        }
        if add_generation_prompt {
            s.push_str("<|im_start|>assistant\n");
        }
        s
    }

    /// ChatML-render and encode.
    pub fn encode_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>> {
        self.encode(&Self::apply_chatml(messages, add_generation_prompt))
    }
}
