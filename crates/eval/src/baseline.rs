//! Non-learned baselines, one per task type, writing completions in the rollout format so
//! that they are scored exactly like the policy:
//!
//! - **segmentation and grounding (image)**: bag-of-words matching of the query against each
//!   object's label, colour, shape, size and material; the objects with the most matching
//!   words are selected (grounding: one, ties broken by the larger area); when no word
//!   matches, the largest object.
//! - **video segmentation**: the same matching against track attributes, plus the twin's
//!   event-kind names (`stop`, `collide`, `appear`, `start`, `leave`, `occlude` and their
//!   inflections) counted for the tracks that take part in such an event; when no word
//!   matches, the track that takes part in the most events.
//! - **VQA (image and video)**: the majority training answer of the question type (the
//!   first two words of the question, as the VQA "prior per question type" baseline), else
//!   the task's majority answer.
//! - **summary**: a fixed template over the twin — the objects, then every event in order.

use dtr1_prompt::solver::MAX_ENTRIES;
// The baselines write their sub-twins as JSON, which the reward reads under every prompt
// version: a baseline reads no prompt, so the version does not change what it answers.
use dtr1_data::{GroundTruth, Sample, Task};
use dtr1_prompt::{check_kind, completion, PromptError, PromptVersion};
use dtr1_twin::{EventKind, Object, Track, Twin, VideoTwin};
use std::collections::BTreeMap;

/// The baselines, with the answer priors fitted on a training split.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    by_type: BTreeMap<(Task, String), String>,
    by_task: BTreeMap<Task, String>,
}

/// Lower-case words of a text, plural `s` removed from words longer than three letters.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            match w.strip_suffix('s') {
                Some(stem) if w.len() > 3 && !w.ends_with("ss") => stem.to_string(),
                _ => w,
            }
        })
        .collect()
}

/// The question type: the first two words of the query, lower-cased.
pub fn question_type(query: &str) -> String {
    words(query)
        .into_iter()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn most_common(counts: &BTreeMap<String, usize>) -> Option<String> {
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(a, _)| a.clone())
}

fn object_words(o: &Object) -> Vec<String> {
    let mut v = words(&o.label);
    for (_, val) in o.attributes.pairs() {
        v.extend(words(val));
    }
    v
}

fn track_words(t: &Track) -> Vec<String> {
    let mut v = words(&t.label);
    for (_, val) in t.attributes.pairs() {
        v.extend(words(val));
    }
    v
}

/// How many query words name something about this object (each query word counts once).
fn matches(query: &[String], obj: &[String]) -> usize {
    let mut q: Vec<&String> = query.iter().collect();
    q.sort();
    q.dedup();
    q.iter().filter(|w| obj.contains(w)).count()
}

fn entry(id: u32, label: &str, color: Option<&str>) -> String {
    let label = serde_json::to_string(label).expect("strings serialise");
    match color {
        Some(c) => format!(
            "{{\"id\":{id},\"label\":{label},\"attributes\":{{\"color\":{}}}}}",
            serde_json::to_string(c).expect("strings serialise")
        ),
        None => format!("{{\"id\":{id},\"label\":{label}}}"),
    }
}

fn ids_text(ids: &[u32]) -> String {
    let v: Vec<String> = ids.iter().map(u32::to_string).collect();
    format!("[{}]", v.join(", "))
}

/// Event words of the video baseline: the twin's own event-kind names and their
/// inflections (after [`words`] removed a plural `s`) — no synonyms, so that the baseline
/// matches the twin's vocabulary only and is not tuned to TwinBench's phrasings.
fn event_kinds(word: &str) -> &'static [EventKind] {
    match word {
        "stop" | "stopped" | "stopping" => &[EventKind::Stop],
        "collide" | "collided" | "colliding" | "collision" => &[EventKind::Collide],
        "appear" | "appeared" | "appearing" => &[EventKind::Appear],
        "start" | "started" | "starting" => &[EventKind::Start],
        "leave" | "leaving" => &[EventKind::Leave],
        "occlude" | "occluded" | "occluding" => &[EventKind::Occlude],
        _ => &[],
    }
}

fn video_scores(q: &[String], v: &VideoTwin) -> Vec<(u32, usize)> {
    v.tracks
        .iter()
        .map(|t| {
            let mut s = matches(q, &track_words(t));
            for w in q {
                for k in event_kinds(w) {
                    let takes_part = v.events.iter().any(|e| {
                        e.kind == *k
                            && e.tracks.contains(&t.id)
                            && !(e.kind == EventKind::Appear && e.frame == 0)
                    });
                    s += usize::from(takes_part);
                }
            }
            (t.id, s)
        })
        .collect()
}

/// The template summary of a video twin.
pub fn template_summary(v: &VideoTwin) -> String {
    let name = |id: u32| {
        v.track(id)
            .map_or(format!("object {id}"), |t| match &t.attributes.color {
                Some(c) => format!("the {c} {}", t.label),
                None => format!("the {}", t.label),
            })
    };
    let objects: Vec<String> = v.tracks.iter().map(|t| name(t.id)).collect();
    let mut s = format!(
        "The video shows {} objects: {}.",
        v.tracks.len(),
        objects.join(", ")
    );
    for e in &v.events {
        let who = name(e.tracks[0]);
        let other = e.tracks.get(1).map(|i| name(*i)).unwrap_or_default();
        let line = match e.kind {
            EventKind::Appear if e.frame == 0 => continue,
            EventKind::Appear => format!("{who} appears"),
            EventKind::Leave => format!("{who} leaves"),
            EventKind::Start => format!("{who} starts moving"),
            EventKind::Stop => format!("{who} stops"),
            EventKind::Collide => format!("{who} collides with {other}"),
            EventKind::Occlude => format!("{who} passes in front of {other}"),
        };
        s.push_str(&format!(" At frame {} {line}.", e.frame));
    }
    s
}

impl Baseline {
    /// Fits the answer priors on training samples (VQA samples; others are ignored).
    pub fn fit(train: &[Sample]) -> Self {
        let mut by_type: BTreeMap<(Task, String), BTreeMap<String, usize>> = BTreeMap::new();
        let mut by_task: BTreeMap<Task, BTreeMap<String, usize>> = BTreeMap::new();
        for s in train {
            let GroundTruth::Answers { answers, .. } = &s.truth else {
                continue;
            };
            for a in answers {
                let a = a.trim().to_lowercase();
                if a.is_empty() {
                    continue;
                }
                *by_type
                    .entry((s.task, question_type(&s.query)))
                    .or_default()
                    .entry(a.clone())
                    .or_default() += 1;
                *by_task.entry(s.task).or_default().entry(a).or_default() += 1;
            }
        }
        Baseline {
            by_type: by_type
                .into_iter()
                .filter_map(|(k, c)| most_common(&c).map(|a| (k, a)))
                .collect(),
            by_task: by_task
                .into_iter()
                .filter_map(|(k, c)| most_common(&c).map(|a| (k, a)))
                .collect(),
        }
    }

    /// The prior answer for a VQA question, if training had one of its task.
    pub fn prior(&self, task: Task, query: &str) -> Option<&str> {
        self.by_type
            .get(&(task, question_type(query)))
            .or_else(|| self.by_task.get(&task))
            .map(String::as_str)
    }

    /// The baseline's completion for a sample, in the rollout format.
    pub fn complete(&self, sample: &Sample, twin: &Twin) -> Result<String, PromptError> {
        check_kind(sample, twin)?;
        let q = words(&sample.query);
        Ok(match (sample.task, twin) {
            (Task::ImageReasonseg | Task::ImageGrounding, Twin::Image(t)) => {
                let scored: Vec<(&Object, usize)> = t
                    .objects
                    .iter()
                    .map(|o| (o, matches(&q, &object_words(o))))
                    .collect();
                let best = scored.iter().map(|s| s.1).max().unwrap_or(0);
                let area = |o: &Object| o.area.unwrap_or(0);
                let mut picked: Vec<&Object> = if best == 0 {
                    t.objects
                        .iter()
                        .max_by_key(|o| area(o))
                        .into_iter()
                        .collect()
                } else {
                    scored.iter().filter(|s| s.1 == best).map(|s| s.0).collect()
                };
                if sample.task == Task::ImageGrounding {
                    picked.sort_by_key(|o| std::cmp::Reverse(area(o)));
                    picked.truncate(1);
                }
                picked.truncate(MAX_ENTRIES);
                let ids: Vec<u32> = picked.iter().map(|o| o.id).collect();
                let twin_json = format!(
                    "{{\"objects\":[{}]}}",
                    picked
                        .iter()
                        .map(|o| entry(o.id, &o.label, o.attributes.color.as_deref()))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                let think = if best == 0 {
                    "No query word names an object; take the largest one.".to_string()
                } else {
                    format!("These objects match {best} query word(s).")
                };
                completion(PromptVersion::V1, &twin_json, &think, &ids_text(&ids))
            }
            (Task::VideoReasonseg, Twin::Video(v)) => {
                let scored = video_scores(&q, v);
                let best = scored.iter().map(|s| s.1).max().unwrap_or(0);
                // No word matches: the track that takes part in the most events.
                let busiest = v
                    .tracks
                    .iter()
                    .max_by_key(|t| {
                        let n = v.events.iter().filter(|e| e.tracks.contains(&t.id)).count();
                        (n, std::cmp::Reverse(t.id))
                    })
                    .map(|t| t.id);
                let mut ids: Vec<u32> = if best == 0 {
                    busiest.into_iter().collect()
                } else {
                    scored.iter().filter(|s| s.1 == best).map(|s| s.0).collect()
                };
                ids.truncate(MAX_ENTRIES);
                let twin_json = format!(
                    "{{\"tracks\":[{}]}}",
                    ids.iter()
                        .filter_map(|id| v.track(*id))
                        .map(|t| entry(t.id, &t.label, t.attributes.color.as_deref()))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                let think = if best == 0 {
                    "No query word names a track or an event; take the busiest track.".to_string()
                } else {
                    format!("These tracks match {best} query word(s).")
                };
                completion(PromptVersion::V1, &twin_json, &think, &ids_text(&ids))
            }
            (Task::ImageVqa | Task::VideoVqa, _) => {
                let a = self.prior(sample.task, &sample.query).unwrap_or("yes");
                let key = if sample.task.is_video() {
                    "tracks"
                } else {
                    "objects"
                };
                completion(
                    PromptVersion::V1,
                    &format!("{{\"{key}\":[]}}"),
                    "The most common answer to this kind of question.",
                    a,
                )
            }
            (Task::VideoSummary, Twin::Video(v)) => {
                let ids: Vec<String> = v
                    .tracks
                    .iter()
                    .take(MAX_ENTRIES)
                    .map(|t| entry(t.id, &t.label, t.attributes.color.as_deref()))
                    .collect();
                completion(
                    PromptVersion::V1,
                    &format!("{{\"tracks\":[{}]}}", ids.join(",")),
                    "List the objects, then every event in order.",
                    &template_summary(v),
                )
            }
            _ => {
                return Err(PromptError::Unsolvable {
                    sample: sample.id.clone(),
                    message: "the twin's kind does not fit the task".into(),
                })
            }
        })
    }
}
