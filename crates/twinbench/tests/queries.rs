//! TwinBench queries: verified, unambiguous, never just the label; the suite on disk.

use dtr1_data::{dataset, GroundTruth, Task};
use dtr1_data::{Outcome, QuerySpec};
use dtr1_twinbench::queries::{check, generate};
use dtr1_twinbench::scene::{render, SceneConfig};
use dtr1_twinbench::suite;

#[test]
fn every_query_passes_the_independent_checker() {
    let mut per_task = std::collections::BTreeMap::new();
    for seed in 0..30 {
        let scene = render(&SceneConfig::default(), seed).unwrap();
        let twin = scene.twin(6);
        for q in generate(&scene, &twin, seed, 4) {
            *per_task.entry(q.task).or_insert(0) += 1;
            let got = check(&q.spec, &twin).expect("kept queries have a clear answer");
            match (&got, q.task) {
                (Outcome::Targets(t), Task::ImageReasonseg | Task::ImageGrounding) => {
                    assert_eq!(t, &q.targets, "{}", q.text)
                }
                (Outcome::Answer(a), Task::ImageVqa) => {
                    assert_eq!(Some(a), q.answer.as_ref(), "{}", q.text)
                }
                _ => panic!("{}: outcome {got:?} does not fit {:?}", q.text, q.task),
            }
            if q.task == Task::ImageGrounding {
                assert_eq!(q.targets.len(), 1, "grounding is unambiguous: {}", q.text);
            }
            if q.task == Task::ImageReasonseg {
                // Implicit: the query never names the target's shape.
                for id in &q.targets {
                    let label = &twin.object(*id).unwrap().label;
                    assert!(!q.text.contains(label.as_str()), "{} names {label}", q.text);
                }
            }
            assert!((1..=4).contains(&q.level));
        }
    }
    for t in [Task::ImageReasonseg, Task::ImageGrounding, Task::ImageVqa] {
        assert!(
            per_task.get(&t).copied().unwrap_or(0) >= 30,
            "{t:?}: {per_task:?}"
        );
    }
}

#[test]
fn suite_is_deterministic_and_keeps_heldout_pairs_out_of_train() {
    let base = std::env::temp_dir().join(format!("dtr1-suite-{}", std::process::id()));
    let (a, b) = (base.join("a"), base.join("b"));
    let ca = suite::generate(&a, 12, 2, 7, 3, &SceneConfig::default(), &mut |_| {}).unwrap();
    let cb = suite::generate(&b, 12, 2, 7, 3, &SceneConfig::default(), &mut |_| {}).unwrap();
    assert_eq!(ca, cb);
    assert_eq!(
        std::fs::read(a.join("train.jsonl")).unwrap(),
        std::fs::read(b.join("train.jsonl")).unwrap()
    );
    assert_eq!(
        std::fs::read(a.join("images/scene_00003.png")).unwrap(),
        std::fs::read(b.join("images/scene_00003.png")).unwrap()
    );
    let train = dataset::read_split(&a, "train").unwrap();
    assert!(!train.is_empty());
    // Every generated sample stores its spec typed, and the generator's checker, run on the
    // stored twin, decides the stored ground truth from it.
    for s in &train {
        let spec = s
            .spec
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no spec", s.id));
        assert!(!s.meta.contains_key("spec"), "{}", s.id);
        let twin =
            dtr1_twin::Twin::from_json(&std::fs::read_to_string(s.twin.as_ref().unwrap()).unwrap())
                .unwrap();
        match (spec, suite::check(spec, &twin), &s.truth) {
            (QuerySpec::Summary, None, GroundTruth::Summaries { .. }) => {}
            (_, Some(Outcome::Targets(t)), truth) => {
                assert_eq!(truth.target_ids(), Some(t.as_slice()), "{}", s.id)
            }
            (_, Some(Outcome::Answer(a)), GroundTruth::Answers { answers, .. }) => {
                assert_eq!(answers, &vec![a], "{}", s.id)
            }
            other => panic!("{}: {other:?}", s.id),
        }
    }
    // Clip 0 is in test: every video task is there, with frames on disk.
    let test = dataset::read_split(&a, "test").unwrap();
    for t in [Task::VideoVqa, Task::VideoSummary] {
        assert!(test.iter().any(|s| s.task == t), "{t:?} missing");
    }
    let video = test.iter().find(|s| s.task == Task::VideoSummary).unwrap();
    match (&video.media, &video.truth) {
        (dtr1_data::Media::Video { frames, .. }, GroundTruth::Summaries { references, .. }) => {
            assert_eq!(frames.len(), 32);
            assert!(frames.iter().all(|f| f.exists()));
            assert!(references.len() >= 2 && references[0] != references[1]);
        }
        other => panic!("{other:?}"),
    }
    for s in &train {
        let twin: dtr1_twin::ImageTwin =
            serde_json::from_slice(&std::fs::read(s.twin.as_ref().unwrap()).unwrap()).unwrap();
        if let GroundTruth::Mask { ids: Some(ids), .. } | GroundTruth::Box { ids: Some(ids), .. } =
            &s.truth
        {
            for id in ids {
                let o = twin.object(*id).unwrap();
                let pair = (
                    o.attributes.color.clone().unwrap(),
                    o.attributes.shape.clone().unwrap(),
                );
                assert!(
                    !suite::HELDOUT_PAIRS
                        .iter()
                        .any(|(c, sh)| pair == (c.to_string(), sh.to_string())),
                    "{}",
                    s.query
                );
            }
        }
    }
    assert!(suite::generate(
        &base.join("c"),
        0,
        0,
        1,
        3,
        &SceneConfig::default(),
        &mut |_| {}
    )
    .is_err());
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn video_queries_pass_the_checker() {
    use dtr1_twinbench::video::{render, ClipConfig};
    use dtr1_twinbench::video_queries::{check, generate as vgenerate, summaries};
    let mut tasks = std::collections::BTreeMap::new();
    let mut specs = std::collections::BTreeMap::new();
    for seed in 0..20 {
        let clip = render(&ClipConfig::default(), seed).unwrap();
        let twin = clip.twin();
        for q in vgenerate(&clip, &twin) {
            *tasks.entry(q.task).or_insert(0) += 1;
            let kind = format!("{:?}", q.spec);
            *specs
                .entry(kind.split([' ', '{']).next().unwrap().to_string())
                .or_insert(0) += 1;
            let expected = match &q.answer {
                Some(a) => Outcome::Answer(a.clone()),
                None => Outcome::Targets(q.targets.clone()),
            };
            assert_eq!(check(&q.spec, &twin), Some(expected), "{}", q.text);
            if q.task == Task::VideoReasonseg {
                assert!(!q.targets.is_empty());
            }
        }
        let refs = summaries(&twin);
        assert_eq!(refs.len(), 2);
        assert!(refs.iter().all(|r| r.ends_with('.')), "{refs:?}");
    }
    assert!(
        tasks.get(&Task::VideoReasonseg).copied().unwrap_or(0) >= 10,
        "{tasks:?}"
    );
    assert!(
        tasks.get(&Task::VideoVqa).copied().unwrap_or(0) >= 20,
        "{tasks:?}"
    );
}

#[test]
fn video_queries_about_heldout_pairs_go_to_heldout() {
    let dir = std::env::temp_dir().join(format!("dtr1-suite-video-{}", std::process::id()));
    let counts = suite::generate(&dir, 1, 30, 11, 1, &SceneConfig::default(), &mut |_| {}).unwrap();
    let heldout = dataset::read_split(&dir, "heldout").unwrap_or_default();
    assert!(
        heldout.iter().any(|s| s.task.is_video()),
        "30 clips hold a red cube or a blue sphere somewhere: {counts:?}"
    );
    let names: Vec<String> = suite::HELDOUT_PAIRS
        .iter()
        .map(|(c, s)| format!("the {c} {s}"))
        .collect();
    for split in ["train", "val", "test"] {
        for s in dataset::read_split(&dir, split).unwrap_or_default() {
            if !s.task.is_video() {
                continue;
            }
            let twin: dtr1_twin::VideoTwin =
                serde_json::from_slice(&std::fs::read(s.twin.as_ref().unwrap()).unwrap()).unwrap();
            let pair_of = |id: &u32| {
                let t = twin.track(*id).unwrap();
                suite::HELDOUT_PAIRS.iter().any(|(c, sh)| {
                    t.attributes.color.as_deref() == Some(*c)
                        && t.attributes.shape.as_deref() == Some(*sh)
                })
            };
            // Not named by the query, not a target, not told of by a summary.
            let q = s.query.to_lowercase();
            assert!(!names.iter().any(|n| q.contains(n)), "{split}: {}", s.query);
            match &s.truth {
                GroundTruth::VideoMasks { ids: Some(ids), .. } => {
                    assert!(!ids.iter().any(pair_of), "{split}: {}", s.id)
                }
                GroundTruth::Summaries { references, .. } => {
                    for r in references {
                        let r = r.to_lowercase();
                        assert!(!names.iter().any(|n| r.contains(n)), "{split}: {r}");
                    }
                }
                _ => {}
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
