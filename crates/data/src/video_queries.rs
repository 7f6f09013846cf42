//! TwinBench video queries (reasoning segmentation, VQA) and reference summaries, from a
//! clip's event log; each query is a [`VSpec`] that [`check`] re-evaluates on the video twin.

use crate::video::Clip;
use crate::{Category, Task};
use dtr1_twin::{EventKind, VideoTwin};

/// The meaning of a video query.
#[derive(Debug, Clone, PartialEq)]
pub enum VSpec {
    /// Tracks that come to rest at some point after a collision they took part in.
    StoppedAfterCollision,
    /// Tracks set in motion by a collision (a start at the frame of their collision).
    SetInMotion,
    /// The track that came into view last (after the first frame).
    EnteredLast,
    /// Number of collisions.
    CountCollisions,
    /// Number of collisions of the track with this colour and shape.
    CollisionsOf { color: String, shape: String },
    /// Which of two tracks (named by colour and shape) comes to rest first; the answer is
    /// its colour.
    FirstToStop {
        a: (String, String),
        b: (String, String),
    },
    /// Whether a track stops `before` or `after` the first collision of the video.
    StopBeforeAfterCollision { color: String, shape: String },
}

/// One generated video query.
#[derive(Debug, Clone, PartialEq)]
pub struct VQuery {
    /// Which benchmark.
    pub task: Task,
    /// The text.
    pub text: String,
    /// Its meaning.
    pub spec: VSpec,
    /// Target track ids (segmentation).
    pub targets: Vec<u32>,
    /// The answer (VQA).
    pub answer: Option<String>,
    /// Level 1–4.
    pub level: u8,
}

fn events(t: &VideoTwin, k: EventKind) -> impl Iterator<Item = &dtr1_twin::Event> {
    t.events.iter().filter(move |e| e.kind == k)
}

fn attrs(t: &VideoTwin, id: u32) -> Option<(String, String)> {
    let tr = t.track(id)?;
    Some((tr.attributes.color.clone()?, tr.attributes.shape.clone()?))
}

/// The one track of this colour and shape; `None` when there is none or several.
fn track_named(t: &VideoTwin, color: &str, shape: &str) -> Option<u32> {
    let want = Some((color.to_string(), shape.to_string()));
    let who: Vec<u32> = t
        .tracks
        .iter()
        .filter(|tr| attrs(t, tr.id) == want)
        .map(|tr| tr.id)
        .collect();
    match who.as_slice() {
        [id] => Some(*id),
        _ => None,
    }
}

/// Evaluates a spec on a video twin: target ids (sorted) or an answer; `None` when unclear.
pub fn check(spec: &VSpec, t: &VideoTwin) -> Option<(Vec<u32>, Option<String>)> {
    let collides: Vec<&dtr1_twin::Event> = events(t, EventKind::Collide).collect();
    match spec {
        VSpec::StoppedAfterCollision => {
            let mut ids: Vec<u32> = events(t, EventKind::Stop)
                .filter(|s| {
                    collides
                        .iter()
                        .any(|c| c.tracks.contains(&s.tracks[0]) && s.frame >= c.frame)
                })
                .map(|s| s.tracks[0])
                .collect();
            ids.sort_unstable();
            ids.dedup();
            (!ids.is_empty()).then_some((ids, None))
        }
        VSpec::SetInMotion => {
            let mut ids: Vec<u32> = events(t, EventKind::Start)
                .filter(|s| {
                    collides
                        .iter()
                        .any(|c| c.tracks.contains(&s.tracks[0]) && c.frame == s.frame)
                })
                .map(|s| s.tracks[0])
                .collect();
            ids.sort_unstable();
            ids.dedup();
            (!ids.is_empty()).then_some((ids, None))
        }
        VSpec::EnteredLast => {
            let appear: Vec<&dtr1_twin::Event> = events(t, EventKind::Appear)
                .filter(|e| e.frame > 0)
                .collect();
            let last = appear.iter().map(|e| e.frame).max()?;
            let at: Vec<u32> = appear
                .iter()
                .filter(|e| e.frame == last)
                .map(|e| e.tracks[0])
                .collect();
            (at.len() == 1).then_some((at, None))
        }
        VSpec::FirstToStop { a, b } => {
            let stop_of = |(c, s): &(String, String)| {
                let id = track_named(t, c, s)?;
                events(t, EventKind::Stop)
                    .find(|e| e.tracks[0] == id)
                    .map(|e| e.frame)
            };
            let (fa, fb) = (stop_of(a)?, stop_of(b)?);
            (fa != fb).then(|| {
                (
                    vec![],
                    Some(if fa < fb { a.0.clone() } else { b.0.clone() }),
                )
            })
        }
        VSpec::StopBeforeAfterCollision { color, shape } => {
            let id = &track_named(t, color, shape)?;
            let stop = events(t, EventKind::Stop)
                .find(|e| e.tracks[0] == *id)?
                .frame;
            let first = collides.first()?.frame;
            (stop != first).then(|| {
                (
                    vec![],
                    Some(if stop < first { "before" } else { "after" }.to_string()),
                )
            })
        }
        VSpec::CountCollisions => Some((vec![], Some(collides.len().to_string()))),
        VSpec::CollisionsOf { color, shape } => {
            let id = &track_named(t, color, shape)?;
            Some((
                vec![],
                Some(
                    collides
                        .iter()
                        .filter(|c| c.tracks.contains(id))
                        .count()
                        .to_string(),
                ),
            ))
        }
    }
}

/// The tracks a video query is about: what a sub-twin needs to answer it (stored as the
/// ground truth's `ids`). Segmentation: the targets. Counting collisions: every track that
/// collides. Collisions of one track, or whether it stops before the first collision: that
/// track (and, for the latter, the two of the first collision). Which of two stops first:
/// the two. `None` when [`check`] finds no clear answer.
pub fn relevant(spec: &VSpec, t: &VideoTwin) -> Option<Vec<u32>> {
    let (targets, _) = check(spec, t)?;
    let by = |c: &str, s: &str| track_named(t, c, s);
    let mut ids = match spec {
        VSpec::StoppedAfterCollision | VSpec::SetInMotion | VSpec::EnteredLast => targets,
        VSpec::CountCollisions => events(t, EventKind::Collide)
            .flat_map(|c| c.tracks.iter().copied())
            .collect(),
        VSpec::CollisionsOf { color, shape } => vec![by(color, shape)?],
        VSpec::FirstToStop { a, b } => vec![by(&a.0, &a.1)?, by(&b.0, &b.1)?],
        VSpec::StopBeforeAfterCollision { color, shape } => {
            let mut v = vec![by(color, shape)?];
            if let Some(first) = events(t, EventKind::Collide).next() {
                v.extend(&first.tracks);
            }
            v
        }
    };
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

/// Whether a summary tells an event: every appearance after the first frame, every leave,
/// start, stop and collision (not the objects present from the start, not occlusions). The
/// reference summaries and the reward's event match both follow this rule.
pub fn is_told(e: &dtr1_twin::Event) -> bool {
    match e.kind {
        EventKind::Appear => e.frame > 0,
        EventKind::Leave | EventKind::Start | EventKind::Stop | EventKind::Collide => true,
        EventKind::Occlude => false,
    }
}

/// The tracks a summary is about: those that take part in an event it tells ([`is_told`]).
pub fn summary_relevant(t: &VideoTwin) -> Vec<u32> {
    let mut ids: Vec<u32> = t
        .events
        .iter()
        .filter(|e| is_told(e))
        .flat_map(|e| e.tracks.iter().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Generates the queries of a clip (each kept only when the checker agrees with the
/// generator's answer from the simulation's own event log).
pub fn generate(clip: &Clip, twin: &VideoTwin) -> Vec<VQuery> {
    let specs: Vec<(Task, VSpec, String, u8)> = {
        let mut v = vec![
            (
                Task::VideoReasonseg,
                VSpec::StoppedAfterCollision,
                "Segment everything that came to rest after bumping into something.".to_string(),
                3,
            ),
            (
                Task::VideoReasonseg,
                VSpec::SetInMotion,
                "Segment whatever was set rolling by being hit.".to_string(),
                3,
            ),
            (
                Task::VideoReasonseg,
                VSpec::EnteredLast,
                "Segment the object that rolled into view last.".to_string(),
                2,
            ),
            (
                Task::VideoVqa,
                VSpec::CountCollisions,
                "How many collisions happen in the video?".to_string(),
                2,
            ),
        ];
        for (i, o) in clip.objects.iter().enumerate() {
            v.push((
                Task::VideoVqa,
                VSpec::StopBeforeAfterCollision {
                    color: o.color.into(),
                    shape: o.shape.into(),
                },
                format!(
                    "Does the {} {} come to rest before or after the first collision?",
                    o.color, o.shape
                ),
                4,
            ));
            for p in &clip.objects[i + 1..] {
                v.push((
                    Task::VideoVqa,
                    VSpec::FirstToStop {
                        a: (o.color.into(), o.shape.into()),
                        b: (p.color.into(), p.shape.into()),
                    },
                    format!(
                        "Which stops first, the {} {} or the {} {}? Answer with its colour.",
                        o.color, o.shape, p.color, p.shape
                    ),
                    3,
                ));
            }
            v.push((
                Task::VideoVqa,
                VSpec::CollisionsOf {
                    color: o.color.into(),
                    shape: o.shape.into(),
                },
                format!(
                    "How many times does the {} {} collide with something?",
                    o.color, o.shape
                ),
                3,
            ));
        }
        v
    };
    let mut out = Vec::new();
    for (task, spec, text, level) in specs {
        let Some((targets, answer)) = check(&spec, twin) else {
            continue;
        };
        if generated(&spec, clip) != Some((targets.clone(), answer.clone())) {
            continue;
        }
        out.push(VQuery {
            task,
            text,
            spec,
            targets,
            answer,
            level,
        });
    }
    out
}

/// The generator's side, from the simulation's objects and raw event log.
fn generated(spec: &VSpec, clip: &Clip) -> Option<(Vec<u32>, Option<String>)> {
    let visible = |id: u32| clip.masks.iter().any(|f| f[id as usize - 1].area() > 0);
    let ev: Vec<&dtr1_twin::Event> = clip
        .events
        .iter()
        .filter(|e| e.tracks.iter().all(|&t| visible(t)))
        .collect();
    let collide_frames = |id: u32| {
        ev.iter()
            .filter(|e| e.kind == EventKind::Collide && e.tracks.contains(&id))
            .map(|e| e.frame)
            .collect::<Vec<_>>()
    };
    match spec {
        VSpec::StoppedAfterCollision | VSpec::SetInMotion => {
            let (kind, lo, hi) = if *spec == VSpec::SetInMotion {
                (EventKind::Start, 0, 0)
            } else {
                (EventKind::Stop, 0, 3)
            };
            let mut ids: Vec<u32> = ev
                .iter()
                .filter(|e| {
                    e.kind == kind
                        && collide_frames(e.tracks[0])
                            .iter()
                            .any(|&c| e.frame >= c + lo && e.frame <= c + hi)
                })
                .map(|e| e.tracks[0])
                .collect();
            ids.sort_unstable();
            ids.dedup();
            (!ids.is_empty()).then_some((ids, None))
        }
        VSpec::EnteredLast => {
            let first_seen: Vec<(u32, usize)> = (1..=clip.objects.len() as u32)
                .filter_map(|id| {
                    clip.masks
                        .iter()
                        .position(|f| f[id as usize - 1].area() > 0)
                        .map(|f| (id, f))
                })
                .filter(|(_, f)| *f > 0)
                .collect();
            let last = first_seen.iter().map(|x| x.1).max()?;
            let at: Vec<u32> = first_seen
                .iter()
                .filter(|x| x.1 == last)
                .map(|x| x.0)
                .collect();
            (at.len() == 1).then_some((at, None))
        }
        VSpec::FirstToStop { a, b } => {
            let stop_of = |(c, s): &(String, String)| {
                let who: Vec<u32> = clip
                    .objects
                    .iter()
                    .filter(|o| o.color == c && o.shape == s && visible(o.id))
                    .map(|o| o.id)
                    .collect();
                let [id] = who.as_slice() else { return None };
                ev.iter()
                    .find(|e| e.kind == EventKind::Stop && e.tracks[0] == *id)
                    .map(|e| e.frame)
            };
            let (fa, fb) = (stop_of(a)?, stop_of(b)?);
            (fa != fb).then(|| {
                (
                    vec![],
                    Some(if fa < fb { a.0.clone() } else { b.0.clone() }),
                )
            })
        }
        VSpec::StopBeforeAfterCollision { color, shape } => {
            let who: Vec<u32> = clip
                .objects
                .iter()
                .filter(|o| o.color == color && o.shape == shape && visible(o.id))
                .map(|o| o.id)
                .collect();
            let [id] = who.as_slice() else { return None };
            let stop = ev
                .iter()
                .find(|e| e.kind == EventKind::Stop && e.tracks[0] == *id)?
                .frame;
            let first = ev.iter().find(|e| e.kind == EventKind::Collide)?.frame;
            (stop != first).then(|| {
                (
                    vec![],
                    Some(if stop < first { "before" } else { "after" }.to_string()),
                )
            })
        }
        VSpec::CountCollisions => Some((
            vec![],
            Some(
                ev.iter()
                    .filter(|e| e.kind == EventKind::Collide)
                    .count()
                    .to_string(),
            ),
        )),
        VSpec::CollisionsOf { color, shape } => {
            let who: Vec<u32> = clip
                .objects
                .iter()
                .filter(|o| o.color == color && o.shape == shape && visible(o.id))
                .map(|o| o.id)
                .collect();
            let [id] = who.as_slice() else { return None };
            Some((vec![], Some(collide_frames(*id).len().to_string())))
        }
    }
}

/// Reference summaries written from the event log with two phrasings (at least two
/// references per clip, as the summary benchmark needs).
pub fn summaries(twin: &VideoTwin) -> Vec<String> {
    let name = |id: u32| {
        attrs(twin, id).map_or_else(|| format!("object {id}"), |(c, s)| format!("the {c} {s}"))
    };
    // One way of telling an event, or nothing for events a summary leaves out.
    type Phrasing<'a> = &'a dyn Fn(&dtr1_twin::Event) -> Option<String>;
    let phrasings: [Phrasing; 2] = [
        &|e| {
            Some(match e.kind {
                EventKind::Appear if e.frame > 0 => {
                    format!("{} rolls into view", name(e.tracks[0]))
                }
                EventKind::Leave => format!("{} leaves the scene", name(e.tracks[0])),
                EventKind::Start => format!("{} starts moving", name(e.tracks[0])),
                EventKind::Stop => format!("{} stops", name(e.tracks[0])),
                EventKind::Collide => format!("{} hits {}", name(e.tracks[0]), name(e.tracks[1])),
                _ => return None,
            })
        },
        &|e| {
            Some(match e.kind {
                EventKind::Appear if e.frame > 0 => {
                    format!("{} enters the frame", name(e.tracks[0]))
                }
                EventKind::Leave => format!("{} rolls out of the picture", name(e.tracks[0])),
                EventKind::Start => format!("{} begins to roll", name(e.tracks[0])),
                EventKind::Stop => format!("{} comes to rest", name(e.tracks[0])),
                EventKind::Collide => {
                    format!("{} and {} collide", name(e.tracks[0]), name(e.tracks[1]))
                }
                _ => return None,
            })
        },
    ];
    phrasings
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let parts: Vec<String> = twin
                .events
                .iter()
                .filter(|e| is_told(e))
                .filter_map(p)
                .collect();
            let intro = match k {
                0 => format!("There are {} objects on the ground.", twin.tracks.len()),
                _ => format!("The video shows {} objects.", twin.tracks.len()),
            };
            if parts.is_empty() {
                format!("{intro} Nothing happens.")
            } else {
                let joiner = if k == 0 { ", then " } else { "; after that " };
                let mut s = parts.join(joiner);
                if let Some(first) = s.get(0..1) {
                    s = first.to_uppercase() + &s[1..];
                }
                format!("{intro} {s}.")
            }
        })
        .collect()
}

/// The category of every video query: temporal.
pub const CATEGORY: Category = Category::Temporal;
