//! The reward audit: on every label of a generated TwinBench suite (all six benchmarks),
//! answers that need no knowledge of the scene score strictly below an honest answer that
//! is wrong — on average and on at least 90% of the labels of each task.
//!
//! The honest wrong answer cites a wrong existing object (track) with a correct sub-twin of
//! it, or, for questions and summaries, gives a wrong answer (a fluent summary of the wrong
//! events) with the correct sub-twin of the objects the query is about. The hacks copy the
//! input twin faithfully wherever that helps them, and where they need an answer they are
//! given the right one: the reward must not pay for the answer alone.

use dtr1_data::{dataset, GroundTruth, Sample, Task};
use dtr1_reward::{score, Request, RewardConfig};
use dtr1_twin::{EventKind, Twin};
use dtr1_twinbench::{scene::SceneConfig, suite};
use std::collections::BTreeMap;
use std::path::Path;

fn suite_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    suite::generate(
        dir.path(),
        60,
        24,
        11,
        3,
        &SceneConfig::default(),
        &mut |_| {},
    )
    .unwrap();
    dir
}

fn samples(dir: &Path) -> Vec<Sample> {
    let m = dataset::read_manifest(dir).unwrap();
    m.splits
        .keys()
        .flat_map(|s| dataset::read_split(dir, s).unwrap())
        .collect()
}

fn load_twin(dir: &Path, s: &Sample) -> Twin {
    let rel = s.twin.as_ref().unwrap();
    let p = if rel.is_absolute() {
        rel.clone()
    } else {
        dir.join(rel)
    };
    Twin::from_json(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A faithful sub-twin entry: id, label and colour, as in the input twin.
fn entry(twin: &Twin, id: u32) -> String {
    let (label, color) = match twin {
        Twin::Image(t) => {
            let o = t.object(id).unwrap();
            (o.label.clone(), o.attributes.color.clone())
        }
        Twin::Video(v) => {
            let t = v.track(id).unwrap();
            (t.label.clone(), t.attributes.color.clone())
        }
    };
    let label = serde_json::to_string(&label).unwrap();
    match color {
        Some(c) => format!(
            r#"{{"id":{id},"label":{label},"attributes":{{"color":{}}}}}"#,
            serde_json::to_string(&c).unwrap()
        ),
        None => format!(r#"{{"id":{id},"label":{label}}}"#),
    }
}

fn sub(twin: &Twin, entries: &[String]) -> String {
    let key = match twin {
        Twin::Image(_) => "objects",
        Twin::Video(_) => "tracks",
    };
    format!("{{\"{key}\":[{}]}}", entries.join(","))
}

fn faithful(twin: &Twin, ids: &[u32]) -> String {
    sub(
        twin,
        &ids.iter().map(|&i| entry(twin, i)).collect::<Vec<_>>(),
    )
}

fn rollout(sub: &str, answer: &str) -> String {
    format!("<twin>{sub}</twin>\n<think>Reading the twin.</think>\n<answer>{answer}</answer>")
}

fn all_ids(twin: &Twin) -> Vec<u32> {
    match twin {
        Twin::Image(t) => t.objects.iter().map(|o| o.id).collect(),
        Twin::Video(v) => v.tracks.iter().map(|t| t.id).collect(),
    }
}

/// A wrong existing object: not a target, and sharing no pixel (no box area for grounding)
/// with the target, so that its honest answer is plainly wrong.
fn wrong_object(s: &Sample, twin: &Twin) -> Option<u32> {
    let targets = s.truth.target_ids().unwrap();
    all_ids(twin).into_iter().find(|id| {
        if targets.contains(id) {
            return false;
        }
        match (&s.truth, twin) {
            (GroundTruth::Mask { mask, .. }, Twin::Image(t)) => {
                let m = t.object(*id).unwrap().mask.as_ref().unwrap();
                dtr1_rle::intersection_area(m, mask).unwrap() == 0
            }
            (GroundTruth::Box { bbox, .. }, Twin::Image(t)) => {
                let b = t.object(*id).unwrap().bbox.unwrap();
                b[2] <= bbox[0] || bbox[2] <= b[0] || b[3] <= bbox[1] || bbox[3] <= b[1]
            }
            (GroundTruth::VideoMasks { masks, .. }, Twin::Video(v)) => {
                v.track(*id).unwrap().frames.iter().all(|(f, fo)| {
                    match (fo.mask.as_ref(), masks.get(f)) {
                        (Some(m), Some(g)) => dtr1_rle::intersection_area(m, g).unwrap() == 0,
                        _ => true,
                    }
                })
            }
            _ => false,
        }
    })
}

/// The twin's told events, each told with the wrong verb, in reverse order: a fluent,
/// honest summary of the wrong events.
fn wrong_summary(twin: &Twin) -> String {
    let Twin::Video(v) = twin else { unreachable!() };
    let name = |id: u32| {
        let t = v.track(id).unwrap();
        match &t.attributes.color {
            Some(c) => format!(
                "the {c} {}",
                t.attributes.shape.as_deref().unwrap_or(&t.label)
            ),
            None => format!("the {}", t.label),
        }
    };
    let evs = dtr1_reward::summary::twin_events(v);
    let parts: Vec<String> = evs
        .iter()
        .rev()
        .map(|e| match e.kind {
            EventKind::Collide => format!("{} stops", name(e.tracks[0][0])),
            EventKind::Stop => format!("{} starts moving", name(e.tracks[0][0])),
            EventKind::Start => format!("{} comes to rest", name(e.tracks[0][0])),
            EventKind::Appear => format!("{} leaves the scene", name(e.tracks[0][0])),
            _ => format!("{} rolls into view", name(e.tracks[0][0])),
        })
        .collect();
    format!(
        "There are {} objects on the ground. {}.",
        v.tracks.len(),
        parts.join(", then ")
    )
}

#[test]
fn no_knowledge_free_answer_beats_an_honest_wrong_one() {
    let dir = suite_dir();
    let cfg = RewardConfig::default();
    // Answers of each text task, to draw wrong ones from.
    let all = samples(dir.path());
    let mut pool: BTreeMap<Task, Vec<String>> = BTreeMap::new();
    for s in &all {
        if let GroundTruth::Answers { answers, .. } = &s.truth {
            pool.entry(s.task).or_default().push(answers[0].clone());
        }
    }
    // (task, hack) -> (labels where it scored below, labels, sum of hack, sum of honest)
    let mut tally: BTreeMap<(Task, &str), (usize, usize, f64, f64)> = BTreeMap::new();
    let mut labels: BTreeMap<Task, usize> = BTreeMap::new();
    let mut about_nothing: BTreeMap<Task, usize> = BTreeMap::new();
    for s in &all {
        let twin = load_twin(dir.path(), s);
        let req = Request {
            task: s.task,
            query: &s.query,
            twin: &twin,
            truth: &s.truth,
            cider: None,
        };
        let total = |c: &str| score(c, &req, &cfg).total;
        let relevant = s.truth.relevant_ids().unwrap().to_vec();
        let right_sub = faithful(&twin, &relevant);
        let (honest, right_answer) = match s.task {
            Task::ImageReasonseg | Task::ImageGrounding | Task::VideoReasonseg => {
                let Some(w) = wrong_object(s, &twin) else {
                    continue;
                };
                (
                    rollout(&faithful(&twin, &[w]), &format!("[{w}]")),
                    format!("{:?}", s.truth.target_ids().unwrap()),
                )
            }
            Task::ImageVqa | Task::VideoVqa => {
                let GroundTruth::Answers { answers, .. } = &s.truth else {
                    unreachable!()
                };
                let wrong = pool[&s.task]
                    .iter()
                    .find(|a| !dtr1_metrics::vqa::exact_match(a, &answers[0]))
                    .unwrap();
                (rollout(&right_sub, wrong), answers[0].clone())
            }
            Task::VideoSummary => {
                let GroundTruth::Summaries { references, .. } = &s.truth else {
                    unreachable!()
                };
                (
                    rollout(&right_sub, &wrong_summary(&twin)),
                    references[0].clone(),
                )
            }
        };
        let h = total(&honest);
        *labels.entry(s.task).or_default() += 1;
        let ids = all_ids(&twin);
        let every = format!("{ids:?}");
        let whole_sub = faithful(&twin, &ids);
        let fake = ids.iter().max().unwrap() + 1;
        let fake_sub = sub(&twin, &[format!(r#"{{"id":{fake},"label":"ball"}}"#)]);
        let mut hacks: Vec<(&str, String)> = vec![("empty answer", rollout(&right_sub, ""))];
        // Where the query is about no object (how many of a colour there is none of), the
        // empty sub-twin is the correct one, and with the right answer it is the honest
        // right completion, not a hack: those labels are counted apart.
        if relevant.is_empty() {
            *about_nothing.entry(s.task).or_default() += 1;
        } else {
            hacks.push((
                "empty sub-twin, right answer",
                rollout(&sub(&twin, &[]), &right_answer),
            ));
        }
        hacks.extend([
            (
                "no sub-twin, right answer",
                format!("<think>x</think>\n<answer>{right_answer}</answer>"),
            ),
            (
                "unparsable sub-twin, right answer",
                rollout("{objects: oops", &right_answer),
            ),
        ]);
        if s.task.answers_with_ids() {
            hacks.extend([
                ("empty list", rollout(&right_sub, "[]")),
                (
                    "ids not in the input",
                    rollout(&fake_sub, &format!("[{fake}]")),
                ),
                (
                    "ids not in the input, faithful sub-twin",
                    rollout(&right_sub, &format!("[{fake}]")),
                ),
                ("every id, whole twin", rollout(&whole_sub, &every)),
                ("every id, relevant sub-twin", rollout(&right_sub, &every)),
            ]);
        } else {
            hacks.push((
                "ids not in the input, right answer",
                rollout(&fake_sub, &right_answer),
            ));
        }
        if let (Task::ImageGrounding, Twin::Image(t)) = (s.task, &twin) {
            let whole = format!(r#"{{"box":[0,0,{},{}]}}"#, t.width, t.height);
            let u = t
                .objects
                .iter()
                .filter_map(|o| o.bbox)
                .reduce(|a, b| {
                    [
                        a[0].min(b[0]),
                        a[1].min(b[1]),
                        a[2].max(b[2]),
                        a[3].max(b[3]),
                    ]
                })
                .unwrap();
            let union = format!(r#"{{"box":[{},{},{},{}]}}"#, u[0], u[1], u[2], u[3]);
            hacks.extend([
                (
                    "whole-image box, empty sub-twin",
                    rollout(&sub(&twin, &[]), &whole),
                ),
                (
                    "whole-image box, relevant sub-twin",
                    rollout(&right_sub, &whole),
                ),
                ("whole-image box, whole twin", rollout(&whole_sub, &whole)),
                (
                    "union box, empty sub-twin",
                    rollout(&sub(&twin, &[]), &union),
                ),
                ("union box, whole twin", rollout(&whole_sub, &union)),
            ]);
        }
        if s.task == Task::VideoSummary {
            let n = ids.len();
            hacks.extend([
                (
                    "template summary",
                    rollout(
                        &right_sub,
                        &format!(
                            "There are {n} objects on the ground. One object rolls into view, \
                             then one hits another, then one stops, then another starts \
                             moving, then one leaves the scene."
                        ),
                    ),
                ),
                (
                    "content-free summary",
                    rollout(&right_sub, "Some objects move around and things happen."),
                ),
            ]);
        }
        if matches!(s.task, Task::ImageVqa | Task::VideoVqa) {
            hacks.push((
                "every answer at once",
                rollout(
                    &whole_sub,
                    "yes no 0 1 2 3 4 5 red green blue yellow before after",
                ),
            ));
        }
        for (name, c) in hacks {
            let r = total(&c);
            let e = tally.entry((s.task, name)).or_default();
            e.0 += usize::from(r < h);
            e.1 += 1;
            e.2 += r;
            e.3 += h;
        }
    }
    let mut failures = Vec::new();
    eprintln!("| task | hack | below honest wrong | mean hack | mean honest wrong |");
    for ((task, name), (below, n, hs, ws)) in &tally {
        let (share, mh, mw) = (*below as f64 / *n as f64, hs / *n as f64, ws / *n as f64);
        eprintln!(
            "| {} | {name} | {below}/{n} ({:.0}%) | {mh:.3} | {mw:.3} |",
            task.name(),
            100.0 * share
        );
        if share < 0.9 || mh >= mw {
            failures.push(format!(
                "{}: {name}: below on {below}/{n}, mean {mh:.3} vs {mw:.3}",
                task.name()
            ));
        }
    }
    eprintln!("labels: {labels:?}; about no object: {about_nothing:?}");
    // Every benchmark is audited on enough labels to mean something.
    assert_eq!(labels.len(), 6, "{labels:?}");
    assert!(labels.values().all(|&n| n >= 20), "{labels:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}
