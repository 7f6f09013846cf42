//! Events detected from tracks, and their matching against an event log.
//!
//! Detection ([`detect`]) reads only the tracks' masks:
//!
//! - `appear`: a track's first frame; `leave`: its last frame, when before the video's end.
//! - `start` / `stop`: the track's centroid step between consecutive frames is *moving* above
//!   [`EventConfig::still_speed`] and *still* below it; a change confirmed by
//!   [`EventConfig::confirm`] steps is an event at the last frame of the old state (as the
//!   simulation logs it). Steps are trusted only where the mask is whole: not cut by the
//!   frame's edge and not smaller than 90 % of the track's largest nearby area (so an
//!   occlusion does not look like motion); across untrusted frames a change is put at a
//!   collision of that track when there is one, else in the middle of the gap.
//! - `collide`: two tracks whose velocities both change sharply (a *kink*: by more than
//!   [`EventConfig::kink_speed`] and more than a third of the speed) within
//!   [`EventConfig::collide_window`] frames of each other while their boxes touch; the frame
//!   is the sharper kink's, the track that was faster before it comes first.
//! - `occlude`: the first frame where a track shows less than half of its largest nearby
//!   area while another track's box touches it and that track is nearer (smaller depth when
//!   both are known, else a lower box bottom, since objects stand on the ground); occluder
//!   first, once per pair.
//!
//! Matching ([`match_events`]): a detected event matches a logged one of the same kind whose
//! tracks are the same after mapping detected track ids to true ones (collisions as an
//! unordered pair, occlusions ordered) and whose frame is within `tolerance` frames; each
//! logged event matches at most one detected event, the nearest in frame first.

use crate::track::{Observation, RawTrack};
use dtr1_twin::{Event, EventKind};
use std::collections::{BTreeMap, BTreeSet};

/// Thresholds of event detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventConfig {
    /// Centroid speed (pixels per frame) below which a step counts as still.
    pub still_speed: f64,
    /// Consecutive trusted steps needed to confirm a change of moving/still.
    pub confirm: usize,
    /// Smallest change of velocity (pixels per frame) that counts as a kink.
    pub kink_speed: f64,
    /// Kinks of two tracks at most this many frames apart can be one collision.
    pub collide_window: u32,
    /// Boxes at most this many pixels apart touch.
    pub touch_gap: f64,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            still_speed: 0.1,
            confirm: 2,
            kink_speed: 0.6,
            collide_window: 3,
            touch_gap: 3.0,
        }
    }
}

/// Frames to either side searched for a track's unoccluded area.
const AREA_WINDOW: u32 = 12;

fn touches_border(b: &[f64; 4], w: u32, h: u32) -> bool {
    b[0] <= 0.0 || b[1] <= 0.0 || b[2] >= f64::from(w) || b[3] >= f64::from(h)
}

fn box_gap(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let gx = (a[0] - b[2]).max(b[0] - a[2]).max(0.0);
    let gy = (a[1] - b[3]).max(b[1] - a[3]).max(0.0);
    gx.max(gy)
}

/// Pairs of tracks whose masks overlap or share an edge, per frame: `(frame, a, b)`
/// with `a < b` (track ids).
fn contacts(tracks: &[RawTrack], w: u32, h: u32) -> BTreeSet<(u32, u32, u32)> {
    let mut by_frame: BTreeMap<u32, Vec<(u32, &Observation)>> = BTreeMap::new();
    for t in tracks {
        for (&f, o) in &t.frames {
            by_frame.entry(f).or_default().push((t.id, o));
        }
    }
    let (wu, hu) = (w as usize, h as usize);
    let mut owner = vec![0u32; wu * hu];
    let mut out = BTreeSet::new();
    let mut add = |f: u32, a: u32, b: u32| {
        if a != b && a != 0 && b != 0 {
            out.insert((f, a.min(b), a.max(b)));
        }
    };
    for (f, objs) in by_frame {
        if objs.len() < 2 {
            continue;
        }
        owner.iter_mut().for_each(|v| *v = 0);
        for (id, o) in &objs {
            if o.mask.size() != [h, w] {
                continue;
            }
            for (i, &m) in o.mask.decode_row_major().iter().enumerate() {
                if m != 0 {
                    add(f, owner[i], *id);
                    owner[i] = *id;
                }
            }
        }
        for y in 0..hu {
            for x in 0..wu {
                let a = owner[y * wu + x];
                if a == 0 {
                    continue;
                }
                if x + 1 < wu {
                    add(f, a, owner[y * wu + x + 1]);
                }
                if y + 1 < hu {
                    add(f, a, owner[(y + 1) * wu + x]);
                }
            }
        }
    }
    out
}

/// Per-frame facts about one track.
struct Series<'a> {
    id: u32,
    frames: Vec<u32>,
    obs: Vec<&'a Observation>,
    /// Area of the nearest frame (in time) where the mask is whole, per frame.
    ref_area: Vec<u64>,
    /// The mask is whole here: not cut by the frame's edge, and no nearer track touches it.
    whole: Vec<bool>,
}

impl<'a> Series<'a> {
    fn new(t: &'a RawTrack, w: u32, h: u32, touching: &BTreeSet<u32>) -> Self {
        let frames: Vec<u32> = t.frames.keys().copied().collect();
        let obs: Vec<&Observation> = t.frames.values().collect();
        let whole: Vec<bool> = frames
            .iter()
            .zip(&obs)
            .map(|(f, o)| !touches_border(&o.bbox, w, h) && !touching.contains(f))
            .collect();
        let ref_area: Vec<u64> = frames
            .iter()
            .map(|&f| {
                frames
                    .iter()
                    .zip(&obs)
                    .zip(&whole)
                    .filter(|((&g, _), &c)| c && g.abs_diff(f) <= AREA_WINDOW)
                    .min_by_key(|((&g, o), _)| (g.abs_diff(f), std::cmp::Reverse(o.area)))
                    .map(|((_, o), _)| o.area)
                    .unwrap_or(0)
            })
            .collect();
        Series {
            id: t.id,
            frames,
            obs,
            ref_area,
            whole,
        }
    }

    /// Trusted steps: `(frame, velocity)` for consecutive whole frames `frame − 1, frame`.
    fn steps(&self) -> Vec<(u32, [f64; 2])> {
        let mut out = Vec::new();
        for i in 1..self.frames.len() {
            if self.frames[i] != self.frames[i - 1] + 1 || !self.whole[i] || !self.whole[i - 1] {
                continue;
            }
            let (a, b) = (self.obs[i - 1], self.obs[i]);
            out.push((
                self.frames[i],
                [b.centroid[0] - a.centroid[0], b.centroid[1] - a.centroid[1]],
            ));
        }
        out
    }

    fn at(&self, f: u32) -> Option<&'a Observation> {
        self.frames.binary_search(&f).ok().map(|i| self.obs[i])
    }
}

/// A sharp change of a track's velocity: the last frame of the old velocity and how
/// uncertain that frame is (frames between the trusted steps around it).
#[derive(Debug, Clone, Copy)]
struct Kink {
    frame: u32,
    spread: u32,
}

fn norm(v: [f64; 2]) -> f64 {
    v[0].hypot(v[1])
}

fn mean(vs: &[[f64; 2]]) -> [f64; 2] {
    let n = vs.len().max(1) as f64;
    [
        vs.iter().map(|v| v[0]).sum::<f64>() / n,
        vs.iter().map(|v| v[1]).sum::<f64>() / n,
    ]
}

fn kinks(steps: &[(u32, [f64; 2])], cfg: &EventConfig) -> Vec<Kink> {
    // Between trusted step k-1 and step k the velocity changed (if at all) at a frame in
    // [steps[k-1].0, steps[k].0 - 1]; compare up to two steps on each side.
    let mut found: Vec<(Kink, f64)> = Vec::new();
    for k in 1..steps.len() {
        let (fb, fa) = (steps[k - 1].0, steps[k].0);
        if fa - fb > 8 {
            continue;
        }
        let before: Vec<[f64; 2]> = steps[k.saturating_sub(2)..k]
            .iter()
            .filter(|s| fb - s.0 <= 2)
            .map(|s| s.1)
            .collect();
        let after: Vec<[f64; 2]> = steps[k..(k + 2).min(steps.len())]
            .iter()
            .filter(|s| s.0 - fa <= 2)
            .map(|s| s.1)
            .collect();
        let (vb, va) = (mean(&before), mean(&after));
        let dv = norm([va[0] - vb[0], va[1] - vb[1]]);
        if dv > cfg.kink_speed && dv > norm(vb).max(norm(va)) / 3.0 {
            found.push((
                Kink {
                    frame: fb,
                    spread: fa - fb - 1,
                },
                dv,
            ));
        }
    }
    // Neighbouring candidates are the same kink seen through overlapping windows: keep the
    // strongest of each run.
    let mut out: Vec<(Kink, f64)> = Vec::new();
    for (k, dv) in found {
        match out.last_mut() {
            Some((p, pdv)) if k.frame <= p.frame + p.spread + 2 => {
                if dv > *pdv {
                    *p = k;
                    *pdv = dv;
                }
            }
            _ => out.push((k, dv)),
        }
    }
    out.into_iter().map(|(k, _)| k).collect()
}

/// Whether `a` is nearer the camera than `b`.
fn nearer(a: &Observation, b: &Observation) -> bool {
    match (a.depth, b.depth) {
        (Some(da), Some(db)) => da.mean < db.mean,
        _ => a.bbox[3] > b.bbox[3],
    }
}

fn rank(k: EventKind) -> u8 {
    match k {
        EventKind::Appear => 0,
        EventKind::Collide => 1,
        EventKind::Start => 2,
        EventKind::Stop => 3,
        EventKind::Occlude => 4,
        EventKind::Leave => 5,
    }
}

/// Detects the events of a `width × height` video of `frames` frames from its tracks, in
/// frame order (within a frame: appear, collide, start, stop, occlude, leave).
pub fn detect(
    tracks: &[RawTrack],
    width: u32,
    height: u32,
    frames: u32,
    cfg: &EventConfig,
) -> Vec<Event> {
    let contact = contacts(tracks, width, height);
    let by_id: BTreeMap<u32, &RawTrack> = tracks.iter().map(|t| (t.id, t)).collect();
    // Frames where a nearer track touches this one: its visible mask may be cut there.
    let touching = |id: u32| -> BTreeSet<u32> {
        contact
            .iter()
            .filter(|c| c.1 == id || c.2 == id)
            .filter(|c| {
                let other = if c.1 == id { c.2 } else { c.1 };
                match (by_id[&id].frames.get(&c.0), by_id[&other].frames.get(&c.0)) {
                    (Some(me), Some(o)) => !nearer(me, o),
                    _ => true,
                }
            })
            .map(|c| c.0)
            .collect()
    };
    let series: Vec<Series> = tracks
        .iter()
        .map(|t| Series::new(t, width, height, &touching(t.id)))
        .collect();
    let mut events = Vec::new();
    for s in &series {
        events.push(Event {
            kind: EventKind::Appear,
            frame: s.frames[0],
            tracks: vec![s.id],
        });
        let last = *s.frames.last().expect("tracks have frames");
        if last + 1 < frames {
            events.push(Event {
                kind: EventKind::Leave,
                frame: last,
                tracks: vec![s.id],
            });
        }
    }
    // Collisions: a kink across frames where the track touched another one. The trusted
    // steps around a kink have no contact, so the contact lies between them; the collision
    // is put at the first frame of contact.
    let steps: Vec<Vec<(u32, [f64; 2])>> = series.iter().map(Series::steps).collect();
    let all_kinks: Vec<Vec<Kink>> = steps.iter().map(|s| kinks(s, cfg)).collect();
    let speed_before = |i: usize, f: u32| -> f64 {
        steps[i]
            .iter()
            .rev()
            .find(|s| s.0 < f && f - s.0 <= 6)
            .map_or(0.0, |s| norm(s.1))
    };
    let mut collisions: Vec<(u32, u32, u32)> = Vec::new();
    for (i, ks) in all_kinks.iter().enumerate() {
        let me = series[i].id;
        for k in ks {
            let (lo, hi) = (k.frame, k.frame + k.spread + 1);
            for (j, other) in series.iter().enumerate() {
                if j == i {
                    continue;
                }
                let pair = (me.min(other.id), me.max(other.id));
                let Some(fc) = (lo..=hi).find(|&f| contact.contains(&(f, pair.0, pair.1))) else {
                    continue;
                };
                // The partner's velocity must change too (equal and opposite impulses),
                // when it can be measured on both sides.
                let after = steps[j]
                    .iter()
                    .find(|s| s.0 > fc && s.0 - fc <= 6)
                    .map(|s| s.1);
                let before = steps[j]
                    .iter()
                    .rev()
                    .find(|s| s.0 <= fc && fc - s.0 <= 6)
                    .map(|s| s.1);
                if let (Some(b), Some(a)) = (before, after) {
                    if norm([a[0] - b[0], a[1] - b[1]]) < cfg.kink_speed {
                        continue;
                    }
                }
                let dup = collisions.iter().any(|c| {
                    (c.1.min(c.2), c.1.max(c.2)) == pair && c.0.abs_diff(fc) <= cfg.collide_window
                });
                if dup {
                    continue;
                }
                let order = if speed_before(i, fc) >= speed_before(j, fc) {
                    (me, other.id)
                } else {
                    (other.id, me)
                };
                collisions.push((fc, order.0, order.1));
            }
        }
    }
    for c in &collisions {
        events.push(Event {
            kind: EventKind::Collide,
            frame: c.0,
            tracks: vec![c.1, c.2],
        });
    }
    // Start and stop.
    for (s, st) in series.iter().zip(&steps) {
        let mut state: Option<bool> = None;
        let mut last_old: Option<u32> = None;
        let mut k = 0;
        while k < st.len() {
            let moving = norm(st[k].1) > cfg.still_speed;
            match state {
                None => {
                    state = Some(moving);
                    last_old = Some(st[k].0);
                    k += 1;
                }
                Some(cur) if cur == moving => {
                    last_old = Some(st[k].0);
                    k += 1;
                }
                Some(_) => {
                    // Confirmed when the next `confirm` steps (or all that are left) agree.
                    let run = st[k..]
                        .iter()
                        .take(cfg.confirm)
                        .take_while(|x| (norm(x.1) > cfg.still_speed) == moving)
                        .count();
                    if run < cfg.confirm.min(st.len() - k) {
                        k += 1;
                        continue;
                    }
                    let lo = last_old.unwrap_or(st[k].0);
                    let hi = st[k].0 - 1;
                    let snap = collisions
                        .iter()
                        .filter(|c| (c.1 == s.id || c.2 == s.id) && c.0 + 1 >= lo && c.0 <= hi + 1)
                        .map(|c| c.0)
                        .min_by_key(|&c| c.abs_diff(hi));
                    let frame = snap.unwrap_or(if hi > lo { (lo + hi).div_ceil(2) } else { hi });
                    events.push(Event {
                        kind: if moving {
                            EventKind::Start
                        } else {
                            EventKind::Stop
                        },
                        frame,
                        tracks: vec![s.id],
                    });
                    state = Some(moving);
                    last_old = Some(st[k].0);
                    k += 1;
                }
            }
        }
    }
    // Occlusions.
    let mut seen = BTreeSet::new();
    for (bi, b) in series.iter().enumerate() {
        for (i, &f) in b.frames.iter().enumerate() {
            let ob = b.obs[i];
            if touches_border(&ob.bbox, width, height) || ob.area * 2 >= b.ref_area[i] {
                continue;
            }
            let occluder = series
                .iter()
                .enumerate()
                .filter(|(ai, _)| *ai != bi)
                .filter_map(|(_, a)| a.at(f).map(|oa| (a.id, oa)))
                .filter(|(_, oa)| box_gap(&oa.bbox, &ob.bbox) <= 1.0 && nearer(oa, ob))
                .max_by(|x, y| {
                    overlap(&x.1.bbox, &ob.bbox).total_cmp(&overlap(&y.1.bbox, &ob.bbox))
                });
            if let Some((a, _)) = occluder {
                if seen.insert((a, b.id)) {
                    events.push(Event {
                        kind: EventKind::Occlude,
                        frame: f,
                        tracks: vec![a, b.id],
                    });
                }
            }
        }
    }
    events.sort_by_key(|e| (e.frame, rank(e.kind), e.tracks.clone()));
    events
}

fn overlap(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    w * h
}

/// Matched, detected and logged counts of one event kind (or all kinds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Detected events matched to a logged one.
    pub matched: usize,
    /// Detected events.
    pub detected: usize,
    /// Logged events.
    pub logged: usize,
}

impl EventCounts {
    /// Adds another count.
    pub fn add(&mut self, o: &EventCounts) {
        self.matched += o.matched;
        self.detected += o.detected;
        self.logged += o.logged;
    }

    /// Matched / detected (1 when nothing was detected and nothing logged, else 0 on none).
    pub fn precision(&self) -> f64 {
        if self.detected == 0 {
            f64::from(u8::from(self.logged == 0))
        } else {
            self.matched as f64 / self.detected as f64
        }
    }

    /// Matched / logged (1 when nothing was logged).
    pub fn recall(&self) -> f64 {
        if self.logged == 0 {
            1.0
        } else {
            self.matched as f64 / self.logged as f64
        }
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// Matches detected events to logged ones (see the module doc) and counts per kind.
/// `to_true` maps a detected track id to the true track it follows; events of unmapped
/// tracks match nothing.
pub fn match_events(
    detected: &[Event],
    logged: &[Event],
    to_true: &BTreeMap<u32, u32>,
    tolerance: u32,
) -> BTreeMap<EventKind, EventCounts> {
    let mut out: BTreeMap<EventKind, EventCounts> = BTreeMap::new();
    for e in detected {
        out.entry(e.kind).or_default().detected += 1;
    }
    for e in logged {
        out.entry(e.kind).or_default().logged += 1;
    }
    let same = |d: &Event, l: &Event| -> bool {
        if d.kind != l.kind || d.tracks.len() != l.tracks.len() {
            return false;
        }
        let mapped: Option<Vec<u32>> = d.tracks.iter().map(|t| to_true.get(t).copied()).collect();
        let Some(mut m) = mapped else { return false };
        if d.kind == EventKind::Collide {
            let mut l2 = l.tracks.clone();
            m.sort_unstable();
            l2.sort_unstable();
            m == l2
        } else {
            m == l.tracks
        }
    };
    // All candidate pairs, nearest in frame first; each side used once.
    let mut pairs: Vec<(u32, usize, usize)> = Vec::new();
    for (i, d) in detected.iter().enumerate() {
        for (j, l) in logged.iter().enumerate() {
            let gap = d.frame.abs_diff(l.frame);
            if gap <= tolerance && same(d, l) {
                pairs.push((gap, i, j));
            }
        }
    }
    pairs.sort_unstable();
    let (mut used_d, mut used_l) = (BTreeSet::new(), BTreeSet::new());
    for (_, i, j) in pairs {
        if used_d.contains(&i) || used_l.contains(&j) {
            continue;
        }
        used_d.insert(i);
        used_l.insert(j);
        out.entry(detected[i].kind).or_default().matched += 1;
    }
    out
}
