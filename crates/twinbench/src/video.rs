//! TwinBench video clips: objects rolling on the ground plane with a simple, consistent
//! physics rule, rendered frame by frame with exact per-frame masks, persistent track ids
//! and an event log.
//!
//! Physics, in ground coordinates (`x` lateral, `z` distance, both in ground units; an
//! object is a disc of radius `r`): each frame `p += v`; moving objects slow down by a
//! friction factor and stop when their speed falls below [`STOP_SPEED`]; two discs that
//! overlap while approaching collide elastically with equal masses (they exchange the
//! velocity components along the line between their centres). Objects may start outside
//! the view and roll in, or roll out.
//!
//! Events come from the simulation and the rendered masks: `appear` (first visible frame),
//! `leave` (last visible frame, when it leaves before the end), `start`/`stop` (speed crosses
//! [`STOP_SPEED`]), `collide` (the frame of contact; the faster track first), `occlude` (first frame in
//! which more than half of a visible object is hidden by a nearer one; occluder first).

use crate::scene::{background, paint, project, Placed};
use dtr1_data::palette::{COLORS, MATERIALS, SIZES};
use dtr1_data::DataError;
use dtr1_rle::Rle;
use dtr1_twin::{
    Attributes, DepthStats, Event, EventKind, FrameObject, Motion, Track, VideoTwin, SCHEMA_VERSION,
};
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Speed (ground units per frame) below which an object counts as still.
pub const STOP_SPEED: f32 = 0.004;

/// Shapes that roll (clips use only these).
const ROLLERS: [&str; 4] = ["sphere", "cylinder", "cube", "capsule"];

/// Parameters of a clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipConfig {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Number of frames (16–64).
    pub frames: u32,
    /// Frames per second.
    pub fps: f64,
    /// Number of objects (2–8).
    pub objects: usize,
}

impl Default for ClipConfig {
    fn default() -> Self {
        ClipConfig {
            width: 320,
            height: 240,
            frames: 32,
            fps: 10.0,
            objects: 4,
        }
    }
}

/// One object of a clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipObject {
    /// Track id (1-based).
    pub id: u32,
    /// Shape.
    pub shape: &'static str,
    /// Colour name.
    pub color: &'static str,
    /// Material.
    pub material: &'static str,
    /// Size class.
    pub size: &'static str,
}

/// A rendered clip with its ground truth.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Frames.
    pub frames: Vec<RgbImage>,
    /// Objects (track ids are their index + 1).
    pub objects: Vec<ClipObject>,
    /// Visible mask per frame per object (`masks[f][i]`).
    pub masks: Vec<Vec<Rle>>,
    /// Mean relative depth per frame per object (`None` when not visible).
    pub depths: Vec<Vec<Option<f64>>>,
    /// The event log, in frame order.
    pub events: Vec<Event>,
    /// Frames per second.
    pub fps: f64,
}

struct Body {
    x: f32,
    z: f32,
    vx: f32,
    vz: f32,
    r: f32,
    friction: f32,
}

/// Simulates and renders one clip.
pub fn render(cfg: &ClipConfig, seed: u64) -> Result<Clip, DataError> {
    if !(16..=64).contains(&cfg.frames)
        || !(2..=8).contains(&cfg.objects)
        || cfg.width < 64
        || cfg.height < 64
        || cfg.width > 2048
        || cfg.height > 2048
    {
        return Err(DataError::invalid(
            "clip config",
            format!("{cfg:?}: need 16..=64 frames, 2..=8 objects, 64..=2048 pixels a side"),
        ));
    }
    if !(cfg.fps.is_finite() && cfg.fps > 0.0) {
        return Err(DataError::invalid(
            "clip config",
            format!("fps {} must be positive", cfg.fps),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (w, h) = (cfg.width as usize, cfg.height as usize);
    let hf = h as f32;
    let (bg, bg_depth) = background(w, h, &mut rng);
    let mut objects = Vec::new();
    let mut bodies: Vec<Body> = Vec::new();
    for _ in 0..cfg.objects {
        let size = rng.random_range(0..SIZES.len());
        let r = 0.07 * SIZES[size].1;
        // Some start at rest, some roll in from a side, some move in view.
        let kind = rng.random_range(0..3);
        let z = rng.random_range(0.05..0.9f32);
        // Lateral ground units per image width shrink with distance (perspective).
        let scale = 1.0 / (1.0 + 1.6 * z);
        let (x, mut vx, mut vz) = match kind {
            0 => (rng.random_range(-0.8..0.8f32), 0.0, 0.0),
            1 => {
                // Start just outside the view and roll in.
                let side = if rng.random_bool(0.5) { -1.0 } else { 1.0 };
                (
                    side * 1.45 / scale,
                    -side * rng.random_range(0.07..0.12f32) / scale,
                    rng.random_range(-0.01..0.01f32),
                )
            }
            _ => (
                rng.random_range(-0.8..0.8f32),
                rng.random_range(-0.05..0.05f32),
                rng.random_range(-0.015..0.015f32),
            ),
        };
        // Half of the movers head for an object already placed, so collisions happen.
        if kind != 0 && !bodies.is_empty() && rng.random_bool(0.5) {
            let t = &bodies[rng.random_range(0..bodies.len())];
            let (dx, dz) = (t.x - x, t.z - z);
            let (d, speed) = (dx.hypot(dz).max(1e-3), vx.hypot(vz).max(0.05));
            (vx, vz) = (dx / d * speed, dz / d * speed);
        }
        // Avoid starting inside another disc.
        if bodies
            .iter()
            .any(|b| (b.x - x).hypot(b.z - z) < b.r + r + 0.02)
        {
            continue;
        }
        // Objects rolling in keep going (some cross the whole view); the others slow down.
        let friction = if kind == 1 {
            rng.random_range(0.985..0.998f32)
        } else {
            rng.random_range(0.93..0.99f32)
        };
        bodies.push(Body {
            x,
            z,
            vx,
            vz,
            r,
            friction,
        });
        objects.push(ClipObject {
            id: objects.len() as u32 + 1,
            shape: ROLLERS[rng.random_range(0..ROLLERS.len())],
            color: COLORS[rng.random_range(0..COLORS.len())].0,
            material: MATERIALS[rng.random_range(0..MATERIALS.len())],
            size: SIZES[size].0,
        });
    }
    let n = objects.len();
    let mut frames = Vec::new();
    let mut masks = Vec::new();
    let mut depths = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let mut moving: Vec<bool> = bodies
        .iter()
        .map(|b| b.vx.hypot(b.vz) >= STOP_SPEED)
        .collect();
    let mut owner = vec![u16::MAX; w * h];
    let color_index = |c: &str| {
        COLORS
            .iter()
            .position(|x| x.0 == c)
            .expect("palette colour")
    };
    for f in 0..cfg.frames {
        if f > 0 {
            for b in &mut bodies {
                b.x += b.vx;
                b.z = (b.z + b.vz).clamp(0.02, 0.98);
                if b.z <= 0.02 || b.z >= 0.98 {
                    b.vz = -b.vz;
                }
                b.vx *= b.friction;
                b.vz *= b.friction;
            }
            for i in 0..n {
                for j in i + 1..n {
                    let (dx, dz) = (bodies[j].x - bodies[i].x, bodies[j].z - bodies[i].z);
                    let d = dx.hypot(dz);
                    let (rvx, rvz) = (bodies[j].vx - bodies[i].vx, bodies[j].vz - bodies[i].vz);
                    if d < bodies[i].r + bodies[j].r && d > 0.0 && rvx * dx + rvz * dz < 0.0 {
                        let (nx, nz) = (dx / d, dz / d);
                        // The faster one (before contact) is the one that hits; it goes first.
                        let hitter_first =
                            bodies[i].vx.hypot(bodies[i].vz) >= bodies[j].vx.hypot(bodies[j].vz);
                        let (ui, uj) = (
                            bodies[i].vx * nx + bodies[i].vz * nz,
                            bodies[j].vx * nx + bodies[j].vz * nz,
                        );
                        bodies[i].vx += (uj - ui) * nx;
                        bodies[i].vz += (uj - ui) * nz;
                        bodies[j].vx += (ui - uj) * nx;
                        bodies[j].vz += (ui - uj) * nz;
                        events.push(Event {
                            kind: EventKind::Collide,
                            frame: f,
                            tracks: if hitter_first {
                                vec![i as u32 + 1, j as u32 + 1]
                            } else {
                                vec![j as u32 + 1, i as u32 + 1]
                            },
                        });
                    }
                }
            }
            for (i, b) in bodies.iter_mut().enumerate() {
                let now = b.vx.hypot(b.vz) >= STOP_SPEED;
                if !now {
                    b.vx = 0.0;
                    b.vz = 0.0;
                }
                if now != moving[i] {
                    let kind = if now {
                        EventKind::Start
                    } else {
                        EventKind::Stop
                    };
                    events.push(Event {
                        kind,
                        frame: f,
                        tracks: vec![i as u32 + 1],
                    });
                    moving[i] = now;
                }
            }
        }
        let placed: Vec<Placed> = bodies
            .iter()
            .zip(&objects)
            .map(|(b, o)| {
                let size = SIZES
                    .iter()
                    .position(|s| s.0 == o.size)
                    .expect("size class");
                let (pw, ph, base) = project(o.shape, size, b.z, hf);
                let scale = 1.0 / (1.0 + 1.6 * b.z);
                Placed {
                    shape: o.shape,
                    color: color_index(o.color),
                    material: MATERIALS
                        .iter()
                        .position(|m| *m == o.material)
                        .expect("material"),
                    size,
                    z: b.z,
                    cx: w as f32 / 2.0 + b.x * w as f32 * 0.45 * scale,
                    base,
                    w: pw,
                    h: ph,
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| placed[b].z.total_cmp(&placed[a].z));
        let far_to_near: Vec<&Placed> = order.iter().map(|&i| &placed[i]).collect();
        let (mut img, mut depth) = (bg.clone(), bg_depth.clone());
        paint(&far_to_near, &mut img, &mut depth, &mut owner);
        let mut fm = Vec::with_capacity(n);
        let mut fd = Vec::with_capacity(n);
        for (i, this) in placed.iter().enumerate() {
            let rank = order
                .iter()
                .position(|&k| k == i)
                .expect("every object is ranked") as u16;
            let m: Vec<u8> = owner.iter().map(|&o| u8::from(o == rank)).collect();
            let (sum, cnt) = m
                .iter()
                .zip(&depth)
                .filter(|(v, _)| **v != 0)
                .fold((0f64, 0usize), |(s, c), (_, d)| (s + f64::from(*d), c + 1));
            fd.push((cnt > 0).then(|| (sum / cnt as f64 * 1000.0).round() / 1000.0));
            fm.push(Rle::encode_row_major(cfg.height, cfg.width, &m).expect("mask has h*w pixels"));
            // Occlusion: compare with the object drawn alone.
            if cnt > 0 {
                let mut alone = vec![u16::MAX; w * h];
                let (mut i2, mut d2) = (bg.clone(), bg_depth.clone());
                paint(&[this], &mut i2, &mut d2, &mut alone);
                let full = alone.iter().filter(|&&o| o == 0).count();
                let hidden_by = order.iter().skip_while(|&&k| k != i).skip(1).find(|&&k| {
                    let r = order.iter().position(|&q| q == k).expect("ranked") as u16;
                    alone.iter().zip(&owner).any(|(a, o)| *a == 0 && *o == r)
                });
                if full > 0 && cnt * 2 < full {
                    if let Some(&k) = hidden_by {
                        let seen = events.iter().any(|e| {
                            e.kind == EventKind::Occlude && e.tracks == [k as u32 + 1, i as u32 + 1]
                        });
                        if !seen {
                            events.push(Event {
                                kind: EventKind::Occlude,
                                frame: f,
                                tracks: vec![k as u32 + 1, i as u32 + 1],
                            });
                        }
                    }
                }
            }
        }
        frames.push(img);
        masks.push(fm);
        depths.push(fd);
    }
    // Appear / leave from visibility (masks are indexed [frame][object]).
    #[allow(clippy::needless_range_loop)]
    for i in 0..n {
        let vis: Vec<u32> = (0..cfg.frames)
            .filter(|&f| masks[f as usize][i].area() > 0)
            .collect();
        if let (Some(&a), Some(&l)) = (vis.first(), vis.last()) {
            events.push(Event {
                kind: EventKind::Appear,
                frame: a,
                tracks: vec![i as u32 + 1],
            });
            if l + 1 < cfg.frames {
                events.push(Event {
                    kind: EventKind::Leave,
                    frame: l,
                    tracks: vec![i as u32 + 1],
                });
            }
        }
    }
    // Within a frame, tell causes before effects: a collision before the start or stop it causes.
    let rank = |k: EventKind| match k {
        EventKind::Appear => 0,
        EventKind::Collide => 1,
        EventKind::Start => 2,
        EventKind::Stop => 3,
        EventKind::Occlude => 4,
        EventKind::Leave => 5,
    };
    events.sort_by_key(|e| (e.frame, rank(e.kind), e.tracks.clone()));
    Ok(Clip {
        frames,
        objects,
        masks,
        depths,
        events,
        fps: cfg.fps,
    })
}

impl Clip {
    /// The true video twin (tracks of visible frames only; events for visible tracks).
    pub fn twin(&self) -> VideoTwin {
        let (w, h) = (self.frames[0].width(), self.frames[0].height());
        let mut tracks = Vec::new();
        for (i, o) in self.objects.iter().enumerate() {
            let mut per = BTreeMap::new();
            for (f, fm) in self.masks.iter().enumerate() {
                if fm[i].area() == 0 {
                    continue;
                }
                let mut fo = FrameObject::from_mask(fm[i].clone());
                fo.centroid = fo
                    .centroid
                    .map(|[x, y]| [(x * 100.0).round() / 100.0, (y * 100.0).round() / 100.0]);
                fo.depth = self.depths[f][i].map(|d| DepthStats {
                    mean: d,
                    min: d,
                    max: d,
                });
                per.insert(f as u32, fo);
            }
            let (Some(&first), Some(&last)) = (per.keys().next(), per.keys().last()) else {
                continue;
            };
            let centroids: BTreeMap<u32, [f64; 2]> = per
                .iter()
                .map(|(&f, fo)| (f, fo.centroid.expect("visible frames have centroids")))
                .collect();
            tracks.push(Track {
                id: o.id,
                label: o.shape.into(),
                score: Some(1.0),
                first_frame: first,
                last_frame: last,
                frames: per,
                motion: Motion::from_centroids(&centroids),
                attributes: Attributes {
                    color: Some(o.color.into()),
                    size: Some(o.size.into()),
                    shape: Some(o.shape.into()),
                    material: Some(o.material.into()),
                    extra: Default::default(),
                },
                relations: Vec::new(),
            });
        }
        let visible: Vec<u32> = tracks.iter().map(|t| t.id).collect();
        VideoTwin {
            schema_version: SCHEMA_VERSION.into(),
            width: w,
            height: h,
            fps: self.fps,
            frames: self.frames.len() as u32,
            events: self
                .events
                .iter()
                .filter(|e| e.tracks.iter().all(|t| visible.contains(t)))
                .cloned()
                .collect(),
            tracks,
        }
    }
}
