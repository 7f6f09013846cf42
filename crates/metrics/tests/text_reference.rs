//! ROUGE-L, BLEU, CIDEr-D and VQA accuracy against the reference implementations, on
//! vectors from `scripts/ref/textmetrics_vectors.py`.

use dtr1_metrics::{bleu, cider, rouge, vqa};
use serde::Deserialize;

#[derive(Deserialize)]
struct RougeCase {
    target: String,
    pred: String,
    refs: Vec<String>,
    plain: [f64; 3],
    stem: [f64; 3],
    plain_multi: f64,
    stem_multi: f64,
}

#[derive(Deserialize)]
struct BleuSeg {
    hyp: String,
    refs: Vec<String>,
    sentence_bleu: f64,
}

#[derive(Deserialize)]
struct BleuCorpus {
    first: usize,
    n: usize,
    bleu: f64,
}

#[derive(Deserialize)]
struct TokCase {
    text: String,
    tokens: Vec<String>,
}

#[derive(Deserialize)]
struct CiderSet {
    cands: Vec<String>,
    refs: Vec<Vec<String>>,
    mean: f64,
    per_image: Vec<f64>,
}

#[derive(Deserialize)]
struct VqaCase {
    pred: String,
    answers: Vec<String>,
    soft: f64,
    norm_pred: String,
    norm_first: String,
}

#[derive(Deserialize)]
struct Vectors {
    rouge: Vec<RougeCase>,
    bleu_segments: Vec<BleuSeg>,
    bleu_corpora: Vec<BleuCorpus>,
    tokenize_13a: Vec<TokCase>,
    cider: Vec<CiderSet>,
    vqa: Vec<VqaCase>,
    stems: Vec<(String, String)>,
}

fn v() -> Vectors {
    dtr1_refvec::load("textmetrics")
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn rouge_l_matches_rouge_score() {
    for (k, c) in v().rouge.iter().enumerate() {
        for (stem, want, multi) in [
            (false, c.plain, c.plain_multi),
            (true, c.stem, c.stem_multi),
        ] {
            let s = rouge::rouge_l(&c.target, &c.pred, stem);
            let got = [s.precision, s.recall, s.fmeasure];
            for (g, w) in got.iter().zip(want) {
                assert!(
                    close(*g, w, 1e-12),
                    "case {k} stem={stem}: {got:?} vs {want:?}\n{:?} / {:?}",
                    c.target,
                    c.pred
                );
            }
            let refs: Vec<&str> = c.refs.iter().map(String::as_str).collect();
            let m = rouge::rouge_l_multi(&refs, &c.pred, stem).fmeasure;
            assert!(
                close(m, multi, 1e-12),
                "case {k} multi stem={stem}: {m} vs {multi}"
            );
        }
    }
}

#[test]
fn porter_stemmer_matches_nltk() {
    let v = v();
    assert!(v.stems.len() > 5000);
    let bad: Vec<String> = v
        .stems
        .iter()
        .filter(|(w, s)| dtr1_metrics::porter::stem(w) != *s)
        .map(|(w, s)| format!("{w}: {} vs nltk {s}", dtr1_metrics::porter::stem(w)))
        .collect();
    assert!(
        bad.is_empty(),
        "{} mismatches, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn tokenizer_13a_matches_sacrebleu() {
    for c in v().tokenize_13a {
        assert_eq!(bleu::tokenize_13a(&c.text), c.tokens, "{:?}", c.text);
    }
}

#[test]
fn bleu_matches_sacrebleu() {
    let v = v();
    for (k, s) in v.bleu_segments.iter().enumerate() {
        let refs: Vec<&str> = s.refs.iter().map(String::as_str).collect();
        let got = bleu::sentence_bleu(&s.hyp, &refs);
        assert!(
            close(got, s.sentence_bleu, 1e-9),
            "segment {k}: {got} vs {}\n{:?} / {refs:?}",
            s.sentence_bleu,
            s.hyp
        );
    }
    for c in &v.bleu_corpora {
        let segs = &v.bleu_segments[c.first..c.first + c.n];
        let hyps: Vec<&str> = segs.iter().map(|s| s.hyp.as_str()).collect();
        let refs: Vec<Vec<&str>> = segs
            .iter()
            .map(|s| s.refs.iter().map(String::as_str).collect())
            .collect();
        let got = bleu::corpus_bleu(&hyps, &refs);
        assert!(
            close(got, c.bleu, 1e-9),
            "corpus at {}: {got} vs {}",
            c.first,
            c.bleu
        );
    }
}

#[test]
fn cider_d_matches_pycocoevalcap() {
    for (k, c) in v().cider.iter().enumerate() {
        let cands: Vec<&str> = c.cands.iter().map(String::as_str).collect();
        let refs: Vec<Vec<&str>> = c
            .refs
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        let (mean, per) = cider::cider_d(&cands, &refs);
        assert!(close(mean, c.mean, 1e-9), "set {k}: {mean} vs {}", c.mean);
        for (i, (a, b)) in per.iter().zip(&c.per_image).enumerate() {
            assert!(close(*a, *b, 1e-9), "set {k} image {i}: {a} vs {b}");
        }
    }
}

#[test]
fn vqa_matches_the_official_procedure() {
    for (k, c) in v().vqa.iter().enumerate() {
        assert_eq!(
            vqa::normalize_answer(&c.pred),
            c.norm_pred,
            "case {k}: {:?}",
            c.pred
        );
        assert_eq!(
            vqa::normalize_answer(&c.answers[0]),
            c.norm_first,
            "case {k}: {:?}",
            c.answers[0]
        );
        let answers: Vec<&str> = c.answers.iter().map(String::as_str).collect();
        let got = vqa::soft_accuracy(&c.pred, &answers).unwrap();
        assert!(
            close(got, c.soft, 1e-12),
            "case {k}: {got} vs {} for {:?} / {answers:?}",
            c.soft,
            c.pred
        );
    }
}
