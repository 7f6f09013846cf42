//! Prompts for the six dt-r1 benchmarks and the programmatic solver that writes reasoning
//! traces in the rollout format ([`solver`]). The non-learned baselines are
//! `dtr1_eval::baseline`; `dtr1 ask`'s task rule is in the CLI beside its one user.
//!
//! A prompt is two messages: a system message with the output contract (the `<twin>`,
//! `<think>`, `<answer>` blocks of docs/design.md) and a user message with the task's instruction,
//! the query, the twin in the compact prompt form ([`dtr1_twin::compact`]) and the answer
//! format the reward accepts for the task. The twin is shown through a task [`view`] that
//! keeps only what the task needs, so that a 15-object scene fits the small context of the
//! default policy (SmolLM2-135M). Every value the view shows is the input twin's own, rounded
//! well inside the reward's tolerances, so a sub-twin copied from the prompt agrees with the
//! input twin.
//!
//! Prompts are versioned ([`PromptVersion`]; a new template, view or contract text is a new
//! version, because numbers measured with different versions are not comparable); anything
//! that reports numbers produced with a prompt records the version, and every adapter records
//! the version it was trained with ([`version::of_adapter`]).

pub mod solver;
pub mod version;

use dtr1_data::{Sample, Task};
use dtr1_twin::compact::{self, DepthForm, IdPlacement, Style};
use dtr1_twin::Twin;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use version::PromptVersion;

/// One chat message: `system` or `user` (plain pairs, so that this crate does not depend on
/// the policy; the policy side converts them to its own message type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    fn new(role: &str, content: String) -> Self {
        Message {
            role: role.to_string(),
            content,
        }
    }
}

/// Why a prompt or a trace could not be made.
#[derive(Debug, Error)]
pub enum PromptError {
    /// The sample names no twin file.
    #[error("sample {sample}: no twin (the `twin` field is empty); build one with a perception backend first")]
    NoTwin {
        /// Sample id.
        sample: String,
    },
    /// The twin file could not be read.
    #[error("sample {sample}: cannot read the twin {path}: {source}")]
    Io {
        /// Sample id.
        sample: String,
        /// Twin path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The twin file is not a valid twin.
    #[error("sample {sample}: the twin {path} does not load: {source}")]
    Twin {
        /// Sample id.
        sample: String,
        /// Twin path.
        path: PathBuf,
        /// Why.
        source: dtr1_twin::LoadError,
    },
    /// An image task with a video twin or the other way round.
    #[error("sample {sample}: task {task} needs {expected} twin, got {found} twin")]
    WrongKind {
        /// Sample id.
        sample: String,
        /// The task.
        task: &'static str,
        /// `an image` or `a video`.
        expected: &'static str,
        /// What the file holds.
        found: &'static str,
    },
    /// An adapter's prompt-version record cannot be read or written.
    #[error("prompt version record {path}: {source}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The solver cannot tell the answer from the ground truth.
    #[error("sample {sample}: {message}")]
    Unsolvable {
        /// Sample id.
        sample: String,
        /// Why.
        message: String,
    },
}

fn kind_name(video: bool) -> &'static str {
    if video {
        "a video"
    } else {
        "an image"
    }
}

/// Checks that the twin's kind (image or video) fits the task.
pub fn check_kind(sample: &Sample, twin: &Twin) -> Result<(), PromptError> {
    let is_video = matches!(twin, Twin::Video(_));
    if is_video != sample.task.is_video() {
        return Err(PromptError::WrongKind {
            sample: sample.id.clone(),
            task: sample.task.name(),
            expected: kind_name(sample.task.is_video()),
            found: kind_name(is_video),
        });
    }
    Ok(())
}

/// Loads the input twin of a sample: `sample.twin` as written in a split file (relative to
/// `dataset_dir`), or as [`dtr1_data::dataset::read_split`] returns it (already joined to the
/// dataset directory, which may itself be relative: `dtr1 eval data/tb`). The twin must be of
/// the task's kind.
pub fn load_input_twin(dataset_dir: &Path, sample: &Sample) -> Result<Twin, PromptError> {
    let rel = sample.twin.as_ref().ok_or_else(|| PromptError::NoTwin {
        sample: sample.id.clone(),
    })?;
    // Joining twice would turn `data/tb/twins/x.json` into `data/tb/data/tb/twins/x.json`.
    let path = if rel.starts_with(dataset_dir) {
        rel.clone()
    } else {
        dataset_dir.join(rel)
    };
    let text = std::fs::read_to_string(&path).map_err(|source| PromptError::Io {
        sample: sample.id.clone(),
        path: path.clone(),
        source,
    })?;
    let twin = Twin::from_json(&text).map_err(|source| PromptError::Twin {
        sample: sample.id.clone(),
        path: path.clone(),
        source,
    })?;
    check_kind(sample, &twin)?;
    Ok(twin)
}

/// Fields of an image object the prompt shows for a task (besides id, label and colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFields {
    /// `box=[x1,y1,x2,y2]`.
    pub bbox: bool,
    /// `area=N`.
    pub area: bool,
    /// `c=(x,y)`, rounded to whole pixels.
    pub centroid: bool,
    /// `d=MEAN[MIN,MAX]`, rounded to 2 decimals.
    pub depth: bool,
}

/// What an image task needs: grounding answers with a box, so it sees boxes and centres;
/// segmentation and VQA reason about size, left/right and near/far, so they see areas,
/// centres and depths.
///
/// Version 2 shows grounding only the boxes (no centres): a grounding answer is a box, and a
/// box centre places an object left or right as well as its centroid does for the shapes
/// here, at half the tokens of both.
pub fn image_fields(version: PromptVersion, task: Task) -> ImageFields {
    match task {
        Task::ImageGrounding => ImageFields {
            bbox: true,
            area: false,
            centroid: version == PromptVersion::V1,
            depth: false,
        },
        _ => ImageFields {
            bbox: false,
            area: true,
            centroid: true,
            depth: true,
        },
    }
}

/// Decimals of the depths a view shows.
const DEPTH_DECIMALS: i32 = 2;

// A value rounded for the prompt must still agree with the input twin when a policy copies
// it: half a pixel (centres rounded to whole pixels) and half of the last depth decimal stay
// inside the reward's copy tolerances.
const _: () = assert!(
    0.5 < dtr1_reward::structure::PIXEL_TOLERANCE
        && 0.5 / 100.0 < dtr1_reward::structure::DEPTH_TOLERANCE
        && DEPTH_DECIMALS == 2
);

fn round_to(v: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (v * k).round() / k
}

/// The twin as the prompt of `task` shows it. Digits cost one token each with SmolLM2's
/// tokenizer, so the view keeps only what the task needs: for image objects the label, the
/// colour and the [`image_fields`] of the task, with centres rounded to whole pixels and
/// depths to 2 decimals (both well inside the reward's copy tolerances of 2 px and 0.01);
/// for video tracks the label, colour, size, material, frames and motion (speed@direction),
/// without paths, plus every event. Scores, masks, per-frame observations and relations are
/// left out. The result is what [`compact::to_compact`] prints in the prompt, and the only
/// fields (and values) a sub-twin should copy.
///
/// Version 2 shows less: depths as their mean alone (written `d=MEAN`), and video tracks
/// with only the label, colour (and shape where it differs from the label) and frames —
/// what the video queries ask about.
pub fn view(version: PromptVersion, task: Task, twin: &Twin) -> Twin {
    match compact::keep_compact_fields(twin) {
        Twin::Image(mut t) => {
            let f = image_fields(version, task);
            for o in &mut t.objects {
                o.score = None;
                o.relations.clear();
                let color = o.attributes.color.take();
                o.attributes = Default::default();
                o.attributes.color = color;
                if !f.bbox {
                    o.bbox = None;
                }
                if !f.area {
                    o.area = None;
                }
                o.centroid = if f.centroid {
                    o.centroid.map(|c| [c[0].round(), c[1].round()])
                } else {
                    None
                };
                o.depth = if f.depth {
                    o.depth.map(|d| match version {
                        PromptVersion::V1 => dtr1_twin::DepthStats {
                            mean: round_to(d.mean, DEPTH_DECIMALS),
                            min: round_to(d.min, DEPTH_DECIMALS),
                            max: round_to(d.max, DEPTH_DECIMALS),
                        },
                        PromptVersion::V2 => {
                            let mean = round_to(d.mean, DEPTH_DECIMALS);
                            dtr1_twin::DepthStats {
                                mean,
                                min: mean,
                                max: mean,
                            }
                        }
                    })
                } else {
                    None
                };
            }
            Twin::Image(t)
        }
        Twin::Video(mut t) => {
            for tr in &mut t.tracks {
                tr.score = None;
                tr.relations.clear();
                if tr.attributes.shape.as_deref() == Some(tr.label.as_str()) {
                    tr.attributes.shape = None;
                }
                if let Some(m) = &mut tr.motion {
                    m.path.clear();
                }
                if version == PromptVersion::V2 {
                    let a = std::mem::take(&mut tr.attributes);
                    tr.attributes.color = a.color;
                    tr.attributes.shape = a.shape;
                    tr.motion = None;
                }
            }
            Twin::Video(t)
        }
    }
}

/// The system message: the output contract, shared by every task.
pub fn system_message(version: PromptVersion) -> String {
    match version {
        PromptVersion::V1 => {
            "Answer about a scene from its twin (one line per object #id or track @id). Reply with \
three blocks only:\n\
<twin>{\"objects\":[{\"id\":3,\"label\":\"mug\",\"attributes\":{\"color\":\"red\"}}]}</twin> \
the objects that matter, copied exactly (video: \"tracks\"; c= is \"centroid\", \
d= is \"depth\" {mean,min,max}, box= is \"bbox\")\n\
<think>short reasoning</think>\n\
<answer>the answer</answer>"
                .to_string()
        }
        PromptVersion::V2 => "Reply: <twin>\nthe lines that matter\n</twin>\n\
<think>short reasoning</think>\n\
<answer>answer</answer>"
            .to_string(),
    }
}

/// How the prompt of a version writes the twin: version 1 in the canonical compact form,
/// version 2 with the ids last, depths as their mean and no depth source.
pub fn style(version: PromptVersion) -> Style {
    match version {
        PromptVersion::V1 => Style::default(),
        PromptVersion::V2 => Style {
            ids: IdPlacement::Last,
            depth: DepthForm::Mean,
            image_header: false,
            depth_source: false,
            brackets: false,
            color_first: true,
        },
    }
}

/// The instruction and the answer format of a task.
pub fn task_text(task: Task) -> (&'static str, &'static str) {
    match task {
        Task::ImageReasonseg => (
            "Find every object the query asks for.",
            "a JSON list of object ids, e.g. [3, 5]",
        ),
        Task::ImageGrounding => (
            "Find the one object the phrase refers to.",
            "a JSON list with one object id, e.g. [4]",
        ),
        Task::ImageVqa => (
            "Answer the question about the image.",
            "one word or number, e.g. 2, yes, red",
        ),
        Task::VideoReasonseg => (
            "Find every track the query asks for; events give frame numbers.",
            "a JSON list of track ids, e.g. [2]",
        ),
        Task::VideoVqa => (
            "Answer the question about the video; events give frame numbers.",
            "one word or number, e.g. 1, red, before",
        ),
        Task::VideoSummary => (
            "Summarise the video in order of events, one or two sentences.",
            "plain sentences",
        ),
    }
}

/// The answer a task asks for, in version 2's one line (the instruction and the format of
/// [`task_text`] together).
fn answer_text_v2(task: Task) -> &'static str {
    match task {
        Task::ImageReasonseg => "ids of every object it asks for, e.g. [3, 5]",
        Task::ImageGrounding => "id of the one object it names, e.g. [4]",
        Task::ImageVqa => "one word or number, e.g. 2, yes, red",
        Task::VideoReasonseg => "ids of every track it asks for, e.g. [2]",
        Task::VideoVqa => "one word or number, e.g. 1, red, before",
        Task::VideoSummary => "one or two sentences telling the events in order",
    }
}

/// The user message of a task: instruction, query, the twin's view in compact form, the
/// answer format (version 2: query, twin, and one line saying what to answer).
pub fn user_message(version: PromptVersion, task: Task, query: &str, twin: &Twin) -> String {
    let shown = compact::to_compact_styled(&view(version, task, twin), &style(version));
    match version {
        PromptVersion::V1 => {
            let (instruction, answer) = task_text(task);
            format!("{instruction}\nQuery: {query}\nTwin:\n{shown}Answer: {answer}.")
        }
        PromptVersion::V2 => format!("Query: {query}\n{shown}Answer: {}.", answer_text_v2(task)),
    }
}

/// The prompt of one sample: system and user messages (see the crate docs).
pub fn build(version: PromptVersion, task: Task, query: &str, twin: &Twin) -> Vec<Message> {
    vec![
        Message::new("system", system_message(version)),
        Message::new("user", user_message(version, task, query, twin)),
    ]
}

/// Joins the three blocks into a completion in the rollout format. `sub_twin` is the
/// `<twin>` block's content as the version writes it (JSON for version 1, compact lines
/// ending with a newline for version 2, which puts them on lines of their own).
pub fn completion(version: PromptVersion, sub_twin: &str, think: &str, answer: &str) -> String {
    let open = match version {
        PromptVersion::V1 => "<twin>",
        PromptVersion::V2 => "<twin>\n",
    };
    format!("{open}{sub_twin}</twin>\n<think>{think}</think>\n<answer>{answer}</answer>")
}
