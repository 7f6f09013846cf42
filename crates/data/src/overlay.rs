//! Pictures of samples: the image with its ground truth drawn on it.

use crate::{DataError, GroundTruth, Media, Sample};
use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

/// Tints the target mask (orange), hatches ignore regions (gray) and outlines boxes (green)
/// on the sample's image. Video samples become a contact sheet of every 4th frame (four per
/// row), each with that frame's target tinted.
pub fn render(sample: &Sample) -> Result<RgbImage, DataError> {
    if let Media::Video { frames, .. } = &sample.media {
        let picks: Vec<usize> = (0..frames.len()).step_by(4).collect();
        let mut sheet: Option<RgbImage> = None;
        for (k, &f) in picks.iter().enumerate() {
            let mut one = sample.clone();
            one.media = Media::Image {
                path: frames[f].clone(),
                width: 0,
                height: 0,
            };
            one.truth = match &sample.truth {
                GroundTruth::VideoMasks { masks, ids } => match masks.get(&(f as u32)) {
                    Some(m) => GroundTruth::Mask {
                        mask: m.clone(),
                        ignore: None,
                        ids: ids.clone(),
                    },
                    None => GroundTruth::Answers {
                        answers: vec![],
                        ids: None,
                    },
                },
                other => other.clone(),
            };
            let img = render(&one)?;
            let (w, h) = img.dimensions();
            let s = sheet
                .get_or_insert_with(|| RgbImage::new(w * 4, h * picks.len().div_ceil(4) as u32));
            image::imageops::replace(
                s,
                &img,
                i64::from(w * (k as u32 % 4)),
                i64::from(h * (k as u32 / 4)),
            );
        }
        return sheet.ok_or_else(|| DataError::invalid(&sample.id, "video without frames"));
    }
    let path = match &sample.media {
        Media::Image { path, .. } => path.clone(),
        Media::Video { frames, .. } => frames
            .first()
            .cloned()
            .ok_or_else(|| DataError::invalid(&sample.id, "video without frames"))?,
    };
    let mut img = image::open(&path)
        .map_err(|e| DataError::Image {
            path: path.clone(),
            message: e.to_string(),
        })?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let tint = |img: &mut RgbImage,
                m: &dtr1_rle::Rle,
                c: [u8; 3],
                alpha: f32,
                hatch: bool|
     -> Result<(), DataError> {
        if m.size() != [h, w] {
            return Err(DataError::invalid(
                &path,
                format!("mask size {:?} but the image is {w}x{h}", m.size()),
            ));
        }
        for (i, v) in m.decode_row_major().into_iter().enumerate() {
            let (x, y) = ((i as u32) % w, (i as u32) / w);
            if v != 0 && (!hatch || (x + y) % 4 == 0) {
                let p = img.get_pixel_mut(x, y);
                for (ch, target) in p.0.iter_mut().zip(c) {
                    *ch = (f32::from(*ch) * (1.0 - alpha) + f32::from(target) * alpha) as u8;
                }
            }
        }
        Ok(())
    };
    match &sample.truth {
        GroundTruth::Mask { mask, ignore, .. } => {
            tint(&mut img, mask, [255, 140, 0], 0.6, false)?;
            if let Some(ig) = ignore {
                tint(&mut img, ig, [128, 128, 128], 0.8, true)?;
            }
        }
        GroundTruth::VideoMasks { masks, .. } => {
            if let Some(m) = masks.get(&0) {
                tint(&mut img, m, [255, 140, 0], 0.6, false)?;
            }
        }
        GroundTruth::Box { bbox, .. } => {
            let [x1, y1, x2, y2] = bbox.map(|v| v.max(0.0) as u32);
            for t in 0..2 {
                for x in x1..x2.min(w) {
                    for y in [y1 + t, y2.saturating_sub(1 + t)] {
                        if y < h {
                            img.put_pixel(x, y, Rgb([0, 230, 0]));
                        }
                    }
                }
                for y in y1..y2.min(h) {
                    for x in [x1 + t, x2.saturating_sub(1 + t)] {
                        if x < w {
                            img.put_pixel(x, y, Rgb([0, 230, 0]));
                        }
                    }
                }
            }
        }
        GroundTruth::Answers { .. } | GroundTruth::Summaries { .. } => {}
    }
    Ok(img)
}

/// The lit pixels of `text` in the 8×8 bitmap font (font8x8) scaled by `scale`, as
/// `(x, y)` offsets from the top-left corner of the first character; each character
/// advances `8 * scale` pixels. Characters the font lacks are drawn as `?` (spell the
/// typographic signs first with [`ascii_signs`]). Every picture dt-r1 writes draws its text
/// through this one function.
pub fn text_pixels(text: &str, scale: u32) -> Vec<(u32, u32)> {
    let s = scale.max(1);
    let mut out = Vec::new();
    for (k, ch) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS
            .get(ch)
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (gy, bits) in glyph.iter().enumerate() {
            for gx in 0..8u32 {
                if bits >> gx & 1 == 1 {
                    for dy in 0..s {
                        for dx in 0..s {
                            out.push(((k as u32 * 8 + gx) * s + dx, gy as u32 * s + dy));
                        }
                    }
                }
            }
        }
    }
    out
}

/// `→` as `->` and the like: the 8×8 bitmap font covers ASCII and Latin-1 only, and captions
/// use a few typographic signs.
pub fn ascii_signs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '→' => out.push_str("->"),
            '←' => out.push_str("<-"),
            '≥' => out.push_str(">="),
            '≤' => out.push_str("<="),
            '–' | '—' | '−' => out.push('-'),
            '…' => out.push_str("..."),
            '‘' | '’' => out.push('\''),
            '“' | '”' => out.push('"'),
            c => out.push(c),
        }
    }
    out
}

/// Puts `lines` of text in a white band above `img` (8×8 bitmap glyphs at twice their size;
/// long lines are wrapped at word boundaries; signs are spelled by [`ascii_signs`], other
/// characters without a glyph become `?`).
pub fn caption(img: &RgbImage, lines: &[String]) -> RgbImage {
    const SCALE: u32 = 2;
    const GLYPH: u32 = 8 * SCALE;
    let w = img.width();
    let per_line = ((w.saturating_sub(8)) / GLYPH).max(1) as usize;
    let mut wrapped: Vec<String> = Vec::new();
    for l in lines {
        let l = ascii_signs(l);
        let mut cur = String::new();
        for word in l.split_whitespace() {
            if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > per_line {
                wrapped.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        wrapped.push(cur);
    }
    let band = wrapped.len() as u32 * (GLYPH + 4) + 8;
    let mut out = RgbImage::from_pixel(w, img.height() + band, Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, img, 0, i64::from(band));
    for (row, text) in wrapped.iter().enumerate() {
        let line: String = text.chars().take(per_line).collect();
        let y0 = 4 + row as u32 * (GLYPH + 4);
        for (x, y) in text_pixels(&line, SCALE) {
            out.put_pixel(4 + x, y0 + y, Rgb([20, 20, 20]));
        }
    }
    out
}

#[cfg(test)]
mod sign_tests {
    use super::*;

    #[test]
    fn text_pixels_scale_advance_and_fall_back_to_a_question_mark() {
        let a1 = text_pixels("A", 1);
        assert!(!a1.is_empty());
        assert!(a1.iter().all(|&(x, y)| x < 8 && y < 8));
        assert_eq!(text_pixels("A", 3).len(), 9 * a1.len());
        // The second character starts 8 × scale pixels to the right.
        let aa = text_pixels("AA", 2);
        let a2 = text_pixels("A", 2);
        assert_eq!(aa.len(), 2 * a2.len());
        assert!(a2.iter().all(|&(x, y)| aa.contains(&(x + 16, y))));
        assert_eq!(text_pixels("\u{4e2d}", 1), text_pixels("?", 1));
        assert!(text_pixels(" ", 1).is_empty());
    }

    #[test]
    fn captions_spell_arrows_and_dashes_in_ascii() {
        assert_eq!(ascii_signs("ids [1] → box"), "ids [1] -> box");
        assert_eq!(ascii_signs("a — b ≥ 3…"), "a - b >= 3...");
        // The arrow is drawn as two glyphs, not the `?` an unknown character gets.
        let img = RgbImage::new(120, 4);
        let arrow = caption(&img, &["a → b".to_string()]);
        let ascii = caption(&img, &["a -> b".to_string()]);
        let unknown = caption(&img, &["a ⇒ b".to_string()]);
        assert_eq!(arrow, ascii);
        assert_ne!(arrow, unknown);
    }
}
