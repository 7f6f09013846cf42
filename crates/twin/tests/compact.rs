//! The compact prompt form round-trips, and its parser never panics.

use dtr1_twin::compact::{
    keep_compact_fields, line_id, parse_compact, parse_object_line, parse_track_line, to_compact,
    to_compact_styled, to_compact_with, token_proxy, DepthForm, IdPlacement, Style,
};
use dtr1_twin::{
    example, Attributes, DepthSource, DepthStats, Event, EventKind, ImageTwin, MaskSource, Motion,
    Object, PathPoint, Relation, RelationKind, Track, Twin, VideoTwin, SCHEMA_VERSION,
};
use proptest::prelude::*;

/// Numbers with the compact form's precision: k / 10^d.
fn num(max: i64, decimals: u32) -> impl Strategy<Value = f64> {
    let p = 10i64.pow(decimals);
    (-max * p..=max * p).prop_map(move |k| k as f64 / p as f64)
}

fn unit(decimals: u32) -> impl Strategy<Value = f64> {
    let p = 10i64.pow(decimals);
    (0..=p).prop_map(move |k| k as f64 / p as f64)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z_]{0,8}",
        "[a-z]+ [a-z]+",
        "[ -~]{1,12}".prop_filter("non-blank", |s| !s.trim().is_empty()),
        "\\PC{1,6}".prop_filter("non-blank", |s| !s.trim().is_empty()),
    ]
}

fn attrs() -> impl Strategy<Value = Attributes> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::collection::btree_map("x[a-z]{1,5}", text(), 0..3),
    )
        .prop_map(|(color, material, extra)| Attributes {
            color,
            material,
            extra,
            ..Default::default()
        })
}

fn rels() -> impl Strategy<Value = Vec<Relation>> {
    proptest::collection::vec(
        (0..RelationKind::ALL.len(), 0u32..50).prop_map(|(k, to)| Relation {
            kind: RelationKind::ALL[k],
            to,
        }),
        0..4,
    )
}

fn object() -> impl Strategy<Value = Object> {
    (
        (0u32..1000, text(), proptest::option::of(unit(3))),
        proptest::option::of((num(2000, 2), num(2000, 2), num(2000, 2), num(2000, 2))),
        proptest::option::of(0u64..1_000_000),
        proptest::option::of((num(2000, 2), num(2000, 2))),
        proptest::option::of((unit(3), unit(3), unit(3))),
        (attrs(), proptest::option::of(0..MaskSource::ALL.len())),
        rels(),
    )
        .prop_map(
            |((id, label, score), bbox, area, c, d, (attributes, ms), relations)| {
                let mut o = Object::new(id, label);
                o.score = score;
                o.bbox = bbox.map(|(a, b, c, d)| [a, b, c, d]);
                o.area = area;
                o.centroid = c.map(|(x, y)| [x, y]);
                o.depth = d.map(|(mean, min, max)| DepthStats { mean, min, max });
                o.mask_source = ms.map(|i| MaskSource::ALL[i]);
                o.attributes = attributes;
                o.relations = relations;
                o
            },
        )
}

fn track() -> impl Strategy<Value = Track> {
    (
        (0u32..100, text(), 0u32..50, 0u32..50),
        proptest::option::of((
            num(100, 2),
            num(360, 2),
            proptest::collection::vec((0u32..100, num(999, 2), num(999, 2)), 0..4),
        )),
        attrs(),
        rels(),
    )
        .prop_map(|((id, label, a, b), motion, attributes, relations)| Track {
            id,
            label,
            score: None,
            first_frame: a.min(b),
            last_frame: a.max(b),
            frames: Default::default(),
            motion: motion.map(|(speed, direction, path)| Motion {
                speed,
                direction,
                path: path
                    .into_iter()
                    .map(|(frame, x, y)| PathPoint { frame, x, y })
                    .collect(),
            }),
            attributes,
            relations,
        })
}

fn event() -> impl Strategy<Value = Event> {
    (
        0..EventKind::ALL.len(),
        0u32..100,
        proptest::collection::vec(0u32..9, 1..3),
    )
        .prop_map(|(k, frame, tracks)| Event {
            kind: EventKind::ALL[k],
            frame,
            tracks,
        })
}

proptest! {
    #[test]
    fn image_round_trip(w in 1u32..5000, h in 1u32..5000, depth_source in proptest::option::of(0..DepthSource::ALL.len()).prop_map(|i| i.map(|i| DepthSource::ALL[i])), objects in proptest::collection::vec(object(), 0..6)) {
        let twin = Twin::Image(ImageTwin { schema_version: SCHEMA_VERSION.into(), width: w, height: h, depth_source, objects });
        let text = to_compact(&twin);
        prop_assert_eq!(parse_compact(&text).unwrap(), keep_compact_fields(&twin), "{}", text);
        let last = to_compact_with(&twin, IdPlacement::Last);
        prop_assert_eq!(parse_compact(&last).unwrap(), keep_compact_fields(&twin), "{}", last);
    }

    #[test]
    fn video_round_trip(
        fps in (100i64..6000).prop_map(|k| k as f64 / 100.0),
        frames in 1u32..500,
        tracks in proptest::collection::vec(track(), 0..4),
        events in proptest::collection::vec(event(), 0..4),
    ) {
        let twin = Twin::Video(VideoTwin {
            schema_version: SCHEMA_VERSION.into(), width: 64, height: 48, fps, frames, tracks, events,
        });
        let text = to_compact(&twin);
        prop_assert_eq!(parse_compact(&text).unwrap(), keep_compact_fields(&twin), "{}", text);
        let last = to_compact_with(&twin, IdPlacement::Last);
        prop_assert_eq!(parse_compact(&last).unwrap(), keep_compact_fields(&twin), "{}", last);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = parse_compact(&s);
    }

    #[test]
    fn parser_never_panics_on_mutated_twins(cut in 0usize..2000, insert in "[ -~]{0,3}", seed in 0u64..50) {
        let text = to_compact(&Twin::Image(example::synthetic(4, seed)));
        let mut chars: Vec<char> = text.chars().collect();
        let at = cut % (chars.len() + 1);
        chars.splice(at..(at + 2).min(chars.len()), insert.chars());
        let mutated: String = chars.into_iter().collect();
        if let Err(e) = parse_compact(&mutated) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }
}

#[test]
fn errors_point_at_line_and_column() {
    let e = parse_compact("image 10x10\n#1 cup box=[1,2,3]\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 8));
    assert!(e.message.contains("expected 4 numbers"), "{e}");
    let e = parse_compact("image 10x10\n#1 cup rel=besides:2\n").unwrap_err();
    assert!(e.message.contains("besides"), "{e}");
    let e = parse_compact("picture 10x10\n").unwrap_err();
    assert_eq!((e.line, e.column), (1, 1));
    let e = parse_compact("image 10x10\n\n#x cup\n").unwrap_err();
    assert_eq!(e.line, 3);
    let e = parse_compact("image 10x10\n#1 \"cup\n").unwrap_err();
    assert!(e.message.contains("unterminated"), "{e}");
    let e = parse_compact("").unwrap_err();
    assert!(e.message.contains("header"), "{e}");
}

#[test]
fn quoted_labels_and_attributes_survive() {
    let mut t = ImageTwin::new(10, 10);
    let mut o = Object::new(1, "dining table");
    o.attributes.color = Some("dark \"oak\" brown".into());
    t.objects.push(o);
    let twin = Twin::Image(t);
    let text = to_compact(&twin);
    assert_eq!(
        text,
        "image 10x10\n#1 \"dining table\" color=\"dark \\\"oak\\\" brown\"\n"
    );
    assert_eq!(parse_compact(&text).unwrap(), twin);
}

#[test]
fn ids_last_puts_the_identifying_words_before_the_id() {
    let mut t = ImageTwin::new(10, 10);
    let mut o = Object::new(8, "cube");
    o.attributes.color = Some("red".into());
    o.area = Some(40);
    o.centroid = Some([3.0, 4.5]);
    o.relations = vec![Relation {
        kind: RelationKind::LeftOf,
        to: 2,
    }];
    t.objects.push(o);
    t.objects.push(Object::new(2, "event"));
    let twin = Twin::Image(t);
    let text = to_compact_with(&twin, IdPlacement::Last);
    assert_eq!(
        text,
        "image 10x10\ncube color=red area=40 c=(3,4.5) rel=left_of:2 #8\nevent #2\n"
    );
    assert_eq!(parse_compact(&text).unwrap(), twin);
    // A label that starts with a sigil is quoted, so it is never taken for the id.
    let mut t = ImageTwin::new(10, 10);
    t.objects.push(Object::new(3, "#5"));
    let twin = Twin::Image(t);
    let text = to_compact_with(&twin, IdPlacement::Last);
    assert_eq!(text, "image 10x10\n\"#5\" #3\n");
    assert_eq!(parse_compact(&text).unwrap(), twin);
    // A line with the id at neither end names the problem.
    let e = parse_compact("image 10x10\ncube color=red\n").unwrap_err();
    assert!(e.message.contains("starts or ends with #ID"), "{e}");
    let e = parse_compact("video 10x10 fps=5 frames=3\nball frames=0-2\n").unwrap_err();
    assert!(e.message.contains("starting or ending with @ID"), "{e}");
}

#[test]
fn lean_style_writes_mean_depths_and_entry_lines_parse_alone() {
    let mut t = ImageTwin::new(640, 480);
    t.depth_source = Some(DepthSource::Stereo);
    let mut o = Object::new(8, "cube");
    o.attributes.color = Some("red".into());
    o.centroid = Some([300.0, 200.0]);
    o.depth = Some(DepthStats {
        mean: 0.42,
        min: 0.4,
        max: 0.45,
    });
    t.objects.push(o);
    let twin = Twin::Image(t);
    let lean = Style {
        ids: IdPlacement::Last,
        depth: DepthForm::Mean,
        image_header: true,
        depth_source: false,
        brackets: false,
        color_first: true,
    };
    let text = to_compact_styled(&twin, &lean);
    assert_eq!(text, "image 640x480\nred cube c=300,200 d=.42 #8\n");
    let lines = Style {
        image_header: false,
        ..lean
    };
    assert_eq!(
        to_compact_styled(&twin, &lines),
        "red cube c=300,200 d=.42 #8\n"
    );
    let o = parse_object_line("cube box=1,2,3.5,4 c=2,3 #1", 1).unwrap();
    assert_eq!(
        (o.bbox, o.centroid),
        (Some([1.0, 2.0, 3.5, 4.0]), Some([2.0, 3.0]))
    );
    // Colour first reads back as the colour attribute; so does the canonical `color=`.
    assert_eq!(
        parse_object_line("red cube #8", 1).unwrap(),
        parse_object_line("#8 cube color=red", 1).unwrap()
    );
    let tl = parse_track_line("dark_blue ball frames=0-3 @2", 1).unwrap();
    assert_eq!(tl.track.attributes.color.as_deref(), Some("dark_blue"));
    // The canonical style is what to_compact writes.
    assert_eq!(
        to_compact_styled(&twin, &Style::default()),
        to_compact(&twin)
    );
    // `d=MEAN` reads back as a point.
    let Twin::Image(back) = parse_compact(&text).unwrap() else {
        panic!("an image twin")
    };
    let d = back.objects[0].depth.unwrap();
    assert_eq!((d.mean, d.min, d.max), (0.42, 0.42, 0.42));
    // Entry lines parse alone, with the id at either end; a track line may leave out frames.
    let o = parse_object_line("cube color=red d=0.42 #8", 1).unwrap();
    assert_eq!((o.id, o.label.as_str()), (8, "cube"));
    assert_eq!(o.attributes.color.as_deref(), Some("red"));
    assert_eq!(parse_object_line("#8 cube", 1).unwrap().id, 8);
    let tl = parse_track_line("ball color=blue @3", 2).unwrap();
    assert_eq!((tl.track.id, tl.has_frames), (3, false));
    let tl = parse_track_line("@3 ball frames=2-9", 2).unwrap();
    assert_eq!(
        (tl.track.first_frame, tl.track.last_frame, tl.has_frames),
        (2, 9, true)
    );
    // …and a twin's track line may not.
    let e = parse_compact("video 10x10 fps=5 frames=3\n@1 ball\n").unwrap_err();
    assert!(e.message.contains("needs frames="), "{e}");
    // Errors name the line they were given; a line without an id at either end is refused.
    let e = parse_object_line("cube color=red", 4).unwrap_err();
    assert_eq!(e.line, 4);
    assert!(e.message.contains("#ID"), "{e}");
    assert!(parse_track_line("#3 ball", 1).is_err());
    // The lenient id reader finds the id of a line that does not parse otherwise.
    assert_eq!(line_id("cube color=red d=oops #8", '#'), Some(8));
    assert_eq!(line_id("#12 cube box=[", '#'), Some(12));
    assert_eq!(line_id("cube", '#'), None);
}

/// The compact form is much shorter than JSON. Prints the numbers for docs/benchmarks.md.
#[test]
fn compact_form_is_much_shorter_than_json_for_20_objects() {
    let twin = Twin::Image(example::synthetic(20, 1));
    let stripped = keep_compact_fields(&twin);
    let compact = token_proxy(&to_compact(&twin));
    let pretty = token_proxy(&stripped.to_json_pretty());
    let pretty_masks = token_proxy(&twin.to_json_pretty());
    let dense = match &stripped {
        Twin::Image(t) => token_proxy(&serde_json::to_string(t).unwrap()),
        Twin::Video(_) => unreachable!(),
    };
    println!("20-object twin: compact {compact:?}");
    println!("20-object twin: pretty JSON without masks {pretty:?}");
    println!("20-object twin: compact JSON without masks {dense:?}");
    println!("20-object twin: pretty JSON with masks {pretty_masks:?}");
    assert!(
        compact.pieces * 2 < pretty.pieces,
        "{compact:?} vs {pretty:?}"
    );
    assert!(compact.pieces < dense.pieces, "{compact:?} vs {dense:?}");
    assert!(
        compact.chars * 3 < pretty.chars,
        "{compact:?} vs {pretty:?}"
    );
}
