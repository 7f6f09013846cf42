//! The digital twin: a structured, text-serialisable description of an image or a video.
//!
//! An [`ImageTwin`] lists [`Object`]s (id, label, COCO RLE mask, box, area, centroid, depth,
//! attributes, relations); a [`VideoTwin`] lists [`Track`]s (per-frame objects, motion) and
//! [`Event`]s. Both serialise to JSON with a [`SCHEMA_VERSION`], validate with every problem
//! reported at its JSON path ([`validate`]), and serialise to a compact, line-per-object
//! prompt form that parses back ([`compact`]).
//!
//! Conventions, used everywhere in dt-r1:
//! - pixel coordinates: `x` to the right, `y` down; pixel `(col, row)` covers
//!   `[col, col+1) × [row, row+1)`;
//! - boxes are `[x1, y1, x2, y2]` with **exclusive** max, so a mask's tight box is
//!   `[x, y, x + w, y + h]` of pycocotools' `toBbox` `[x, y, w, h]`;
//! - depth is relative, **smaller = nearer**;
//! - masks are COCO RLE (`{"size": [h, w], "counts": …}`), column-major, as pycocotools.

pub mod compact;
pub mod example;
pub mod relations;
mod types;
pub mod validate;

pub use types::*;
pub use validate::{validate, Mode, Problem, ValidationErrors};

/// The JSON Schema of a twin file (an image twin or a video twin), generated from the types.
/// The committed copy is `schema/twin.schema.json`; a test fails when it drifts.
pub fn json_schema() -> String {
    #[derive(schemars::JsonSchema)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum TwinFile {
        Image(ImageTwin),
        Video(VideoTwin),
    }
    let schema = schemars::schema_for!(TwinFile);
    let mut s = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    s.push('\n');
    s
}
