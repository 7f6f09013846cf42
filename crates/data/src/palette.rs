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
