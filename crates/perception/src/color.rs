//! Naming a colour: the mean CIELAB colour of an object's pixels, matched to the nearest
//! named colour. Achromatic pixels (low chroma) are named by lightness instead.
//!
//! Written by hand (a dozen lines of the sRGB → XYZ → Lab formulas with the D65 white) so
//! the twin crate's users need no colour-science dependency.

/// The sRGB transfer function undone for each 8-bit value (computed once: colour naming
/// converts every pixel of every mask).
static LINEAR: std::sync::LazyLock<[f64; 256]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|i| {
        let c = i as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    })
});

/// sRGB (0–255) to CIELAB (D65).
pub fn srgb_to_lab(rgb: [u8; 3]) -> [f64; 3] {
    let [r, g, b] = rgb.map(|c| LINEAR[c as usize]);
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Named chromatic colours by their hue angle in Lab's a*b* plane (degrees): the hues of
/// saturated sRGB primaries and mixtures, which shading (scaling RGB) barely moves.
const HUES: [(&str, f64); 8] = [
    ("red", 36.0),
    ("orange", 61.0),
    ("yellow", 98.0),
    ("green", 140.0),
    ("cyan", 207.0),
    ("blue", 300.0),
    ("purple", 318.0),
    ("pink", 349.0),
];

/// The name of a mean Lab colour.
pub fn name_lab(lab: [f64; 3]) -> &'static str {
    let [l, a, b] = lab;
    let chroma = a.hypot(b);
    if chroma < 12.0 {
        return if l > 80.0 {
            "white"
        } else if l < 25.0 {
            "black"
        } else {
            "gray"
        };
    }
    let hue = b.atan2(a).to_degrees().rem_euclid(360.0);
    // Brown is a dark, muted orange: lightness and chroma decide it before hue matching
    // (a shaded but saturated red or orange stays red or orange).
    if (30.0..85.0).contains(&hue) && chroma < 35.0 && l < 50.0 {
        return "brown";
    }
    let mut best = ("red", f64::MAX);
    for (name, h) in HUES {
        let d = (hue - h).abs();
        let d = d.min(360.0 - d);
        if d < best.1 {
            best = (name, d);
        }
    }
    best.0
}

/// The name of the mean colour of the pixels where `mask` (row-major 0/1) is set.
pub fn name_region(image: &image::RgbImage, mask: &[u8]) -> Option<&'static str> {
    let mut sum = [0f64; 3];
    let mut n = 0usize;
    for (i, &m) in mask.iter().enumerate() {
        if m == 0 {
            continue;
        }
        let (x, y) = ((i as u32) % image.width(), (i as u32) / image.width());
        let lab = srgb_to_lab(image.get_pixel(x, y).0);
        for k in 0..3 {
            sum[k] += lab[k];
        }
        n += 1;
    }
    (n > 0).then(|| name_lab(sum.map(|s| s / n as f64)))
}

#[cfg(test)]
mod tests {
    use super::{name_lab, srgb_to_lab};

    #[test]
    fn everyday_colours() {
        for (rgb, name) in [
            ([255, 255, 255], "white"),
            ([10, 10, 10], "black"),
            ([128, 128, 128], "gray"),
            ([120, 72, 40], "brown"),
            ([200, 30, 30], "red"),
            ([100, 15, 15], "red"),
            ([250, 160, 20], "orange"),
            ([40, 160, 60], "green"),
            ([30, 60, 220], "blue"),
            ([240, 130, 190], "pink"),
        ] {
            assert_eq!(name_lab(srgb_to_lab(rgb)), name, "{rgb:?}");
        }
        // The D65 white point maps to L = 100, a = b = 0 (up to the 4-digit sRGB matrix).
        let [l, a, b] = srgb_to_lab([255, 255, 255]);
        assert!(
            (l - 100.0).abs() < 0.05 && a.abs() < 0.05 && b.abs() < 0.05,
            "{l} {a} {b}"
        );
    }
}
