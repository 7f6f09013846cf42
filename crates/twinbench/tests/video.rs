//! TwinBench clips: deterministic, with a strictly valid twin and a consistent event log.

use dtr1_twin::{validate, EventKind, Mode, Twin};
use dtr1_twinbench::video::{render, ClipConfig};

#[test]
fn clips_are_deterministic_and_their_twins_valid() {
    let cfg = ClipConfig::default();
    let a = render(&cfg, 5).unwrap();
    let b = render(&cfg, 5).unwrap();
    assert_eq!(a.frames.len(), 32);
    assert!(a
        .frames
        .iter()
        .zip(&b.frames)
        .all(|(x, y)| x.as_raw() == y.as_raw()));
    assert_eq!(a.events, b.events);
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..25 {
        let c = render(&cfg, seed).unwrap();
        let twin = c.twin();
        validate(&Twin::Video(twin.clone()), Mode::Strict)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for e in &twin.events {
            kinds.insert(e.kind);
            let vis = |t: u32, f: u32| twin.track(t).unwrap().frames.contains_key(&f);
            match e.kind {
                EventKind::Appear => {
                    assert_eq!(
                        twin.track(e.tracks[0]).unwrap().first_frame,
                        e.frame,
                        "seed {seed}"
                    );
                }
                EventKind::Leave => {
                    let t = twin.track(e.tracks[0]).unwrap();
                    assert!(
                        t.last_frame == e.frame && e.frame + 1 < twin.frames,
                        "seed {seed}"
                    );
                }
                EventKind::Collide => assert_ne!(e.tracks[0], e.tracks[1]),
                EventKind::Occlude => assert!(
                    vis(e.tracks[1], e.frame),
                    "seed {seed}: occluded track visible"
                ),
                EventKind::Start | EventKind::Stop => {
                    // A stopped object keeps its place: its box is the same a few frames later
                    // unless something is hit into it (a later start).
                    if e.kind == EventKind::Stop {
                        let t = twin.track(e.tracks[0]).unwrap();
                        let restart = twin.events.iter().any(|x| {
                            x.kind == EventKind::Start && x.tracks == e.tracks && x.frame > e.frame
                        });
                        let later = (e.frame + 1..=t.last_frame).find(|f| t.frames.contains_key(f));
                        if let (false, Some(f2), Some(f1)) =
                            (restart, later, t.frames.get(&e.frame))
                        {
                            let (b1, b2) = (f1.bbox.unwrap(), t.frames[&f2].bbox.unwrap());
                            let occluded = twin
                                .events
                                .iter()
                                .any(|x| x.kind == EventKind::Occlude && x.tracks[1] == t.id);
                            assert!(
                                occluded || b1 == b2,
                                "seed {seed}: track {} moved after stopping: {b1:?} -> {b2:?}",
                                t.id
                            );
                        }
                    }
                }
            }
        }
    }
    for k in [
        EventKind::Appear,
        EventKind::Collide,
        EventKind::Stop,
        EventKind::Leave,
    ] {
        assert!(kinds.contains(&k), "no {k:?} in 25 clips: {kinds:?}");
    }
}

#[test]
fn absurd_clip_parameters_are_errors() {
    for cfg in [
        ClipConfig {
            frames: 4,
            ..Default::default()
        },
        ClipConfig {
            objects: 50,
            ..Default::default()
        },
        ClipConfig {
            fps: 0.0,
            ..Default::default()
        },
        ClipConfig {
            width: 10,
            ..Default::default()
        },
    ] {
        assert!(render(&cfg, 1).is_err(), "{cfg:?}");
    }
}
