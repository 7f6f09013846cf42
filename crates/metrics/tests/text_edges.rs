//! Edge cases of the text metrics: empty inputs give documented values, never panics.

use dtr1_metrics::{bleu, cider, rouge, vqa};

#[test]
fn empty_inputs() {
    assert_eq!(rouge::rouge_l("", "a b", false).fmeasure, 0.0);
    assert_eq!(rouge::rouge_l("a b", "", true).fmeasure, 0.0);
    assert_eq!(rouge::rouge_l_multi(&[], "a", false).fmeasure, 0.0);
    assert_eq!(bleu::sentence_bleu("", &["a b c"]), 0.0);
    assert_eq!(
        bleu::sentence_bleu("a b c", &[]),
        bleu::sentence_bleu("a b c", &[])
    );
    assert_eq!(bleu::corpus_bleu(&[], &[]), 0.0);
    assert_eq!(cider::cider_d(&[], &[]).0, 0.0);
    assert_eq!(cider::cider_d(&["a"], &[vec![]]).1, vec![0.0]);
    assert!(vqa::soft_accuracy("2", &[]).is_err());
}

#[test]
fn identical_text_scores_perfectly() {
    assert_eq!(
        rouge::rouge_l("the red ball", "The red, ball!", false).fmeasure,
        1.0
    );
    assert!(
        (bleu::sentence_bleu("the red ball rolls left", &["the red ball rolls left"]) - 100.0)
            .abs()
            < 1e-9
    );
    assert_eq!(vqa::soft_accuracy("2", &["2"; 10]).unwrap(), 1.0);
    assert_eq!(vqa::soft_accuracy(" 2\n", &["2"; 10]).unwrap(), 1.0);
    // The official rule since 2021: unanimous answers are compared as written (only
    // cleaned); disagreeing ones are normalised on both sides, so "Two" matches "2".
    assert_eq!(vqa::soft_accuracy("Two", &["2"; 10]).unwrap(), 0.0);
    let mixed = ["2", "2", "two", "2", "2", "2", "2", "2", "2", "2"];
    assert_eq!(vqa::soft_accuracy("Two", &mixed).unwrap(), 1.0);
    assert!(vqa::exact_match("The red ball.", "red ball"));
    assert_eq!(vqa::normalize_answer("dont  know"), "don't know");
}

#[test]
fn lcs_is_symmetric_and_bounded() {
    let a: Vec<char> = "abcbdab".chars().collect();
    let b: Vec<char> = "bdcaba".chars().collect();
    assert_eq!(rouge::lcs_len(&a, &b), 4);
    assert_eq!(rouge::lcs_len(&b, &a), 4);
    assert_eq!(rouge::lcs_len::<char>(&[], &b), 0);
}
