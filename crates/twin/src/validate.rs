//! Validation that reports every problem, each at its JSON path.

use crate::{mask_bbox, Attributes, Bbox, DepthStats, ImageTwin, Relation, Twin, VideoTwin};
use dtr1_rle::Rle;
use std::collections::HashSet;
use std::fmt;

/// How far (in pixels, per coordinate) a box may be from its mask's tight box. Boxes from
/// detectors are rounded to whole pixels, so one pixel of slack is allowed; anything more
/// means the box and the mask describe different things.
pub const BBOX_TOLERANCE_PX: f64 = 1.0;

/// How far (in pixels) a centroid may be from the mask's computed centroid.
pub const CENTROID_TOLERANCE_PX: f64 = 0.5;

/// Which fields must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A perception twin: every object (and frame object) has mask, bbox, area and centroid.
    Strict,
    /// A partial twin, as a language model writes it: only the fields present are checked.
    Partial,
}

/// One problem, at a JSON pointer path such as `/objects/3/bbox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer to the offending value.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a twin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<Problem>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "twin has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// Validates an image or a video twin.
pub fn validate(twin: &Twin, mode: Mode) -> Result<(), ValidationErrors> {
    match twin {
        Twin::Image(t) => validate_image(t, mode),
        Twin::Video(t) => validate_video(t, mode),
    }
}

#[derive(Default)]
struct Report(Vec<Problem>);

impl Report {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.0))
        }
    }
}

/// The spatial fields shared by image objects and video frame objects.
struct Spatial<'a> {
    bbox: Option<&'a Bbox>,
    mask: Option<&'a Rle>,
    area: Option<u64>,
    centroid: Option<&'a [f64; 2]>,
    depth: Option<&'a DepthStats>,
}

fn check_spatial(r: &mut Report, at: &str, s: Spatial<'_>, w: u32, h: u32, mode: Mode) {
    if mode == Mode::Strict {
        for (name, present) in [
            ("mask", s.mask.is_some()),
            ("bbox", s.bbox.is_some()),
            ("area", s.area.is_some()),
            ("centroid", s.centroid.is_some()),
        ] {
            if !present {
                r.add(
                    format!("{at}/{name}"),
                    "missing (required in a strict twin)",
                );
            }
        }
    }
    if let Some(b) = s.bbox {
        let [x1, y1, x2, y2] = *b;
        if b.iter().any(|v| !v.is_finite()) {
            r.add(
                format!("{at}/bbox"),
                format!("{b:?} has a non-finite coordinate"),
            );
        } else if !(x1 < x2 && y1 < y2) {
            r.add(
                format!("{at}/bbox"),
                format!("{b:?} is empty or inverted (need x1 < x2 and y1 < y2)"),
            );
        } else if x1 < 0.0 || y1 < 0.0 || x2 > f64::from(w) || y2 > f64::from(h) {
            r.add(
                format!("{at}/bbox"),
                format!("{b:?} is outside the {w}x{h} frame"),
            );
        }
    }
    if let Some(m) = s.mask {
        if m.size() != [h, w] {
            r.add(
                format!("{at}/mask/size"),
                format!("{:?} but the frame is [{h}, {w}]", m.size()),
            );
        } else {
            let area = m.area();
            if area == 0 {
                r.add(format!("{at}/mask"), "is empty");
            }
            if let (Some(b), Some(t)) = (s.bbox, mask_bbox(m)) {
                if b.iter()
                    .zip(&t)
                    .any(|(a, c)| (a - c).abs() > BBOX_TOLERANCE_PX)
                {
                    r.add(
                        format!("{at}/bbox"),
                        format!("{b:?} disagrees with the mask's tight box {t:?} (tolerance {BBOX_TOLERANCE_PX} px)"),
                    );
                }
            }
            if let Some(a) = s.area {
                if a != area {
                    r.add(
                        format!("{at}/area"),
                        format!("{a} but the mask has {area} pixels"),
                    );
                }
            }
            if let (Some(c), Some(mc)) = (s.centroid, m.centroid()) {
                if (c[0] - mc[0]).hypot(c[1] - mc[1]) > CENTROID_TOLERANCE_PX {
                    r.add(
                        format!("{at}/centroid"),
                        format!(
                            "{c:?} but the mask's centroid is [{:.2}, {:.2}]",
                            mc[0], mc[1]
                        ),
                    );
                }
            }
        }
    }
    if let (Some(c), Some(b)) = (s.centroid, s.bbox) {
        if !(c[0] >= b[0] && c[0] <= b[2] && c[1] >= b[1] && c[1] <= b[3]) {
            r.add(
                format!("{at}/centroid"),
                format!("{c:?} lies outside the bbox {b:?}"),
            );
        }
    }
    if let Some(d) = s.depth {
        if ![d.mean, d.min, d.max].iter().all(|v| v.is_finite()) {
            r.add(format!("{at}/depth"), "has a non-finite value");
        } else if !(d.min <= d.mean && d.mean <= d.max) {
            r.add(
                format!("{at}/depth"),
                format!(
                    "need min <= mean <= max, got min {} mean {} max {}",
                    d.min, d.mean, d.max
                ),
            );
        }
    }
}

fn check_score(r: &mut Report, at: &str, score: Option<f64>) {
    if let Some(s) = score {
        if !(0.0..=1.0).contains(&s) {
            r.add(format!("{at}/score"), format!("{s} is outside [0, 1]"));
        }
    }
}

fn check_label_attrs(r: &mut Report, at: &str, label: &str, attrs: &Attributes) {
    if label.trim().is_empty() {
        r.add(format!("{at}/label"), "is empty");
    }
    for (k, v) in attrs.pairs() {
        if k.is_empty() || k.contains(|c: char| c.is_whitespace() || c == '=' || c == '"') {
            r.add(
                format!("{at}/attributes"),
                format!("attribute name {k:?} must be a non-empty word"),
            );
        } else if crate::compact::RESERVED_KEYS.contains(&k) {
            r.add(
                format!("{at}/attributes/{k}"),
                format!("{k:?} is a reserved field name and cannot be an attribute"),
            );
        }
        if v.is_empty() {
            r.add(format!("{at}/attributes/{k}"), "is empty");
        }
    }
}

fn check_relations(r: &mut Report, at: &str, own: u32, rels: &[Relation], ids: &HashSet<u32>) {
    let mut seen = HashSet::new();
    for (j, rel) in rels.iter().enumerate() {
        let p = format!("{at}/relations/{j}");
        if rel.to == own {
            r.add(format!("{p}/to"), "an object cannot relate to itself");
        } else if !ids.contains(&rel.to) {
            r.add(format!("{p}/to"), format!("id {} does not exist", rel.to));
        }
        if !seen.insert((rel.kind, rel.to)) {
            r.add(
                p,
                format!("duplicate relation {} {}", rel.kind.name(), rel.to),
            );
        }
    }
}

fn unique_ids<'a>(r: &mut Report, list: &str, ids: impl Iterator<Item = u32> + 'a) -> HashSet<u32> {
    let mut set = HashSet::new();
    for (i, id) in ids.enumerate() {
        if !set.insert(id) {
            r.add(
                format!("/{list}/{i}/id"),
                format!("id {id} is used more than once"),
            );
        }
    }
    set
}

fn check_frame_size(r: &mut Report, w: u32, h: u32) {
    if w == 0 || h == 0 {
        r.add("/width", format!("frame size {w}x{h} must be positive"));
    }
}

/// Validates an image twin.
pub fn validate_image(t: &ImageTwin, mode: Mode) -> Result<(), ValidationErrors> {
    let mut r = Report::default();
    check_frame_size(&mut r, t.width, t.height);
    let ids = unique_ids(&mut r, "objects", t.objects.iter().map(|o| o.id));
    for (i, o) in t.objects.iter().enumerate() {
        let at = format!("/objects/{i}");
        check_label_attrs(&mut r, &at, &o.label, &o.attributes);
        check_score(&mut r, &at, o.score);
        let s = Spatial {
            bbox: o.bbox.as_ref(),
            mask: o.mask.as_ref(),
            area: o.area,
            centroid: o.centroid.as_ref(),
            depth: o.depth.as_ref(),
        };
        check_spatial(&mut r, &at, s, t.width, t.height, mode);
        check_relations(&mut r, &at, o.id, &o.relations, &ids);
    }
    if mode == Mode::Strict {
        if let Some(d) = t.depth_source {
            if !t.objects.iter().any(|o| o.depth.is_some()) && !t.objects.is_empty() {
                r.add(
                    "/depth_source",
                    format!("is {:?} but no object has depth", d.name()),
                );
            }
        }
    }
    r.finish()
}

/// Validates a video twin.
pub fn validate_video(t: &VideoTwin, mode: Mode) -> Result<(), ValidationErrors> {
    let mut r = Report::default();
    check_frame_size(&mut r, t.width, t.height);
    if !(t.fps.is_finite() && t.fps > 0.0) {
        r.add("/fps", format!("{} must be a positive number", t.fps));
    }
    if t.frames == 0 {
        r.add("/frames", "a video needs at least one frame");
    }
    let ids = unique_ids(&mut r, "tracks", t.tracks.iter().map(|x| x.id));
    for (i, tr) in t.tracks.iter().enumerate() {
        let at = format!("/tracks/{i}");
        check_label_attrs(&mut r, &at, &tr.label, &tr.attributes);
        check_score(&mut r, &at, tr.score);
        if tr.first_frame > tr.last_frame {
            r.add(
                format!("{at}/first_frame"),
                format!("{} is after last_frame {}", tr.first_frame, tr.last_frame),
            );
        }
        if tr.last_frame >= t.frames {
            r.add(
                format!("{at}/last_frame"),
                format!(
                    "{} is out of range (the video has {} frames)",
                    tr.last_frame, t.frames
                ),
            );
        }
        if mode == Mode::Strict && tr.frames.is_empty() {
            r.add(
                format!("{at}/frames"),
                "missing (required in a strict twin)",
            );
        }
        for (&f, fo) in &tr.frames {
            let fat = format!("{at}/frames/{f}");
            if f < tr.first_frame || f > tr.last_frame {
                r.add(
                    fat.clone(),
                    format!(
                        "frame {f} is outside the track's [{}, {}]",
                        tr.first_frame, tr.last_frame
                    ),
                );
            }
            let s = Spatial {
                bbox: fo.bbox.as_ref(),
                mask: fo.mask.as_ref(),
                area: fo.area,
                centroid: fo.centroid.as_ref(),
                depth: fo.depth.as_ref(),
            };
            check_spatial(&mut r, &fat, s, t.width, t.height, mode);
        }
        if let Some(m) = &tr.motion {
            if !(m.speed.is_finite() && m.speed >= 0.0) {
                r.add(
                    format!("{at}/motion/speed"),
                    format!("{} must be finite and >= 0", m.speed),
                );
            }
            if !m.direction.is_finite() {
                r.add(format!("{at}/motion/direction"), "must be finite");
            }
            let mut prev = None;
            for (j, p) in m.path.iter().enumerate() {
                let pat = format!("{at}/motion/path/{j}");
                if p.frame < tr.first_frame || p.frame > tr.last_frame {
                    r.add(
                        format!("{pat}/frame"),
                        format!("frame {} is outside the track's lifetime", p.frame),
                    );
                }
                if prev.is_some_and(|q| p.frame <= q) {
                    r.add(format!("{pat}/frame"), "path frames must increase");
                }
                if !(p.x.is_finite() && p.y.is_finite()) {
                    r.add(pat, "non-finite position");
                }
                prev = Some(p.frame);
            }
        }
        check_relations(&mut r, &at, tr.id, &tr.relations, &ids);
    }
    let mut prev_frame = 0;
    for (i, e) in t.events.iter().enumerate() {
        let at = format!("/events/{i}");
        if e.frame >= t.frames {
            r.add(
                format!("{at}/frame"),
                format!(
                    "{} is out of range (the video has {} frames)",
                    e.frame, t.frames
                ),
            );
        }
        if e.frame < prev_frame {
            r.add(format!("{at}/frame"), "events must be in frame order");
        }
        prev_frame = e.frame;
        let want = match e.kind {
            crate::EventKind::Collide | crate::EventKind::Occlude => 2,
            _ => 1,
        };
        if e.tracks.len() != want {
            r.add(
                format!("{at}/tracks"),
                format!(
                    "a {} event involves {want} track(s), got {}",
                    e.kind.name(),
                    e.tracks.len()
                ),
            );
        }
        for (j, id) in e.tracks.iter().enumerate() {
            if !ids.contains(id) {
                r.add(
                    format!("{at}/tracks/{j}"),
                    format!("track {id} does not exist"),
                );
            }
        }
    }
    r.finish()
}
