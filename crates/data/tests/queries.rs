//! TwinBench queries: verified, unambiguous, never just the label; the suite on disk.

use dtr1_data::queries::{check, generate, Outcome};
use dtr1_data::scene::{render, SceneConfig};
use dtr1_data::{dataset, suite, GroundTruth, Task};

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
    let ca = suite::generate(&a, 12, 7, 3, &SceneConfig::default(), &mut |_| {}).unwrap();
    let cb = suite::generate(&b, 12, 7, 3, &SceneConfig::default(), &mut |_| {}).unwrap();
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
        1,
        3,
        &SceneConfig::default(),
        &mut |_| {}
    )
    .is_err());
    std::fs::remove_dir_all(&base).ok();
}
