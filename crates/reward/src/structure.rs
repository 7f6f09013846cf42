//! Structure of the sub-twin the model wrote in `<twin>`.
//!
//! The block is a sub-twin in one of two forms: a JSON object with an `objects` array (image
//! tasks) or a `tracks` array (video tasks) — a block that starts with `{` is read this way,
//! and structure is 0 when it is not such an object — or compact lines, one entry per line
//! as the prompt's twin writes them (`mug color=red c=(50,85) #3`, `ball color=blue @2`;
//! [`dtr1_twin::compact::parse_object_line`]), each line parsed on its own (prompt version
//! 2 writes this form; an empty block is an empty sub-twin). Then seven checks, each in [0, 1], are averaged —
//! eight when the label knows which objects the query is about ([`crate::targets::relevant`]):
//!
//! | check | value |
//! |---|---|
//! | `schema` | fraction of entries that match the partial twin schema (id and label required; the optional fields typed as in the twin) |
//! | `ids_exist` | fraction of entries whose id exists in the input twin |
//! | `fields_agree` | mean over entries of the fraction of copied fields that agree with the input twin (tolerances below) |
//! | `unique` | distinct ids / entries |
//! | `answer_valid` | 1 when the answer is in the task's grammar and not empty |
//! | `answer_in_twin` | fraction of cited ids that are in the sub-twin (1 for text answers) |
//! | `concise` | 1 up to `max_subtwin_objects` entries, then `max / entries` |
//! | `relevant` | recall of the relevant ids × `min(1, (relevant + relevance_slack) / entries)`: the sub-twin covers the objects the query is about, and little else (1 when both are empty) |
//!
//! The structure of a twin is paid only as the support of an answer: when the answer is
//! empty or not in the task's grammar (ids that do not exist in the input twin included),
//! structure is 0 whatever the sub-twin — otherwise a policy could collect it by copying
//! the twin and answering nothing. An empty sub-twin passes the per-entry checks vacuously
//! (but not `relevant`). Tolerances for copied fields (the prompt shows numbers rounded to
//! 2–3 decimals, so copies must be allowed that much; the constants below, which the
//! prompt's view is checked against): labels and attribute values equal ignoring case;
//! score and depth within 0.01 ([`SCORE_TOLERANCE`], [`DEPTH_TOLERANCE`]; a depth written as
//! one number is compared by its mean); box and centroid coordinates within 2 px
//! ([`PIXEL_TOLERANCE`]); area within 1 % ([`AREA_TOLERANCE`], at least 1 px); relations
//! must be among the input's; frames exact; speed within 0.5 px/frame ([`SPEED_TOLERANCE`]);
//! direction within 5° ([`DIRECTION_TOLERANCE`]).

use crate::accuracy::Answer;
use crate::{RewardConfig, Task};
use dtr1_twin::{compact, Attributes, Object, Relation, Twin};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// One way a sub-twin or the answer it supports falls short (its `Display` is the reward's
/// problem line).
#[derive(Debug, Clone, PartialEq)]
pub enum StructureProblem {
    /// There is no `<twin>` block.
    NoBlock,
    /// The block opens like JSON but is not a sub-twin; why.
    NotASubTwin(String),
    /// Entry `index` of the `key` array (`objects`/`tracks`) disagrees with the input twin.
    Disagrees {
        /// `objects` or `tracks`.
        key: &'static str,
        /// Position of the entry in the sub-twin.
        index: usize,
    },
    /// Entry `index` does not match the partial twin schema.
    Schema {
        /// `objects` or `tracks`.
        key: &'static str,
        /// Position of the entry in the sub-twin.
        index: usize,
        /// The schema error.
        error: String,
    },
    /// This many entries have ids that the input twin does not have (or no id).
    IdsNotInTwin(usize),
    /// Two entries share an id.
    RepeatedIds,
    /// The answer cites ids that the sub-twin does not list.
    CitesOutsideSubTwin,
    /// The answer is empty.
    EmptyAnswer,
    /// The answer is not in the task's grammar; why.
    MalformedAnswer(String),
    /// The sub-twin lists more entries than allowed.
    TooManyEntries {
        /// Entries listed.
        entries: usize,
        /// The most allowed ([`RewardConfig::max_subtwin_objects`]).
        max: usize,
    },
    /// The sub-twin covers the objects the query is about only partly.
    Irrelevant {
        /// The `relevant` check's value in [0, 1).
        coverage: f64,
        /// The objects the query is about.
        relevant: Vec<u32>,
    },
}

impl fmt::Display for StructureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StructureProblem::NoBlock => f.write_str("no <twin> block"),
            StructureProblem::NotASubTwin(why) => f.write_str(why),
            StructureProblem::Disagrees { key, index } => {
                write!(f, "{key}[{index}] disagrees with the input twin")
            }
            StructureProblem::Schema { key, index, error } => {
                write!(f, "{key}[{index}] does not match the schema: {error}")
            }
            StructureProblem::IdsNotInTwin(n) => {
                write!(f, "{n} sub-twin id(s) do not exist in the input twin")
            }
            StructureProblem::RepeatedIds => f.write_str("the sub-twin repeats ids"),
            StructureProblem::CitesOutsideSubTwin => {
                f.write_str("the answer cites ids that are not in the sub-twin")
            }
            StructureProblem::EmptyAnswer => f.write_str("the answer is empty"),
            StructureProblem::MalformedAnswer(why) => {
                write!(f, "the answer is malformed: {why}")
            }
            StructureProblem::TooManyEntries { entries, max } => {
                write!(f, "the sub-twin lists {entries} entries (more than {max})")
            }
            StructureProblem::Irrelevant { coverage, relevant } => write!(
                f,
                "the sub-twin covers the objects the query is about to {:.0}% (they are {relevant:?})",
                100.0 * coverage
            ),
        }
    }
}

/// The structure score and its parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StructureReport {
    /// Mean of the checks (0 when the block does not parse).
    pub score: f64,
    /// Each check by name.
    pub checks: BTreeMap<String, f64>,
    /// What failed.
    pub problems: Vec<StructureProblem>,
    /// Ids listed in the sub-twin.
    pub ids: HashSet<u32>,
    /// Ids of the sub-twin that exist in the input twin.
    pub existing: HashSet<u32>,
    /// Whether the block parsed as a sub-twin (a JSON object with the task's array).
    pub parsed: bool,
}

/// A track as a model may write it in a video sub-twin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubTrack {
    id: u32,
    label: String,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    first_frame: Option<u32>,
    #[serde(default)]
    last_frame: Option<u32>,
    #[serde(default)]
    motion: Option<SubMotion>,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    relations: Vec<Relation>,
}

impl SubTrack {
    /// A track line of a compact sub-twin: what it wrote, nothing more (a line without
    /// `frames=` does not claim frames 0–0).
    fn from_line(l: compact::TrackLine) -> Self {
        let t = l.track;
        SubTrack {
            id: t.id,
            label: t.label,
            score: t.score,
            first_frame: l.has_frames.then_some(t.first_frame),
            last_frame: l.has_frames.then_some(t.last_frame),
            motion: t.motion.map(|m| SubMotion {
                speed: m.speed,
                direction: m.direction,
                path: Vec::new(),
            }),
            attributes: t.attributes,
            relations: t.relations,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubMotion {
    speed: f64,
    direction: f64,
    #[serde(default)]
    #[allow(dead_code)] // accepted for schema compatibility; paths are not compared
    path: Vec<serde_json::Value>,
}

/// How far a copied score may be from the input's (the prompt shows scores to 3 decimals).
pub const SCORE_TOLERANCE: f64 = 0.01;
/// How far a copied relative depth (mean, min, max) may be from the input's.
pub const DEPTH_TOLERANCE: f64 = 0.01;
/// How far a copied box or centroid coordinate may be from the input's, in pixels.
pub const PIXEL_TOLERANCE: f64 = 2.0;
/// How far a copied area may be from the input's, as a fraction of it (at least 1 px).
pub const AREA_TOLERANCE: f64 = 0.01;
/// How far a copied track speed may be from the input's, in px/frame.
pub const SPEED_TOLERANCE: f64 = 0.5;
/// How far a copied track direction may be from the input's, in degrees.
pub const DIRECTION_TOLERANCE: f64 = 5.0;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn same_text(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Agreement of attributes: each one written must equal the input's.
fn attrs_agree(sub: &Attributes, input: &Attributes, agree: &mut usize, total: &mut usize) {
    let theirs: BTreeMap<&str, &str> = input.pairs().into_iter().collect();
    for (k, v) in sub.pairs() {
        *total += 1;
        *agree += usize::from(theirs.get(k).is_some_and(|t| same_text(t, v)));
    }
}

fn rels_agree(sub: &[Relation], input: &[Relation], agree: &mut usize, total: &mut usize) {
    for r in sub {
        *total += 1;
        *agree += usize::from(input.contains(r));
    }
}

/// A copied depth agrees when its mean, min and max do; a depth written as a point
/// (`d=MEAN`, min = max = mean: the compact form's [`compact::DepthForm::Mean`]) claims only
/// the mean.
fn depth_agrees(s: &dtr1_twin::DepthStats, o: &dtr1_twin::DepthStats) -> bool {
    let point = s.min == s.mean && s.max == s.mean;
    close(s.mean, o.mean, DEPTH_TOLERANCE)
        && (point || (close(s.min, o.min, DEPTH_TOLERANCE) && close(s.max, o.max, DEPTH_TOLERANCE)))
}

fn object_agreement(s: &Object, o: &Object) -> f64 {
    let (mut agree, mut total) = (1usize, 1usize);
    if !same_text(&s.label, &o.label) {
        agree -= 1;
    }
    let mut field = |present: bool, ok: bool| {
        if present {
            total += 1;
            agree += usize::from(ok);
        }
    };
    field(
        s.score.is_some(),
        matches!((s.score, o.score), (Some(a), Some(b)) if close(a, b, SCORE_TOLERANCE)),
    );
    field(
        s.bbox.is_some(),
        matches!((s.bbox, o.bbox), (Some(a), Some(b)) if a.iter().zip(&b).all(|(x, y)| close(*x, *y, PIXEL_TOLERANCE))),
    );
    field(
        s.area.is_some(),
        matches!((s.area, o.area), (Some(a), Some(b)) if close(a as f64, b as f64, (b as f64 * AREA_TOLERANCE).max(1.0))),
    );
    field(
        s.centroid.is_some(),
        matches!((s.centroid, o.centroid), (Some(a), Some(b)) if close(a[0], b[0], PIXEL_TOLERANCE) && close(a[1], b[1], PIXEL_TOLERANCE)),
    );
    field(
        s.depth.is_some(),
        matches!((s.depth, o.depth), (Some(a), Some(b)) if depth_agrees(&a, &b)),
    );
    field(s.mask.is_some(), s.mask.is_some() && s.mask == o.mask);
    attrs_agree(&s.attributes, &o.attributes, &mut agree, &mut total);
    rels_agree(&s.relations, &o.relations, &mut agree, &mut total);
    agree as f64 / total as f64
}

fn track_agreement(s: &SubTrack, t: &dtr1_twin::Track) -> f64 {
    let (mut agree, mut total) = (usize::from(same_text(&s.label, &t.label)), 1usize);
    let mut field = |present: bool, ok: bool| {
        if present {
            total += 1;
            agree += usize::from(ok);
        }
    };
    field(
        s.score.is_some(),
        matches!((s.score, t.score), (Some(a), Some(b)) if close(a, b, SCORE_TOLERANCE)),
    );
    field(
        s.first_frame.is_some(),
        s.first_frame == Some(t.first_frame),
    );
    field(s.last_frame.is_some(), s.last_frame == Some(t.last_frame));
    field(
        s.motion.is_some(),
        match (&s.motion, &t.motion) {
            (Some(a), Some(b)) => {
                let d = (a.direction - b.direction).rem_euclid(360.0);
                close(a.speed, b.speed, SPEED_TOLERANCE) && d.min(360.0 - d) <= DIRECTION_TOLERANCE
            }
            _ => false,
        },
    );
    attrs_agree(&s.attributes, &t.attributes, &mut agree, &mut total);
    rels_agree(&s.relations, &t.relations, &mut agree, &mut total);
    agree as f64 / total as f64
}

/// How well a sub-twin's ids cover the relevant ids (the `relevant` check).
pub fn relevance(sub: &HashSet<u32>, relevant: &[u32], slack: usize) -> f64 {
    if relevant.is_empty() && sub.is_empty() {
        return 1.0;
    }
    let recall = if relevant.is_empty() {
        1.0
    } else {
        relevant.iter().filter(|id| sub.contains(id)).count() as f64 / relevant.len() as f64
    };
    let room = (relevant.len() + slack) as f64 / sub.len().max(1) as f64;
    recall * room.min(1.0)
}

/// One entry of a sub-twin as read: its id (read leniently, so that an entry that fails
/// the schema still counts for the id checks) and either its agreement with the input twin
/// or why it does not match the schema.
struct Entry {
    id: Option<u32>,
    agreement: Result<f64, String>,
}

/// Reads a JSON sub-twin (`{"objects":[…]}` / `{"tracks":[…]}`), or says why it is not one.
fn json_entries(block: &str, key: &str, twin: &Twin) -> Result<Vec<Entry>, String> {
    let entries = match serde_json::from_str::<serde_json::Value>(block) {
        Ok(serde_json::Value::Object(mut o)) => match o.remove(key) {
            Some(serde_json::Value::Array(a)) => a,
            _ => return Err(format!("the sub-twin needs a \"{key}\" array")),
        },
        Ok(_) => return Err("the sub-twin must be a JSON object".into()),
        Err(e) => return Err(format!("the sub-twin is not JSON: {e}")),
    };
    Ok(entries
        .iter()
        .map(|e| {
            let id = e
                .get("id")
                .and_then(|v| v.as_u64())
                .and_then(|v| u32::try_from(v).ok());
            let agreement = match twin {
                Twin::Image(t) => serde_json::from_value::<Object>(e.clone())
                    .map(|s| t.object(s.id).map_or(0.0, |o| object_agreement(&s, o))),
                Twin::Video(v) => serde_json::from_value::<SubTrack>(e.clone())
                    .map(|s| v.track(s.id).map_or(0.0, |t| track_agreement(&s, t))),
            }
            .map_err(|e| e.to_string());
            Entry { id, agreement }
        })
        .collect())
}

/// Reads a sub-twin written as compact lines (prompt version 2: `mug color=red #3`, one
/// entry per non-empty line, the id first or last), each line parsed on its own.
fn line_entries(block: &str, twin: &Twin) -> Vec<Entry> {
    block
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| match twin {
            Twin::Image(t) => match compact::parse_object_line(line, i + 1) {
                Ok(s) => Entry {
                    id: Some(s.id),
                    agreement: Ok(t.object(s.id).map_or(0.0, |o| object_agreement(&s, o))),
                },
                Err(e) => Entry {
                    id: compact::line_id(line, '#'),
                    agreement: Err(e.to_string()),
                },
            },
            Twin::Video(v) => match compact::parse_track_line(line, i + 1) {
                Ok(l) => {
                    let s = SubTrack::from_line(l);
                    Entry {
                        id: Some(s.id),
                        agreement: Ok(v.track(s.id).map_or(0.0, |t| track_agreement(&s, t))),
                    }
                }
                Err(e) => Entry {
                    id: compact::line_id(line, '@'),
                    agreement: Err(e.to_string()),
                },
            },
        })
        .collect()
}

/// The array a sub-twin of `task` lists its entries in.
fn entries_key(task: Task) -> &'static str {
    if task.is_video() {
        "tracks"
    } else {
        "objects"
    }
}

/// Reads a `<twin>` block's entries: as JSON when it opens like JSON (prompt version 1),
/// as compact lines otherwise (version 2).
fn entries(block: &str, key: &str, twin: &Twin) -> Result<Vec<Entry>, String> {
    let block = block.trim();
    if block.starts_with('{') {
        json_entries(block, key, twin)
    } else {
        Ok(line_entries(block, twin))
    }
}

/// The ids a `<twin>` block lists, in order, read as [`check`] reads them (`None` when the
/// block is not a sub-twin; an entry whose id cannot be read is left out).
pub fn listed_ids(block: &str, task: Task, twin: &Twin) -> Option<Vec<u32>> {
    let e = entries(block, entries_key(task), twin).ok()?;
    Some(e.iter().filter_map(|e| e.id).collect())
}

/// Scores the `<twin>` block of a rollout for `task` over the input `twin` (see the module
/// docs). `relevant` is the set of objects the query is about, when known.
pub fn check(
    block: Option<&str>,
    answer: &Answer,
    task: Task,
    twin: &Twin,
    cfg: &RewardConfig,
    relevant: Option<&[u32]>,
) -> StructureReport {
    let mut rep = StructureReport::default();
    let key = entries_key(task);
    let Some(block) = block else {
        rep.problems.push(StructureProblem::NoBlock);
        return rep;
    };
    let entries = match entries(block, key, twin) {
        Ok(e) => e,
        Err(why) => {
            rep.problems.push(StructureProblem::NotASubTwin(why));
            return rep;
        }
    };
    rep.parsed = true;
    let n = entries.len();
    let frac = |k: usize| if n == 0 { 1.0 } else { k as f64 / n as f64 };

    let ids: Vec<Option<u32>> = entries.iter().map(|e| e.id).collect();
    let exists = |id: u32| crate::answer::exists(twin, id);

    let mut schema_ok = 0;
    let mut agreement = 0.0;
    for (i, e) in entries.iter().enumerate() {
        match &e.agreement {
            Ok(a) => {
                schema_ok += 1;
                agreement += a;
                if *a < 1.0 {
                    rep.problems
                        .push(StructureProblem::Disagrees { key, index: i });
                }
            }
            Err(err) => rep.problems.push(StructureProblem::Schema {
                key,
                index: i,
                error: err.clone(),
            }),
        }
    }
    let existing = ids.iter().filter(|id| id.is_some_and(exists)).count();
    if existing < n {
        rep.problems
            .push(StructureProblem::IdsNotInTwin(n - existing));
    }
    let distinct: HashSet<Option<u32>> = ids.iter().copied().collect();
    if distinct.len() < n {
        rep.problems.push(StructureProblem::RepeatedIds);
    }
    let sub_ids: HashSet<u32> = ids.iter().flatten().copied().collect();
    let (answer_valid, answer_in_twin) = match answer {
        Answer::Ids(cited) => {
            let inside = cited.iter().filter(|id| sub_ids.contains(id)).count();
            if inside < cited.len() {
                rep.problems.push(StructureProblem::CitesOutsideSubTwin);
            }
            (1.0, inside as f64 / cited.len() as f64)
        }
        Answer::Box(_) | Answer::Text(_) => (1.0, 1.0),
        Answer::Empty => {
            rep.problems.push(StructureProblem::EmptyAnswer);
            (0.0, 1.0)
        }
        Answer::Invalid(why) => {
            rep.problems
                .push(StructureProblem::MalformedAnswer(why.clone()));
            (0.0, 1.0)
        }
    };
    let concise = if n <= cfg.max_subtwin_objects {
        1.0
    } else {
        rep.problems.push(StructureProblem::TooManyEntries {
            entries: n,
            max: cfg.max_subtwin_objects,
        });
        cfg.max_subtwin_objects as f64 / n as f64
    };
    let mut checks = vec![
        ("schema", frac(schema_ok)),
        ("ids_exist", frac(existing)),
        (
            "fields_agree",
            if n == 0 { 1.0 } else { agreement / n as f64 },
        ),
        ("unique", frac(distinct.len().min(n))),
        ("answer_valid", answer_valid),
        ("answer_in_twin", answer_in_twin),
        ("concise", concise),
    ];
    if let Some(rel) = relevant {
        let r = relevance(&sub_ids, rel, cfg.relevance_slack);
        if r < 1.0 {
            rep.problems.push(StructureProblem::Irrelevant {
                coverage: r,
                relevant: rel.to_vec(),
            });
        }
        checks.push(("relevant", r));
    }
    rep.existing = sub_ids.iter().copied().filter(|&id| exists(id)).collect();
    rep.ids = sub_ids;
    let mean = checks.iter().map(|c| c.1).sum::<f64>() / checks.len() as f64;
    rep.score = if answer_valid > 0.0 { mean } else { 0.0 };
    rep.checks = checks.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    rep
}
