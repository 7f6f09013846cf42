//! The solver's traces score full marks under the reward on every sample of a generated
//! TwinBench suite (all six benchmarks).

use dtr1_data::{dataset, Sample, Task};
use dtr1_prompt::{load_input_twin, solver, PromptVersion};
use dtr1_reward::{score, Request, RewardConfig};
use dtr1_twinbench::{scene::SceneConfig, suite};
use std::collections::BTreeMap;
use std::path::Path;

fn suite_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    suite::generate(
        dir.path(),
        30,
        10,
        7,
        3,
        &SceneConfig::default(),
        &mut |_| {},
    )
    .unwrap();
    dir
}

fn all_samples(dir: &Path) -> Vec<Sample> {
    let m = dataset::read_manifest(dir).unwrap();
    m.splits
        .keys()
        .flat_map(|s| dataset::read_split(dir, s).unwrap())
        .collect()
}

#[test]
fn solver_traces_score_full_marks_on_every_twinbench_sample() {
    let dir = suite_dir();
    let samples = all_samples(dir.path());
    let cfg = RewardConfig::default();
    let mut per_task: BTreeMap<Task, usize> = BTreeMap::new();
    // Every prompt version: version 1 writes JSON sub-twins, version 2 compact lines.
    for version in PromptVersion::ALL {
        for s in &samples {
            let twin = load_input_twin(dir.path(), s).unwrap();
            let trace = solver::solve(version, s, &twin).unwrap();
            assert!(trace.grounded, "{}: fell back to the ground truth", s.id);
            let c = trace.completion();
            let req = Request {
                task: s.task,
                query: &s.query,
                twin: &twin,
                truth: &s.truth,
                cider: None,
            };
            let r = score(&c, &req, &cfg);
            assert_eq!(r.format, 1.0, "{}: {c}\n{:?}", s.id, r.problems);
            assert_eq!(r.structure, 1.0, "{}: {c}\n{:?}", s.id, r.problems);
            assert!(
                r.accuracy >= 0.99,
                "{}: accuracy {} for {c}",
                s.id,
                r.accuracy
            );
            assert_eq!(r.penalty, 0.0, "{}: {:?}", s.id, r.problems);
            // The reasoning is short: one to three sentences.
            let sentences = trace.think.matches(". ").count() + 1;
            assert!(sentences <= 3, "{}: {}", s.id, trace.think);
            if version == PromptVersion::V2 {
                // Ids after the words: every sub-twin line ends with its id.
                for line in trace.twin.lines() {
                    assert!(
                        line.rsplit(' ')
                            .next()
                            .is_some_and(|w| w.starts_with('#') || w.starts_with('@')),
                        "{}: {line:?}",
                        s.id
                    );
                }
            }
            *per_task.entry(s.task).or_default() += 1;
        }
    }
    assert_eq!(
        per_task.len(),
        6,
        "every benchmark is covered: {per_task:?}"
    );
}

#[test]
fn a_dataset_given_by_a_relative_path_loads_its_twins() {
    // `dtr1 eval data/tb`: read_split joins the twin paths to the relative directory already.
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("prompt-relative-suite");
    let _ = std::fs::remove_dir_all(&base);
    suite::generate(&base, 4, 1, 7, 1, &SceneConfig::default(), &mut |_| {}).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let root = cwd.ancestors().find(|a| base.starts_with(a)).unwrap();
    let up: std::path::PathBuf = cwd
        .strip_prefix(root)
        .unwrap()
        .components()
        .map(|_| "..")
        .collect();
    let rel = up.join(base.strip_prefix(root).unwrap());
    assert!(rel.is_relative(), "{}", rel.display());
    let samples = dataset::read_split(&rel, "train").unwrap();
    assert!(!samples.is_empty());
    for s in &samples {
        let twin = load_input_twin(&rel, s).unwrap();
        assert_eq!(
            matches!(twin, dtr1_twin::Twin::Video(_)),
            s.task.is_video(),
            "{}",
            s.id
        );
    }
    // A path as written in the split file (relative to the dataset) still resolves.
    let mut raw = samples[0].clone();
    raw.twin = Some(
        raw.twin
            .as_ref()
            .unwrap()
            .strip_prefix(&rel)
            .unwrap()
            .to_path_buf(),
    );
    load_input_twin(&rel, &raw).unwrap();
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_missing_or_wrong_twin_is_a_clear_error() {
    let dir = suite_dir();
    let samples = all_samples(dir.path());
    let mut s = samples[0].clone();
    s.twin = None;
    let e = load_input_twin(dir.path(), &s).unwrap_err().to_string();
    assert!(e.contains("no twin"), "{e}");
    s.twin = Some("twins/nope.json".into());
    let e = load_input_twin(dir.path(), &s).unwrap_err().to_string();
    assert!(e.contains("nope.json"), "{e}");
    let video = samples.iter().find(|x| x.task.is_video()).unwrap();
    let image = samples.iter().find(|x| !x.task.is_video()).unwrap();
    let mut mixed = image.clone();
    mixed.twin = video.twin.clone();
    let e = load_input_twin(dir.path(), &mixed).unwrap_err().to_string();
    assert!(e.contains("needs an image twin, got a video twin"), "{e}");
}

#[test]
fn without_a_spec_or_target_ids_the_solver_falls_back_to_the_ground_truth() {
    let dir = suite_dir();
    let cfg = RewardConfig::default();
    let samples = dataset::read_split(dir.path(), "train").unwrap();
    let mut per_task: BTreeMap<Task, usize> = BTreeMap::new();
    let mut unsupported = 0;
    for version in PromptVersion::ALL {
        for s in &samples {
            // As a sample from another dataset: no spec, and masks/boxes without target ids
            // (questions keep the ids of the objects they are about).
            let mut bare = s.clone();
            bare.meta.clear();
            bare.spec = None;
            match &mut bare.truth {
                dtr1_data::GroundTruth::Mask { ids, .. }
                | dtr1_data::GroundTruth::Box { ids, .. }
                | dtr1_data::GroundTruth::VideoMasks { ids, .. } => *ids = None,
                _ => {}
            }
            let twin = load_input_twin(dir.path(), &bare).unwrap();
            let trace = solver::solve(version, &bare, &twin).unwrap();
            assert_eq!(trace.grounded, s.task == Task::VideoSummary, "{}", s.id);
            let req = Request {
                task: bare.task,
                query: &bare.query,
                twin: &twin,
                truth: &bare.truth,
                cider: None,
            };
            let r = score(&trace.completion(), &req, &cfg);
            assert_eq!(
                (r.format, r.structure),
                (1.0, 1.0),
                "{}: {:?}",
                s.id,
                r.problems
            );
            assert!(r.accuracy >= 0.99, "{}: {}", s.id, trace.completion());
            // A question whose label names no objects: the fallback trace cites none, and the
            // reward does not pay an answer that no sub-twin supports.
            let mut nameless = bare.clone();
            if let dtr1_data::GroundTruth::Answers { ids, .. } = &mut nameless.truth {
                if ids.as_ref().is_some_and(|i| !i.is_empty()) {
                    *ids = None;
                    let trace = solver::solve(version, &nameless, &twin).unwrap();
                    let req = Request {
                        truth: &nameless.truth,
                        ..req
                    };
                    let r = score(&trace.completion(), &req, &cfg);
                    assert_eq!(r.accuracy, 0.0, "{}: {}", s.id, trace.completion());
                    assert!(r.problems.iter().any(|p| p.contains("does not support")));
                    unsupported += 1;
                }
            }
            *per_task.entry(s.task).or_default() += 1;
        }
    }
    assert_eq!(per_task.len(), 6);
    assert!(unsupported > 0);
}
