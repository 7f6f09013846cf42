//! TwinBench image queries for the three image benchmarks, generated from a scene and
//! verified by an independent checker.
//!
//! The generator chooses targets from the scene's own objects; every query is also a
//! structured [`ImageSpec`], which [`check`] evaluates against the scene's *twin* (attributes,
//! areas, depths and centroids only) with separate code. A query is kept only when the
//! checker finds exactly the generator's answer, and a query meant to pick one object is
//! rejected when more than one object fits.

use crate::scene::{Scene, SceneObject};
use dtr1_data::palette::affordances;
use dtr1_data::{Category, Extreme, GroundTruth, ImageSpec, Outcome, Task};
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

/// How a query writes a superlative.
fn extreme_words(e: Extreme) -> &'static str {
    match e {
        Extreme::Nearest => "closest to the camera",
        Extreme::Farthest => "farthest from the camera",
        Extreme::Leftmost => "furthest to the left",
        Extreme::Rightmost => "furthest to the right",
        Extreme::Largest => "biggest in the picture",
    }
}

/// One generated query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which benchmark.
    pub task: Task,
    /// The text.
    pub text: String,
    /// Its meaning.
    pub spec: ImageSpec,
    /// Target ids (segmentation, grounding) — empty for VQA.
    pub targets: Vec<u32>,
    /// The answer (VQA).
    pub answer: Option<String>,
    /// Reasoning category.
    pub category: Category,
    /// Difficulty 1–4.
    pub level: u8,
}

/// What the checker reads of one object. The twin's objects ([`check`]) and the scene's own
/// objects (the generator's side, which must agree) both answer it, so that one evaluation
/// serves both and the two sides differ only in where their numbers come from.
trait Facts {
    /// Margin by which a superlative over depth must win.
    const DEPTH_MARGIN: f64;
    fn id(&self) -> u32;
    fn color(&self) -> &str;
    /// The shape class (a twin object's `shape` attribute, else its label).
    fn shape(&self) -> &str;
    /// Distance from the camera (smaller is nearer).
    fn depth(&self) -> Option<f64>;
    /// Centroid x.
    fn x(&self) -> Option<f64>;
    /// Visible area in pixels.
    fn area(&self) -> u64;
    /// Left edge of the box.
    fn left_edge(&self) -> Option<f64>;
}

impl Facts for dtr1_twin::Object {
    const DEPTH_MARGIN: f64 = 0.03;
    fn id(&self) -> u32 {
        self.id
    }
    fn color(&self) -> &str {
        self.attributes.color.as_deref().unwrap_or("")
    }
    fn shape(&self) -> &str {
        self.attributes
            .shape
            .as_deref()
            .unwrap_or(self.label.as_str())
    }
    fn depth(&self) -> Option<f64> {
        self.depth.map(|d| d.mean)
    }
    fn x(&self) -> Option<f64> {
        self.centroid.map(|c| c[0])
    }
    fn area(&self) -> u64 {
        self.area.unwrap_or(0)
    }
    fn left_edge(&self) -> Option<f64> {
        self.bbox.map(|b| b[0])
    }
}

/// The generator's side: scene metadata (shape, colour, distance `z`) and the visible masks,
/// without the twin.
impl Facts for SceneObject {
    // The twin's depth is `0.1 + 0.9 z`, so this margin on `z` is the twin's 0.03.
    const DEPTH_MARGIN: f64 = 0.03 / 0.9;
    fn id(&self) -> u32 {
        self.id
    }
    fn color(&self) -> &str {
        self.color
    }
    fn shape(&self) -> &str {
        self.shape
    }
    fn depth(&self) -> Option<f64> {
        Some(f64::from(self.z))
    }
    fn x(&self) -> Option<f64> {
        self.mask.centroid().map(|c| c[0])
    }
    fn area(&self) -> u64 {
        self.mask.area()
    }
    fn left_edge(&self) -> Option<f64> {
        Some(self.mask.to_bbox()[0])
    }
}

/// The most extreme object, when the superlative is clear: the runner-up must differ
/// noticeably.
fn extreme_of<'a, O: Facts>(objs: &[&'a O], e: Extreme) -> Option<&'a O> {
    let key = |o: &O| -> f64 {
        match e {
            Extreme::Nearest => o.depth().unwrap_or(f64::MAX),
            Extreme::Farthest => -o.depth().unwrap_or(f64::MIN),
            Extreme::Leftmost => o.x().unwrap_or(f64::MAX),
            Extreme::Rightmost => -o.x().unwrap_or(f64::MIN),
            Extreme::Largest => -(o.area() as f64),
        }
    };
    let mut sorted: Vec<&O> = objs.to_vec();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    match sorted.as_slice() {
        [] => None,
        [one] => Some(*one),
        [a, b, ..] => {
            let (ka, kb) = (key(a), key(b));
            let margin = match e {
                Extreme::Nearest | Extreme::Farthest => O::DEPTH_MARGIN,
                Extreme::Leftmost | Extreme::Rightmost => 15.0,
                Extreme::Largest => 0.2 * ka.abs(),
            };
            ((kb - ka) > margin).then_some(*a)
        }
    }
}

/// Evaluates a spec on a set of objects. `None` when the spec does not pick out a clear
/// answer.
fn evaluate<O: Facts>(spec: &ImageSpec, objects: &[O]) -> Option<Outcome> {
    let objs: Vec<&O> = objects.iter().collect();
    let with = |a: &str| -> Vec<&O> {
        objs.iter()
            .copied()
            .filter(|o| affordances(o.shape()).contains(&a))
            .collect()
    };
    let ids = |v: Vec<&O>| {
        let mut i: Vec<u32> = v.iter().map(|o| o.id()).collect();
        i.sort_unstable();
        i
    };
    let one = |v: Vec<&O>| (v.len() == 1).then(|| Outcome::Targets(vec![v[0].id()]));
    match spec {
        ImageSpec::Afford { affordance } => {
            let v = with(affordance);
            (!v.is_empty()).then(|| Outcome::Targets(ids(v)))
        }
        ImageSpec::AffordColor { affordance, color } => one(with(affordance)
            .into_iter()
            .filter(|o| o.color() == color)
            .collect()),
        ImageSpec::AffordExtreme {
            affordance,
            extreme,
        } => {
            let v = with(affordance);
            if v.len() < 2 {
                return None;
            }
            extreme_of(&v, *extreme).map(|o| Outcome::Targets(vec![o.id()]))
        }
        ImageSpec::Ref { color, shape } => one(objs
            .iter()
            .copied()
            .filter(|o| o.color() == color && o.shape() == shape)
            .collect()),
        ImageSpec::RefLeftOf {
            shape,
            anchor_color,
            anchor_shape,
        } => {
            let anchors: Vec<&O> = objs
                .iter()
                .copied()
                .filter(|o| o.color() == anchor_color && o.shape() == anchor_shape)
                .collect();
            let [anchor] = anchors.as_slice() else {
                return None;
            };
            let edge = anchor.left_edge()?;
            one(objs
                .iter()
                .copied()
                .filter(|o| {
                    o.id() != anchor.id() && o.shape() == shape && o.x().is_some_and(|x| x < edge)
                })
                .collect())
        }
        ImageSpec::Count { color } => Some(Outcome::Answer(
            objs.iter()
                .filter(|o| o.color() == color)
                .count()
                .to_string(),
        )),
        ImageSpec::Exists { color, shape } => {
            let any = objs
                .iter()
                .any(|o| o.color() == color && o.shape() == shape);
            Some(Outcome::Answer(if any { "yes" } else { "no" }.into()))
        }
        ImageSpec::ColorOf { shape, extreme } => {
            let v: Vec<&O> = objs
                .iter()
                .copied()
                .filter(|o| o.shape() == shape)
                .collect();
            if v.len() < 2 {
                return None;
            }
            extreme_of(&v, *extreme).map(|o| Outcome::Answer(o.color().to_string()))
        }
    }
}

/// Evaluates a spec on a twin (attributes, areas, depths, centroids and boxes only): target
/// ids (sorted) or an answer. `None` when the spec does not pick out a clear answer.
pub fn check(spec: &ImageSpec, twin: &ImageTwin) -> Option<Outcome> {
    evaluate(spec, &twin.objects)
}

/// The objects a query is about: what a sub-twin needs to answer it (stored as the ground
/// truth's `ids`). Segmentation and grounding: the targets. A count: every object of the
/// colour. An existence question: the objects that match (none when the answer is no). The
/// colour of an extreme object: that object. `None` when [`check`] finds no clear answer.
pub fn relevant(spec: &ImageSpec, twin: &ImageTwin) -> Option<Vec<u32>> {
    let matching = |f: &dyn Fn(&dtr1_twin::Object) -> bool| -> Vec<u32> {
        let mut v: Vec<u32> = twin.objects.iter().filter(|o| f(o)).map(|o| o.id).collect();
        v.sort_unstable();
        v
    };
    match (spec, check(spec, twin)?) {
        (_, Outcome::Targets(ids)) => Some(ids),
        (ImageSpec::Count { color }, _) => Some(matching(&|o| o.color() == color)),
        (ImageSpec::Exists { color, shape }, _) => {
            Some(matching(&|o| o.color() == color || o.shape() == shape))
        }
        (ImageSpec::ColorOf { shape, extreme }, _) => {
            let v: Vec<&dtr1_twin::Object> =
                twin.objects.iter().filter(|o| o.shape() == shape).collect();
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
    let colors = dtr1_data::palette::COLORS.map(|c| c.0);
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
                        ImageSpec::Afford {
                            affordance: a.into(),
                        },
                        format!("Segment everything that {}.", phrase(a)),
                        Category::Semantic,
                        1,
                    )
                }
                (Task::ImageReasonseg, 1) => {
                    let a = affordances(o.shape);
                    let Some(&a) = a.first() else { continue };
                    (
                        ImageSpec::AffordColor {
                            affordance: a.into(),
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
                        ImageSpec::AffordExtreme {
                            affordance: a.into(),
                            extreme: e,
                        },
                        format!(
                            "Of the things that {}, find the one {}.",
                            phrase(a),
                            extreme_words(e)
                        ),
                        Category::Spatial,
                        3,
                    )
                }
                (Task::ImageGrounding, 0 | 1) => (
                    ImageSpec::Ref {
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
                        ImageSpec::RefLeftOf {
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
                        ImageSpec::Count { color: c.into() },
                        format!("How many {c} objects are there?"),
                        Category::Semantic,
                        1,
                    )
                }
                (_, 1) => {
                    let c = colors[rng.random_range(0..colors.len())];
                    (
                        ImageSpec::Exists {
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
                        ImageSpec::ColorOf {
                            shape: o.shape.into(),
                            extreme: e,
                        },
                        format!("What colour is the {} {}?", o.shape, extreme_words(e)),
                        Category::Spatial,
                        3,
                    )
                }
            };
            // The generator's own answer, from the scene objects.
            let expected = evaluate(&spec, &scene.objects);
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
