//! The twin's data types and their JSON form.

use dtr1_rle::Rle;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Version of the twin JSON schema written by this crate. Files with another **major**
/// version are refused; minor versions only add optional fields.
pub const SCHEMA_VERSION: &str = "1.0";

fn schema_version() -> String {
    SCHEMA_VERSION.to_string()
}

/// A box `[x1, y1, x2, y2]` in pixels, max exclusive.
pub type Bbox = [f64; 4];

/// The JSON shape of a COCO RLE mask, for the schema (the mask type itself lives in
/// `dtr1-rle`, which does not depend on schemars).
#[derive(JsonSchema)]
#[allow(dead_code)]
struct RleSchema {
    /// `[height, width]`.
    size: [u32; 2],
    /// pycocotools' compressed string, or the uncompressed list of run lengths
    /// (column-major, starting with a run of zeros).
    counts: RleCountsSchema,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum RleCountsSchema {
    Compressed(String),
    Runs(Vec<u32>),
}

/// Relative depth statistics over an object's mask (smaller = nearer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DepthStats {
    /// Mean depth over the mask.
    pub mean: f64,
    /// Nearest point.
    pub min: f64,
    /// Farthest point.
    pub max: f64,
}

/// Named attributes of an object. The common ones have fields; anything else goes to
/// `extra` (string values), so new attributes need no schema change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attributes {
    /// Colour name (e.g. `red`), from the mask's pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Size class relative to the scene (e.g. `small`, `medium`, `large`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Shape descriptor (e.g. `cylinder`, `round`, `elongated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    /// Material (e.g. `matte`, `metal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    /// Any other attribute.
    #[serde(flatten)]
    pub extra: BTreeMap<String, String>,
}

impl Attributes {
    /// True when no attribute is set.
    pub fn is_empty(&self) -> bool {
        self.color.is_none()
            && self.size.is_none()
            && self.shape.is_none()
            && self.material.is_none()
            && self.extra.is_empty()
    }

    /// All attributes as `(name, value)` pairs, common ones first in a fixed order.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        for (k, v) in [
            ("color", &self.color),
            ("size", &self.size),
            ("shape", &self.shape),
            ("material", &self.material),
        ] {
            if let Some(v) = v {
                out.push((k, v.as_str()));
            }
        }
        out.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out
    }

    /// Sets an attribute by name (common names go to their fields).
    pub fn set(&mut self, name: &str, value: String) {
        match name {
            "color" => self.color = Some(value),
            "size" => self.size = Some(value),
            "shape" => self.shape = Some(value),
            "material" => self.material = Some(value),
            _ => {
                self.extra.insert(name.to_string(), value);
            }
        }
    }
}

/// Where an object's mask came from, so that no one mistakes an approximate mask for a
/// precise one. From most to least precise for real photographs: `model` (a learned
/// segmenter's mask), `refined` (a classical foreground method run inside a detection box),
/// `box` (the detection box itself, filled).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MaskSource {
    /// A learned segmentation model's mask.
    Model,
    /// A classical foreground method refined inside a detection box (approximate).
    Refined,
    /// The detection box, filled (coarsest).
    Box,
    /// Segmented from the pixels with shape models (TwinBench renders).
    Pixels,
    /// Read from another tool's output (COCO results, Grounded-SAM-2 dumps).
    Import,
    /// A ground-truth annotation.
    Annotation,
}

impl MaskSource {
    /// Every source, in declaration order.
    pub const ALL: [MaskSource; 6] = [
        MaskSource::Model,
        MaskSource::Refined,
        MaskSource::Box,
        MaskSource::Pixels,
        MaskSource::Import,
        MaskSource::Annotation,
    ];

    /// The snake_case name used in JSON and in the compact form.
    pub fn name(self) -> &'static str {
        match self {
            MaskSource::Model => "model",
            MaskSource::Refined => "refined",
            MaskSource::Box => "box",
            MaskSource::Pixels => "pixels",
            MaskSource::Import => "import",
            MaskSource::Annotation => "annotation",
        }
    }

    /// Parses a snake_case name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Where a twin's depth came from. Depth is relative whatever the source, but its quality
/// differs: `stereo` is measured, `model` learned, `ground_plane` a geometric prior that
/// only orders objects standing on one floor.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DepthSource {
    /// Disparity of a rectified stereo pair.
    Stereo,
    /// A monocular depth model.
    Model,
    /// The ground-plane prior (an object's contact row sets its distance).
    GroundPlane,
    /// A depth map read from a file.
    Import,
    /// Ground-truth depth.
    Annotation,
}

impl DepthSource {
    /// Every source, in declaration order.
    pub const ALL: [DepthSource; 5] = [
        DepthSource::Stereo,
        DepthSource::Model,
        DepthSource::GroundPlane,
        DepthSource::Import,
        DepthSource::Annotation,
    ];

    /// The snake_case name used in JSON and in the compact form.
    pub fn name(self) -> &'static str {
        match self {
            DepthSource::Stereo => "stereo",
            DepthSource::Model => "model",
            DepthSource::GroundPlane => "ground_plane",
            DepthSource::Import => "import",
            DepthSource::Annotation => "annotation",
        }
    }

    /// Parses a snake_case name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// The kinds of relation between two objects. They are computed from geometry and depth
/// (see [`crate::relations`]), never guessed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    LeftOf,
    RightOf,
    Above,
    Below,
    InFrontOf,
    Behind,
    Overlaps,
    Contains,
    Near,
    LargerThan,
}

impl RelationKind {
    /// Every kind, in declaration order.
    pub const ALL: [RelationKind; 10] = [
        RelationKind::LeftOf,
        RelationKind::RightOf,
        RelationKind::Above,
        RelationKind::Below,
        RelationKind::InFrontOf,
        RelationKind::Behind,
        RelationKind::Overlaps,
        RelationKind::Contains,
        RelationKind::Near,
        RelationKind::LargerThan,
    ];

    /// The snake_case name used in JSON and in the compact form.
    pub fn name(self) -> &'static str {
        match self {
            RelationKind::LeftOf => "left_of",
            RelationKind::RightOf => "right_of",
            RelationKind::Above => "above",
            RelationKind::Below => "below",
            RelationKind::InFrontOf => "in_front_of",
            RelationKind::Behind => "behind",
            RelationKind::Overlaps => "overlaps",
            RelationKind::Contains => "contains",
            RelationKind::Near => "near",
            RelationKind::LargerThan => "larger_than",
        }
    }

    /// Parses a snake_case name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// "This object is `kind` object `to`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Relation {
    /// The relation.
    pub kind: RelationKind,
    /// Id of the other object (or track).
    pub to: u32,
}

/// One object of an image twin.
///
/// Only `id` and `label` are always required: a language model's sub-twin
/// (`{"id":3,"label":"cup","bbox":[…]}`) parses as the same type. [`crate::Mode::Strict`]
/// validation requires the perception fields (mask, bbox, area, centroid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Object {
    /// Identifier, unique within the twin.
    pub id: u32,
    /// Class label (e.g. `cup`).
    pub label: String,
    /// Detection confidence in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// `[x1, y1, x2, y2]` in pixels, max exclusive; the mask's tight box when a mask is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<Bbox>,
    /// Instance mask, COCO RLE of the whole frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<RleSchema>")]
    pub mask: Option<Rle>,
    /// Mask area in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<u64>,
    /// Mean `[x, y]` of the mask's pixel centres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centroid: Option<[f64; 2]>,
    /// Relative depth over the mask (smaller = nearer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<DepthStats>,
    /// Where the mask came from (absent in twins that predate the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_source: Option<MaskSource>,
    /// Named attributes.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// Relations to other objects, nearest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Relation>,
}

impl Object {
    /// An object with only an id and a label.
    pub fn new(id: u32, label: impl Into<String>) -> Self {
        Object {
            id,
            label: label.into(),
            score: None,
            bbox: None,
            mask: None,
            area: None,
            centroid: None,
            depth: None,
            mask_source: None,
            attributes: Attributes::default(),
            relations: Vec::new(),
        }
    }

    /// An object whose bbox, area and centroid are computed from its mask, so they agree
    /// with it by construction.
    pub fn from_mask(id: u32, label: impl Into<String>, mask: Rle) -> Self {
        let mut o = Object::new(id, label);
        o.bbox = mask_bbox(&mask);
        o.area = Some(mask.area());
        o.centroid = mask.centroid();
        o.mask = Some(mask);
        o
    }
}

/// A mask's tight box `[x1, y1, x2, y2]` (max exclusive), `None` when empty.
pub fn mask_bbox(mask: &Rle) -> Option<Bbox> {
    let [x, y, w, h] = mask.to_bbox();
    (mask.area() > 0).then_some([x, y, x + w, y + h])
}

/// The twin of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageTwin {
    /// Schema version, [`SCHEMA_VERSION`] when written by this crate.
    #[serde(default = "schema_version")]
    pub schema_version: String,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Where the objects' depth came from (one source per image; absent when there is no
    /// depth or in twins that predate the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_source: Option<DepthSource>,
    /// The objects, in id order by convention.
    pub objects: Vec<Object>,
}

impl ImageTwin {
    /// An empty twin of a `width × height` image.
    pub fn new(width: u32, height: u32) -> Self {
        ImageTwin {
            schema_version: SCHEMA_VERSION.to_string(),
            width,
            height,
            depth_source: None,
            objects: Vec::new(),
        }
    }

    /// The object with this id.
    pub fn object(&self, id: u32) -> Option<&Object> {
        self.objects.iter().find(|o| o.id == id)
    }
}

/// An object as seen in one frame of a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrameObject {
    /// `[x1, y1, x2, y2]` in pixels, max exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<Bbox>,
    /// Instance mask of this frame, COCO RLE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<RleSchema>")]
    pub mask: Option<Rle>,
    /// Mask area in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<u64>,
    /// Mean `[x, y]` of the mask's pixel centres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centroid: Option<[f64; 2]>,
    /// Relative depth over the mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<DepthStats>,
    /// Where this frame's mask came from (absent in twins that predate the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_source: Option<MaskSource>,
}

impl FrameObject {
    /// A frame object whose bbox, area and centroid are computed from its mask.
    pub fn from_mask(mask: Rle) -> Self {
        FrameObject {
            bbox: mask_bbox(&mask),
            area: Some(mask.area()),
            centroid: mask.centroid(),
            mask: Some(mask),
            depth: None,
            mask_source: None,
        }
    }
}

/// One sample of a track's path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathPoint {
    /// Frame index.
    pub frame: u32,
    /// Centroid x.
    pub x: f64,
    /// Centroid y.
    pub y: f64,
}

/// How a track moves over its lifetime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Motion {
    /// Mean speed in pixels per frame.
    pub speed: f64,
    /// Mean direction of travel in degrees, 0 = +x (right), 90 = +y (down).
    pub direction: f64,
    /// Centroid samples (a subsample of the frames), in frame order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<PathPoint>,
}

impl Motion {
    /// The motion of a track from its centroid in each frame it is seen (`None` when it is
    /// never seen): the net speed in pixels per frame and the direction between the first and
    /// the last centroid, and a path sampled every 4th frame from the first and at the last,
    /// every value rounded to 2 decimals. TwinBench's true twins and perception's twins both
    /// describe motion this way, so their motions compare like for like.
    pub fn from_centroids(centroids: &BTreeMap<u32, [f64; 2]>) -> Option<Motion> {
        let r2 = |v: f64| (v * 100.0).round() / 100.0;
        let (&first, &a) = centroids.iter().next()?;
        let (&last, &b) = centroids.iter().next_back()?;
        let steps = f64::from((last - first).max(1));
        Some(Motion {
            speed: r2((b[0] - a[0]).hypot(b[1] - a[1]) / steps),
            direction: r2((b[1] - a[1])
                .atan2(b[0] - a[0])
                .to_degrees()
                .rem_euclid(360.0)),
            path: centroids
                .iter()
                .filter(|(&f, _)| (f - first) % 4 == 0 || f == last)
                .map(|(&f, c)| PathPoint {
                    frame: f,
                    x: r2(c[0]),
                    y: r2(c[1]),
                })
                .collect(),
        })
    }
}

/// An object followed through a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// Identifier, unique within the twin.
    pub id: u32,
    /// Class label.
    pub label: String,
    /// Confidence in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// First frame the track is visible.
    pub first_frame: u32,
    /// Last frame the track is visible (inclusive).
    pub last_frame: u32,
    /// Per-frame observations keyed by frame index (frames where it is hidden are absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub frames: BTreeMap<u32, FrameObject>,
    /// Motion summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motion: Option<Motion>,
    /// Named attributes.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// Relations to other tracks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Relation>,
}

/// The kinds of event in a video.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A track becomes visible.
    Appear,
    /// A track leaves the frame or disappears.
    Leave,
    /// A track starts moving.
    Start,
    /// A track stops moving.
    Stop,
    /// Two tracks collide.
    Collide,
    /// The first track occludes the second.
    Occlude,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 6] = [
        EventKind::Appear,
        EventKind::Leave,
        EventKind::Start,
        EventKind::Stop,
        EventKind::Collide,
        EventKind::Occlude,
    ];

    /// The snake_case name used in JSON and in the compact form.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Appear => "appear",
            EventKind::Leave => "leave",
            EventKind::Start => "start",
            EventKind::Stop => "stop",
            EventKind::Collide => "collide",
            EventKind::Occlude => "occlude",
        }
    }

    /// Parses a snake_case name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Something that happens at a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The frame it happened at.
    pub frame: u32,
    /// The tracks involved (one, or two for collide/occlude).
    pub tracks: Vec<u32>,
}

/// The twin of one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoTwin {
    /// Schema version, [`SCHEMA_VERSION`] when written by this crate.
    #[serde(default = "schema_version")]
    pub schema_version: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Number of frames.
    pub frames: u32,
    /// The tracks.
    pub tracks: Vec<Track>,
    /// The events, in frame order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

impl VideoTwin {
    /// The track with this id.
    pub fn track(&self, id: u32) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }
}

/// Either kind of twin, as loaded from a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Twin {
    /// An image twin.
    Image(ImageTwin),
    /// A video twin.
    Video(VideoTwin),
}

/// Why a twin file could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// Not JSON, or JSON of the wrong shape; serde's message names the field and position.
    #[error("twin JSON is malformed")]
    Json(#[from] serde_json::Error),
    /// The top level is not an object.
    #[error(
        "twin JSON: the top level must be an object with `objects` (image) or `tracks` (video)"
    )]
    NotATwin,
    /// A schema version this crate cannot read.
    #[error("twin JSON: schema_version {found:?} is not supported (this build reads {SCHEMA_VERSION} and other 1.x)")]
    Version { found: String },
}

impl Twin {
    /// Parses an image or video twin from JSON; a video twin is recognised by `tracks`.
    pub fn from_json(text: &str) -> Result<Twin, LoadError> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        let obj = value.as_object().ok_or(LoadError::NotATwin)?;
        if let Some(v) = obj.get("schema_version") {
            let found = v.as_str().unwrap_or_default().to_string();
            let major = SCHEMA_VERSION.split('.').next().unwrap_or_default();
            if found.split('.').next() != Some(major) {
                return Err(LoadError::Version { found });
            }
        }
        if obj.contains_key("tracks") {
            Ok(Twin::Video(serde_json::from_value(value)?))
        } else if obj.contains_key("objects") {
            Ok(Twin::Image(serde_json::from_value(value)?))
        } else {
            Err(LoadError::NotATwin)
        }
    }

    /// Pretty JSON.
    pub fn to_json_pretty(&self) -> String {
        match self {
            Twin::Image(t) => serde_json::to_string_pretty(t),
            Twin::Video(t) => serde_json::to_string_pretty(t),
        }
        .expect("twin types always serialise")
    }
}
