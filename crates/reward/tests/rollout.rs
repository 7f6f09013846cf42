//! The rollout parser and the answer grammar.

use dtr1_reward::accuracy::{parse_answer, Answer};
use dtr1_reward::rollout::{parse, FormatProblem};
use dtr1_reward::{score, GroundTruth, Request, RewardConfig, Task};
use dtr1_twin::{example, Twin};
use proptest::prelude::*;

#[test]
fn well_formed_rollouts_parse_with_whitespace_tolerance() {
    let p =
        parse("  \n<twin>{\"objects\":[]}</twin>\n\n  <think> a </think><answer>[3]</answer>\n");
    let r = p.result.unwrap();
    assert_eq!(
        (r.twin.as_str(), r.think.as_str(), r.answer.as_str()),
        ("{\"objects\":[]}", " a ", "[3]")
    );
}

#[test]
fn each_violation_is_a_typed_problem() {
    let cases: [(&str, FormatProblem); 6] = [
        (
            "<think>x</think><answer>1</answer>",
            FormatProblem::Missing("twin"),
        ),
        (
            "<twin>{}</twin><think>x</think><answer>1</answer><answer>2</answer>",
            FormatProblem::Repeated("answer"),
        ),
        (
            "<think>x</think><twin>{}</twin><answer>1</answer>",
            FormatProblem::WrongOrder,
        ),
        (
            "</twin>{}<twin><think>x</think><answer>1</answer>",
            FormatProblem::Unbalanced("twin"),
        ),
        (
            "<twin>{}</twin>hello<think>x</think><answer>1</answer>",
            FormatProblem::TextOutside("hello".into()),
        ),
        (
            "<twin>{}</twin><think>x<answer>1</answer></think>",
            FormatProblem::WrongOrder,
        ),
    ];
    for (text, want) in cases {
        let errs = parse(text).result.unwrap_err();
        assert!(errs.contains(&want), "{text}: {errs:?}");
    }
    // The twin block is still located when only the answer is broken.
    let p = parse("<twin>{\"objects\":[]}</twin><think>x</think>");
    assert_eq!(p.twin.as_deref(), Some("{\"objects\":[]}"));
    assert!(p.answer.is_none());
}

#[test]
fn answer_grammar() {
    assert_eq!(
        parse_answer(Task::ImageReasonseg, " [3, 5] "),
        Answer::Ids(vec![3, 5])
    );
    assert_eq!(
        parse_answer(Task::ImageReasonseg, "4"),
        Answer::Ids(vec![4])
    );
    assert_eq!(parse_answer(Task::ImageReasonseg, "[]"), Answer::Empty);
    assert!(matches!(
        parse_answer(Task::ImageReasonseg, "[-1]"),
        Answer::Invalid(_)
    ));
    assert!(matches!(
        parse_answer(Task::ImageReasonseg, "the cup"),
        Answer::Invalid(_)
    ));
    assert!(matches!(
        parse_answer(Task::ImageReasonseg, r#"{"box":[1,2,3,4]}"#),
        Answer::Invalid(_)
    ));
    assert_eq!(
        parse_answer(Task::ImageGrounding, r#"{"box":[1,2,3,4]}"#),
        Answer::Box([1.0, 2.0, 3.0, 4.0])
    );
    assert_eq!(
        parse_answer(Task::ImageVqa, " two "),
        Answer::Text("two".into())
    );
    assert_eq!(parse_answer(Task::VideoSummary, "\n"), Answer::Empty);
}

#[test]
fn breakdown_logs_every_component() {
    let t = example::desk();
    let twin = Twin::Image(t.clone());
    let truth = GroundTruth::Mask {
        ignore: None,
        mask: t.objects[1].mask.clone().unwrap(),
        ids: Some(vec![2]),
    };
    let req = Request {
        task: Task::ImageReasonseg,
        query: "what holds coffee",
        twin: &twin,
        truth: &truth,
        cider: None,
    };
    let b = score(
        r#"<twin>{"objects":[{"id":2,"label":"mug","attributes":{"color":"red"}}]}</twin><think>mug</think><answer>[2]</answer>"#,
        &req,
        &RewardConfig::default(),
    );
    assert_eq!((b.format, b.structure, b.penalty), (1.0, 1.0, 0.0));
    assert!(
        (b.accuracy - 4284.0 / (4284.0 + 1e-5)).abs() < 1e-12,
        "{}",
        b.accuracy
    );
    assert!((b.total - (0.25 + 0.25 + b.accuracy)).abs() < 1e-12);
    // Seven checks, and `relevant` because the label names the target.
    assert_eq!(b.structure_checks.len(), 8);
    assert_eq!(b.structure_checks["relevant"], 1.0);
    assert!(b.problems.is_empty(), "{:?}", b.problems);
    // Serialises for metrics logs.
    let j = serde_json::to_value(&b).unwrap();
    assert_eq!(j["format"], 1.0);
    // A wrong colour is a disagreement with the input twin.
    let b = score(
        r#"<twin>{"objects":[{"id":2,"label":"mug","attributes":{"color":"blue"}}]}</twin><think>mug</think><answer>[2]</answer>"#,
        &req,
        &RewardConfig::default(),
    );
    assert!(
        b.structure_checks["fields_agree"] < 1.0
            && b.problems.iter().any(|p| p.contains("disagrees"))
    );
}

proptest! {
    #[test]
    fn parser_and_reward_never_panic(s in "(<twin>|</twin>|<think>|</think>|<answer>|</answer>|\\{|\\}|\\[|\\]|[0-9]|\"objects\"|:|,| |x){0,40}") {
        let _ = parse(&s);
        let t = example::desk();
        let twin = Twin::Image(t.clone());
        let truth = GroundTruth::Mask { ignore: None, mask: t.objects[0].mask.clone().unwrap(), ids: Some(vec![1]) };
        let req = Request { task: Task::ImageReasonseg, query: "q", twin: &twin, truth: &truth, cider: None };
        let b = score(&s, &req, &RewardConfig::default());
        prop_assert!(b.total.is_finite() && (0.0..=1.0).contains(&b.structure) && (0.0..=1.0).contains(&b.accuracy));
    }
}
