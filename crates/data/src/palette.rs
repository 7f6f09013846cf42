//! TwinBench's vocabulary and shape geometry: the shape classes, colours, materials and size
//! classes a scene draws from, what each shape affords, and the aspect of each shape's box.
//!
//! They live here, below both the generator (`dtr1-twinbench`, which renders them) and
//! perception (whose `pixels` backend recognises them), so that the two read one table.

/// Shape classes (the labels TwinBench twins use).
pub const SHAPES: [&str; 10] = [
    "cube", "sphere", "cylinder", "cone", "torus", "star", "capsule", "mug", "bottle", "bowl",
];

/// Named colours with distinct hues (RGB albedo).
pub const COLORS: [(&str, [f32; 3]); 8] = [
    ("red", [0.85, 0.12, 0.10]),
    ("orange", [0.95, 0.50, 0.08]),
    ("yellow", [0.92, 0.85, 0.12]),
    ("green", [0.15, 0.70, 0.20]),
    ("cyan", [0.10, 0.75, 0.80]),
    ("blue", [0.12, 0.25, 0.90]),
    ("purple", [0.55, 0.20, 0.80]),
    ("pink", [0.95, 0.45, 0.70]),
];

/// Materials.
pub const MATERIALS: [&str; 2] = ["matte", "metal"];

/// Physical size classes and their scale.
pub const SIZES: [(&str, f32); 3] = [("small", 0.65), ("medium", 1.0), ("large", 1.4)];

/// What each shape is good for; implicit queries draw on these.
pub fn affordances(shape: &str) -> &'static [&'static str] {
    match shape {
        "mug" => &["holds_liquid", "has_handle", "drink_from"],
        "bottle" => &["holds_liquid", "pour_from"],
        "bowl" => &["holds_liquid", "holds_food"],
        "sphere" => &["rolls", "throw"],
        "cylinder" => &["rolls", "stackable"],
        "capsule" => &["rolls"],
        "cube" => &["stackable", "sit_on"],
        "cone" => &["pointy", "marks_the_way"],
        "torus" => &["wear", "hang_on_a_peg"],
        "star" => &["pointy", "decorate"],
        _ => &[],
    }
}

/// Width of a shape's box relative to its height.
pub fn aspect(shape: &str) -> f32 {
    match shape {
        "capsule" => 2.0,
        "torus" => 1.6,
        "bowl" => 1.5,
        "bottle" => 0.45,
        "cube" => 1.1,
        "mug" => 1.0,
        "cylinder" => 0.7,
        _ => 1.0,
    }
}

/// The silhouette of a shape and its surface normal at local box coordinates `u ∈ [-1, 1]`
/// across, `v ∈ [0, 1]` from top to bottom: `None` outside the silhouette. The normal has `y`
/// pointing up and `z` towards the camera. The renderer shades with it; perception's shape
/// models test only whether a point is inside.
pub fn surface(shape: &str, u: f32, v: f32) -> Option<[f32; 3]> {
    let sq = |x: f32| x * x;
    let norm = |n: [f32; 3]| {
        let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt().max(1e-6);
        [n[0] / l, n[1] / l, n[2] / l]
    };
    let body = |u: f32| [u, 0.0, (1.0 - sq(u)).max(0.0).sqrt()];
    match shape {
        "sphere" => {
            let y = 2.0 * v - 1.0;
            let r = sq(u) + sq(y);
            (r <= 1.0).then(|| [u, -y, (1.0 - r).sqrt()])
        }
        "cube" => {
            // An oblique box: front face, top face slanting back to the right, right side.
            let t = (0.3 - v) / 0.3;
            let k = (u - 0.5) / 0.5;
            if (0.3..=1.0).contains(&v) && (-1.0..=0.5).contains(&u) {
                Some([0.0, 0.0, 1.0])
            } else if (0.0..0.3).contains(&v) && u >= -1.0 + 0.5 * t && u <= 0.5 + 0.5 * t {
                Some(norm([0.0, 1.0, 0.35]))
            } else if (0.5..=1.0).contains(&u) && v >= 0.3 - 0.3 * k && v <= 1.0 - 0.3 * k {
                Some(norm([0.9, 0.0, 0.45]))
            } else {
                None
            }
        }
        "cylinder" | "mug" | "bowl" => {
            let half = if shape == "mug" { 0.72 } else { 1.0 };
            if shape == "mug" && u > half {
                // The handle: an elliptical ring on the right.
                let (du, dv) = ((u - 0.78) / 0.22, (v - 0.5) / 0.28);
                let r = sq(du) + sq(dv);
                return (0.35..=1.0).contains(&r).then(|| norm([du, -dv, 0.6]));
            }
            if shape == "bowl" {
                // A half ellipse opening upwards, rim as a thin ellipse.
                let y = (v - 0.25) / 0.75;
                if v < 0.25 {
                    let e = sq(u) + sq((v - 0.25) / 0.12);
                    return (e <= 1.0).then_some([0.0, 0.8, 0.6]);
                }
                return (sq(u) + sq(y) <= 1.0)
                    .then(|| norm([u, -y, (1.0 - sq(u) - sq(y)).max(0.0).sqrt()]));
            }
            let uu = u / half;
            if uu.abs() > 1.0 {
                return None;
            }
            let cap = 0.12;
            let top = sq(uu) + sq((v - cap) / cap) <= 1.0;
            if top && v <= cap * 2.0 {
                return Some(norm([0.0, 1.0, 0.3]));
            }
            let bottom = v <= 1.0 - cap || sq(uu) + sq((v - (1.0 - cap)) / cap) <= 1.0;
            (v >= cap && bottom).then(|| body(uu))
        }
        "cone" => {
            let base = 0.88;
            if v <= base {
                (u.abs() <= v / base).then(|| {
                    let t = if v > 0.0 { u / (v / base) } else { 0.0 };
                    norm([t, 0.45, (1.0 - sq(t)).max(0.0).sqrt()])
                })
            } else {
                (sq(u) + sq((v - base) / (1.0 - base)) <= 1.0).then(|| body(u))
            }
        }
        "torus" => {
            let y = (v - 0.5) / 0.5;
            let r = (sq(u) + sq(y)).sqrt();
            (0.5..=1.0).contains(&r).then(|| {
                let t = (r - 0.75) / 0.25;
                norm([u / r * t, -y / r * t, (1.0 - sq(t)).max(0.0).sqrt() + 0.2])
            })
        }
        "star" => {
            let (x, y) = (u, 2.0 * v - 1.0);
            let a = y.atan2(x) + std::f32::consts::FRAC_PI_2;
            let k = (a.rem_euclid(2.0 * std::f32::consts::PI / 5.0))
                / (2.0 * std::f32::consts::PI / 5.0);
            let r_lim = 0.45 + 0.55 * (2.0 * (k - 0.5)).abs();
            let r = (sq(x) + sq(y)).sqrt();
            (r <= r_lim).then(|| norm([x * 0.4, -y * 0.4, 1.0]))
        }
        "capsule" => {
            let y = (v - 0.5) / 0.5;
            let end = 1.0 - 0.5;
            let inside = if u.abs() <= end {
                y.abs() <= 1.0
            } else {
                sq((u.abs() - end) / 0.5) + sq(y) <= 1.0
            };
            inside.then(|| [0.0, -y, (1.0 - sq(y)).max(0.0).sqrt()])
        }
        "bottle" => {
            let (neck, shoulder) = (0.28, 0.42);
            let half = if v < neck {
                0.22
            } else if v < shoulder {
                0.22 + (0.65 - 0.22) * (v - neck) / (shoulder - neck)
            } else {
                0.65
            };
            (u.abs() <= half).then(|| body(u / half))
        }
        _ => None,
    }
}
