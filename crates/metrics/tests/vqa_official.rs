//! VQA accuracy against vectors produced by running the official evaluation itself
//! (`vqaEval.py` of GT-Vision-Lab/VQA, at the commit named in the file's header) on a
//! synthetic VQA-format set. The file is committed data; how it was produced is in its
//! `header.how`.

use dtr1_metrics::vqa;
use serde::Deserialize;

#[derive(Deserialize)]
struct Header {
    commit: String,
    overall: f64,
}

#[derive(Deserialize)]
struct Case {
    pred: String,
    answers: Vec<String>,
    /// The unrounded per-question accuracy `evaluate()` computed.
    accuracy: f64,
    /// `evalQA`: 100 × accuracy rounded to 2 places.
    eval_qa: f64,
    /// The ground-truth answers as `evaluate()` left them (cleaned, and normalised when
    /// they were not all identical).
    compared_answers: Vec<String>,
}

#[derive(Deserialize)]
struct Norm {
    text: String,
    punct: String,
    normalized: String,
}

#[derive(Deserialize)]
struct Vectors {
    header: Header,
    cases: Vec<Case>,
    normalization: Vec<Norm>,
    /// `[code point, lowercase]` for every character Python 2.7's `unicode.lower` changes.
    python_lower: Vec<[u32; 2]>,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("../data/vqa_official_vectors.json"))
        .expect("data/vqa_official_vectors.json parses")
}

/// Python's `round(x, 2)` is not needed bit for bit: 2-place values differ by >= 0.01.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[test]
fn vectors_come_from_the_current_official_code() {
    let v = vectors();
    // The 2021 "Fixed processing answers bug" commit, the newest of the repository.
    assert_eq!(v.header.commit, "a013f0043c1e2cdc995922dfe257f7149aa9af06");
    assert!(v.cases.len() >= 500 && v.normalization.len() >= 200);
}

#[test]
fn soft_accuracy_equals_official_vqa_eval() {
    let v = vectors();
    let mut bad = Vec::new();
    let mut sum = 0.0;
    for (k, c) in v.cases.iter().enumerate() {
        let answers: Vec<&str> = c.answers.iter().map(String::as_str).collect();
        let got = vqa::soft_accuracy(&c.pred, &answers).unwrap();
        // Same operations in the same order as the official code: equal to the last bit.
        if got != c.accuracy || (round2(100.0 * got) - c.eval_qa).abs() > 1e-9 {
            bad.push(format!(
                "case {k}: {got} vs official {} for {:?} / {:?}",
                c.accuracy, c.pred, c.answers
            ));
        }
        sum += got;
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ: {:#?}",
        bad.len(),
        v.cases.len(),
        &bad[..bad.len().min(10)]
    );
    let overall = round2(100.0 * sum / v.cases.len() as f64);
    assert!((overall - v.header.overall).abs() < 1e-9, "{overall}");
}

#[test]
fn ground_truth_processing_equals_official_vqa_eval() {
    // Which answers the official code normalises (only disagreeing ones) and how.
    for (k, c) in vectors().cases.iter().enumerate() {
        let cleaned: Vec<String> = c.answers.iter().map(|a| vqa::clean(a)).collect();
        let expected: Vec<String> = if cleaned.iter().all(|a| *a == cleaned[0]) {
            cleaned
        } else {
            c.answers.iter().map(|a| vqa::normalize_answer(a)).collect()
        };
        assert_eq!(expected, c.compared_answers, "case {k}: {:?}", c.answers);
    }
}

#[test]
fn normalization_equals_official_vqa_eval() {
    for n in vectors().normalization {
        assert_eq!(
            vqa::process_punctuation(&vqa::clean(&n.text)),
            n.punct,
            "punctuation of {:?}",
            n.text
        );
        let got = vqa::normalize_answer(&n.text);
        if got != n.normalized {
            // Name the first differing word: the long case holds every cased character.
            let diff = got
                .split(' ')
                .zip(n.normalized.split(' '))
                .find(|(a, b)| a != b);
            panic!(
                "normalisation of {:?} (first differing word {diff:?}): {got:?} vs {:?}",
                n.text.chars().take(40).collect::<String>(),
                n.normalized.chars().take(200).collect::<String>()
            );
        }
    }
}

#[test]
fn lowercasing_is_python_2s_for_every_character() {
    // processDigitArticle lower-cases with Python 2.7 (Unicode 5.2); newer Unicode versions
    // (Rust's) lower-case more characters, which the official code leaves alone.
    let table: std::collections::HashMap<u32, u32> = vectors()
        .python_lower
        .iter()
        .map(|[c, l]| (*c, *l))
        .collect();
    let mut bad = Vec::new();
    for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
        let expected = table
            .get(&u32::from(c))
            .map_or(c.to_string(), |&l| char::from_u32(l).unwrap().to_string());
        // A lone character is one word; of the number words, articles and contractions
        // only the article "a" is one character long.
        let got = vqa::process_digit_article(&c.to_string());
        let expected = if expected == "a" {
            String::new()
        } else {
            expected
        };
        if c.is_whitespace() || (u32::from(c) >= 0x1c && u32::from(c) <= 0x1f) || c == '\u{180e}' {
            continue;
        }
        if got != expected {
            bad.push(format!("U+{:04X}", u32::from(c)));
        }
    }
    assert!(
        bad.is_empty(),
        "{} characters differ: {}",
        bad.len(),
        bad.join(" ")
    );
}
