//! VQA accuracy: normalised exact match, and the official VQA soft accuracy.
//!
//! Reference: `PythonEvaluationTools/vqaEvaluation/vqaEval.py` of GT-Vision-Lab/VQA at
//! commit a013f00 (2021, "Fixed processing answers bug"), its current version. It is Python 2
//! code, so its string rules are Python 2.7's on `unicode`: `strip`/`split` whitespace
//! includes U+001C–U+001F and U+180E, `lower` maps one character to one (U+0130 `İ` → `i`,
//! no final-sigma rule), and `\d` in its regular expressions is ASCII `0-9` only. The
//! tests check all of this on vectors the official code produced
//! (`data/vqa_official_vectors.json`).
//!
//! **Cleaning**: `\n` and `\t` become spaces and the answer is stripped.
//!
//! **Normalisation** (tables in `data/vqa_tables.json`, equal to the official ones):
//! *punctuation processing*: each of `; / [ ] " { } ( ) = + \ _ - > < @ ` , ? !` is deleted
//! when the text has it next to a space or contains a digit-comma-digit sequence, and
//! replaced by a space otherwise; every `.` not followed by a digit is deleted (at most 32 of
//! them — the official code passes `re.UNICODE` where `re.sub` expects a count); then
//! *digit/article processing*: lowercase, split on whitespace, number words
//! `none zero one … ten` → digits, articles `a an the` dropped, contractions restored
//! (`dont` → `don't`), joined by single spaces.
//!
//! **Soft accuracy** (official): both the prediction and the annotators' answers are cleaned.
//! When the cleaned answers are all identical nothing else happens — the prediction must
//! equal them as written (`"Yes"` or `"yes."` score 0 against ten `"yes"`, `"ten"` 0
//! against ten `"10"`). Otherwise every answer *and* the prediction are normalised (so
//! `"ten"` matches `"10"`). For each of the n answers, acc = min(1, #matches among the other
//! n−1 / 3); the score is the mean over the n leave-one-out subsets (with one answer it is
//! always 0).
//!
//! **Exact match** (not part of the official evaluation, which has no single-answer form):
//! both sides cleaned and normalised as the official code does for mixed answers, then
//! compared — the leniency the soft accuracy grants whenever annotators disagree.

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
}

fn tables() -> &'static Compiled {
    static T: OnceLock<Compiled> = OnceLock::new();
    T.get_or_init(|| Compiled {
        t: serde_json::from_str(include_str!("../data/vqa_tables.json"))
            .expect("data/vqa_tables.json is valid (checked by tests)"),
        // Python 2's `re` without the UNICODE flag: `\d` is ASCII only.
        comma_strip: Regex::new(r"[0-9],[0-9]").expect("valid regex"),
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
    // Delete '.' not followed by an ASCII digit, at most 32 times.
    let chars: Vec<char> = out.chars().collect();
    let mut result = String::with_capacity(out.len());
    let mut removed = 0;
    for (i, &ch) in chars.iter().enumerate() {
        if ch == '.' && removed < 32 {
            let next_is_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if !next_is_digit {
                removed += 1;
                continue;
            }
        }
        result.push(ch);
    }
    result
}

/// Python 2.7's `unicode.isspace`: Rust's whitespace plus the ASCII separators U+001C–U+001F
/// and U+180E (a space separator in Unicode 5.2, Python 2.7's database).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c) || c == '\u{180e}'
}

/// The characters Python 2.7's `unicode.lower` changes (its Unicode 5.2 database), as
/// `(first, last, step)` code-point ranges, read off Python 2.7.18 itself. Newer Unicode
/// versions (Rust's) lowercase ~460 more characters (Cherokee, Georgian Mtavruli, Latin
/// Extended-D additions, …) that the official code leaves as they are. The tests check this
/// table against the interpreter's full mapping (`data/vqa_official_vectors.json`).
const PY27_LOWERCASED: &[(u32, u32, u32)] = &[
    (0x0041, 0x005A, 1),
    (0x00C0, 0x00D6, 1),
    (0x00D8, 0x00DE, 1),
    (0x0100, 0x0136, 2),
    (0x0139, 0x0147, 2),
    (0x014A, 0x0178, 2),
    (0x0179, 0x017D, 2),
    (0x0181, 0x0182, 1),
    (0x0184, 0x0186, 2),
    (0x0187, 0x0189, 2),
    (0x018A, 0x018B, 1),
    (0x018E, 0x0191, 1),
    (0x0193, 0x0194, 1),
    (0x0196, 0x0198, 1),
    (0x019C, 0x019D, 1),
    (0x019F, 0x01A0, 1),
    (0x01A2, 0x01A6, 2),
    (0x01A7, 0x01A9, 2),
    (0x01AC, 0x01AE, 2),
    (0x01AF, 0x01B1, 2),
    (0x01B2, 0x01B3, 1),
    (0x01B5, 0x01B7, 2),
    (0x01B8, 0x01B8, 1),
    (0x01BC, 0x01BC, 1),
    (0x01C4, 0x01C5, 1),
    (0x01C7, 0x01C8, 1),
    (0x01CA, 0x01CB, 1),
    (0x01CD, 0x01DB, 2),
    (0x01DE, 0x01EE, 2),
    (0x01F1, 0x01F2, 1),
    (0x01F4, 0x01F6, 2),
    (0x01F7, 0x01F8, 1),
    (0x01FA, 0x0232, 2),
    (0x023A, 0x023B, 1),
    (0x023D, 0x023E, 1),
    (0x0241, 0x0243, 2),
    (0x0244, 0x0246, 1),
    (0x0248, 0x024E, 2),
    (0x0370, 0x0372, 2),
    (0x0376, 0x0376, 1),
    (0x0386, 0x0388, 2),
    (0x0389, 0x038A, 1),
    (0x038C, 0x038E, 2),
    (0x038F, 0x0391, 2),
    (0x0392, 0x03A1, 1),
    (0x03A3, 0x03AB, 1),
    (0x03CF, 0x03CF, 1),
    (0x03D8, 0x03EE, 2),
    (0x03F4, 0x03F4, 1),
    (0x03F7, 0x03F9, 2),
    (0x03FA, 0x03FA, 1),
    (0x03FD, 0x042F, 1),
    (0x0460, 0x0480, 2),
    (0x048A, 0x04C0, 2),
    (0x04C1, 0x04CD, 2),
    (0x04D0, 0x0524, 2),
    (0x0531, 0x0556, 1),
    (0x10A0, 0x10C5, 1),
    (0x1E00, 0x1E94, 2),
    (0x1E9E, 0x1EFE, 2),
    (0x1F08, 0x1F0F, 1),
    (0x1F18, 0x1F1D, 1),
    (0x1F28, 0x1F2F, 1),
    (0x1F38, 0x1F3F, 1),
    (0x1F48, 0x1F4D, 1),
    (0x1F59, 0x1F5F, 2),
    (0x1F68, 0x1F6F, 1),
    (0x1F88, 0x1F8F, 1),
    (0x1F98, 0x1F9F, 1),
    (0x1FA8, 0x1FAF, 1),
    (0x1FB8, 0x1FBC, 1),
    (0x1FC8, 0x1FCC, 1),
    (0x1FD8, 0x1FDB, 1),
    (0x1FE8, 0x1FEC, 1),
    (0x1FF8, 0x1FFC, 1),
    (0x2126, 0x2126, 1),
    (0x212A, 0x212B, 1),
    (0x2132, 0x2132, 1),
    (0x2160, 0x216F, 1),
    (0x2183, 0x2183, 1),
    (0x24B6, 0x24CF, 1),
    (0x2C00, 0x2C2E, 1),
    (0x2C60, 0x2C62, 2),
    (0x2C63, 0x2C64, 1),
    (0x2C67, 0x2C6D, 2),
    (0x2C6E, 0x2C70, 1),
    (0x2C72, 0x2C72, 1),
    (0x2C75, 0x2C75, 1),
    (0x2C7E, 0x2C80, 1),
    (0x2C82, 0x2CE2, 2),
    (0x2CEB, 0x2CED, 2),
    (0xA640, 0xA65E, 2),
    (0xA662, 0xA66C, 2),
    (0xA680, 0xA696, 2),
    (0xA722, 0xA72E, 2),
    (0xA732, 0xA76E, 2),
    (0xA779, 0xA77D, 2),
    (0xA77E, 0xA786, 2),
    (0xA78B, 0xA78B, 1),
    (0xFF21, 0xFF3A, 1),
    (0x10400, 0x10427, 1),
];

fn py27_lowercases(ch: char) -> bool {
    let c = u32::from(ch);
    let i = PY27_LOWERCASED.partition_point(|&(first, _, _)| first <= c);
    i > 0 && {
        let (first, last, step) = PY27_LOWERCASED[i - 1];
        c <= last && (c - first) % step == 0
    }
}

/// Python 2.7's `unicode.lower`: each character to its simple lowercase mapping in Unicode
/// 5.2, so `İ` becomes `i` (not `i̇`), a final `Σ` stays `σ`, and characters given a
/// lowercase form after 5.2 stay as they are.
fn py_lower(text: &str) -> String {
    text.chars()
        .map(|ch| match ch {
            '\u{130}' => 'i',
            // For every other character in the table Rust's mapping is the same single
            // character (checked by the tests).
            _ if py27_lowercases(ch) => ch.to_lowercase().next().unwrap_or(ch),
            _ => ch,
        })
        .collect()
}

/// The official digit/article processing.
pub fn process_digit_article(text: &str) -> String {
    let c = tables();
    let lower = py_lower(text);
    let words: Vec<String> = lower
        .split(is_py_space)
        .filter(|w| !w.is_empty())
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

/// The official cleaning: `\n` and `\t` to spaces, then Python 2's `strip()`.
pub fn clean(text: &str) -> String {
    text.replace(['\n', '\t'], " ")
        .trim_matches(is_py_space)
        .to_string()
}

/// Full normalisation of an answer: cleaning, punctuation, then digit/article processing
/// (see the module docs).
pub fn normalize_answer(text: &str) -> String {
    process_digit_article(&process_punctuation(&clean(text)))
}

/// Normalised exact match: both sides fully normalised, then compared.
pub fn exact_match(prediction: &str, target: &str) -> bool {
    normalize_answer(prediction) == normalize_answer(target)
}

/// The official VQA soft accuracy of one prediction against the annotators' answers
/// (usually 10), as `VQAEval.evaluate` computes it (see the module docs). No answers is an
/// error.
pub fn soft_accuracy(prediction: &str, answers: &[&str]) -> Result<f64, MetricError> {
    if answers.is_empty() {
        return Err(MetricError::Empty {
            what: "VQA soft accuracy",
        });
    }
    let mut res = clean(prediction);
    let mut gts: Vec<String> = answers.iter().map(|a| clean(a)).collect();
    // Normalisation happens only when the cleaned answers disagree, and then on both sides.
    if gts.iter().any(|g| *g != gts[0]) {
        gts = gts
            .iter()
            .map(|g| process_digit_article(&process_punctuation(g)))
            .collect();
        res = process_digit_article(&process_punctuation(&res));
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
