//! ROUGE-L F1, exactly as Google's `rouge-score` package computes it.
//!
//! Tokenisation (rouge-score's default tokenizer): lowercase; every run of characters
//! other than `a-z0-9` becomes a space; split on whitespace; with stemming, tokens longer
//! than 3 characters are Porter-stemmed as NLTK's `PorterStemmer()` does ([`crate::porter`]);
//! tokens that are not `[a-z0-9]+` are dropped.
//!
//! Score: with `L` the longest common subsequence of the token lists, precision = `L / |pred|`,
//! recall = `L / |target|` (each 0 when its list is empty), F1 = `2PR / (P + R)` or 0.
//! Against several references, [`rouge_l_multi`] takes the reference with the best F1
//! (rouge-score's `score_multi`).

use crate::porter;

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    /// LCS / prediction length.
    pub precision: f64,
    /// LCS / target length.
    pub recall: f64,
    /// Harmonic mean.
    pub fmeasure: f64,
}

/// rouge-score's tokenizer (see the module docs).
pub fn tokenize(text: &str, stem: bool) -> Vec<String> {
    let lower = text.to_lowercase();
    let cleaned: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                ' '
            }
        })
        .collect();
    cleaned
        .split_whitespace()
        .map(|t| {
            if stem && t.len() > 3 {
                porter::stem(t)
            } else {
                t.to_string()
            }
        })
        .filter(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        .collect()
}

/// Length of the longest common subsequence, O(|a|·|b|) time and O(min) memory.
pub fn lcs_len<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut row = vec![0usize; short.len() + 1];
    for x in long {
        let mut diag = 0;
        for (j, y) in short.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    row[short.len()]
}

fn score_tokens(target: &[String], pred: &[String]) -> Score {
    if target.is_empty() || pred.is_empty() {
        return Score::default();
    }
    let l = lcs_len(target, pred) as f64;
    let precision = l / pred.len() as f64;
    let recall = l / target.len() as f64;
    let fmeasure = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Score {
        precision,
        recall,
        fmeasure,
    }
}

/// ROUGE-L of a prediction against one target.
pub fn rouge_l(target: &str, prediction: &str, stem: bool) -> Score {
    score_tokens(&tokenize(target, stem), &tokenize(prediction, stem))
}

/// ROUGE-L against several targets: the one with the highest F1 (the first on ties).
/// No targets → all zeros.
pub fn rouge_l_multi(targets: &[&str], prediction: &str, stem: bool) -> Score {
    let pred = tokenize(prediction, stem);
    let mut best: Option<Score> = None;
    for t in targets {
        let s = score_tokens(&tokenize(t, stem), &pred);
        if best.is_none_or(|b| s.fmeasure > b.fmeasure) {
            best = Some(s);
        }
    }
    best.unwrap_or_default()
}
