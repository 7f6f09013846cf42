//! TwinBench video queries (reasoning segmentation, VQA) and reference summaries, from a
//! clip's event log; each query is a [`VideoSpec`] that [`check`] evaluates on the video
//! twin, and that the simulation's own log must answer the same way.

use crate::video::Clip;
use dtr1_data::{is_told, Category, Named, Outcome, Task, VideoSpec};
use dtr1_twin::{Event, EventKind, VideoTwin};

/// One generated video query.
#[derive(Debug, Clone, PartialEq)]
pub struct VQuery {
    /// Which benchmark.
    pub task: Task,
    /// The text.
    pub text: String,
    /// Its meaning.
    pub spec: VideoSpec,
    /// Target track ids (segmentation).
    pub targets: Vec<u32>,
    /// The answer (VQA).
    pub answer: Option<String>,
    /// Level 1–4.
    pub level: u8,
}

/// What the checker reads of a clip. The video twin ([`check`]) and the simulation's own
/// objects, masks and raw event log (the generator's side, which must agree) both fill it, so
/// that one evaluation serves both.
struct Log<'a> {
    /// `(id, colour, shape)` of every track that can be named.
    named: Vec<(u32, &'a str, &'a str)>,
    /// The events, in frame order.
    events: Vec<&'a Event>,
    /// `(track, frame)` of every coming into view, including frame 0.
    entered: Vec<(u32, u32)>,
    /// How many frames after a collision a stop may come to count as its result (`None`: any
    /// time after). The simulation knows its contacts settle within a few frames; the twin
    /// only orders the events.
    settle: Option<u32>,
}

impl<'a> Log<'a> {
    /// The log as the video twin tells it.
    fn of_twin(t: &'a VideoTwin) -> Self {
        Log {
            named: t
                .tracks
                .iter()
                .filter_map(|tr| {
                    Some((
                        tr.id,
                        tr.attributes.color.as_deref()?,
                        tr.attributes.shape.as_deref()?,
                    ))
                })
                .collect(),
            events: t.events.iter().collect(),
            entered: t
                .events
                .iter()
                .filter(|e| e.kind == EventKind::Appear)
                .map(|e| (e.tracks[0], e.frame))
                .collect(),
            settle: None,
        }
    }

    /// The log as the simulation knows it: its objects and raw events, restricted to the
    /// tracks that are ever visible, and first visibility read from the masks.
    fn of_clip(clip: &'a Clip) -> Self {
        let visible = |id: u32| clip.masks.iter().any(|f| f[id as usize - 1].area() > 0);
        Log {
            named: clip
                .objects
                .iter()
                .filter(|o| visible(o.id))
                .map(|o| (o.id, o.color, o.shape))
                .collect(),
            events: clip
                .events
                .iter()
                .filter(|e| e.tracks.iter().all(|&t| visible(t)))
                .collect(),
            entered: (1..=clip.objects.len() as u32)
                .filter_map(|id| {
                    clip.masks
                        .iter()
                        .position(|f| f[id as usize - 1].area() > 0)
                        .map(|f| (id, f as u32))
                })
                .collect(),
            settle: Some(3),
        }
    }

    fn of_kind(&self, k: EventKind) -> impl Iterator<Item = &'a Event> + '_ {
        self.events.iter().copied().filter(move |e| e.kind == k)
    }

    /// The one track of this colour and shape; `None` when there is none or several.
    fn named(&self, color: &str, shape: &str) -> Option<u32> {
        let who: Vec<u32> = self
            .named
            .iter()
            .filter(|(_, c, s)| *c == color && *s == shape)
            .map(|(id, _, _)| *id)
            .collect();
        match who.as_slice() {
            [id] => Some(*id),
            _ => None,
        }
    }

    /// The frame of the first stop of a track.
    fn stop_of(&self, id: u32) -> Option<u32> {
        self.of_kind(EventKind::Stop)
            .find(|e| e.tracks[0] == id)
            .map(|e| e.frame)
    }
}

/// Evaluates a spec on a log: target ids (sorted) or an answer; `None` when unclear.
fn evaluate(spec: &VideoSpec, log: &Log) -> Option<Outcome> {
    let collides: Vec<&Event> = log.of_kind(EventKind::Collide).collect();
    // Tracks with an event of `kind` at or after a collision of theirs (at most `hi` frames
    // after, when given).
    let after_collision = |kind: EventKind, hi: Option<u32>| {
        let mut ids: Vec<u32> = log
            .of_kind(kind)
            .filter(|s| {
                collides.iter().any(|c| {
                    c.tracks.contains(&s.tracks[0])
                        && s.frame >= c.frame
                        && hi.is_none_or(|h| s.frame <= c.frame + h)
                })
            })
            .map(|s| s.tracks[0])
            .collect();
        ids.sort_unstable();
        ids.dedup();
        (!ids.is_empty()).then_some(Outcome::Targets(ids))
    };
    match spec {
        VideoSpec::StoppedAfterCollision => after_collision(EventKind::Stop, log.settle),
        VideoSpec::SetInMotion => after_collision(EventKind::Start, Some(0)),
        VideoSpec::EnteredLast => {
            let later: Vec<(u32, u32)> = log.entered.iter().copied().filter(|e| e.1 > 0).collect();
            let last = later.iter().map(|e| e.1).max()?;
            let at: Vec<u32> = later.iter().filter(|e| e.1 == last).map(|e| e.0).collect();
            (at.len() == 1).then_some(Outcome::Targets(at))
        }
        VideoSpec::FirstToStop { a, b } => {
            let stop = |n: &Named| log.stop_of(log.named(&n.color, &n.shape)?);
            let (fa, fb) = (stop(a)?, stop(b)?);
            (fa != fb).then(|| {
                Outcome::Answer(if fa < fb {
                    a.color.clone()
                } else {
                    b.color.clone()
                })
            })
        }
        VideoSpec::StopBeforeAfterCollision { color, shape } => {
            let stop = log.stop_of(log.named(color, shape)?)?;
            let first = collides.first()?.frame;
            (stop != first)
                .then(|| Outcome::Answer(if stop < first { "before" } else { "after" }.into()))
        }
        VideoSpec::CountCollisions => Some(Outcome::Answer(collides.len().to_string())),
        VideoSpec::CollisionsOf { color, shape } => {
            let id = log.named(color, shape)?;
            Some(Outcome::Answer(
                collides
                    .iter()
                    .filter(|c| c.tracks.contains(&id))
                    .count()
                    .to_string(),
            ))
        }
    }
}

/// Evaluates a spec on a video twin: target ids (sorted) or an answer; `None` when unclear.
pub fn check(spec: &VideoSpec, t: &VideoTwin) -> Option<Outcome> {
    evaluate(spec, &Log::of_twin(t))
}

/// The tracks a video query is about: what a sub-twin needs to answer it (stored as the
/// ground truth's `ids`). Segmentation: the targets. Counting collisions: every track that
/// collides. Collisions of one track, or whether it stops before the first collision: that
/// track (and, for the latter, the two of the first collision). Which of two stops first:
/// the two. `None` when [`check`] finds no clear answer.
pub fn relevant(spec: &VideoSpec, t: &VideoTwin) -> Option<Vec<u32>> {
    let log = Log::of_twin(t);
    let outcome = evaluate(spec, &log)?;
    let collides = || log.of_kind(EventKind::Collide);
    let mut ids = match (spec, outcome) {
        (_, Outcome::Targets(targets)) => targets,
        (VideoSpec::CountCollisions, _) => {
            collides().flat_map(|c| c.tracks.iter().copied()).collect()
        }
        (VideoSpec::CollisionsOf { color, shape }, _) => vec![log.named(color, shape)?],
        (VideoSpec::FirstToStop { a, b }, _) => vec![
            log.named(&a.color, &a.shape)?,
            log.named(&b.color, &b.shape)?,
        ],
        (VideoSpec::StopBeforeAfterCollision { color, shape }, _) => {
            let mut v = vec![log.named(color, shape)?];
            if let Some(first) = collides().next() {
                v.extend(&first.tracks);
            }
            v
        }
        _ => return None,
    };
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
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
    let specs: Vec<(Task, VideoSpec, String, u8)> = {
        let mut v = vec![
            (
                Task::VideoReasonseg,
                VideoSpec::StoppedAfterCollision,
                "Segment everything that came to rest after bumping into something.".to_string(),
                3,
            ),
            (
                Task::VideoReasonseg,
                VideoSpec::SetInMotion,
                "Segment whatever was set rolling by being hit.".to_string(),
                3,
            ),
            (
                Task::VideoReasonseg,
                VideoSpec::EnteredLast,
                "Segment the object that rolled into view last.".to_string(),
                2,
            ),
            (
                Task::VideoVqa,
                VideoSpec::CountCollisions,
                "How many collisions happen in the video?".to_string(),
                2,
            ),
        ];
        for (i, o) in clip.objects.iter().enumerate() {
            v.push((
                Task::VideoVqa,
                VideoSpec::StopBeforeAfterCollision {
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
                    VideoSpec::FirstToStop {
                        a: Named {
                            color: o.color.into(),
                            shape: o.shape.into(),
                        },
                        b: Named {
                            color: p.color.into(),
                            shape: p.shape.into(),
                        },
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
                VideoSpec::CollisionsOf {
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
        let Some(checked) = check(&spec, twin) else {
            continue;
        };
        if evaluate(&spec, &Log::of_clip(clip)).as_ref() != Some(&checked) {
            continue;
        }
        let (targets, answer) = match checked {
            Outcome::Targets(t) => (t, None),
            Outcome::Answer(a) => (vec![], Some(a)),
        };
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

/// Reference summaries written from the event log with two phrasings (at least two
/// references per clip, as the summary benchmark needs).
pub fn summaries(twin: &VideoTwin) -> Vec<String> {
    let name = |id: u32| {
        let words = twin.track(id).and_then(|tr| {
            Some((
                tr.attributes.color.as_deref()?,
                tr.attributes.shape.as_deref()?,
            ))
        });
        words.map_or_else(|| format!("object {id}"), |(c, s)| format!("the {c} {s}"))
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
