//! VQA accuracy: normalised exact match, and the official VQA soft accuracy.
//!
//! **Normalisation** (the official VQA evaluation's, tables in `data/vqa_tables.json`):
//! `\n` and `\t` become spaces and the answer is trimmed; then *punctuation processing*:
//! each of `; / [ ] " { } ( ) = + \ _ - > < @ ` , ? !` is deleted when the original text
//! has it next to a space or contains a digit-comma-digit sequence, and replaced by a space
//! otherwise; every `.` not followed by a digit is deleted (at most 32 of them — the
//! official code passes `re.UNICODE` where `re.sub` expects a count); then *digit/article
//! processing*: lowercase, split on whitespace, number words `none zero one … ten` → digits,
//! articles `a an the` dropped, contractions restored (`dont` → `don't`), joined by spaces.
//!
//! **Soft accuracy** (official): the prediction is normalised; the ground-truth answers are
//! used as given (not even trimmed) and punctuation-processed only when they are not all identical (and never digit/article
//! processed — a quirk of the official code kept on purpose, so numbers compare with
//! published ones). For each of the n answers, acc = min(1, #matches among the other n−1 / 3);
//! the score is the mean over the n leave-one-out subsets.
//!
//! **Exact match**: both sides fully normalised, then compared.

use crate::MetricError;
use regex::Regex;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Deserialize)]
struct Tables {
    contractions: HashMap<String, String>,
    number_words: HashMap<String, String>,
    articles: Vec<String>,
    punctuation: Vec<String>,
}

struct Compiled {
    t: Tables,
    comma_strip: Regex,
    digit: Regex,
}

fn tables() -> &'static Compiled {
    static T: OnceLock<Compiled> = OnceLock::new();
    T.get_or_init(|| Compiled {
        t: serde_json::from_str(include_str!("../data/vqa_tables.json"))
            .expect("data/vqa_tables.json is valid (checked by tests)"),
        comma_strip: Regex::new(r"\d,\d").expect("valid regex"),
        digit: Regex::new(r"^\d$").expect("valid regex"),
    })
}

/// The official punctuation processing.
pub fn process_punctuation(text: &str) -> String {
    let c = tables();
    let has_comma_number = c.comma_strip.is_match(text);
    let mut out = text.to_string();
    for p in &c.t.punctuation {
        if text.contains(&format!("{p} ")) || text.contains(&format!(" {p}")) || has_comma_number {
            out = out.replace(p.as_str(), "");
        } else {
            out = out.replace(p.as_str(), " ");
        }
    }
    // Delete '.' not followed by a (Unicode) digit, at most 32 times.
    let chars: Vec<char> = out.chars().collect();
    let mut result = String::with_capacity(out.len());
    let mut removed = 0;
    let mut buf = [0u8; 4];
    for (i, &ch) in chars.iter().enumerate() {
        if ch == '.' && removed < 32 {
            let next_is_digit = chars
                .get(i + 1)
                .is_some_and(|n| c.digit.is_match(n.encode_utf8(&mut buf)));
            if !next_is_digit {
                removed += 1;
                continue;
            }
        }
        result.push(ch);
    }
    result
}

/// The official digit/article processing.
pub fn process_digit_article(text: &str) -> String {
    let c = tables();
    let lower = text.to_lowercase();
    let words: Vec<String> = lower
        .split_whitespace()
        .map(|w| {
            c.t.number_words
                .get(w)
                .cloned()
                .unwrap_or_else(|| w.to_string())
        })
        .filter(|w| !c.t.articles.iter().any(|a| a == w))
        .map(|w| c.t.contractions.get(&w).cloned().unwrap_or(w))
        .collect();
    words.join(" ")
}

fn clean(text: &str) -> String {
    text.replace(['\n', '\t'], " ").trim().to_string()
}

/// Full normalisation of an answer (see the module docs).
pub fn normalize_answer(text: &str) -> String {
    process_digit_article(&process_punctuation(&clean(text)))
}

/// Normalised exact match.
pub fn exact_match(prediction: &str, target: &str) -> bool {
    normalize_answer(prediction) == normalize_answer(target)
}

/// The official VQA soft accuracy of one prediction against the annotators' answers
/// (usually 10). No answers is an error.
pub fn soft_accuracy(prediction: &str, answers: &[&str]) -> Result<f64, MetricError> {
    if answers.is_empty() {
        return Err(MetricError::Empty {
            what: "VQA soft accuracy",
        });
    }
    let res = normalize_answer(prediction);
    // The official code compares the raw answers (not trimmed) and only punctuation-processes them.
    let mut gts: Vec<String> = answers.iter().map(|a| a.to_string()).collect();
    let first = &gts[0];
    if gts.iter().any(|g| g != first) {
        gts = gts.iter().map(|g| process_punctuation(g)).collect();
    }
    let total: f64 = (0..gts.len())
        .map(|i| {
            let matches = gts
                .iter()
                .enumerate()
                .filter(|(j, g)| *j != i && **g == res)
                .count();
            (matches as f64 / 3.0).min(1.0)
        })
        .sum();
    Ok(total / gts.len() as f64)
}
