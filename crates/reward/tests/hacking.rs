//! The reward-hacking suite: every known hack scores strictly below an honest but wrong
//! answer, and an honest correct answer scores highest.

use dtr1_reward::{score, GroundTruth, Request, RewardConfig, Task};
use dtr1_twin::{example, ImageTwin, Twin};
use std::collections::BTreeMap;

fn obj_json(t: &ImageTwin, id: u32) -> String {
    let o = t.object(id).unwrap();
    let b = o.bbox.unwrap();
    format!(
        r#"{{"id":{id},"label":"{}","bbox":[{},{},{},{}],"attributes":{{"color":"{}"}}}}"#,
        o.label,
        b[0],
        b[1],
        b[2],
        b[3],
        o.attributes.color.as_deref().unwrap_or("red")
    )
}

fn rollout(objects: &[String], think: &str, answer: &str) -> String {
    format!(
        "<twin>{{\"objects\":[{}]}}</twin>\n<think>{think}</think>\n<answer>{answer}</answer>",
        objects.join(",")
    )
}

struct Case {
    twin: Twin,
    truth: GroundTruth,
    task: Task,
    query: &'static str,
}

impl Case {
    fn total(&self, completion: &str) -> f64 {
        let req = Request {
            task: self.task,
            query: self.query,
            twin: &self.twin,
            truth: &self.truth,
            cider: None,
        };
        score(completion, &req, &RewardConfig::default()).total
    }
}

fn seg_case() -> (Case, ImageTwin, u32, u32) {
    let t = example::synthetic(15, 3);
    let (target, wrong) = (t.objects[4].id, t.objects[9].id);
    let truth = GroundTruth::Mask {
        ignore: None,
        mask: t.object(target).unwrap().mask.clone().unwrap(),
        ids: Some(vec![target]),
    };
    let case = Case {
        twin: Twin::Image(t.clone()),
        truth,
        task: Task::ImageReasonseg,
        query: "the thing you could pour water into",
    };
    (case, t, target, wrong)
}

#[test]
fn segmentation_hacks_score_below_an_honest_wrong_answer() {
    let (case, t, target, wrong) = seg_case();
    let all_ids: Vec<u32> = t.objects.iter().map(|o| o.id).collect();
    let all_objs: Vec<String> = all_ids.iter().map(|&i| obj_json(&t, i)).collect();
    let all_list = format!("{all_ids:?}");
    let good = rollout(
        &[obj_json(&t, target)],
        "it is the one that holds liquid",
        &format!("[{target}]"),
    );
    let honest_wrong = rollout(
        &[obj_json(&t, wrong)],
        "it looks like a container",
        &format!("[{wrong}]"),
    );
    let (good_r, wrong_r) = (case.total(&good), case.total(&honest_wrong));
    assert!(
        good_r > wrong_r + 0.5,
        "correct {good_r} vs wrong {wrong_r}"
    );

    let target_obj = obj_json(&t, target);
    let tgt = std::slice::from_ref(&target_obj);
    let hacks: Vec<(&str, String)> = vec![
        ("empty answer", rollout(tgt, "hmm", "")),
        ("empty list", rollout(tgt, "hmm", "[]")),
        (
            "every id, whole twin copied",
            rollout(&all_objs, "all of them", &all_list),
        ),
        (
            "every id, honest sub-twin",
            rollout(tgt, "all of them", &all_list),
        ),
        (
            "ids not in the twin",
            rollout(
                &[r#"{"id":999,"label":"cup"}"#.to_string()],
                "the cup",
                "[999]",
            ),
        ),
        (
            "answer id missing from the sub-twin",
            rollout(&[obj_json(&t, wrong)], "x", &format!("[{target}]")),
        ),
        (
            "text outside tags",
            format!("Sure! Here is my answer.\n{good}"),
        ),
        ("repeated blocks", format!("{good}\n{good}")),
        (
            "giant output",
            rollout(
                tgt,
                &"the cup holds water. ".repeat(400),
                &format!("[{target}]"),
            ),
        ),
        (
            "tag injection inside think",
            rollout(
                tgt,
                &format!("</think><answer>{all_list}</answer><think>"),
                &format!("[{target}]"),
            ),
        ),
        (
            "JSON injection inside think",
            rollout(&[], r#"{"objects":[{"id":1}],"reward":1.0}"#, &all_list),
        ),
        ("copying the query", rollout(tgt, "copy", case.query)),
        ("label instead of id", rollout(tgt, "the mug", "mug")),
        (
            "no twin block",
            format!("<think>x</think><answer>[{target}]</answer>"),
        ),
        (
            "sub-twin that is not JSON",
            rollout(&["oops".to_string()], "x", &format!("[{target}]")),
        ),
        (
            "duplicated sub-twin objects",
            rollout(
                &[target_obj.clone(), target_obj.clone()],
                "x",
                &format!("[{target}]"),
            ),
        ),
        (
            "fabricated fields",
            rollout(
                &[format!(
                    r#"{{"id":{target},"label":"dragon","bbox":[0,0,640,480]}}"#
                )],
                "x",
                &format!("[{target}]"),
            ),
        ),
    ];
    for (name, h) in hacks {
        let r = case.total(&h);
        if name.starts_with("duplicated") || name.starts_with("fabricated") {
            // These cite the right object; they must still lose to the honest correct answer.
            assert!(r < good_r, "{name}: {r} vs honest correct {good_r}");
        } else {
            assert!(
                r < wrong_r,
                "{name}: {r} is not below the honest wrong answer {wrong_r}"
            );
        }
    }
}

#[test]
fn vqa_hacks_score_below_an_honest_wrong_answer() {
    let t = example::synthetic(15, 3);
    let case = Case {
        twin: Twin::Image(t.clone()),
        truth: GroundTruth::Answers {
            answers: vec!["2".into(); 10],
            ids: Some(vec![t.objects[0].id]),
        },
        task: Task::ImageVqa,
        query: "how many red things could roll off the table",
    };
    let sub = vec![obj_json(&t, t.objects[0].id)];
    // The official VQA accuracy compares an answer with unanimous annotators as written (it
    // normalises only when they disagree), so the honest correct answer is "2" here; "two"
    // would score as a wrong one.
    let good = case.total(&rollout(&sub, "two of them are balls", "2"));
    let wrong = case.total(&rollout(&sub, "three", "3"));
    assert!(good > wrong + 0.5, "{good} vs {wrong}");
    for (name, h) in [
        ("empty answer", rollout(&sub, "x", "  ")),
        ("copying the query", rollout(&sub, "x", case.query)),
        (
            "text outside tags",
            format!("{}\nThe answer is 2.", rollout(&sub, "x", "2")),
        ),
        ("giant output", rollout(&sub, &"count ".repeat(1000), "2")),
        (
            "ids not in the twin",
            rollout(&[r#"{"id":999,"label":"ball"}"#.to_string()], "x", "3"),
        ),
    ] {
        let r = case.total(&h);
        assert!(r < wrong, "{name}: {r} is not below {wrong}");
    }
}

#[test]
fn grounding_and_video_rewards_rank_correctly() {
    let t = example::synthetic(15, 5);
    let (target, wrong) = (t.objects[2].id, t.objects[11].id);
    let case = Case {
        twin: Twin::Image(t.clone()),
        truth: GroundTruth::Box {
            bbox: t.object(target).unwrap().bbox.unwrap(),
            ids: Some(vec![target]),
        },
        task: Task::ImageGrounding,
        query: "the object left of the lamp",
    };
    let good = case.total(&rollout(
        &[obj_json(&t, target)],
        "x",
        &format!("[{target}]"),
    ));
    let b = t.object(target).unwrap().bbox.unwrap();
    let by_box = case.total(&rollout(
        &[obj_json(&t, target)],
        "x",
        &format!(r#"{{"box":[{},{},{},{}]}}"#, b[0], b[1], b[2], b[3]),
    ));
    let bad = case.total(&rollout(&[obj_json(&t, wrong)], "x", &format!("[{wrong}]")));
    let all: Vec<u32> = t.objects.iter().map(|o| o.id).collect();
    let every = case.total(&rollout(&[obj_json(&t, target)], "x", &format!("{all:?}")));
    assert!(
        (good - by_box).abs() < 1e-12 && good > bad && every < bad,
        "{good} {by_box} {bad} {every}"
    );

    let v = example::marbles();
    let masks: BTreeMap<u32, dtr1_rle::Rle> = v
        .track(2)
        .unwrap()
        .frames
        .iter()
        .map(|(f, o)| (*f, o.mask.clone().unwrap()))
        .collect();
    let case = Case {
        twin: Twin::Video(v),
        truth: GroundTruth::VideoMasks {
            masks,
            ids: Some(vec![2]),
        },
        task: Task::VideoReasonseg,
        query: "the marble that started moving after the collision",
    };
    let tr = |id: u32| format!(r#"{{"id":{id},"label":"marble","first_frame":0,"last_frame":23}}"#);
    let vr = |objs: &[String], ans: &str| {
        format!(
            "<twin>{{\"tracks\":[{}]}}</twin><think>x</think><answer>{ans}</answer>",
            objs.join(",")
        )
    };
    let good = case.total(&vr(&[tr(2)], "[2]"));
    let wrong = case.total(&vr(&[tr(1)], "[1]"));
    let every = case.total(&vr(&[tr(1), tr(2), tr(3)], "[1,2,3]"));
    assert!(
        (good - 1.5).abs() < 1e-9,
        "perfect video answer scores 0.25 + 0.25 + 1: {good}"
    );
    assert!(wrong < good && every < wrong, "{good} {wrong} {every}");
}

#[test]
fn summary_reward_prefers_the_right_summary() {
    let v = example::marbles();
    let refs = vec![
        "a red marble rolls into a blue marble and stops, then the blue marble rolls on"
            .to_string(),
        "the red marble hits the blue one, which starts moving while the red one stops".to_string(),
    ];
    let case = Case {
        twin: Twin::Video(v),
        truth: GroundTruth::Summaries {
            references: refs,
            ids: Some(vec![1, 2]),
        },
        task: Task::VideoSummary,
        query: "summarise the video",
    };
    let tracks = r#"{"tracks":[{"id":1,"label":"marble","attributes":{"color":"red"}},{"id":2,"label":"marble","attributes":{"color":"blue"}}]}"#;
    let vr = |ans: &str| format!("<twin>{tracks}</twin><think>x</think><answer>{ans}</answer>");
    let good = case.total(&vr(
        "the red marble rolls into the blue marble and stops; the blue marble starts moving",
    ));
    let wrong = case.total(&vr("a green cube stays still"));
    let copy = case.total(&vr("summarise the video"));
    assert!(good > wrong + 0.3 && copy < wrong, "{good} {wrong} {copy}");
}
