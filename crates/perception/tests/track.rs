//! Tracker and event tests: synthetic moving masks with known identities, and TwinBench
//! clips (ground-truth per-frame masks without their ids) against the clip's event log.

use dtr1_perception::events::{self, EventConfig};
use dtr1_perception::track::{build_twin, track, FrameDetection, Tracker, TrackerConfig};
use dtr1_perception::video::detections_from_twin;
use dtr1_perception::video_eval::{evaluate, VideoScore};
use dtr1_rle::Rle;
use dtr1_twin::EventKind;
use dtr1_twinbench::video::{render, ClipConfig};

const W: u32 = 120;
const H: u32 = 80;

/// A filled square of side `s` with its top-left corner at (x, y), clipped to the frame.
fn square(x: i32, y: i32, s: i32) -> Rle {
    let mut m = vec![0u8; (W * H) as usize];
    for yy in y.max(0)..(y + s).min(H as i32) {
        for xx in x.max(0)..(x + s).min(W as i32) {
            m[(yy as u32 * W + xx as u32) as usize] = 1;
        }
    }
    Rle::encode_row_major(H, W, &m).unwrap()
}

fn det(label: &str, lab: [f64; 3], mask: Rle) -> FrameDetection {
    FrameDetection {
        label: label.into(),
        score: 0.9,
        mask,
        lab: Some(lab),
        depth: None,
        mask_source: None,
    }
}

const RED: [f64; 3] = [50.0, 70.0, 50.0];
const BLUE: [f64; 3] = [35.0, 60.0, -100.0];

#[test]
fn crossing_objects_keep_their_ids() {
    // Two squares cross each other's paths horizontally at different heights; the
    // detections come in a shuffled order every frame.
    let mut t = Tracker::new(TrackerConfig::default());
    let mut want = Vec::new();
    for f in 0..30 {
        let a = det("cube", RED, square(5 + 3 * f, 20, 10));
        let b = det("ball", BLUE, square(100 - 3 * f, 24, 10));
        let ids = if f % 2 == 0 {
            t.push(vec![a, b]).unwrap()
        } else {
            let r = t.push(vec![b, a]).unwrap();
            vec![r[1], r[0]]
        };
        want.push(ids);
    }
    for ids in &want {
        assert_eq!(ids, &vec![Some(1), Some(2)]);
    }
    let tracks = t.finish();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].label(), "cube");
    assert_eq!((tracks[0].first(), tracks[0].last()), (0, 29));
}

#[test]
fn reidentifies_after_a_short_occlusion_but_not_a_long_one() {
    // A square moving right vanishes for `gap` frames and comes back where its motion
    // says it should be.
    for (gap, max_lost, same) in [(5u32, 10u32, true), (5, 3, false)] {
        let cfg = TrackerConfig {
            max_lost,
            ..Default::default()
        };
        let mut frames = Vec::new();
        for f in 0..24i32 {
            let hidden = (8..8 + gap as i32).contains(&f);
            let mut d = vec![det("cube", BLUE, square(60, 60, 12))];
            if !hidden {
                d.push(det("cube", RED, square(4 + 3 * f, 10, 12)));
            }
            frames.push(d);
        }
        let (tracks, n) = track(frames, &cfg).unwrap();
        assert_eq!(n, 24);
        let movers = tracks.iter().filter(|t| t.lab() == Some(RED)).count();
        assert_eq!(
            movers == 1,
            same,
            "gap {gap}, max_lost {max_lost}: {movers} tracks"
        );
        let twin = build_twin(&tracks, W, H, n, 10.0, &EventConfig::default()).unwrap();
        let mover = twin
            .tracks
            .iter()
            .find(|t| {
                t.frames.contains_key(&0)
                    && t.first_frame == 0
                    && t.motion.as_ref().unwrap().speed > 1.0
            })
            .unwrap();
        let m = mover.motion.as_ref().unwrap();
        if same {
            // 3 pixels per frame to the right, over the whole clip.
            assert!((m.speed - 3.0).abs() < 0.01, "{m:?}");
            assert!(m.direction.abs() < 0.01, "{m:?}");
        }
    }
}

#[test]
fn start_stop_and_leave_from_motion() {
    // A square at rest until frame 5, moving 2 px/frame until frame 15, then still; another
    // leaves the frame.
    let mut frames = Vec::new();
    for f in 0..30i32 {
        let x = 10 + 2 * (f.clamp(5, 15) - 5);
        let mut d = vec![det("cube", RED, square(x, 10, 10))];
        if f < 20 {
            d.push(det("ball", BLUE, square(60 + 4 * f, 50, 10)));
        }
        frames.push(d);
    }
    let (tracks, n) = track(frames, &TrackerConfig::default()).unwrap();
    let ev = events::detect(&tracks, W, H, n, &EventConfig::default());
    let has = |k: EventKind, f: u32, id: u32| {
        ev.iter()
            .any(|e| e.kind == k && e.frame == f && e.tracks == [id])
    };
    // Position changes first between frames 5 and 6: the start is logged at 5, the last
    // frame at rest; the stop at 15, the last frame that moved.
    assert!(has(EventKind::Start, 5, 1), "{ev:?}");
    assert!(has(EventKind::Stop, 15, 1), "{ev:?}");
    let leave = ev
        .iter()
        .find(|e| e.kind == EventKind::Leave)
        .expect("a leave");
    assert_eq!(leave.tracks, [2]);
    // The ball is cut by the frame's edge from frame 12 on and gone after 14.
    assert_eq!(leave.frame, 14);
    assert_eq!(ev.iter().filter(|e| e.kind == EventKind::Appear).count(), 2);
}

#[test]
fn bad_input_is_an_error() {
    let mut t = Tracker::new(TrackerConfig::default());
    t.push(vec![det("a", RED, square(0, 0, 5))]).unwrap();
    let other = Rle::empty(10, 10);
    let e = t.push(vec![det("a", RED, other)]).unwrap_err();
    assert!(
        e.to_string()
            .contains("'s mask is 10x10 but each earlier mask is 120x80"),
        "{e}"
    );
    let mut bad = det("a", RED, square(0, 0, 5));
    bad.score = f64::NAN;
    assert!(t.push(vec![bad]).is_err());
}

/// Tracks TwinBench val clips from their ground-truth masks (ids dropped) and scores the
/// result against the true twin and event log.
fn score_val_clips(n: usize) -> VideoScore {
    let mut total = VideoScore::default();
    for k in 0..n {
        // Val clips of the suite: clip index i with i % 10 == 1, seed 1_000_000 + i.
        let i = 10 * k + 1;
        let clip = render(&ClipConfig::default(), 1_000_000 + i as u64).unwrap();
        let truth = clip.twin();
        let mut frames = Vec::new();
        for (f, img) in clip.frames.iter().enumerate() {
            frames.push(detections_from_twin(&truth, img, f as u32).unwrap());
        }
        let (tracks, nf) = track(frames, &TrackerConfig::default()).unwrap();
        let built = build_twin(
            &tracks,
            truth.width,
            truth.height,
            nf,
            truth.fps,
            &EventConfig::default(),
        )
        .unwrap();
        let s = evaluate(&built, &truth, 0.5, 2).unwrap();
        if std::env::var_os("DTR1_TRACK_DEBUG").is_some() {
            eprintln!(
                "clip {i}: switches {} tracks {}/{} events {:?}",
                s.id_switches,
                s.built_tracks,
                s.true_tracks,
                s.all_events()
            );
            eprintln!(
                "  truth: {:?}",
                truth
                    .events
                    .iter()
                    .map(|e| (e.kind.name(), e.frame, e.tracks.clone()))
                    .collect::<Vec<_>>()
            );
            eprintln!(
                "  built: {:?}",
                built
                    .events
                    .iter()
                    .map(|e| (e.kind.name(), e.frame, e.tracks.clone()))
                    .collect::<Vec<_>>()
            );
        }
        total.add(&s);
    }
    total
}

#[test]
fn twinbench_val_clips_meet_the_targets() {
    let s = score_val_clips(10);
    let ev = s.all_events();
    eprintln!(
        "tracks {} switches {} recall {:.3} events P {:.3} R {:.3} F1 {:.3} {:?}",
        s.true_tracks,
        s.id_switches,
        s.track_recall(),
        ev.precision(),
        ev.recall(),
        ev.f1(),
        s.events
    );
    assert!(s.switches_per_10_tracks() <= 1.0, "{s:?}");
    assert!(s.track_recall() >= 0.9, "{s:?}");
    assert!(ev.f1() >= 0.8, "{s:?}");
}
