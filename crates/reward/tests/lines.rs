//! Sub-twins written as compact lines (prompt version 2) score as their JSON equivalents do:
//! the same checks, the same tolerances, and no new way to gain.

use dtr1_reward::{score, GroundTruth, Request, RewardBreakdown, RewardConfig, Task};
use dtr1_twin::compact::{object_line_styled, DepthForm, IdPlacement, Style};
use dtr1_twin::{example, ImageTwin, Object, Twin};

fn lean() -> Style {
    Style {
        ids: IdPlacement::Last,
        depth: DepthForm::Mean,
        image_header: false,
        depth_source: false,
        brackets: false,
        color_first: true,
    }
}

fn score_of(t: &ImageTwin, truth: &GroundTruth, twin_block: &str, answer: &str) -> RewardBreakdown {
    let twin = Twin::Image(t.clone());
    let req = Request {
        task: Task::ImageReasonseg,
        query: "Segment the thing.",
        twin: &twin,
        truth,
        cider: None,
    };
    let c = format!(
        "<twin>\n{twin_block}</twin>\n<think>it is that one</think>\n<answer>{answer}</answer>"
    );
    score(&c, &req, &RewardConfig::default())
}

/// The object as the JSON form writes it, with the same fields as `line`.
fn json_entry(o: &Object) -> String {
    let mut e = serde_json::json!({"id": o.id, "label": o.label});
    if let Some(c) = &o.attributes.color {
        e["attributes"] = serde_json::json!({"color": c});
    }
    if let Some(c) = o.centroid {
        e["centroid"] = serde_json::json!(c);
    }
    e.to_string()
}

#[test]
fn lines_score_like_json_and_keep_the_copy_checks() {
    let t = example::synthetic(12, 5);
    let target = t.objects[3].id;
    let truth = GroundTruth::Mask {
        ignore: None,
        mask: t.object(target).unwrap().mask.clone().unwrap(),
        ids: Some(vec![target]),
    };
    // The target with its colour and centre, copied.
    let mut o = t.object(target).unwrap().clone();
    o.mask = None;
    o.bbox = None;
    o.area = None;
    o.depth = None;
    o.score = None;
    o.relations.clear();
    o.attributes = Default::default();
    o.attributes.color = t.object(target).unwrap().attributes.color.clone();
    let line = format!("{}\n", object_line_styled(&o, &lean()));
    let as_lines = score_of(&t, &truth, &line, &format!("[{target}]"));
    let as_json = score_of(
        &t,
        &truth,
        &format!("{{\"objects\":[{}]}}", json_entry(&o)),
        &format!("[{target}]"),
    );
    assert_eq!(as_lines.structure, 1.0, "{line}{:?}", as_lines.problems);
    assert_eq!(as_lines.total, as_json.total, "{:?}", as_lines.problems);

    // A copied value outside the tolerance disagrees, as in JSON.
    let mut off = o.clone();
    off.centroid = off.centroid.map(|c| [c[0] + 9.0, c[1]]);
    let bad = format!("{}\n", object_line_styled(&off, &lean()));
    let r = score_of(&t, &truth, &bad, &format!("[{target}]"));
    assert!(r.structure < 1.0, "{bad}");
    assert!(
        r.problems.iter().any(|p| p.contains("disagrees")),
        "{:?}",
        r.problems
    );

    // A depth written as its mean (`d=.42`) is compared by the mean only; a wrong mean fails.
    let d = t.object(target).unwrap().depth.unwrap();
    let mean = (d.mean * 100.0).round() / 100.0;
    let good = format!(
        "{line_no_id} d={mean} #{target}\n",
        line_no_id = line.trim_end().rsplit_once(' ').unwrap().0
    );
    let r = score_of(&t, &truth, &good, &format!("[{target}]"));
    assert_eq!(r.structure, 1.0, "{good}{:?}", r.problems);
    let wrong = format!(
        "{} d={} #{target}\n",
        line.trim_end().rsplit_once(' ').unwrap().0,
        mean + 0.2
    );
    assert!(score_of(&t, &truth, &wrong, &format!("[{target}]")).structure < 1.0);

    // A line that does not parse fails the schema but keeps its id for the other checks;
    // garbage earns less than the honest line.
    let r = score_of(
        &t,
        &truth,
        &format!("cube box=[oops #{target}\n"),
        &format!("[{target}]"),
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("does not match the schema")),
        "{:?}",
        r.problems
    );
    assert!(r.total < as_lines.total);

    // Copying the whole twin as lines is not concise and covers too much: it earns less
    // than the honest sub-twin, whatever the answer.
    let all: String = t
        .objects
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o.mask = None;
            format!("{}\n", object_line_styled(&o, &lean()))
        })
        .collect();
    let r = score_of(&t, &truth, &all, &format!("[{target}]"));
    assert!(r.structure < as_lines.structure, "{:?}", r.problems);
    assert!(r.total < as_lines.total);

    // An empty block is an empty sub-twin: the cited id is not in it.
    let r = score_of(&t, &truth, "", &format!("[{target}]"));
    assert!(r.total < as_lines.total);
    assert!(
        r.problems.iter().any(|p| p.contains("not in the sub-twin")),
        "{:?}",
        r.problems
    );
}
