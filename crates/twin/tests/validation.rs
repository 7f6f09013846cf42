//! Validation reports every problem at its JSON path.

use dtr1_rle::Rle;
use dtr1_twin::{
    example, validate, DepthStats, Event, EventKind, FrameObject, Mode, Object, Relation,
    RelationKind, Twin,
};

fn paths(twin: &Twin, mode: Mode) -> Vec<String> {
    match validate(twin, mode) {
        Ok(()) => vec![],
        Err(e) => e.0.iter().map(|p| p.path.clone()).collect(),
    }
}

#[test]
fn valid_examples_pass_both_modes() {
    for t in [
        Twin::Image(example::desk()),
        Twin::Image(example::synthetic(20, 7)),
    ] {
        assert_eq!(paths(&t, Mode::Strict), Vec::<String>::new());
        assert_eq!(paths(&t, Mode::Partial), Vec::<String>::new());
    }
    let v = Twin::Video(example::marbles());
    assert_eq!(paths(&v, Mode::Strict), Vec::<String>::new());
}

#[test]
fn every_image_problem_is_reported_with_its_path() {
    let mut t = example::desk();
    t.objects[1].id = t.objects[0].id; // duplicate id
    t.objects[2].bbox = Some([10.0, 10.0, 700.0, 50.0]); // outside the frame and off the mask
    t.objects[3].area = Some(1); // disagrees with the mask
    t.objects[4].relations.push(Relation {
        kind: RelationKind::Near,
        to: 99,
    });
    t.objects[5].depth = Some(DepthStats {
        mean: 0.1,
        min: 0.5,
        max: 0.9,
    });
    t.objects[5].score = Some(1.5);
    t.objects[0].mask = Some(Rle::empty(10, 10));
    let got = paths(&Twin::Image(t), Mode::Strict);
    for want in [
        "/objects/1/id",
        "/objects/2/bbox",
        "/objects/3/area",
        "/objects/4/relations/6/to",
        "/objects/5/depth",
        "/objects/5/score",
        "/objects/0/mask/size",
    ] {
        assert!(got.iter().any(|p| p == want), "missing {want} in {got:?}");
    }
}

#[test]
fn strict_mode_requires_perception_fields_and_partial_does_not() {
    let mut t = example::desk();
    t.objects.push(Object::new(42, "cup"));
    let twin = Twin::Image(t);
    let strict = paths(&twin, Mode::Strict);
    assert_eq!(
        strict,
        [
            "/objects/6/mask",
            "/objects/6/bbox",
            "/objects/6/area",
            "/objects/6/centroid"
        ]
    );
    assert!(paths(&twin, Mode::Partial).is_empty());
}

#[test]
fn bbox_tolerance_is_one_pixel() {
    let mut t = example::desk();
    let b = t.objects[0].bbox.unwrap();
    t.objects[0].bbox = Some([b[0] - 1.0, b[1], b[2], b[3] + 1.0]);
    assert!(paths(&Twin::Image(t.clone()), Mode::Strict).is_empty());
    t.objects[0].bbox = Some([b[0] - 1.5, b[1], b[2], b[3]]);
    assert_eq!(paths(&Twin::Image(t), Mode::Strict), ["/objects/0/bbox"]);
}

#[test]
fn self_and_duplicate_relations_are_problems() {
    let mut t = example::desk();
    let id = t.objects[0].id;
    t.objects[0].relations = vec![
        Relation {
            kind: RelationKind::Near,
            to: id,
        },
        Relation {
            kind: RelationKind::Near,
            to: 2,
        },
        Relation {
            kind: RelationKind::Near,
            to: 2,
        },
    ];
    assert_eq!(
        paths(&Twin::Image(t), Mode::Strict),
        ["/objects/0/relations/0/to", "/objects/0/relations/2"]
    );
}

#[test]
fn every_video_problem_is_reported_with_its_path() {
    let mut v = example::marbles();
    v.fps = 0.0;
    v.tracks[0].last_frame = 99;
    v.tracks[1].first_frame = 5; // frames 0..4 now lie outside the lifetime
    v.tracks[2]
        .frames
        .insert(1, FrameObject::from_mask(Rle::empty(240, 320)));
    v.events.push(Event {
        kind: EventKind::Collide,
        frame: 30,
        tracks: vec![1],
    });
    v.events.push(Event {
        kind: EventKind::Stop,
        frame: 31,
        tracks: vec![7],
    });
    let got = paths(&Twin::Video(v), Mode::Strict);
    for want in [
        "/fps",
        "/tracks/0/last_frame",
        "/tracks/1/frames/0",
        "/tracks/1/motion/path/0/frame",
        "/tracks/2/frames/1",
        "/tracks/2/frames/1/mask",
        "/events/7/frame",
        "/events/7/tracks",
        "/events/8/tracks/0",
    ] {
        assert!(got.iter().any(|p| p == want), "missing {want} in {got:?}");
    }
}

#[test]
fn load_errors_name_the_problem() {
    let e = Twin::from_json("{\"width\": 3").unwrap_err();
    let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(
        chain.contains("malformed") && chain.contains("EOF"),
        "{chain}"
    );
    let e = Twin::from_json("[1,2]").unwrap_err().to_string();
    assert!(e.contains("top level"), "{e}");
    let e = Twin::from_json(r#"{"schema_version":"2.0","width":1,"height":1,"objects":[]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2.0"), "{e}");
    let e = Twin::from_json(
        r#"{"width":1,"height":1,"objects":[{"id":1,"label":"a","colour":"red"}]}"#,
    )
    .unwrap_err();
    let e = std::error::Error::source(&e).unwrap().to_string();
    assert!(e.contains("colour"), "{e}");
    let e = Twin::from_json(
        r#"{"width":2,"height":2,"objects":[{"id":1,"label":"a","mask":{"size":[2,2],"counts":[1]}}]}"#,
    )
    .unwrap_err();
    let e = std::error::Error::source(&e).unwrap().to_string();
    assert!(e.contains("sum to 1"), "{e}");
}

#[test]
fn from_mask_agrees_with_the_mask() {
    let m = Rle::encode_row_major(3, 4, &[0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0]).unwrap();
    let o = Object::from_mask(1, "x", m);
    assert_eq!(o.bbox, Some([1.0, 1.0, 3.0, 3.0]));
    assert_eq!(o.area, Some(3));
    let c = o.centroid.unwrap();
    assert!((c[0] - (1.5 + 2.5 + 1.5) / 3.0).abs() < 1e-12);
    assert!((c[1] - (1.5 + 1.5 + 2.5) / 3.0).abs() < 1e-12);
}

mod json_fuzz {
    use dtr1_twin::{validate, Mode, Twin};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn from_json_never_panics_on_mutated_examples(at in 0usize..8000, cut in 0usize..6, insert in "[ -~]{0,4}") {
            let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/desk.twin.json")).unwrap();
            let mut chars: Vec<char> = text.chars().collect();
            let at = at % (chars.len() + 1);
            let end = (at + cut).min(chars.len());
            chars.splice(at..end, insert.chars());
            let mutated: String = chars.into_iter().collect();
            if let Ok(t) = Twin::from_json(&mutated) {
                let _ = validate(&t, Mode::Strict);
            }
        }

        #[test]
        fn from_json_never_panics_on_arbitrary_text(s in "\\PC{0,300}") {
            let _ = Twin::from_json(&s);
        }
    }
}

#[test]
fn mask_and_depth_sources_round_trip_and_are_checked() {
    use dtr1_twin::compact::{parse_compact, to_compact};
    use dtr1_twin::{DepthSource, MaskSource};
    let mut t = example::desk();
    t.depth_source = Some(DepthSource::Stereo);
    t.objects[0].mask_source = Some(MaskSource::Refined);
    t.objects[1].mask_source = Some(MaskSource::Box);
    let twin = Twin::Image(t.clone());
    assert_eq!(paths(&twin, Mode::Strict), Vec::<String>::new());
    let json = twin.to_json_pretty();
    assert!(json.contains("\"depth_source\": \"stereo\""), "{json}");
    assert!(json.contains("\"mask_source\": \"refined\""), "{json}");
    assert_eq!(Twin::from_json(&json).unwrap(), twin);
    let text = to_compact(&twin);
    assert!(
        text.starts_with("image 640x480 depth_source=stereo\n"),
        "{text}"
    );
    assert!(text.contains(" mask_source=box"), "{text}");
    let Twin::Image(back) = parse_compact(&text).unwrap() else {
        panic!("image expected")
    };
    assert_eq!(back.depth_source, Some(DepthSource::Stereo));
    assert_eq!(back.objects[0].mask_source, Some(MaskSource::Refined));
    // Unknown names are errors, in JSON and in the compact form.
    let bad = json.replace("\"refined\"", "\"guessed\"");
    let e = format!("{:#}", error_chain(Twin::from_json(&bad).unwrap_err()));
    assert!(e.contains("guessed"), "{e}");
    let e = parse_compact(&text.replace("mask_source=box", "mask_source=guessed"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown mask_source \"guessed\""), "{e}");
    let e = parse_compact(&text.replace("depth_source=stereo", "depth_source=lidar"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 1") && e.contains("unknown depth_source"),
        "{e}"
    );
    // A depth source with no depth anywhere is a problem of a strict twin.
    for o in &mut t.objects {
        o.depth = None;
    }
    assert_eq!(paths(&Twin::Image(t), Mode::Strict), vec!["/depth_source"]);
    // A sub-twin attribute may not take the reserved name.
    let mut o = Object::new(1, "cup");
    o.attributes.set("mask_source", "model".into());
    let mut t = dtr1_twin::ImageTwin::new(10, 10);
    t.objects.push(o);
    assert_eq!(
        paths(&Twin::Image(t), Mode::Partial),
        vec!["/objects/0/attributes/mask_source"]
    );
}

/// The load error with its source chain, as one string.
fn error_chain(e: dtr1_twin::LoadError) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(c) = src {
        s.push_str(&format!(": {c}"));
        src = c.source();
    }
    s
}
