//! The programmatic solver: for a sample and its twin it writes a reasoning trace in exactly
//! the rollout format — a `<twin>` sub-twin with the objects that decide the query (the
//! targets and a few relevant distractors, with only fields the prompt's [`crate::view`]
//! shows, copied from it), a short `<think>` that names the attribute, position, depth,
//! size or event that selects the answer, and the `<answer>`. Supervised fine-tuning trains
//! on these traces (as DTwinSeger's Seg-DT), so the cold-started policy already writes
//! well-formed rollouts before GRPO starts.
//!
//! For TwinBench samples the generator's own checker ([`dtr1_twinbench::suite::check`]) decides
//! the answer from the sample's typed [`QuerySpec`] on the twin; the solver checks it against
//! the ground truth and adds the reasoning, read off the values the prompt shows. The trace is
//! then [`Trace::grounded`] (when that reading reaches the checker's answer, which rounding in
//! the prompt can in rare cases prevent). Without a spec (other datasets), or if the twin disagrees with the
//! ground truth, it falls back to a trace built from the ground truth alone (target ids, or
//! the objects [`dtr1_reward::targets::targets`] derives from a mask or box; the most
//! frequent annotator answer over the objects `truth.ids` names; the first reference
//! summary) with a plain reasoning sentence.

use crate::{check_kind, view, PromptError, PromptVersion};
use dtr1_data::{Extreme, GroundTruth, ImageSpec, Outcome, QuerySpec, Sample, Task, VideoSpec};
use dtr1_twin::compact::{self, fmt_num, COORD_DECIMALS, UNIT_DECIMALS};
use dtr1_twin::{EventKind, ImageTwin, Object, Track, Twin, VideoTwin};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Most entries a solver sub-twin lists (the reward's default `max_subtwin_objects`).
pub const MAX_ENTRIES: usize = 8;
/// Most events the reasoning of a summary lists before eliding the rest.
const MAX_THINK_EVENTS: usize = 6;

/// A reasoning trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The sub-twin: JSON (`{"objects":[…]}` or `{"tracks":[…]}`, version 1) or compact
    /// lines, each ending with a newline (version 2).
    pub twin: String,
    /// The reasoning.
    pub think: String,
    /// The answer (ids as a JSON list, or text).
    pub answer: String,
    /// True when the answer was worked out on the twin from the query's meaning (and agrees
    /// with the ground truth); false when it was taken from the ground truth alone.
    pub grounded: bool,
    /// The prompt version the trace is written for.
    pub version: PromptVersion,
}

impl Trace {
    /// The trace as a completion in the rollout format.
    pub fn completion(&self) -> String {
        crate::completion(self.version, &self.twin, &self.think, &self.answer)
    }
}

/// A field an entry copies besides id, label and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Centroid,
    Depth,
    Area,
    Bbox,
    Frames,
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

fn coord(v: f64) -> String {
    fmt_num(v, COORD_DECIMALS)
}

fn unit(v: f64) -> String {
    fmt_num(v, UNIT_DECIMALS)
}

/// One object as JSON, with values exactly as the prompt's compact form prints them.
fn object_entry(o: &Object, fields: &[Field]) -> String {
    let mut s = format!("{{\"id\":{},\"label\":{}", o.id, json_str(&o.label));
    if let Some(c) = &o.attributes.color {
        let _ = write!(s, ",\"attributes\":{{\"color\":{}}}", json_str(c));
    }
    for f in fields {
        match f {
            Field::Centroid => {
                if let Some(c) = o.centroid {
                    let _ = write!(s, ",\"centroid\":[{},{}]", coord(c[0]), coord(c[1]));
                }
            }
            Field::Depth => {
                if let Some(d) = o.depth {
                    let _ = write!(
                        s,
                        ",\"depth\":{{\"mean\":{},\"min\":{},\"max\":{}}}",
                        unit(d.mean),
                        unit(d.min),
                        unit(d.max)
                    );
                }
            }
            Field::Area => {
                if let Some(a) = o.area {
                    let _ = write!(s, ",\"area\":{a}");
                }
            }
            Field::Bbox => {
                if let Some(b) = o.bbox {
                    let v: Vec<String> = b.iter().map(|x| coord(*x)).collect();
                    let _ = write!(s, ",\"bbox\":[{}]", v.join(","));
                }
            }
            Field::Frames => {}
        }
    }
    s.push('}');
    s
}

fn track_entry(t: &Track, fields: &[Field]) -> String {
    let mut s = format!("{{\"id\":{},\"label\":{}", t.id, json_str(&t.label));
    if let Some(c) = &t.attributes.color {
        let _ = write!(s, ",\"attributes\":{{\"color\":{}}}", json_str(c));
    }
    if fields.contains(&Field::Frames) {
        let _ = write!(
            s,
            ",\"first_frame\":{},\"last_frame\":{}",
            t.first_frame, t.last_frame
        );
    }
    s.push('}');
    s
}

/// One object as a compact line of a version 2 sub-twin: the prompt line's words (label,
/// colour) and only the chosen fields, values as the prompt shows them, id last.
fn object_line(o: &Object, fields: &[Field]) -> String {
    let mut e = Object::new(o.id, o.label.clone());
    e.attributes.color = o.attributes.color.clone();
    for f in fields {
        match f {
            Field::Centroid => e.centroid = o.centroid,
            Field::Depth => e.depth = o.depth,
            Field::Area => e.area = o.area,
            Field::Bbox => e.bbox = o.bbox,
            Field::Frames => {}
        }
    }
    let mut line = compact::object_line_styled(&e, &crate::style(PromptVersion::V2));
    line.push('\n');
    line
}

fn track_line(t: &Track, fields: &[Field]) -> String {
    let mut e = t.clone();
    e.motion = None;
    e.score = None;
    e.relations.clear();
    let mut line = compact::track_entry_line(
        &e,
        &crate::style(PromptVersion::V2),
        fields.contains(&Field::Frames),
    );
    line.push('\n');
    line
}

/// The sub-twin of the chosen entries (deduplicated, at most [`MAX_ENTRIES`], in the order
/// given: targets first), as the version writes it.
fn sub_twin(
    version: PromptVersion,
    task: Task,
    twin: &Twin,
    chosen: &[(u32, Vec<Field>)],
) -> String {
    let shown = view(version, task, twin);
    let mut seen = Vec::new();
    let mut parts = Vec::new();
    for (id, fields) in chosen {
        if seen.contains(id) || parts.len() == MAX_ENTRIES {
            continue;
        }
        let part = match (&shown, version) {
            (Twin::Image(t), PromptVersion::V1) => t.object(*id).map(|o| object_entry(o, fields)),
            (Twin::Video(t), PromptVersion::V1) => t.track(*id).map(|tr| track_entry(tr, fields)),
            (Twin::Image(t), PromptVersion::V2) => t.object(*id).map(|o| object_line(o, fields)),
            (Twin::Video(t), PromptVersion::V2) => t.track(*id).map(|tr| track_line(tr, fields)),
        };
        if let Some(p) = part {
            seen.push(*id);
            parts.push(p);
        }
    }
    if version == PromptVersion::V2 {
        return parts.concat();
    }
    let key = if matches!(twin, Twin::Video(_)) {
        "tracks"
    } else {
        "objects"
    };
    format!("{{\"{key}\":[{}]}}", parts.join(","))
}

fn ids_answer(ids: &[u32]) -> String {
    let v: Vec<String> = ids.iter().map(u32::to_string).collect();
    format!("[{}]", v.join(", "))
}

// ---------------------------------------------------------------------------------------
// Image reasoning.

fn color(o: &Object) -> &str {
    o.attributes.color.as_deref().unwrap_or("")
}

/// The shape class of an object: its `shape` attribute, else its label (as TwinBench's
/// checker reads it).
fn shape(o: &Object) -> &str {
    o.attributes.shape.as_deref().unwrap_or(o.label.as_str())
}

/// An object as the reasoning names it: the id first (version 1) or after the words that
/// identify it (version 2), as on the prompt's lines.
fn oname(o: &Object, v: PromptVersion) -> String {
    let words = match &o.attributes.color {
        Some(c) => format!("{c} {}", o.label),
        None => o.label.clone(),
    };
    match v {
        PromptVersion::V1 => format!("#{} {words}", o.id),
        PromptVersion::V2 => format!("{words} #{}", o.id),
    }
}

fn list(names: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = names.into_iter().collect();
    match v.len() {
        0 => "none".into(),
        1 => v[0].clone(),
        _ => format!("{} and {}", v[..v.len() - 1].join(", "), v[v.len() - 1]),
    }
}

/// How a superlative orders the shown objects, and how the reasoning talks about it.
struct Superlative {
    field: Field,
    /// Smaller key = more extreme.
    key: fn(&Object) -> f64,
    words: &'static str,
    show: fn(&Object) -> String,
}

fn superlative(e: Extreme) -> Superlative {
    match e {
        Extreme::Nearest => Superlative {
            field: Field::Depth,
            key: |o| o.depth.map_or(f64::MAX, |d| d.mean),
            words: "the nearest (smallest depth)",
            show: |o| format!("d={}", unit(o.depth.map_or(f64::NAN, |d| d.mean))),
        },
        Extreme::Farthest => Superlative {
            field: Field::Depth,
            key: |o| -o.depth.map_or(f64::MIN, |d| d.mean),
            words: "the farthest (largest depth)",
            show: |o| format!("d={}", unit(o.depth.map_or(f64::NAN, |d| d.mean))),
        },
        Extreme::Leftmost => Superlative {
            field: Field::Centroid,
            key: |o| o.centroid.map_or(f64::MAX, |c| c[0]),
            words: "the leftmost (smallest x)",
            show: |o| format!("x={}", coord(o.centroid.map_or(f64::NAN, |c| c[0]))),
        },
        Extreme::Rightmost => Superlative {
            field: Field::Centroid,
            key: |o| -o.centroid.map_or(f64::MIN, |c| c[0]),
            words: "the rightmost (largest x)",
            show: |o| format!("x={}", coord(o.centroid.map_or(f64::NAN, |c| c[0]))),
        },
        Extreme::Largest => Superlative {
            field: Field::Area,
            key: |o| -(o.area.unwrap_or(0) as f64),
            words: "the largest (biggest area)",
            show: |o| format!("area={}", o.area.unwrap_or(0)),
        },
    }
}

/// Shapes with an affordance, as words.
fn afford_shapes(aff: &str) -> String {
    let v: Vec<String> = dtr1_data::palette::SHAPES
        .iter()
        .filter(|s| dtr1_data::palette::affordances(s).contains(&aff))
        .map(|s| s.to_string())
        .collect();
    v.join(", ")
}

/// The solver's reasoning: what the shown values lead to (which must be the checker's answer
/// for the trace to be grounded), the sub-twin entries, the reasoning text.
struct Worked {
    answer: Outcome,
    entries: Vec<(u32, Vec<Field>)>,
    think: String,
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

fn solve_image(spec: &ImageSpec, t: &ImageTwin, v: PromptVersion) -> Option<Worked> {
    let objs: Vec<&Object> = t.objects.iter().collect();
    let with_aff = |a: &str| -> Vec<&Object> {
        objs.iter()
            .copied()
            .filter(|o| dtr1_data::palette::affordances(shape(o)).contains(&a))
            .collect()
    };
    let col = vec![];
    match spec {
        ImageSpec::Afford { affordance } => {
            let aff = affordance.as_str();
            let c = with_aff(aff);
            if c.is_empty() {
                return None;
            }
            let names = list(c.iter().map(|o| oname(o, v)));
            Some(Worked {
                think: match v {
                    PromptVersion::V1 => format!(
                        "Shapes that fit ({}): {}. In the twin: {names}.",
                        aff.replace('_', " "),
                        afford_shapes(aff),
                    ),
                    PromptVersion::V2 => format!(
                        "{}: {}, so {names}.",
                        aff.replace('_', " "),
                        afford_shapes(aff)
                    ),
                },
                entries: c.iter().map(|o| (o.id, col.clone())).collect(),
                answer: Outcome::Targets(sorted(c.iter().map(|o| o.id).collect())),
            })
        }
        ImageSpec::AffordColor {
            affordance: aff,
            color: want,
        } => {
            let c = with_aff(aff);
            let hit: Vec<&Object> = c.iter().copied().filter(|o| color(o) == want).collect();
            let [target] = hit.as_slice() else {
                return None;
            };
            let others: Vec<&Object> = c
                .iter()
                .copied()
                .filter(|o| o.id != target.id)
                .take(2)
                .collect();
            let mut entries = vec![(target.id, col.clone())];
            if v == PromptVersion::V1 {
                entries.extend(others.iter().map(|o| (o.id, col.clone())));
            }
            let think = if v == PromptVersion::V2 {
                format!(
                    "{}: {}; the {want} one is #{}.",
                    aff.replace('_', " "),
                    afford_shapes(aff),
                    target.id
                )
            } else if others.is_empty() {
                format!(
                    "Shapes that fit ({}): {}. The only one is {}, and it is {want}.",
                    aff.replace('_', " "),
                    afford_shapes(aff),
                    oname(target, v)
                )
            } else {
                format!(
                    "Shapes that fit ({}): {}. Of {}, the {want} one is #{}.",
                    aff.replace('_', " "),
                    afford_shapes(aff),
                    list(
                        std::iter::once(*target)
                            .chain(others.iter().copied())
                            .map(|o| oname(o, v))
                    ),
                    target.id
                )
            };
            Some(Worked {
                answer: Outcome::Targets(vec![target.id]),
                entries,
                think,
            })
        }
        ImageSpec::AffordExtreme {
            affordance: aff,
            extreme,
        } => {
            let e = superlative(*extreme);
            let mut c = with_aff(aff);
            if c.len() < 2 {
                return None;
            }
            c.sort_by(|a, b| (e.key)(a).total_cmp(&(e.key)(b)));
            // The target and its closest rivals, listed in id order so that the answer is
            // found by comparing, not by position.
            let mut shown: Vec<&Object> = c.iter().copied().take(4).collect();
            shown.sort_by_key(|o| o.id);
            Some(Worked {
                answer: Outcome::Targets(vec![c[0].id]),
                entries: shown.iter().map(|o| (o.id, vec![e.field])).collect(),
                think: if v == PromptVersion::V2 {
                    format!("{}: {} is #{}.", aff.replace('_', " "), e.words, c[0].id)
                } else {
                    format!(
                        "Things that fit ({}): {}. {} is #{}.",
                        aff.replace('_', " "),
                        list(
                            shown
                                .iter()
                                .map(|o| format!("{} ({})", oname(o, v), (e.show)(o)))
                        ),
                        capitalise(e.words),
                        c[0].id
                    )
                },
            })
        }
        ImageSpec::Ref {
            color: want_c,
            shape: want_s,
        } => {
            let hit: Vec<&Object> = objs
                .iter()
                .copied()
                .filter(|o| color(o) == want_c && shape(o) == want_s)
                .collect();
            let [target] = hit.as_slice() else {
                return None;
            };
            let similar: Vec<&Object> = objs
                .iter()
                .copied()
                .filter(|o| o.id != target.id && (color(o) == want_c || shape(o) == want_s))
                .take(2)
                .collect();
            let mut entries = vec![(target.id, col.clone())];
            if v == PromptVersion::V1 {
                entries.extend(similar.iter().map(|o| (o.id, col.clone())));
            }
            let think = if v == PromptVersion::V2 {
                format!("#{} is the {want_c} {want_s}.", target.id)
            } else if similar.is_empty() {
                format!("Only {} is a {want_c} {want_s}.", oname(target, v))
            } else {
                format!(
                    "{} share the colour or the shape, but only #{} is a {want_c} {want_s}.",
                    capitalise(&list(
                        std::iter::once(*target)
                            .chain(similar.iter().copied())
                            .map(|o| oname(o, v))
                    )),
                    target.id
                )
            };
            Some(Worked {
                answer: Outcome::Targets(vec![target.id]),
                entries,
                think,
            })
        }
        ImageSpec::RefLeftOf {
            shape: want_s,
            anchor_color: ac,
            anchor_shape: ash,
        } => {
            let anchors: Vec<&Object> = objs
                .iter()
                .copied()
                .filter(|o| color(o) == ac && shape(o) == ash)
                .collect();
            let [anchor] = anchors.as_slice() else {
                return None;
            };
            let x1 = anchor.bbox?[0];
            let same: Vec<&Object> = objs
                .iter()
                .copied()
                .filter(|o| o.id != anchor.id && shape(o) == want_s)
                .collect();
            // The centre's x: the centroid where the view shows it (version 1), else the
            // box's middle (version 2 shows grounding boxes only).
            let centre = |o: &Object| -> Option<f64> {
                o.centroid
                    .map(|c| c[0])
                    .or_else(|| o.bbox.map(|b| ((b[0] + b[2]) / 2.0).round()))
            };
            let left: Vec<&Object> = same
                .iter()
                .copied()
                .filter(|o| centre(o).is_some_and(|x| x < x1))
                .collect();
            let [target] = left.as_slice() else {
                return None;
            };
            let other = same.iter().copied().find(|o| o.id != target.id);
            let at = match v {
                PromptVersion::V1 => Field::Centroid,
                PromptVersion::V2 => Field::Bbox,
            };
            let mut entries = vec![(target.id, vec![at]), (anchor.id, vec![Field::Bbox])];
            let cx = |o: &Object| coord(centre(o).unwrap_or(0.0));
            let mut think = match v {
                PromptVersion::V1 => format!(
                    "The {ac} {ash} is #{} with left edge x={}. {} has centre x={}, left of it",
                    anchor.id,
                    coord(x1),
                    oname(target, v),
                    cx(target)
                ),
                PromptVersion::V2 => format!(
                    "#{} starts at x={}; #{} at x={} is left of it",
                    anchor.id,
                    coord(x1),
                    target.id,
                    cx(target)
                ),
            };
            if let Some(o) = other {
                entries.push((o.id, vec![at]));
                match v {
                    PromptVersion::V1 => {
                        let _ = write!(think, "; {} at x={} is not", oname(o, v), cx(o));
                    }
                    PromptVersion::V2 => {
                        let _ = write!(think, ", #{} at x={} is not", o.id, cx(o));
                    }
                }
            }
            think.push('.');
            Some(Worked {
                answer: Outcome::Targets(vec![target.id]),
                entries,
                think,
            })
        }
        ImageSpec::Count { color: want } => {
            let hit: Vec<&Object> = objs.iter().copied().filter(|o| color(o) == want).collect();
            let ids = list(hit.iter().map(|o| format!("#{}", o.id)));
            let think = match (v, hit.is_empty()) {
                (PromptVersion::V1, true) => {
                    format!("No object has color={want}, so the count is 0.")
                }
                (PromptVersion::V1, false) => format!(
                    "Objects with color={want}: {}. That makes {}.",
                    list(hit.iter().map(|o| oname(o, v))),
                    hit.len()
                ),
                (PromptVersion::V2, true) => format!("Nothing is {want}: 0."),
                (PromptVersion::V2, false) => format!("{want}: {ids}, so {}.", hit.len()),
            };
            Some(Worked {
                answer: Outcome::Answer(hit.len().to_string()),
                entries: hit.iter().map(|o| (o.id, col.clone())).collect(),
                think,
            })
        }
        ImageSpec::Exists {
            color: want_c,
            shape: want_s,
        } => {
            let hit: Vec<&Object> = objs
                .iter()
                .copied()
                .filter(|o| color(o) == want_c && shape(o) == want_s)
                .collect();
            // Everything that shares the colour or the shape settles the question (the
            // relevant objects of the ground truth); the reasoning names two of them.
            let partial: Vec<&Object> = objs
                .iter()
                .copied()
                .filter(|o| {
                    !(color(o) == want_c && shape(o) == want_s)
                        && (color(o) == want_c || shape(o) == want_s)
                })
                .collect();
            let similar = &partial[..partial.len().min(2)];
            let mut entries: Vec<(u32, Vec<Field>)> =
                hit.iter().map(|o| (o.id, col.clone())).collect();
            entries.extend(partial.iter().map(|o| (o.id, col.clone())));
            let think = match (hit.first(), similar.is_empty()) {
                (Some(o), _) if v == PromptVersion::V2 => {
                    format!("#{} is a {want_c} {want_s}: yes.", o.id)
                }
                (None, _) if v == PromptVersion::V2 => format!("No {want_c} {want_s}: no."),
                (Some(o), _) => format!("{} is a {want_c} {want_s}, so yes.", oname(o, v)),
                (None, true) => format!("No object is {want_c} or a {want_s}, so no."),
                (None, false) => format!(
                    "{} match only in part; there is no {want_c} {want_s}, so no.",
                    capitalise(&list(similar.iter().map(|o| oname(o, v))))
                ),
            };
            Some(Worked {
                answer: Outcome::Answer(if hit.is_empty() { "no" } else { "yes" }.into()),
                entries,
                think,
            })
        }
        ImageSpec::ColorOf {
            shape: want_s,
            extreme,
        } => {
            let e = superlative(*extreme);
            let mut c: Vec<&Object> = objs
                .iter()
                .copied()
                .filter(|o| shape(o) == want_s)
                .collect();
            if c.len() < 2 {
                return None;
            }
            c.sort_by(|a, b| (e.key)(a).total_cmp(&(e.key)(b)));
            // The target and its closest rivals, listed in id order so that the answer is
            // found by comparing, not by position.
            let mut shown: Vec<&Object> = c.iter().copied().take(4).collect();
            shown.sort_by_key(|o| o.id);
            let answer = color(c[0]).to_string();
            if answer.is_empty() {
                return None;
            }
            Some(Worked {
                think: if v == PromptVersion::V2 {
                    format!("{} {want_s} is #{}: {answer}.", e.words, c[0].id)
                } else {
                    format!(
                        "The {want_s}s: {}. {} is #{}, which is {answer}.",
                        list(
                            shown
                                .iter()
                                .map(|o| format!("{} ({})", oname(o, v), (e.show)(o)))
                        ),
                        capitalise(e.words),
                        c[0].id
                    )
                },
                entries: shown.iter().map(|o| (o.id, vec![e.field])).collect(),
                answer: Outcome::Answer(answer),
            })
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Video reasoning.

fn tname(t: &VideoTwin, id: u32, v: PromptVersion) -> String {
    let Some(tr) = t.track(id) else {
        return format!("@{id}");
    };
    let words = match &tr.attributes.color {
        Some(c) => format!("{c} {}", tr.label),
        None => tr.label.clone(),
    };
    match v {
        PromptVersion::V1 => format!("@{id} {words}"),
        PromptVersion::V2 => format!("{words} @{id}"),
    }
}

fn track_by(t: &VideoTwin, c: &str, s: &str) -> Option<u32> {
    let who: Vec<u32> = t
        .tracks
        .iter()
        .filter(|tr| {
            tr.attributes.color.as_deref() == Some(c) && tr.attributes.shape.as_deref() == Some(s)
        })
        .map(|tr| tr.id)
        .collect();
    match who.as_slice() {
        [id] => Some(*id),
        _ => None,
    }
}

fn events_of(t: &VideoTwin, k: EventKind) -> Vec<&dtr1_twin::Event> {
    t.events.iter().filter(|e| e.kind == k).collect()
}

fn collision_words(cs: &[&dtr1_twin::Event], v: PromptVersion) -> String {
    let each = cs.iter().map(|c| {
        let ids: Vec<String> = c.tracks.iter().map(|i| format!("@{i}")).collect();
        match v {
            PromptVersion::V1 => format!("f={} ({})", c.frame, ids.join(",")),
            PromptVersion::V2 => format!("f={} {}", c.frame, ids.join(",")),
        }
    });
    match v {
        PromptVersion::V1 => list(each),
        PromptVersion::V2 => {
            let v: Vec<String> = each.collect();
            if v.is_empty() {
                "none".into()
            } else {
                v.join("; ")
            }
        }
    }
}

fn event_words(t: &VideoTwin, e: &dtr1_twin::Event, v: PromptVersion) -> Option<String> {
    let n = |i: usize| {
        e.tracks
            .get(i)
            .map(|id| tname(t, *id, v))
            .unwrap_or_default()
    };
    Some(match e.kind {
        EventKind::Appear if e.frame > 0 => format!("f={} {} appears", e.frame, n(0)),
        EventKind::Leave => format!("f={} {} leaves", e.frame, n(0)),
        EventKind::Start => format!("f={} {} starts", e.frame, n(0)),
        EventKind::Stop => format!("f={} {} stops", e.frame, n(0)),
        EventKind::Collide => format!("f={} {} hits {}", e.frame, n(0), n(1)),
        _ => return None,
    })
}

fn solve_video(spec: &VideoSpec, t: &VideoTwin, v: PromptVersion) -> Option<Worked> {
    let collides = events_of(t, EventKind::Collide);
    let col = vec![];
    // The targets and (version 1) their collision partners.
    let partners = |ids: &[u32]| -> Vec<(u32, Vec<Field>)> {
        let mut out: Vec<(u32, Vec<Field>)> = ids.iter().map(|i| (*i, col.clone())).collect();
        if v == PromptVersion::V1 {
            for c in &collides {
                if c.tracks.iter().any(|x| ids.contains(x)) {
                    out.extend(c.tracks.iter().map(|i| (*i, col.clone())));
                }
            }
        }
        out
    };
    // Tracks whose `kind` event comes `when` one of their own collisions happened, and the
    // reasoning that names them: the one shape of "stopped after a collision" and "set in
    // motion by a collision". `v1` is (clause, event tag), `v2` the short clause.
    let after_own_collision = |kind: EventKind,
                               when: &dyn Fn(&dtr1_twin::Event, &dtr1_twin::Event) -> bool,
                               v1: (&str, &str),
                               v2: &str|
     -> Option<Worked> {
        let found: Vec<&dtr1_twin::Event> = events_of(t, kind)
            .into_iter()
            .filter(|e| {
                collides
                    .iter()
                    .any(|c| c.tracks.contains(&e.tracks[0]) && when(c, e))
            })
            .collect();
        let mut ids = sorted(found.iter().map(|e| e.tracks[0]).collect());
        ids.dedup();
        if ids.is_empty() {
            return None;
        }
        Some(Worked {
            think: match v {
                PromptVersion::V1 => format!(
                    "Collisions: {}. {}: {}.",
                    collision_words(&collides, v),
                    v1.0,
                    list(found.iter().map(|e| format!(
                        "{} ({}{})",
                        tname(t, e.tracks[0], v),
                        v1.1,
                        e.frame
                    )))
                ),
                PromptVersion::V2 => format!(
                    "collide {}; {v2}: {}.",
                    collision_words(&collides, v),
                    list(
                        found
                            .iter()
                            .map(|e| format!("@{} f={}", e.tracks[0], e.frame))
                    )
                ),
            },
            entries: partners(&ids),
            answer: Outcome::Targets(ids),
        })
    };
    match spec {
        VideoSpec::StoppedAfterCollision => after_own_collision(
            EventKind::Stop,
            &|c, s| s.frame >= c.frame,
            ("Stopping after one of their own", "stop f="),
            "stop after",
        ),
        VideoSpec::SetInMotion => after_own_collision(
            EventKind::Start,
            &|c, s| c.frame == s.frame,
            ("Starting to move at the frame of its collision", "f="),
            "start then",
        ),
        VideoSpec::EnteredLast => {
            let appear: Vec<&dtr1_twin::Event> = events_of(t, EventKind::Appear)
                .into_iter()
                .filter(|e| e.frame > 0)
                .collect();
            let last = appear.iter().map(|e| e.frame).max()?;
            let at: Vec<u32> = appear
                .iter()
                .filter(|e| e.frame == last)
                .map(|e| e.tracks[0])
                .collect();
            let [target] = at.as_slice() else { return None };
            let mut entries = vec![(*target, vec![Field::Frames])];
            if v == PromptVersion::V1 {
                entries.extend(appear.iter().map(|e| (e.tracks[0], vec![Field::Frames])));
            }
            Some(Worked {
                think: format!(
                    "Appearing after frame 0: {}. The last is {}.",
                    list(appear.iter().map(|e| format!(
                        "{} at f={}",
                        tname(t, e.tracks[0], v),
                        e.frame
                    ))),
                    tname(t, *target, v)
                ),
                entries,
                answer: Outcome::Targets(vec![*target]),
            })
        }
        VideoSpec::CountCollisions => {
            let mut involved: Vec<u32> = collides.iter().flat_map(|c| c.tracks.clone()).collect();
            involved.dedup();
            Some(Worked {
                think: format!(
                    "Collide events: {}. That makes {}.",
                    collision_words(&collides, v),
                    collides.len()
                ),
                entries: involved.iter().map(|i| (*i, col.clone())).collect(),
                answer: Outcome::Answer(collides.len().to_string()),
            })
        }
        VideoSpec::CollisionsOf { color, shape } => {
            let id = track_by(t, color, shape)?;
            let mine: Vec<&dtr1_twin::Event> = collides
                .iter()
                .copied()
                .filter(|c| c.tracks.contains(&id))
                .collect();
            let think = if mine.is_empty() {
                format!("{} takes part in no collide event: 0.", tname(t, id, v))
            } else {
                format!(
                    "{} collides at {}: {} time{}.",
                    tname(t, id, v),
                    list(mine.iter().map(|c| format!("f={}", c.frame))),
                    mine.len(),
                    if mine.len() == 1 { "" } else { "s" }
                )
            };
            Some(Worked {
                think,
                entries: partners(&[id]),
                answer: Outcome::Answer(mine.len().to_string()),
            })
        }
        VideoSpec::FirstToStop { a, b } => {
            let (ia, ib) = (
                track_by(t, &a.color, &a.shape)?,
                track_by(t, &b.color, &b.shape)?,
            );
            let stop = |id: u32| {
                events_of(t, EventKind::Stop)
                    .into_iter()
                    .find(|e| e.tracks[0] == id)
                    .map(|e| e.frame)
            };
            let (fa, fb) = (stop(ia)?, stop(ib)?);
            if fa == fb {
                return None;
            }
            let winner = if fa < fb { &a.color } else { &b.color };
            Some(Worked {
                think: format!(
                    "{} stops at f={fa}; {} stops at f={fb}. The {winner} one stops first.",
                    tname(t, ia, v),
                    tname(t, ib, v)
                ),
                entries: vec![(ia, col.clone()), (ib, col.clone())],
                answer: Outcome::Answer(winner.clone()),
            })
        }
        VideoSpec::StopBeforeAfterCollision { color, shape } => {
            let id = track_by(t, color, shape)?;
            let stop = events_of(t, EventKind::Stop)
                .into_iter()
                .find(|e| e.tracks[0] == id)?
                .frame;
            let first = collides.first()?;
            if stop == first.frame {
                return None;
            }
            let word = if stop < first.frame {
                "before"
            } else {
                "after"
            };
            let mut entries = vec![(id, col.clone())];
            entries.extend(first.tracks.iter().map(|i| (*i, col.clone())));
            Some(Worked {
                think: format!(
                    "{} stops at f={stop}; the first collision is at f={}, so {word}.",
                    tname(t, id, v),
                    first.frame
                ),
                entries,
                answer: Outcome::Answer(word.into()),
            })
        }
    }
}

fn summary_think(t: &VideoTwin, v: PromptVersion) -> String {
    let parts: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| event_words(t, e, v))
        .collect();
    if parts.is_empty() {
        return format!("{} tracks and no events.", t.tracks.len());
    }
    let shown = parts.len().min(MAX_THINK_EVENTS);
    let mut s = format!(
        "{} tracks. Events in order: {}",
        t.tracks.len(),
        parts[..shown].join("; ")
    );
    if parts.len() > shown {
        let _ = write!(s, "; {} more", parts.len() - shown);
    }
    s.push('.');
    s
}

// ---------------------------------------------------------------------------------------
// Ground-truth fallbacks.

/// The most frequent annotator answer (ties: the first).
fn majority(answers: &[String]) -> Option<String> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, a) in answers.iter().enumerate() {
        let e = counts.entry(a.trim().to_string()).or_insert((0, i));
        e.0 += 1;
    }
    counts
        .into_iter()
        .filter(|(a, _)| !a.is_empty())
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
        .map(|(a, _)| a)
}

/// Whether the checker's answer is the sample's ground truth (it is for a generated sample
/// over its own twin; a twin from elsewhere may disagree).
fn agrees(outcome: &Outcome, sample: &Sample) -> bool {
    match (outcome, &sample.truth) {
        (Outcome::Targets(ids), truth) => {
            truth.target_ids().map(|t| sorted(t.to_vec())) == Some(ids.clone())
        }
        (Outcome::Answer(a), GroundTruth::Answers { answers, .. }) => {
            answers.iter().any(|g| dtr1_metrics::vqa::exact_match(a, g))
        }
        _ => false,
    }
}

fn unsolvable(sample: &Sample, message: impl Into<String>) -> PromptError {
    PromptError::Unsolvable {
        sample: sample.id.clone(),
        message: message.into(),
    }
}

/// Writes the reasoning trace of a sample over its input twin (see the module docs).
pub fn solve(version: PromptVersion, sample: &Sample, twin: &Twin) -> Result<Trace, PromptError> {
    check_kind(sample, twin)?;
    if sample.task == Task::VideoSummary {
        let (Twin::Video(v), GroundTruth::Summaries { references, .. }) = (twin, &sample.truth)
        else {
            return Err(unsolvable(
                sample,
                "a summary sample needs reference summaries",
            ));
        };
        let answer = references
            .iter()
            .find(|r| !r.trim().is_empty())
            .ok_or_else(|| unsolvable(sample, "every reference summary is empty"))?;
        let ids: Vec<(u32, Vec<Field>)> = v.tracks.iter().map(|t| (t.id, vec![])).collect();
        return Ok(Trace {
            twin: sub_twin(version, sample.task, twin, &ids),
            think: summary_think(v, version),
            version,
            answer: answer.trim().to_string(),
            grounded: !v.events.is_empty(),
        });
    }
    // The generator's checker decides the answer on the input twin.
    let decided = sample
        .spec
        .as_ref()
        .and_then(|s| Some((s, dtr1_twinbench::suite::check(s, twin)?)))
        .filter(|(_, outcome)| agrees(outcome, sample));
    // Image reasoning reads the values the prompt shows (rounded), so that the numbers in
    // the reasoning are the ones the model sees; it must lead to the checker's answer.
    let shown = view(version, sample.task, twin);
    let worked = decided.and_then(|(spec, outcome)| {
        let w = match (spec, &shown, twin) {
            (QuerySpec::Image(s), Twin::Image(t), _) => solve_image(s, t, version),
            (QuerySpec::Video(s), _, Twin::Video(v)) => solve_video(s, v, version),
            _ => None,
        }?;
        (w.answer == outcome).then_some(w)
    });
    if let Some(w) = worked {
        let answer = match &w.answer {
            Outcome::Targets(ids) => ids_answer(ids),
            Outcome::Answer(t) => t.clone(),
        };
        return Ok(Trace {
            twin: sub_twin(version, sample.task, twin, &w.entries),
            think: w.think,
            version,
            answer,
            grounded: true,
        });
    }
    // Fallback: the ground truth alone.
    if sample.task.answers_with_ids() {
        let ids = dtr1_reward::targets::targets(&sample.truth, twin)
            .filter(|ids| !ids.is_empty())
            .ok_or_else(|| unsolvable(sample, "no object of the twin matches the ground truth"))?;
        let names: Vec<String> = ids
            .iter()
            .map(|id| match twin {
                Twin::Image(t) => t
                    .object(*id)
                    .map_or(format!("#{id}"), |o| oname(o, version)),
                Twin::Video(v) => tname(v, *id, version),
            })
            .collect();
        let entries: Vec<(u32, Vec<Field>)> = ids.iter().map(|i| (*i, vec![])).collect();
        Ok(Trace {
            twin: sub_twin(version, sample.task, twin, &entries),
            think: format!("The query points to {}.", list(names)),
            version,
            answer: ids_answer(&ids),
            grounded: false,
        })
    } else {
        let GroundTruth::Answers { answers, .. } = &sample.truth else {
            return Err(unsolvable(sample, "a VQA sample needs annotator answers"));
        };
        let a = majority(answers).ok_or_else(|| unsolvable(sample, "every answer is empty"))?;
        // The objects the label says the question is about, when it names them.
        let entries: Vec<(u32, Vec<Field>)> = sample
            .truth
            .relevant_ids()
            .unwrap_or(&[])
            .iter()
            .map(|i| (*i, vec![]))
            .collect();
        Ok(Trace {
            twin: sub_twin(version, sample.task, twin, &entries),
            think: format!("Reading the twin, the answer is {a}."),
            version,
            answer: a,
            grounded: false,
        })
    }
}
