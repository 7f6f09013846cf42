//! TwinBench image queries for the three image benchmarks, generated from a scene and
//! verified by an independent checker.
//!
//! The generator chooses targets from the scene's own objects; every query is also a
//! structured [`Spec`], which [`check`] evaluates against the scene's *twin* (attributes,
//! areas, depths and centroids only) with separate code. A query is kept only when the
//! checker finds exactly the generator's answer, and a query meant to pick one object is
//! rejected when more than one object fits.

use crate::scene::{affordances, Scene};
use crate::{Category, GroundTruth, Task};
use dtr1_twin::ImageTwin;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Words for each affordance, phrased as a use.
fn phrase(a: &str) -> &'static str {
    match a {
        "holds_liquid" => "you could pour water into",
        "has_handle" => "you could hold by its handle",
        "drink_from" => "you could drink from",
        "pour_from" => "you could pour a drink from",
        "holds_food" => "you could serve soup in",
        "rolls" => "would roll away on a slope",
        "throw" => "you could throw to a friend",
        "stackable" => "you could stack another one on",
        "sit_on" => "a child could sit on",
        "pointy" => "has sharp points",
        "marks_the_way" => "marks a lane on a road",
        "wear" => "you could slip over your wrist",
        "hang_on_a_peg" => "you could hang on a peg",
        "decorate" => "you could put on top of a tree",
        _ => "is useful",
    }
}

/// A superlative over a set of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    /// Smallest mean depth.
    Nearest,
    /// Largest mean depth.
    Farthest,
    /// Smallest centroid x.
    Leftmost,
    /// Largest centroid x.
    Rightmost,
    /// Largest area.
    Largest,
}

impl Extreme {
    const ALL: [Extreme; 5] = [
        Extreme::Nearest,
        Extreme::Farthest,
        Extreme::Leftmost,
        Extreme::Rightmost,
        Extreme::Largest,
    ];

    fn words(self) -> &'static str {
        match self {
            Extreme::Nearest => "closest to the camera",
            Extreme::Farthest => "farthest from the camera",
            Extreme::Leftmost => "furthest to the left",
            Extreme::Rightmost => "furthest to the right",
            Extreme::Largest => "biggest in the picture",
        }
    }
}

/// The meaning of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// Every object with an affordance (reasoning segmentation).
    Afford { affordance: &'static str },
    /// The one object of a colour with an affordance.
    AffordColor {
        affordance: &'static str,
        color: String,
    },
    /// The extreme object among those with an affordance.
    AffordExtreme {
        affordance: &'static str,
        extreme: Extreme,
    },
    /// The one object of a colour and shape (grounding).
    Ref { color: String, shape: String },
    /// The one object of a shape that is left of another unique object (grounding).
    RefLeftOf {
        shape: String,
        anchor_color: String,
        anchor_shape: String,
    },
    /// How many objects of a colour (VQA).
    Count { color: String },
    /// Whether an object of a colour and shape exists (VQA).
    Exists { color: String, shape: String },
    /// The colour of the extreme object of a shape (VQA).
    ColorOf { shape: String, extreme: Extreme },
}

/// One generated query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which benchmark.
    pub task: Task,
    /// The text.
    pub text: String,
    /// Its meaning.
    pub spec: Spec,
    /// Target ids (segmentation, grounding) — empty for VQA.
    pub targets: Vec<u32>,
    /// The answer (VQA).
    pub answer: Option<String>,
    /// Reasoning category.
    pub category: Category,
    /// Difficulty 1–4.
    pub level: u8,
}

/// What the checker computes for a spec: target ids or an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Target ids, sorted.
    Targets(Vec<u32>),
    /// A text answer.
    Answer(String),
}

fn attr<'a>(o: &'a dtr1_twin::Object, k: &str) -> &'a str {
    match k {
        "color" => o.attributes.color.as_deref().unwrap_or(""),
        _ => o.attributes.shape.as_deref().unwrap_or(o.label.as_str()),
    }
}

fn extreme_of<'a>(objs: &[&'a dtr1_twin::Object], e: Extreme) -> Option<&'a dtr1_twin::Object> {
    let key = |o: &dtr1_twin::Object| -> f64 {
        match e {
            Extreme::Nearest => o.depth.map_or(f64::MAX, |d| d.mean),
            Extreme::Farthest => -o.depth.map_or(f64::MIN, |d| d.mean),
            Extreme::Leftmost => o.centroid.map_or(f64::MAX, |c| c[0]),
            Extreme::Rightmost => -o.centroid.map_or(f64::MIN, |c| c[0]),
            Extreme::Largest => -(o.area.unwrap_or(0) as f64),
        }
    };
    let mut sorted: Vec<&dtr1_twin::Object> = objs.to_vec();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    // A superlative must be clear: the runner-up must differ noticeably.
    match sorted.as_slice() {
        [] => None,
        [one] => Some(*one),
        [a, b, ..] => {
            let (ka, kb) = (key(a), key(b));
            let margin = match e {
                Extreme::Nearest | Extreme::Farthest => 0.03,
                Extreme::Leftmost | Extreme::Rightmost => 15.0,
                Extreme::Largest => 0.2 * ka.abs(),
            };
            ((kb - ka) > margin).then_some(*a)
        }
    }
}

/// Evaluates a spec on a twin. `None` when the spec does not pick out a clear answer.
pub fn check(spec: &Spec, twin: &ImageTwin) -> Option<Outcome> {
    let objs: Vec<&dtr1_twin::Object> = twin.objects.iter().collect();
    let with = |a: &str| -> Vec<&dtr1_twin::Object> {
        objs.iter()
            .copied()
            .filter(|o| affordances(attr(o, "shape")).contains(&a))
            .collect()
    };
    let ids = |v: Vec<&dtr1_twin::Object>| {
        let mut i: Vec<u32> = v.iter().map(|o| o.id).collect();
        i.sort_unstable();
        i
    };
    let one = |v: Vec<&dtr1_twin::Object>| (v.len() == 1).then(|| Outcome::Targets(vec![v[0].id]));
    match spec {
        Spec::Afford { affordance } => {
            let v = with(affordance);
            (!v.is_empty()).then(|| Outcome::Targets(ids(v)))
        }
        Spec::AffordColor { affordance, color } => one(with(affordance)
            .into_iter()
            .filter(|o| attr(o, "color") == color)
            .collect()),
        Spec::AffordExtreme {
            affordance,
            extreme,
        } => {
            let v = with(affordance);
            if v.len() < 2 {
                return None;
            }
            extreme_of(&v, *extreme).map(|o| Outcome::Targets(vec![o.id]))
        }
        Spec::Ref { color, shape } => one(objs
            .iter()
            .copied()
            .filter(|o| attr(o, "color") == color && attr(o, "shape") == shape)
            .collect()),
        Spec::RefLeftOf {
            shape,
            anchor_color,
            anchor_shape,
        } => {
            let anchors: Vec<_> = objs
                .iter()
                .copied()
                .filter(|o| attr(o, "color") == anchor_color && attr(o, "shape") == anchor_shape)
                .collect();
            let [anchor] = anchors.as_slice() else {
                return None;
            };
            let ab = anchor.bbox?;
            one(objs
                .iter()
                .copied()
                .filter(|o| {
                    o.id != anchor.id
                        && attr(o, "shape") == shape
                        && o.centroid.is_some_and(|c| c[0] < ab[0])
                })
                .collect())
        }
        Spec::Count { color } => Some(Outcome::Answer(
            objs.iter()
                .filter(|o| attr(o, "color") == color)
                .count()
                .to_string(),
        )),
        Spec::Exists { color, shape } => {
            let any = objs
                .iter()
                .any(|o| attr(o, "color") == color && attr(o, "shape") == shape);
            Some(Outcome::Answer(if any { "yes" } else { "no" }.into()))
        }
        Spec::ColorOf { shape, extreme } => {
            let v: Vec<_> = objs
                .iter()
                .copied()
                .filter(|o| attr(o, "shape") == shape)
                .collect();
            if v.len() < 2 {
                return None;
            }
            extreme_of(&v, *extreme).map(|o| Outcome::Answer(attr(o, "color").to_string()))
        }
    }
}

/// The objects a query is about: what a sub-twin needs to answer it (stored as the ground
/// truth's `ids`). Segmentation and grounding: the targets. A count: every object of the
/// colour. An existence question: the objects that match (none when the answer is no). The
/// colour of an extreme object: that object. `None` when [`check`] finds no clear answer.
pub fn relevant(spec: &Spec, twin: &ImageTwin) -> Option<Vec<u32>> {
    let matching = |f: &dyn Fn(&dtr1_twin::Object) -> bool| -> Vec<u32> {
        let mut v: Vec<u32> = twin.objects.iter().filter(|o| f(o)).map(|o| o.id).collect();
        v.sort_unstable();
        v
    };
    match (spec, check(spec, twin)?) {
        (_, Outcome::Targets(ids)) => Some(ids),
        (Spec::Count { color }, _) => Some(matching(&|o| attr(o, "color") == color)),
        (Spec::Exists { color, shape }, _) => Some(matching(&|o| {
            attr(o, "color") == color || attr(o, "shape") == shape
        })),
        (Spec::ColorOf { shape, extreme }, _) => {
            let v: Vec<&dtr1_twin::Object> = twin
                .objects
                .iter()
                .filter(|o| attr(o, "shape") == shape)
                .collect();
            extreme_of(&v, *extreme).map(|o| vec![o.id])
        }
        _ => None,
    }
}

/// Generates queries for a scene: up to `per_task` per image benchmark, each verified by
/// [`check`] on the scene's twin.
pub fn generate(scene: &Scene, twin: &ImageTwin, seed: u64, per_task: usize) -> Vec<Query> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_0f9e);
    let mut out = Vec::new();
    let objs = &scene.objects;
    let pick = |rng: &mut ChaCha8Rng| &objs[rng.random_range(0..objs.len())];
    let colors = crate::scene::COLORS.map(|c| c.0);
    for task in [Task::ImageReasonseg, Task::ImageGrounding, Task::ImageVqa] {
        let mut made = 0;
        for _ in 0..per_task * 12 {
            if made == per_task {
                break;
            }
            let o = pick(&mut rng);
            let choice = rng.random_range(0..3);
            let (spec, text, category, level) = match (task, choice) {
                (Task::ImageReasonseg, 0) => {
                    let a = affordances(o.shape);
                    let Some(&a) = a.get(rng.random_range(0..a.len().max(1))) else {
                        continue;
                    };
                    (
                        Spec::Afford { affordance: a },
                        format!("Segment everything that {}.", phrase(a)),
                        Category::Semantic,
                        1,
                    )
                }
                (Task::ImageReasonseg, 1) => {
                    let a = affordances(o.shape);
                    let Some(&a) = a.first() else { continue };
                    (
                        Spec::AffordColor {
                            affordance: a,
                            color: o.color.into(),
                        },
                        format!("Which {} thing {}?", o.color, phrase(a)),
                        Category::Semantic,
                        2,
                    )
                }
                (Task::ImageReasonseg, _) => {
                    let a = affordances(o.shape);
                    let Some(&a) = a.first() else { continue };
                    let e = Extreme::ALL[rng.random_range(0..Extreme::ALL.len())];
                    (
                        Spec::AffordExtreme {
                            affordance: a,
                            extreme: e,
                        },
                        format!(
                            "Of the things that {}, find the one {}.",
                            phrase(a),
                            e.words()
                        ),
                        Category::Spatial,
                        3,
                    )
                }
                (Task::ImageGrounding, 0 | 1) => (
                    Spec::Ref {
                        color: o.color.into(),
                        shape: o.shape.into(),
                    },
                    format!("the {} {}", o.color, o.shape),
                    Category::Semantic,
                    1,
                ),
                (Task::ImageGrounding, _) => {
                    let anchor = pick(&mut rng);
                    (
                        Spec::RefLeftOf {
                            shape: o.shape.into(),
                            anchor_color: anchor.color.into(),
                            anchor_shape: anchor.shape.into(),
                        },
                        format!(
                            "the {} to the left of the {} {}",
                            o.shape, anchor.color, anchor.shape
                        ),
                        Category::Spatial,
                        3,
                    )
                }
                (_, 0) => {
                    let c = colors[rng.random_range(0..colors.len())];
                    (
                        Spec::Count { color: c.into() },
                        format!("How many {c} objects are there?"),
                        Category::Semantic,
                        1,
                    )
                }
                (_, 1) => {
                    let c = colors[rng.random_range(0..colors.len())];
                    (
                        Spec::Exists {
                            color: c.into(),
                            shape: o.shape.into(),
                        },
                        format!("Is there a {c} {}?", o.shape),
                        Category::Semantic,
                        2,
                    )
                }
                _ => {
                    let e = Extreme::ALL[rng.random_range(0..Extreme::ALL.len())];
                    (
                        Spec::ColorOf {
                            shape: o.shape.into(),
                            extreme: e,
                        },
                        format!("What colour is the {} {}?", o.shape, e.words()),
                        Category::Spatial,
                        3,
                    )
                }
            };
            // The generator's own answer, from the scene objects.
            let expected = generated_answer(&spec, scene);
            let Some(checked) = check(&spec, twin) else {
                continue;
            };
            if expected.as_ref() != Some(&checked) || out.iter().any(|q: &Query| q.text == text) {
                continue;
            }
            let (targets, answer) = match checked {
                Outcome::Targets(t) => (t, None),
                Outcome::Answer(a) => (vec![], Some(a)),
            };
            out.push(Query {
                task,
                text,
                spec,
                targets,
                answer,
                category,
                level,
            });
            made += 1;
        }
    }
    out
}

/// The generator's side: the answer from scene metadata (shape, colour, distance `z`,
/// visible area), without the twin. Agreement with [`check`] is required.
fn generated_answer(spec: &Spec, scene: &Scene) -> Option<Outcome> {
    let objs = &scene.objects;
    let sorted_ids = |mut v: Vec<u32>| {
        v.sort_unstable();
        v
    };
    match spec {
        Spec::Afford { affordance } => {
            let v: Vec<u32> = objs
                .iter()
                .filter(|o| affordances(o.shape).contains(affordance))
                .map(|o| o.id)
                .collect();
            (!v.is_empty()).then(|| Outcome::Targets(sorted_ids(v)))
        }
        Spec::AffordColor { affordance, color } => {
            let v: Vec<u32> = objs
                .iter()
                .filter(|o| affordances(o.shape).contains(affordance) && o.color == color)
                .map(|o| o.id)
                .collect();
            (v.len() == 1).then_some(Outcome::Targets(v))
        }
        Spec::Ref { color, shape } => {
            let v: Vec<u32> = objs
                .iter()
                .filter(|o| o.color == color && o.shape == shape)
                .map(|o| o.id)
                .collect();
            (v.len() == 1).then_some(Outcome::Targets(v))
        }
        Spec::Count { color } => Some(Outcome::Answer(
            objs.iter().filter(|o| o.color == color).count().to_string(),
        )),
        Spec::Exists { color, shape } => Some(Outcome::Answer(
            if objs.iter().any(|o| o.color == color && o.shape == shape) {
                "yes"
            } else {
                "no"
            }
            .into(),
        )),
        // Superlatives and relative positions depend on geometry the scene metadata does not
        // store directly; the generator measures them on the masks.
        Spec::AffordExtreme {
            affordance,
            extreme,
        } => {
            let v: Vec<_> = objs
                .iter()
                .filter(|o| affordances(o.shape).contains(affordance))
                .collect();
            if v.len() < 2 {
                return None;
            }
            measure_extreme(&v, *extreme).map(|id| Outcome::Targets(vec![id]))
        }
        Spec::ColorOf { shape, extreme } => {
            let v: Vec<_> = objs.iter().filter(|o| o.shape == shape).collect();
            if v.len() < 2 {
                return None;
            }
            let id = measure_extreme(&v, *extreme)?;
            objs.iter()
                .find(|o| o.id == id)
                .map(|o| Outcome::Answer(o.color.into()))
        }
        Spec::RefLeftOf {
            shape,
            anchor_color,
            anchor_shape,
        } => {
            let anchors: Vec<_> = objs
                .iter()
                .filter(|o| o.color == anchor_color && o.shape == anchor_shape)
                .collect();
            let [anchor] = anchors.as_slice() else {
                return None;
            };
            let left_edge = anchor.mask.to_bbox()[0];
            let v: Vec<u32> = objs
                .iter()
                .filter(|o| o.id != anchor.id && o.shape == shape)
                .filter(|o| o.mask.centroid().is_some_and(|c| c[0] < left_edge))
                .map(|o| o.id)
                .collect();
            (v.len() == 1).then_some(Outcome::Targets(v))
        }
    }
}

fn measure_extreme(v: &[&crate::scene::SceneObject], e: Extreme) -> Option<u32> {
    let key = |o: &crate::scene::SceneObject| -> f64 {
        match e {
            Extreme::Nearest => f64::from(o.z),
            Extreme::Farthest => -f64::from(o.z),
            Extreme::Leftmost => o.mask.centroid().map_or(f64::MAX, |c| c[0]),
            Extreme::Rightmost => -o.mask.centroid().map_or(f64::MIN, |c| c[0]),
            Extreme::Largest => -(o.mask.area() as f64),
        }
    };
    let mut s: Vec<_> = v.to_vec();
    s.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let (a, b) = (s[0], s[1]);
    let margin = match e {
        Extreme::Nearest | Extreme::Farthest => 0.03 / 0.9,
        Extreme::Leftmost | Extreme::Rightmost => 15.0,
        Extreme::Largest => 0.2 * key(a).abs(),
    };
    (key(b) - key(a) > margin).then_some(a.id)
}

/// The ground truth a query is scored against.
pub fn ground_truth(q: &Query, twin: &ImageTwin) -> GroundTruth {
    match q.task {
        Task::ImageReasonseg => {
            let masks: Vec<dtr1_rle::Rle> = q
                .targets
                .iter()
                .filter_map(|id| twin.object(*id)?.mask.clone())
                .collect();
            GroundTruth::Mask {
                mask: dtr1_rle::merge(&masks, false)
                    .unwrap_or_else(|_| dtr1_rle::Rle::empty(twin.height, twin.width)),
                ignore: None,
                ids: Some(q.targets.clone()),
            }
        }
        Task::ImageGrounding => GroundTruth::Box {
            bbox: q
                .targets
                .first()
                .and_then(|id| twin.object(*id)?.bbox)
                .unwrap_or([0.0; 4]),
            ids: Some(q.targets.clone()),
        },
        _ => GroundTruth::Answers {
            answers: vec![q.answer.clone().unwrap_or_default()],
            ids: relevant(&q.spec, twin),
        },
    }
}
