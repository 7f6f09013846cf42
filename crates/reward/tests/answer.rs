//! The answer layer: what a rollout's answer decodes to against the input twin, and the ids
//! that do not fit, each a typed problem.

use dtr1_reward::accuracy::Answer;
use dtr1_reward::answer::{read, Decoded, Problem, Unit};
use dtr1_reward::Task;
use dtr1_twin::{compact, example, Twin};

fn union_box(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

#[test]
fn ids_decode_to_the_union_and_each_id_that_does_not_fit_is_named() {
    let desk = example::desk();
    let (a, b) = (&desk.objects[0], &desk.objects[1]);
    let twin = Twin::Image(desk.clone());
    // The sub-twin lists `a` and an id the twin lacks; the answer cites `a`, `b` (not in the
    // sub-twin) and an id the twin lacks.
    let completion = format!(
        "<twin>{{\"objects\": [{{\"id\": {}, \"label\": \"{}\"}}, {{\"id\": 999, \"label\": \"ghost\"}}]}}</twin><think>x</think><answer>[{}, {}, 777]</answer>",
        a.id, a.label, a.id, b.id
    );
    let r = read(Task::ImageGrounding, &twin, &completion);
    assert_eq!(r.answer, Answer::Ids(vec![a.id, b.id, 777]));
    assert_eq!(r.cited, vec![a.id, b.id]);
    assert_eq!(r.listed, Some(vec![a.id, 999]));
    let want = union_box(a.bbox.unwrap(), b.bbox.unwrap());
    assert_ne!(
        want,
        a.bbox.unwrap(),
        "the union must not be the first object's box"
    );
    assert_eq!(r.decoded, Decoded::Box(want));
    assert_eq!(
        r.problems,
        vec![
            Problem::ListedNotInTwin {
                id: 999,
                unit: Unit::Object
            },
            Problem::CitedNotInSubTwin { id: b.id },
            Problem::CitedNotInTwin {
                id: 777,
                unit: Unit::Object
            },
        ]
    );
    assert_eq!(
        r.problems[2].to_string(),
        "cited id 777 is not in the input twin (no such object)"
    );
    // The reward takes the answer strictly: citing an id the twin lacks is malformed.
    assert!(matches!(r.strict(&twin), Answer::Invalid(why) if why.contains("777")));

    // Segmentation: the union of the masks of the ids the twin has.
    let r = read(Task::ImageReasonseg, &twin, &completion);
    let want = dtr1_rle::merge(&[a.mask.clone().unwrap(), b.mask.clone().unwrap()], false).unwrap();
    assert_eq!(r.decoded, Decoded::Mask(want));
}

#[test]
fn a_sub_twin_of_compact_lines_lists_its_ids() {
    let desk = example::desk();
    let a = &desk.objects[2];
    let twin = Twin::Image(desk.clone());
    let completion = format!(
        "<twin>\n{}\n</twin><think>x</think><answer>[{}]</answer>",
        compact::object_line(a),
        a.id
    );
    let r = read(Task::ImageReasonseg, &twin, &completion);
    assert_eq!(r.listed, Some(vec![a.id]));
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

#[test]
fn track_ids_decode_to_per_frame_unions() {
    let v = example::marbles();
    let (a, b) = (&v.tracks[0], &v.tracks[1]);
    let twin = Twin::Video(v.clone());
    let completion = format!("<answer>[{}, {}]</answer>", a.id, b.id);
    let r = read(Task::VideoReasonseg, &twin, &completion);
    let Decoded::FrameMasks(ms) = &r.decoded else {
        panic!("{:?}", r.decoded)
    };
    assert!(!ms.is_empty());
    for f in 0..v.frames {
        let parts: Vec<_> = [a, b]
            .iter()
            .filter_map(|t| t.frames.get(&f)?.mask.clone())
            .collect();
        let want = (!parts.is_empty()).then(|| dtr1_rle::merge(&parts, false).unwrap());
        assert_eq!(ms.get(&f), want.as_ref(), "frame {f}");
    }
    // No <twin> block: every cited track is named as missing from it.
    assert_eq!(r.listed, None);
    assert_eq!(
        r.problems,
        vec![
            Problem::CitedNotInSubTwin { id: a.id },
            Problem::CitedNotInSubTwin { id: b.id }
        ]
    );
}

#[test]
fn boxes_and_text_decode_to_themselves_and_empty_answers_to_nothing() {
    let twin = Twin::Image(example::desk());
    let r = read(
        Task::ImageGrounding,
        &twin,
        "<answer>{\"box\": [1, 2, 30, 40]}</answer>",
    );
    assert_eq!(r.decoded, Decoded::Box([1.0, 2.0, 30.0, 40.0]));
    let r = read(Task::ImageVqa, &twin, "<answer> two </answer>");
    assert_eq!(r.decoded, Decoded::Text("two".into()));
    let r = read(Task::ImageReasonseg, &twin, "<answer>[]</answer>");
    assert_eq!((r.answer, r.decoded), (Answer::Empty, Decoded::Nothing));
    let r = read(Task::ImageReasonseg, &twin, "no blocks at all");
    assert_eq!(r.decoded, Decoded::Nothing);
    assert!(r.rollout.answer.is_none());
}
