//! The meaning of a generated query ([`QuerySpec`]), stored typed in each TwinBench
//! [`crate::Sample`] so that every consumer (the generator's checker, the solver that writes
//! reasoning traces, the held-out split rule) reads the same value instead of re-parsing text.
//!
//! The types live here, beside the sample, because a sample carries them; what a spec *means*
//! on a twin (its checker, which decides the answer) lives with the generator that makes the
//! queries. Samples from public datasets have no spec.

use serde::{Deserialize, Serialize};

/// The meaning of one query: an image query, a video query, or a video summary request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum QuerySpec {
    /// A query of one of the three image benchmarks.
    Image(ImageSpec),
    /// A video reasoning-segmentation or video VQA query.
    Video(VideoSpec),
    /// "Summarise what happens in the video" (the references tell the told events).
    Summary,
}

/// A superlative over a set of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// Every superlative, in the order the generator draws from.
    pub const ALL: [Extreme; 5] = [
        Extreme::Nearest,
        Extreme::Farthest,
        Extreme::Leftmost,
        Extreme::Rightmost,
        Extreme::Largest,
    ];
}

/// The meaning of an image query. Colours, shapes and affordances are the twin's own words
/// (compared with its attributes), so they stay strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImageSpec {
    /// Every object with an affordance (reasoning segmentation).
    Afford {
        /// The affordance, e.g. `rolls`.
        affordance: String,
    },
    /// The one object of a colour with an affordance.
    AffordColor {
        /// The affordance.
        affordance: String,
        /// The colour.
        color: String,
    },
    /// The extreme object among those with an affordance.
    AffordExtreme {
        /// The affordance.
        affordance: String,
        /// Which superlative.
        extreme: Extreme,
    },
    /// The one object of a colour and shape (grounding).
    Ref {
        /// The colour.
        color: String,
        /// The shape.
        shape: String,
    },
    /// The one object of a shape that is left of another unique object (grounding).
    RefLeftOf {
        /// The target's shape.
        shape: String,
        /// The anchor's colour.
        anchor_color: String,
        /// The anchor's shape.
        anchor_shape: String,
    },
    /// How many objects of a colour (VQA).
    Count {
        /// The colour.
        color: String,
    },
    /// Whether an object of a colour and shape exists (VQA).
    Exists {
        /// The colour.
        color: String,
        /// The shape.
        shape: String,
    },
    /// The colour of the extreme object of a shape (VQA).
    ColorOf {
        /// The shape.
        shape: String,
        /// Which superlative.
        extreme: Extreme,
    },
}

/// A track named by its colour and shape, as a video query names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    /// The colour.
    pub color: String,
    /// The shape.
    pub shape: String,
}

/// The meaning of a video query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum VideoSpec {
    /// Tracks that come to rest at some point after a collision they took part in.
    StoppedAfterCollision,
    /// Tracks set in motion by a collision (a start at the frame of their collision).
    SetInMotion,
    /// The track that came into view last (after the first frame).
    EnteredLast,
    /// Number of collisions.
    CountCollisions,
    /// Number of collisions of the track with this colour and shape.
    CollisionsOf {
        /// The colour.
        color: String,
        /// The shape.
        shape: String,
    },
    /// Which of two tracks comes to rest first; the answer is its colour.
    FirstToStop {
        /// The first track.
        a: Named,
        /// The second track.
        b: Named,
    },
    /// Whether a track stops `before` or `after` the first collision of the video.
    StopBeforeAfterCollision {
        /// The colour.
        color: String,
        /// The shape.
        shape: String,
    },
}

/// What a spec's checker decides on a twin: target ids or a text answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Target ids, sorted.
    Targets(Vec<u32>),
    /// A text answer.
    Answer(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_through_json_in_the_documented_form() {
        let s = QuerySpec::Image(ImageSpec::AffordExtreme {
            affordance: "rolls".into(),
            extreme: Extreme::Nearest,
        });
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"image":{"kind":"afford_extreme","affordance":"rolls","extreme":"nearest"}}"#
        );
        assert_eq!(serde_json::from_str::<QuerySpec>(&json).unwrap(), s);
        let v = QuerySpec::Video(VideoSpec::FirstToStop {
            a: Named {
                color: "red".into(),
                shape: "cube".into(),
            },
            b: Named {
                color: "blue".into(),
                shape: "sphere".into(),
            },
        });
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<QuerySpec>(&json).unwrap(), v);
        assert_eq!(
            serde_json::to_string(&QuerySpec::Summary).unwrap(),
            r#""summary""#
        );
        // The old Debug text is not a spec.
        assert!(serde_json::from_str::<QuerySpec>(r#""EnteredLast""#).is_err());
    }
}
