//! Pictures of image twins: masks tinted and outlined in a colour per object, `#id label` on
//! each object, and the relations listed in a caption band above the picture (drawn with
//! `dtr1_data::overlay::caption`, the same 8×8 bitmap font as `dtr1 data show`).

use dtr1_twin::ImageTwin;
use image::{Rgb, RgbImage};

use crate::{PerceptionError, Size};

/// Distinct tints, cycled by object.
const TINTS: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
];

/// Relations per object listed in the caption.
const CAPTION_RELATIONS: usize = 3;

/// Draws `text` with its top-left corner at `(x, y)`, white on a dark box, clipped to `img`.
/// The bitmap font covers ASCII and Latin-1; the typographic signs captions use are spelled
/// in ASCII, anything else shows as `?`.
pub fn text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32) {
    let text = &dtr1_data::overlay::ascii_signs(text);
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let s = i64::from(scale.max(1));
    let n = text.chars().count() as i64;
    let mut put = |px: i64, py: i64, c: [u8; 3]| {
        if (0..w).contains(&px) && (0..h).contains(&py) {
            img.put_pixel(px as u32, py as u32, Rgb(c));
        }
    };
    for py in y - 1..y + 8 * s + 1 {
        for px in x - 1..x + 8 * s * n + 1 {
            put(px, py, [20, 20, 20]);
        }
    }
    for (dx, dy) in dtr1_data::overlay::text_pixels(text, scale) {
        put(x + i64::from(dx), y + i64::from(dy), [255, 255, 255]);
    }
}

/// The twin drawn over `image`: masks tinted (alpha 0.45) and outlined, `#id label` at each
/// object's box corner, and a caption with one line per object (colour, label, first
/// relations).
pub fn draw(image: &RgbImage, twin: &ImageTwin) -> Result<RgbImage, PerceptionError> {
    let (w, h) = image.dimensions();
    if (twin.width, twin.height) != (w, h) {
        return Err(PerceptionError::SizeMismatch {
            what: "the twin".into(),
            size: Size::new(twin.width, twin.height),
            other: "the image",
            expected: Size::new(w, h),
        });
    }
    let mut img = image.clone();
    for (k, o) in twin.objects.iter().enumerate() {
        let Some(mask) = &o.mask else { continue };
        if mask.size() != [h, w] {
            return Err(PerceptionError::SizeMismatch {
                what: format!("object {}'s mask", o.id),
                size: Size::of_mask(mask),
                other: "the image",
                expected: Size::new(w, h),
            });
        }
        let tint = TINTS[k % TINTS.len()];
        let dense = mask.decode_row_major();
        let on = |x: i64, y: i64| {
            x >= 0 && y >= 0 && x < i64::from(w) && y < i64::from(h) && {
                dense[y as usize * w as usize + x as usize] != 0
            }
        };
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                if !on(x, y) {
                    continue;
                }
                let edge = !(on(x - 1, y) && on(x + 1, y) && on(x, y - 1) && on(x, y + 1));
                let p = img.get_pixel_mut(x as u32, y as u32);
                for (ch, t) in p.0.iter_mut().zip(tint) {
                    *ch = if edge {
                        t
                    } else {
                        (f32::from(*ch) * 0.55 + f32::from(t) * 0.45) as u8
                    };
                }
            }
        }
    }
    let scale = if w >= 800 { 2 } else { 1 };
    for o in &twin.objects {
        if let Some(b) = o.bbox {
            text(
                &mut img,
                b[0] as i64 + 1,
                (b[1] as i64 - 9 * i64::from(scale)).max(0),
                &format!("#{} {}", o.id, o.label),
                scale,
            );
        }
    }
    // The caption keeps each object to one short line: colour, label and its first
    // relations (the twin has them all).
    let lines: Vec<String> = twin
        .objects
        .iter()
        .map(|o| {
            let rels: Vec<String> = o
                .relations
                .iter()
                .take(CAPTION_RELATIONS)
                .map(|r| format!("{} #{}", r.kind.name(), r.to))
                .collect();
            let color = o.attributes.color.as_deref().unwrap_or("");
            format!("#{} {color} {}: {}", o.id, o.label, rels.join(", "))
        })
        .collect();
    Ok(dtr1_data::overlay::caption(&img, &lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_spell_arrows_in_ascii() {
        // The arrow is drawn as two glyphs, not the `?` an unknown character gets.
        let mut a = RgbImage::new(40, 10);
        let mut b = RgbImage::new(40, 10);
        text(&mut a, 0, 1, "→", 1);
        text(&mut b, 0, 1, "->", 1);
        assert_eq!(a, b);
    }
}
