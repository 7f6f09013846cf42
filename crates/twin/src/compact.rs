//! The compact prompt form: one line per object (image) or per track (video).
//!
//! ```text
//! image 640x480 depth_source=stereo
//! #1 mug score=0.93 box=[12,40,88,130] area=5120 c=(50.2,85) d=0.42[0.4,0.45] mask_source=refined color=red shape=cylinder rel=left_of:2,near:3
//! #2 "dining table" box=[0,200,640,480]
//! ```
//! ```text
//! video 640x480 fps=10 frames=24
//! @1 ball frames=0-23 move=2.5@90 path=0:(10,20);12:(40,20) color=blue rel=near:2
//! event f=12 collide 1,2
//! ```
//!
//! Grammar: a header line (an image header may end with `depth_source=SOURCE`), then one
//! line per object (`#ID LABEL field…`) or track (`@ID LABEL field…`), then (video) one
//! line per event (`event f=FRAME KIND ID,ID`). Fields are `key=value` in the fixed order
//! shown; keys other than the reserved ones (`score box area c d mask_source rel frames
//! move path`) are attributes. Labels and attribute values that are not plain words
//! (letters, digits, `_ - . /`) are written as JSON strings.
//!
//! Prompts may put the id at the end of the line instead ([`IdPlacement::Last`]:
//! `mug color=red box=[12,40,88,130] … #1`, attributes right after the label); the parser
//! reads both placements, line by line.
//!
//! **What round-trips.** Masks and per-frame video observations are not written (they would
//! dwarf everything else; the model refers to objects by id and the masks are looked up in
//! the input twin). Numbers are written with at most [`COORD_DECIMALS`] decimals
//! (coordinates, centroids, speeds, directions) or [`UNIT_DECIMALS`] (scores, depths), with
//! trailing zeros dropped. So `parse_compact(&to_compact(t)) == keep_compact_fields(t)` for
//! every valid twin whose numbers already have that precision (the property test checks
//! it); other numbers come back rounded to it.

use crate::{
    Attributes, Bbox, DepthSource, DepthStats, Event, EventKind, ImageTwin, MaskSource, Motion,
    Object, PathPoint, Relation, RelationKind, Track, Twin, VideoTwin, SCHEMA_VERSION,
};
use std::collections::BTreeMap;
use std::fmt::Write;
use thiserror::Error;

/// Decimals kept for pixel quantities.
pub const COORD_DECIMALS: usize = 2;
/// Decimals kept for quantities in [0, 1] (scores, relative depth).
pub const UNIT_DECIMALS: usize = 3;

/// Keys that are fields, not attributes.
pub const RESERVED_KEYS: [&str; 10] = [
    "score",
    "box",
    "area",
    "c",
    "d",
    "mask_source",
    "rel",
    "frames",
    "move",
    "path",
];

/// A compact text that does not parse, with the 1-based line and column of the problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("compact twin, line {line}, column {column}: {message}")]
pub struct CompactError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Formats a number with at most `decimals` decimals, trailing zeros removed.
pub fn fmt_num(v: f64, decimals: usize) -> String {
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['#', '@', '"'])
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

fn fmt_text(s: &str) -> String {
    if is_word(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("strings serialise")
    }
}

fn fmt_box(b: &Bbox) -> String {
    let v: Vec<String> = b.iter().map(|x| fmt_num(*x, COORD_DECIMALS)).collect();
    format!("[{}]", v.join(","))
}

fn fmt_point(p: &[f64; 2]) -> String {
    format!(
        "({},{})",
        fmt_num(p[0], COORD_DECIMALS),
        fmt_num(p[1], COORD_DECIMALS)
    )
}

fn fmt_depth(d: &DepthStats) -> String {
    format!(
        "{}[{},{}]",
        fmt_num(d.mean, UNIT_DECIMALS),
        fmt_num(d.min, UNIT_DECIMALS),
        fmt_num(d.max, UNIT_DECIMALS)
    )
}

fn push_attrs(line: &mut String, attrs: &Attributes) {
    for (k, v) in attrs.pairs() {
        let _ = write!(line, " {k}={}", fmt_text(v));
    }
}

fn push_rels(line: &mut String, rels: &[Relation]) {
    if !rels.is_empty() {
        let r: Vec<String> = rels
            .iter()
            .map(|r| format!("{}:{}", r.kind.name(), r.to))
            .collect();
        let _ = write!(line, " rel={}", r.join(","));
    }
}

/// Where a line of the compact form puts the object's or track's id.
///
/// [`IdPlacement::First`] is the canonical form (`#8 cube … color=red`). [`IdPlacement::Last`]
/// writes the words that identify the entry first and the id at the end
/// (`cube color=red … #8`): a language model that must cite the id of "the red cube" can
/// then find the words and copy the id that follows them, instead of having to produce the
/// id before anything that names the object. [`parse_compact`] reads both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdPlacement {
    /// `#ID LABEL field…`: fields in the fixed order of the module docs.
    #[default]
    First,
    /// `LABEL attribute… field… #ID`: attributes right after the label, the id last.
    Last,
}

/// How the compact form writes an object's depth.
///
/// [`DepthForm::Interval`] is the canonical `d=MEAN[MIN,MAX]`. [`DepthForm::Mean`] writes
/// `d=MEAN` alone, without the leading zero (`d=.42`): the only depth any query needs is the mean (nearest, farthest), and the
/// interval costs a small model's tokenizer (one token per digit) three times as much. The
/// parser reads `d=MEAN` as a point (min = max = mean); the reward compares a point depth by
/// its mean only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DepthForm {
    /// `d=MEAN[MIN,MAX]`.
    #[default]
    Interval,
    /// `d=MEAN`.
    Mean,
}

/// How a compact text is written: where ids go, how depths look, and whether an image twin
/// gets its header line. [`Style::default`] is the canonical form, which [`parse_compact`]
/// reads back; any style's entry lines parse with [`parse_object_line`] and
/// [`parse_track_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Where the id goes.
    pub ids: IdPlacement,
    /// How depths are written.
    pub depth: DepthForm,
    /// Whether an image twin gets its header line (`image WxH …`; a prompt that only
    /// compares objects does not need it). Without it the text is a list of object lines,
    /// which [`parse_object_line`] reads, not a twin [`parse_compact`] reads.
    pub image_header: bool,
    /// Whether an image header says its `depth_source` (where the depths come from: a
    /// reasoning step never needs it).
    pub depth_source: bool,
    /// Whether boxes and centres keep their brackets (`box=[1,2,3,4] c=(5,6)`) or not
    /// (`box=1,2,3,4 c=5,6`, two tokens fewer each for a byte-level BPE tokenizer). The
    /// parser reads both.
    pub brackets: bool,
    /// Whether a colour comes before the label as a bare word (`red cube … #8`, as a query
    /// names the object) instead of as `color=red` after it. The parser reads both: a line
    /// whose first two words after the id are both bare (no `=`) is colour, then label.
    pub color_first: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            ids: IdPlacement::First,
            depth: DepthForm::Interval,
            image_header: true,
            depth_source: true,
            brackets: true,
            color_first: false,
        }
    }
}

impl Style {
    /// The canonical form with the ids where `ids` says.
    pub fn ids(ids: IdPlacement) -> Self {
        Style {
            ids,
            ..Style::default()
        }
    }
}

/// One object's line in the canonical form ([`IdPlacement::First`]).
pub fn object_line(o: &Object) -> String {
    object_line_with(o, IdPlacement::First)
}

/// One object's line with the id where `ids` says.
pub fn object_line_with(o: &Object, ids: IdPlacement) -> String {
    object_line_styled(o, &Style::ids(ids))
}

/// One object's line in a [`Style`].
pub fn object_line_styled(o: &Object, style: &Style) -> String {
    let mut fields = String::new();
    if let Some(s) = o.score {
        let _ = write!(fields, " score={}", fmt_num(s, UNIT_DECIMALS));
    }
    if let Some(b) = &o.bbox {
        let b = fmt_box(b);
        let b = if style.brackets {
            &b[..]
        } else {
            &b[1..b.len() - 1]
        };
        let _ = write!(fields, " box={b}");
    }
    if let Some(a) = o.area {
        let _ = write!(fields, " area={a}");
    }
    if let Some(c) = &o.centroid {
        let c = fmt_point(c);
        let c = if style.brackets {
            &c[..]
        } else {
            &c[1..c.len() - 1]
        };
        let _ = write!(fields, " c={c}");
    }
    if let Some(d) = &o.depth {
        match style.depth {
            DepthForm::Interval => {
                let _ = write!(fields, " d={}", fmt_depth(d));
            }
            DepthForm::Mean => {
                // Relative depths lie in [0, 1]: `.42` for 0.42, one token fewer.
                let m = fmt_num(d.mean, UNIT_DECIMALS);
                let _ = write!(
                    fields,
                    " d={}",
                    m.strip_prefix("0.").map_or(m.clone(), |f| format!(".{f}"))
                );
            }
        }
    }
    if let Some(m) = o.mask_source {
        let _ = write!(fields, " mask_source={}", m.name());
    }
    entry_line(
        ('#', o.id),
        &o.label,
        &o.attributes,
        &o.relations,
        &fields,
        style,
    )
}

/// One track's line with the id where `ids` says.
pub fn track_line(t: &Track, ids: IdPlacement) -> String {
    track_entry_line(t, &Style::ids(ids), true)
}

/// One track's line in a [`Style`], with `frames=` only when `with_frames` (a sub-twin line
/// may leave the frames out; [`parse_track_line`] reads it back).
pub fn track_entry_line(t: &Track, style: &Style, with_frames: bool) -> String {
    let mut fields = String::new();
    if let Some(s) = t.score {
        let _ = write!(fields, " score={}", fmt_num(s, UNIT_DECIMALS));
    }
    if with_frames {
        let _ = write!(fields, " frames={}-{}", t.first_frame, t.last_frame);
    }
    if let Some(m) = &t.motion {
        let _ = write!(
            fields,
            " move={}@{}",
            fmt_num(m.speed, COORD_DECIMALS),
            fmt_num(m.direction, COORD_DECIMALS)
        );
        if !m.path.is_empty() {
            let p: Vec<String> = m
                .path
                .iter()
                .map(|p| format!("{}:{}", p.frame, fmt_point(&[p.x, p.y])))
                .collect();
            let _ = write!(fields, " path={}", p.join(";"));
        }
    }
    entry_line(
        ('@', t.id),
        &t.label,
        &t.attributes,
        &t.relations,
        &fields,
        style,
    )
}

/// Joins an object's or track's line: `SIGIL+ID LABEL fields attributes rel` (First) or
/// `LABEL attributes fields rel SIGIL+ID` (Last). `fields` is the entry's own `key=value`
/// run, each with a leading space.
fn entry_line(
    (sigil, id): (char, u32),
    label: &str,
    attrs: &Attributes,
    rels: &[Relation],
    fields: &str,
    style: &Style,
) -> String {
    let mut line = String::new();
    match style.ids {
        IdPlacement::First => {
            let _ = write!(line, "{sigil}{id} {}{fields}", fmt_text(label));
            push_attrs(&mut line, attrs);
            push_rels(&mut line, rels);
        }
        IdPlacement::Last if style.color_first && attrs.color.is_some() => {
            let mut rest = attrs.clone();
            let color = rest.color.take().unwrap_or_default();
            let _ = write!(line, "{} {}", fmt_text(&color), fmt_text(label));
            push_attrs(&mut line, &rest);
            line.push_str(fields);
            push_rels(&mut line, rels);
            let _ = write!(line, " {sigil}{id}");
        }
        IdPlacement::Last => {
            line.push_str(&fmt_text(label));
            push_attrs(&mut line, attrs);
            line.push_str(fields);
            push_rels(&mut line, rels);
            let _ = write!(line, " {sigil}{id}");
        }
    }
    line
}

fn event_line(e: &Event) -> String {
    let ids: Vec<String> = e.tracks.iter().map(|t| t.to_string()).collect();
    format!("event f={} {} {}", e.frame, e.kind.name(), ids.join(","))
}

/// The compact form of a twin (ends with a newline), in the canonical form
/// ([`IdPlacement::First`]).
pub fn to_compact(twin: &Twin) -> String {
    to_compact_with(twin, IdPlacement::First)
}

/// The compact form of a twin with the ids where `ids` says (ends with a newline).
pub fn to_compact_with(twin: &Twin, ids: IdPlacement) -> String {
    to_compact_styled(twin, &Style::ids(ids))
}

/// The compact form of a twin in a [`Style`] (ends with a newline).
pub fn to_compact_styled(twin: &Twin, style: &Style) -> String {
    let mut out = String::new();
    match twin {
        Twin::Image(t) => {
            if style.image_header {
                let _ = write!(out, "image {}x{}", t.width, t.height);
                if let (Some(d), true) = (t.depth_source, style.depth_source) {
                    let _ = write!(out, " depth_source={}", d.name());
                }
                out.push('\n');
            }
            for o in &t.objects {
                out.push_str(&object_line_styled(o, style));
                out.push('\n');
            }
        }
        Twin::Video(t) => {
            let _ = writeln!(
                out,
                "video {}x{} fps={} frames={}",
                t.width,
                t.height,
                fmt_num(t.fps, COORD_DECIMALS),
                t.frames
            );
            for tr in &t.tracks {
                out.push_str(&track_entry_line(tr, style, true));
                out.push('\n');
            }
            for e in &t.events {
                out.push_str(&event_line(e));
                out.push('\n');
            }
        }
    }
    out
}

/// The twin with only what the compact form keeps: masks and per-frame observations removed.
pub fn keep_compact_fields(twin: &Twin) -> Twin {
    match twin {
        Twin::Image(t) => {
            let mut t = t.clone();
            for o in &mut t.objects {
                o.mask = None;
            }
            Twin::Image(t)
        }
        Twin::Video(t) => {
            let mut t = t.clone();
            for tr in &mut t.tracks {
                tr.frames = BTreeMap::new();
            }
            Twin::Video(t)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parsing. Hand-written because the format is tiny and errors must point at a column.

struct Tok {
    col: usize,
    text: String,
}

struct LineCx<'a> {
    line: usize,
    toks: Vec<Tok>,
    _src: &'a str,
}

fn err(line: usize, column: usize, message: impl Into<String>) -> CompactError {
    CompactError {
        line,
        column,
        message: message.into(),
    }
}

/// Splits an entry line into tokens, with a trailing id ([`IdPlacement::Last`]: `cube … #8`)
/// moved to the front, where the canonical form has it. Labels and values that start with
/// a sigil are always quoted, so a last token that starts with `sigil` can only be the id.
fn entry_tokens(line_no: usize, s: &str, sigil: char) -> Result<Vec<Tok>, CompactError> {
    let mut toks = tokenize(line_no, s)?;
    let first_is_id = toks.first().is_some_and(|t| t.text.starts_with(sigil));
    let last_is_id = toks.len() > 1 && toks.last().is_some_and(|t| t.text.starts_with(sigil));
    if !first_is_id && last_is_id {
        let id = toks.pop().expect("a last token");
        toks.insert(0, id);
    }
    Ok(toks)
}

/// Splits a line at spaces outside JSON strings.
fn tokenize(line_no: usize, s: &str) -> Result<Vec<Tok>, CompactError> {
    let mut toks = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut in_str = false;
    let mut escaped = false;
    let mut str_start = 0;
    for (i, c) in s.chars().enumerate() {
        if in_str {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_whitespace() {
            if !cur.is_empty() {
                toks.push(Tok {
                    col: start + 1,
                    text: std::mem::take(&mut cur),
                });
            }
            continue;
        }
        if cur.is_empty() {
            start = i;
        }
        if c == '"' {
            in_str = true;
            str_start = i;
        }
        cur.push(c);
    }
    if in_str {
        return Err(err(line_no, str_start + 1, "unterminated string"));
    }
    if !cur.is_empty() {
        toks.push(Tok {
            col: start + 1,
            text: cur,
        });
    }
    Ok(toks)
}

impl LineCx<'_> {
    fn err(&self, tok: &Tok, message: impl Into<String>) -> CompactError {
        err(self.line, tok.col, message)
    }
}

fn parse_text(cx: &LineCx, tok: &Tok, s: &str) -> Result<String, CompactError> {
    if s.starts_with('"') {
        serde_json::from_str::<String>(s)
            .map_err(|e| cx.err(tok, format!("bad quoted string: {e}")))
    } else if s.is_empty() {
        Err(cx.err(tok, "empty value"))
    } else {
        Ok(s.to_string())
    }
}

fn parse_f64(cx: &LineCx, tok: &Tok, s: &str, what: &str) -> Result<f64, CompactError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(cx.err(tok, format!("{what}: {s:?} is not a finite number"))),
    }
}

fn parse_u32(cx: &LineCx, tok: &Tok, s: &str, what: &str) -> Result<u32, CompactError> {
    s.parse::<u32>()
        .map_err(|_| cx.err(tok, format!("{what}: {s:?} is not a non-negative integer")))
}

fn strip<'s>(
    cx: &LineCx,
    tok: &Tok,
    s: &'s str,
    open: char,
    close: char,
    what: &str,
) -> Result<&'s str, CompactError> {
    s.strip_prefix(open)
        .and_then(|r| r.strip_suffix(close))
        .ok_or_else(|| cx.err(tok, format!("{what}: expected {open}…{close}, got {s:?}")))
}

fn parse_list(
    cx: &LineCx,
    tok: &Tok,
    s: &str,
    n: usize,
    what: &str,
) -> Result<Vec<f64>, CompactError> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| parse_f64(cx, tok, x, what))
        .collect::<Result<_, _>>()?;
    if v.len() != n {
        return Err(cx.err(
            tok,
            format!("{what}: expected {n} numbers, got {}", v.len()),
        ));
    }
    Ok(v)
}

fn parse_point(cx: &LineCx, tok: &Tok, s: &str, what: &str) -> Result<[f64; 2], CompactError> {
    // `(X,Y)`, or `X,Y` as [`Style::brackets`] `false` writes it.
    let inner = if s.starts_with('(') {
        strip(cx, tok, s, '(', ')', what)?
    } else {
        s
    };
    let v = parse_list(cx, tok, inner, 2, what)?;
    Ok([v[0], v[1]])
}

fn parse_rels(cx: &LineCx, tok: &Tok, s: &str) -> Result<Vec<Relation>, CompactError> {
    s.split(',')
        .map(|r| {
            let (k, id) = r
                .split_once(':')
                .ok_or_else(|| cx.err(tok, format!("relation {r:?}: expected KIND:ID")))?;
            let kind = RelationKind::from_name(k)
                .ok_or_else(|| cx.err(tok, format!("unknown relation kind {k:?}")))?;
            Ok(Relation {
                kind,
                to: parse_u32(cx, tok, id, "relation target")?,
            })
        })
        .collect()
}

/// A bare word: not `key=value` (a quoted string may hold `=`).
fn bare(t: &Tok) -> bool {
    !t.text.contains('=') || t.text.starts_with('"')
}

/// The head shared by object and track lines: `#ID LABEL`, or `#ID COLOUR LABEL` when the
/// two words after the id are both bare ([`Style::color_first`]). Returns the id, the
/// label, the colour if given so, and the index of the first field token.
fn parse_head_words(
    cx: &LineCx,
    sigil: char,
) -> Result<(u32, String, Option<String>, usize), CompactError> {
    let (id, first) = parse_head(cx, sigil)?;
    match cx.toks.get(2) {
        Some(t2) if bare(t2) => Ok((id, parse_text(cx, t2, &t2.text)?, Some(first), 3)),
        _ => Ok((id, first, None, 2)),
    }
}

/// The `#ID LABEL` / `@ID LABEL` head shared by object and track lines.
fn parse_head(cx: &LineCx, sigil: char) -> Result<(u32, String), CompactError> {
    let t0 = &cx.toks[0];
    let id = parse_u32(cx, t0, &t0.text[sigil.len_utf8()..], "id")?;
    let t1 = cx.toks.get(1).ok_or_else(|| {
        err(
            cx.line,
            t0.col + t0.text.chars().count(),
            "missing label after the id",
        )
    })?;
    if t1.text.contains('=') && !t1.text.starts_with('"') {
        return Err(cx.err(t1, "missing label after the id"));
    }
    Ok((id, parse_text(cx, t1, &t1.text)?))
}

fn key_value<'t>(cx: &LineCx, tok: &'t Tok) -> Result<(&'t str, &'t str), CompactError> {
    tok.text
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| cx.err(tok, format!("expected key=value, got {:?}", tok.text)))
}

fn parse_object(cx: &LineCx) -> Result<Object, CompactError> {
    let (id, label, color, rest) = parse_head_words(cx, '#')?;
    let mut o = Object::new(id, label);
    o.attributes.color = color;
    for tok in &cx.toks[rest..] {
        let (k, v) = key_value(cx, tok)?;
        match k {
            "score" => o.score = Some(parse_f64(cx, tok, v, "score")?),
            "box" => {
                let inner = if v.starts_with('[') {
                    strip(cx, tok, v, '[', ']', "box")?
                } else {
                    v
                };
                let b = parse_list(cx, tok, inner, 4, "box")?;
                o.bbox = Some([b[0], b[1], b[2], b[3]]);
            }
            "area" => {
                o.area = Some(
                    v.parse::<u64>()
                        .map_err(|_| cx.err(tok, format!("area: {v:?} is not an integer")))?,
                )
            }
            "c" => o.centroid = Some(parse_point(cx, tok, v, "centroid")?),
            "d" => {
                o.depth = Some(match v.split_once('[') {
                    Some((mean, rest)) => {
                        let rest = rest
                            .strip_suffix(']')
                            .ok_or_else(|| cx.err(tok, "depth: expected MEAN[MIN,MAX] or MEAN"))?;
                        let mm = parse_list(cx, tok, rest, 2, "depth")?;
                        DepthStats {
                            mean: parse_f64(cx, tok, mean, "depth")?,
                            min: mm[0],
                            max: mm[1],
                        }
                    }
                    // `d=MEAN` ([`DepthForm::Mean`]): a point, min = max = mean.
                    None => {
                        let mean = parse_f64(cx, tok, v, "depth")?;
                        DepthStats {
                            mean,
                            min: mean,
                            max: mean,
                        }
                    }
                });
            }
            "mask_source" => {
                o.mask_source = Some(MaskSource::from_name(v).ok_or_else(|| {
                    cx.err(
                        tok,
                        format!("unknown mask_source {v:?} (known: model, refined, box, pixels, import, annotation)"),
                    )
                })?)
            }
            "rel" => o.relations = parse_rels(cx, tok, v)?,
            "frames" | "move" | "path" => {
                return Err(cx.err(
                    tok,
                    format!("{k}= belongs to a track line (@ID), not an object"),
                ))
            }
            _ => o.attributes.set(k, parse_text(cx, tok, v)?),
        }
    }
    Ok(o)
}

fn parse_track(cx: &LineCx) -> Result<Track, CompactError> {
    let (t, have_frames) = parse_track_fields(cx)?;
    if !have_frames {
        return Err(err(cx.line, 1, "a track line needs frames=FIRST-LAST"));
    }
    Ok(t)
}

/// A track line as parsed, and whether it said its frames (a sub-twin line may leave them
/// out; a twin's may not).
fn parse_track_fields(cx: &LineCx) -> Result<(Track, bool), CompactError> {
    let (id, label, color, rest) = parse_head_words(cx, '@')?;
    let mut t = Track {
        id,
        label,
        score: None,
        first_frame: 0,
        last_frame: 0,
        frames: BTreeMap::new(),
        motion: None,
        attributes: Attributes {
            color,
            ..Attributes::default()
        },
        relations: Vec::new(),
    };
    let mut have_frames = false;
    for tok in &cx.toks[rest..] {
        let (k, v) = key_value(cx, tok)?;
        match k {
            "score" => t.score = Some(parse_f64(cx, tok, v, "score")?),
            "frames" => {
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| cx.err(tok, "frames: expected FIRST-LAST"))?;
                t.first_frame = parse_u32(cx, tok, a, "first frame")?;
                t.last_frame = parse_u32(cx, tok, b, "last frame")?;
                have_frames = true;
            }
            "move" => {
                let (s, d) = v
                    .split_once('@')
                    .ok_or_else(|| cx.err(tok, "move: expected SPEED@DIRECTION"))?;
                t.motion = Some(Motion {
                    speed: parse_f64(cx, tok, s, "speed")?,
                    direction: parse_f64(cx, tok, d, "direction")?,
                    path: Vec::new(),
                });
            }
            "path" => {
                let m = t
                    .motion
                    .as_mut()
                    .ok_or_else(|| cx.err(tok, "path= must follow move="))?;
                for p in v.split(';') {
                    let (f, xy) = p.split_once(':').ok_or_else(|| {
                        cx.err(tok, format!("path point {p:?}: expected FRAME:(X,Y)"))
                    })?;
                    let [x, y] = parse_point(cx, tok, xy, "path point")?;
                    m.path.push(PathPoint {
                        frame: parse_u32(cx, tok, f, "path frame")?,
                        x,
                        y,
                    });
                }
            }
            "rel" => t.relations = parse_rels(cx, tok, v)?,
            "box" | "area" | "c" | "d" | "mask_source" => {
                return Err(cx.err(
                    tok,
                    format!("{k}= belongs to an object line (#ID), not a track"),
                ))
            }
            _ => t.attributes.set(k, parse_text(cx, tok, v)?),
        }
    }
    Ok((t, have_frames))
}

fn parse_event(cx: &LineCx) -> Result<Event, CompactError> {
    let toks = &cx.toks;
    if toks.len() != 4 {
        return Err(err(
            cx.line,
            1,
            "an event line is `event f=FRAME KIND ID[,ID]`",
        ));
    }
    let f = toks[1]
        .text
        .strip_prefix("f=")
        .ok_or_else(|| cx.err(&toks[1], "expected f=FRAME"))?;
    let kind = EventKind::from_name(&toks[2].text)
        .ok_or_else(|| cx.err(&toks[2], format!("unknown event kind {:?}", toks[2].text)))?;
    let tracks = toks[3]
        .text
        .split(',')
        .map(|s| parse_u32(cx, &toks[3], s, "event track"))
        .collect::<Result<_, _>>()?;
    Ok(Event {
        kind,
        frame: parse_u32(cx, &toks[1], f, "event frame")?,
        tracks,
    })
}

fn parse_size(cx: &LineCx, tok: &Tok) -> Result<(u32, u32), CompactError> {
    let (w, h) = tok
        .text
        .split_once('x')
        .ok_or_else(|| cx.err(tok, "expected WIDTHxHEIGHT"))?;
    Ok((
        parse_u32(cx, tok, w, "width")?,
        parse_u32(cx, tok, h, "height")?,
    ))
}

/// Parses the compact form back into a twin (see the module docs for what round-trips).
/// Never panics; every error names its line and column.
pub fn parse_compact(text: &str) -> Result<Twin, CompactError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let (hl, header) = lines
        .next()
        .ok_or_else(|| err(1, 1, "empty text: expected a header line"))?;
    let hcx = LineCx {
        line: hl,
        toks: tokenize(hl, header)?,
        _src: header,
    };
    let kind = hcx.toks[0].text.as_str();
    let size_tok = hcx
        .toks
        .get(1)
        .ok_or_else(|| err(hl, header.len() + 1, "expected WIDTHxHEIGHT after the kind"))?;
    let (width, height) = parse_size(&hcx, size_tok)?;
    match kind {
        "image" => {
            let mut twin = ImageTwin::new(width, height);
            for t in &hcx.toks[2..] {
                match key_value(&hcx, t) {
                    Ok(("depth_source", v)) => {
                        twin.depth_source = Some(DepthSource::from_name(v).ok_or_else(|| {
                            hcx.err(
                                t,
                                format!("unknown depth_source {v:?} (known: stereo, model, ground_plane, import, annotation)"),
                            )
                        })?)
                    }
                    _ => return Err(hcx.err(t, "unexpected field in an image header")),
                }
            }
            for (ln, l) in lines {
                let cx = LineCx {
                    line: ln,
                    toks: entry_tokens(ln, l, '#')?,
                    _src: l,
                };
                if !cx.toks[0].text.starts_with('#') {
                    return Err(cx.err(
                        &cx.toks[0],
                        "expected an object line that starts or ends with #ID",
                    ));
                }
                twin.objects.push(parse_object(&cx)?);
            }
            Ok(Twin::Image(twin))
        }
        "video" => {
            let (mut fps, mut frames) = (None, None);
            for t in &hcx.toks[2..] {
                let (k, v) = key_value(&hcx, t)?;
                match k {
                    "fps" => fps = Some(parse_f64(&hcx, t, v, "fps")?),
                    "frames" => frames = Some(parse_u32(&hcx, t, v, "frames")?),
                    _ => return Err(hcx.err(t, format!("unknown header field {k:?}"))),
                }
            }
            let mut twin = VideoTwin {
                schema_version: SCHEMA_VERSION.to_string(),
                width,
                height,
                fps: fps.ok_or_else(|| err(hl, 1, "video header needs fps="))?,
                frames: frames.ok_or_else(|| err(hl, 1, "video header needs frames="))?,
                tracks: Vec::new(),
                events: Vec::new(),
            };
            for (ln, l) in lines {
                let cx = LineCx {
                    line: ln,
                    toks: entry_tokens(ln, l, '@')?,
                    _src: l,
                };
                let first = &cx.toks[0].text;
                if first.starts_with('@') {
                    if !twin.events.is_empty() {
                        return Err(cx.err(&cx.toks[0], "track lines must come before event lines"));
                    }
                    twin.tracks.push(parse_track(&cx)?);
                } else if first == "event" {
                    twin.events.push(parse_event(&cx)?);
                } else {
                    return Err(cx.err(
                        &cx.toks[0],
                        "expected a track line (starting or ending with @ID) or an event line",
                    ));
                }
            }
            Ok(Twin::Video(twin))
        }
        other => Err(hcx.err(
            &hcx.toks[0],
            format!("unknown twin kind {other:?} (expected image or video)"),
        )),
    }
}

/// Parses one object line (`#ID LABEL field…` or `LABEL … #ID`), as a sub-twin written in
/// the compact form lists them. `line_no` (1-based) goes into the error.
pub fn parse_object_line(line: &str, line_no: usize) -> Result<Object, CompactError> {
    let cx = LineCx {
        line: line_no,
        toks: entry_tokens(line_no, line, '#')?,
        _src: line,
    };
    if !cx.toks.first().is_some_and(|t| t.text.starts_with('#')) {
        return Err(err(
            line_no,
            1,
            "expected an object line that starts or ends with #ID",
        ));
    }
    parse_object(&cx)
}

/// A track line of a sub-twin: the track, and whether the line gave its frames (a sub-twin
/// may leave out any field but the id and label).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackLine {
    /// The track (`first_frame` and `last_frame` are 0 when `has_frames` is false).
    pub track: Track,
    /// Whether the line said `frames=FIRST-LAST`.
    pub has_frames: bool,
}

/// Parses one track line (`@ID LABEL field…` or `LABEL … @ID`), frames optional.
pub fn parse_track_line(line: &str, line_no: usize) -> Result<TrackLine, CompactError> {
    let cx = LineCx {
        line: line_no,
        toks: entry_tokens(line_no, line, '@')?,
        _src: line,
    };
    if !cx.toks.first().is_some_and(|t| t.text.starts_with('@')) {
        return Err(err(
            line_no,
            1,
            "expected a track line that starts or ends with @ID",
        ));
    }
    let (track, has_frames) = parse_track_fields(&cx)?;
    Ok(TrackLine { track, has_frames })
}

/// The id a line names with `sigil` as its first or last word, read leniently (for a line
/// that does not otherwise parse).
pub fn line_id(line: &str, sigil: char) -> Option<u32> {
    let mut words = line.split_whitespace();
    let (first, last) = (words.next(), words.next_back());
    [first, last]
        .into_iter()
        .flatten()
        .find_map(|w| w.strip_prefix(sigil).and_then(|d| d.parse().ok()))
}

/// Size of a text under three token proxies, until a real tokenizer is wired in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenProxy {
    /// Characters.
    pub chars: usize,
    /// Whitespace-separated words.
    pub words: usize,
    /// BPE-like pieces: maximal runs of letters, maximal runs of digits, and every other
    /// non-space character on its own. Close to what byte-level BPE tokenizers produce on
    /// JSON and numbers, which split at punctuation.
    pub pieces: usize,
}

/// Measures a text with the token proxies.
pub fn token_proxy(text: &str) -> TokenProxy {
    let mut pieces = 0;
    let mut prev: Option<u8> = None; // 0 = letter run, 1 = digit run
    for c in text.chars() {
        let class = if c.is_alphabetic() {
            Some(0)
        } else if c.is_ascii_digit() {
            Some(1)
        } else {
            None
        };
        match class {
            Some(k) if prev == Some(k) => {}
            Some(k) => {
                pieces += 1;
                prev = Some(k);
            }
            None => {
                if !c.is_whitespace() {
                    pieces += 1;
                }
                prev = None;
            }
        }
    }
    TokenProxy {
        chars: text.chars().count(),
        words: text.split_whitespace().count(),
        pieces,
    }
}
