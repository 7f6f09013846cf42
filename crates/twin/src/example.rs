//! Deterministic example twins, built from drawn masks so they are valid by construction.
//!
//! Used by the shipped examples (`examples/*.json`), the token-count report, tests and
//! benchmarks. Painting is far-to-near, so each mask holds an object's *visible* pixels.

use crate::{
    relations, DepthStats, Event, EventKind, FrameObject, ImageTwin, Motion, Object, PathPoint,
    Track, VideoTwin, SCHEMA_VERSION,
};
use dtr1_rle::Rle;
use std::collections::BTreeMap;

/// A shape to paint.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Axis-aligned rectangle `[x1, y1, x2, y2)`.
    Rect([i64; 4]),
    /// Ellipse with centre and radii.
    Ellipse { cx: f64, cy: f64, rx: f64, ry: f64 },
}

impl Shape {
    fn contains(&self, x: i64, y: i64) -> bool {
        match *self {
            Shape::Rect([x1, y1, x2, y2]) => x >= x1 && x < x2 && y >= y1 && y < y2,
            Shape::Ellipse { cx, cy, rx, ry } => {
                let (dx, dy) = ((x as f64 + 0.5 - cx) / rx, (y as f64 + 0.5 - cy) / ry);
                dx * dx + dy * dy <= 1.0
            }
        }
    }

    fn bottom(&self) -> f64 {
        match *self {
            Shape::Rect([_, _, _, y2]) => y2 as f64,
            Shape::Ellipse { cy, ry, .. } => cy + ry,
        }
    }
}

/// Relative depth of an image row on a ground plane seen from above the horizon: rows
/// lower in the image are nearer. Returns values in [0.2, 1.0], smaller = nearer.
pub fn ground_depth(row: f64, height: u32) -> f64 {
    0.2 + 0.8 * (1.0 - (row / f64::from(height)).clamp(0.0, 1.0))
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

/// Paints shapes far to near (by their lowest row) and returns each shape's visible mask,
/// in the input order.
pub fn paint(width: u32, height: u32, shapes: &[Shape]) -> Vec<Rle> {
    let (w, h) = (width as usize, height as usize);
    let mut order: Vec<usize> = (0..shapes.len()).collect();
    order.sort_by(|&a, &b| shapes[a].bottom().total_cmp(&shapes[b].bottom()));
    let mut owner = vec![u16::MAX; w * h];
    for &i in &order {
        for y in 0..h {
            for x in 0..w {
                if shapes[i].contains(x as i64, y as i64) {
                    owner[y * w + x] = i as u16;
                }
            }
        }
    }
    (0..shapes.len())
        .map(|i| {
            let m: Vec<u8> = owner.iter().map(|&o| u8::from(o == i as u16)).collect();
            Rle::encode_row_major(height, width, &m).expect("mask has width*height pixels")
        })
        .collect()
}

/// An object from its visible mask, with ground-plane depth and numbers rounded to the
/// compact form's precision (so the example round-trips through it exactly).
fn object(id: u32, label: &str, mask: Rle, height: u32, attrs: &[(&str, &str)]) -> Object {
    let mut o = Object::from_mask(id, label, mask);
    o.centroid = o.centroid.map(|[x, y]| [round_to(x, 2), round_to(y, 2)]);
    if let (Some(b), Some(c)) = (o.bbox, o.centroid) {
        o.depth = Some(DepthStats {
            mean: round_to(ground_depth(c[1], height), 3),
            min: round_to(ground_depth(b[3], height), 3),
            max: round_to(ground_depth(b[1], height), 3),
        });
    }
    for (k, v) in attrs {
        o.attributes.set(k, v.to_string());
    }
    o
}

/// A desk scene at 640×480: laptop, mug, bottle, book, phone, plant.
pub fn desk() -> ImageTwin {
    let (w, h) = (640, 480);
    type Item = (&'static str, Shape, [(&'static str, &'static str); 3]);
    let items: [Item; 6] = [
        (
            "laptop",
            Shape::Rect([180, 150, 420, 300]),
            [("color", "gray"), ("material", "metal"), ("shape", "box")],
        ),
        (
            "mug",
            Shape::Ellipse {
                cx: 480.0,
                cy: 330.0,
                rx: 34.0,
                ry: 40.0,
            },
            [
                ("color", "red"),
                ("material", "matte"),
                ("shape", "cylinder"),
            ],
        ),
        (
            "bottle",
            Shape::Rect([90, 120, 130, 300]),
            [
                ("color", "blue"),
                ("material", "plastic"),
                ("shape", "cylinder"),
            ],
        ),
        (
            "book",
            Shape::Rect([230, 330, 380, 400]),
            [("color", "green"), ("material", "paper"), ("shape", "box")],
        ),
        (
            "phone",
            Shape::Rect([430, 400, 500, 440]),
            [("color", "black"), ("material", "glass"), ("shape", "slab")],
        ),
        (
            "plant",
            Shape::Ellipse {
                cx: 560.0,
                cy: 170.0,
                rx: 55.0,
                ry: 70.0,
            },
            [
                ("color", "green"),
                ("material", "organic"),
                ("shape", "round"),
            ],
        ),
    ];
    let shapes: Vec<Shape> = items.iter().map(|i| i.1).collect();
    let masks = paint(w, h, &shapes);
    let mut twin = ImageTwin::new(w, h);
    for (i, ((label, _, attrs), mask)) in items.iter().zip(masks).enumerate() {
        let mut o = object(i as u32 + 1, label, mask, h, attrs);
        o.score = Some([0.97, 0.91, 0.88, 0.93, 0.86, 0.9][i]);
        twin.objects.push(o);
    }
    size_classes(&mut twin);
    relations::derive(&mut twin, 6);
    twin
}

/// Labels each object `small`, `medium` or `large` by its area's rank in the scene (terciles).
pub fn size_classes(twin: &mut ImageTwin) {
    let mut areas: Vec<u64> = twin.objects.iter().filter_map(|o| o.area).collect();
    areas.sort_unstable();
    let n = areas.len();
    for o in &mut twin.objects {
        if let Some(a) = o.area {
            let rank = areas.partition_point(|&x| x < a);
            let class = match rank * 3 / n.max(1) {
                0 => "small",
                1 => "medium",
                _ => "large",
            };
            o.attributes.size = Some(class.into());
        }
    }
}

/// SplitMix64: a tiny, portable, seeded generator. Hand-written so that the twin crate stays
/// free of heavy dependencies; its sequence is fixed forever, which keeps examples stable.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

const LABELS: [&str; 12] = [
    "cube", "sphere", "cylinder", "cone", "torus", "mug", "bottle", "book", "phone", "lamp",
    "bowl", "vase",
];
const COLORS: [&str; 8] = [
    "red", "green", "blue", "yellow", "purple", "orange", "gray", "white",
];
const MATERIALS: [&str; 2] = ["matte", "metal"];

/// A random but reproducible image twin of `n` objects at 640×480 (visible area of every
/// object at least 200 pixels; objects that end up hidden are re-drawn).
pub fn synthetic(n: usize, seed: u64) -> ImageTwin {
    let (w, h) = (640u32, 480u32);
    let mut rng = SplitMix(seed);
    let mut shapes: Vec<Shape> = Vec::new();
    let mut masks = Vec::new();
    for _attempt in 0..64 {
        while shapes.len() < n {
            let (cx, cy) = (rng.range(30.0, 610.0), rng.range(60.0, 450.0));
            // Farther (higher) objects are smaller, as on a ground plane.
            let s = 12.0 + 40.0 * (cy / f64::from(h));
            shapes.push(if rng.next().is_multiple_of(2) {
                let (hw, hh) = (s * rng.range(0.6, 1.4), s * rng.range(0.6, 1.4));
                Shape::Rect([
                    (cx - hw) as i64,
                    (cy - hh) as i64,
                    (cx + hw) as i64,
                    (cy + hh) as i64,
                ])
            } else {
                Shape::Ellipse {
                    cx,
                    cy,
                    rx: s * rng.range(0.6, 1.2),
                    ry: s * rng.range(0.6, 1.2),
                }
            });
        }
        masks = paint(w, h, &shapes);
        let keep: Vec<usize> = (0..n).filter(|&i| masks[i].area() >= 200).collect();
        if keep.len() == n {
            break;
        }
        shapes = keep.iter().map(|&i| shapes[i]).collect();
    }
    let mut twin = ImageTwin::new(w, h);
    for (i, mask) in masks.into_iter().enumerate() {
        let label = *rng.pick(&LABELS);
        let (color, material) = (*rng.pick(&COLORS), *rng.pick(&MATERIALS));
        let mut o = object(
            i as u32 + 1,
            label,
            mask,
            h,
            &[("color", color), ("material", material)],
        );
        o.score = Some(round_to(rng.range(0.5, 1.0), 3));
        twin.objects.push(o);
    }
    size_classes(&mut twin);
    relations::derive(&mut twin, 6);
    twin
}

/// A 24-frame, 12 fps clip at 320×240: a red marble rolls into a blue one and stops, the
/// blue one rolls on, and a green one crosses the top of the frame and leaves on the left.
pub fn marbles() -> VideoTwin {
    let (w, h, frames, r) = (320u32, 240u32, 24u32, 16.0);
    // Scripted positions (x, y) per frame; None = not visible.
    let mut pos: [Vec<Option<[f64; 2]>>; 3] = Default::default();
    let (mut x1, mut x2, mut v1, mut v2) = (40.0, 200.0, 10.0, 0.0);
    let mut collide_at = None;
    for f in 0..frames {
        if collide_at.is_none() && x2 - x1 <= 2.0 * r {
            // Equal masses, elastic: velocities swap.
            collide_at = Some(f);
            std::mem::swap(&mut v1, &mut v2);
        }
        pos[0].push(Some([x1, 160.0]));
        pos[1].push(Some([x2, 160.0]));
        let x3 = 330.0 - 18.0 * (f as f64 - 2.0);
        pos[2].push((f >= 2 && x3 + r > 0.0).then_some([x3, 60.0]));
        x1 += v1;
        x2 += v2;
    }
    let collide_at = collide_at.expect("the script makes the marbles collide");
    let specs = [
        (1, "marble", "red"),
        (2, "marble", "blue"),
        (3, "marble", "green"),
    ];
    let mut tracks = Vec::new();
    for (k, (id, label, color)) in specs.into_iter().enumerate() {
        let mut per_frame = BTreeMap::new();
        for (f, p) in pos[k].iter().enumerate() {
            let Some([cx, cy]) = *p else { continue };
            let shape = Shape::Ellipse {
                cx,
                cy,
                rx: r,
                ry: r,
            };
            let mask = paint(w, h, &[shape]).remove(0);
            if mask.area() == 0 {
                continue;
            }
            let mut fo = FrameObject::from_mask(mask);
            fo.centroid = fo.centroid.map(|[x, y]| [round_to(x, 2), round_to(y, 2)]);
            if let (Some(b), Some(c)) = (fo.bbox, fo.centroid) {
                fo.depth = Some(DepthStats {
                    mean: round_to(ground_depth(c[1], h), 3),
                    min: round_to(ground_depth(b[3], h), 3),
                    max: round_to(ground_depth(b[1], h), 3),
                });
            }
            per_frame.insert(f as u32, fo);
        }
        let first = *per_frame.keys().next().expect("every marble is visible");
        let last = *per_frame.keys().last().expect("every marble is visible");
        let c = |f: u32| per_frame[&f].centroid.expect("non-empty mask");
        let (a, b) = (c(first), c(last));
        let steps = f64::from((last - first).max(1));
        let mut path: Vec<PathPoint> = per_frame
            .keys()
            .filter(|&&f| (f - first) % 6 == 0 || f == last)
            .map(|&f| PathPoint {
                frame: f,
                x: c(f)[0],
                y: c(f)[1],
            })
            .collect();
        path.dedup_by_key(|p| p.frame);
        let mut t = Track {
            id,
            label: label.into(),
            score: Some(0.95),
            first_frame: first,
            last_frame: last,
            frames: per_frame,
            motion: Some(Motion {
                speed: round_to((b[0] - a[0]).hypot(b[1] - a[1]) / steps, 2),
                direction: round_to(
                    (b[1] - a[1])
                        .atan2(b[0] - a[0])
                        .to_degrees()
                        .rem_euclid(360.0),
                    2,
                ),
                path,
            }),
            attributes: Default::default(),
            relations: Vec::new(),
        };
        t.attributes.color = Some(color.into());
        tracks.push(t);
    }
    let mut events = vec![
        Event {
            kind: EventKind::Appear,
            frame: 0,
            tracks: vec![1],
        },
        Event {
            kind: EventKind::Appear,
            frame: 0,
            tracks: vec![2],
        },
        Event {
            kind: EventKind::Appear,
            frame: tracks[2].first_frame,
            tracks: vec![3],
        },
        Event {
            kind: EventKind::Collide,
            frame: collide_at,
            tracks: vec![1, 2],
        },
        Event {
            kind: EventKind::Stop,
            frame: collide_at,
            tracks: vec![1],
        },
        Event {
            kind: EventKind::Start,
            frame: collide_at,
            tracks: vec![2],
        },
        Event {
            kind: EventKind::Leave,
            frame: tracks[2].last_frame,
            tracks: vec![3],
        },
    ];
    events.sort_by_key(|e| e.frame);
    VideoTwin {
        schema_version: SCHEMA_VERSION.to_string(),
        width: w,
        height: h,
        fps: 12.0,
        frames,
        tracks,
        events,
    }
}
