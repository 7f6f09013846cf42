//! Pictures of the answer: overlays, boxes, masks and video contact sheets.

use super::perceive::{sheet_step, Canvas};
use super::Outcome;
use anyhow::{Context, Result};
use dtr1_data::Task;
use dtr1_perception::video;
use dtr1_rle::Rle;
use dtr1_twin::{ImageTwin, Twin, VideoTwin};
use image::{Rgb, RgbImage};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Paths of the pictures written.
#[derive(Debug, Default)]
pub(super) struct Pictures {
    pub(super) overlay: Option<PathBuf>,
    pub(super) mask: Option<PathBuf>,
    pub(super) masks_dir: Option<PathBuf>,
    pub(super) frames_written: usize,
    pub(super) contact_sheet: Option<PathBuf>,
}

pub(super) fn write_png(img: &image::DynamicImage, path: &Path) -> Result<()> {
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    dtr1_data::dataset::write_atomic(path, &png.into_inner())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub(super) fn binary_png(m: &Rle) -> image::DynamicImage {
    let [h, w] = m.size();
    let px: Vec<u8> = m.decode_row_major().iter().map(|v| v * 255).collect();
    image::DynamicImage::ImageLuma8(
        image::GrayImage::from_raw(w, h, px).expect("the mask has h*w pixels"),
    )
}

/// Caption lines: the query and the answer, cut to keep the band small.
pub(super) fn qa_lines(query: &str, answer: &str) -> Vec<String> {
    let cut = |s: &str, n: usize| {
        if s.chars().count() > n {
            format!("{}...", s.chars().take(n).collect::<String>())
        } else {
            s.to_string()
        }
    };
    vec![
        format!("Q: {}", cut(query, 160)),
        format!("A: {}", cut(answer, 240)),
    ]
}

/// A grey picture of the twin's size, when no media was given to draw on.
pub(super) fn blank(w: u32, h: u32) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb([96, 96, 96]))
}

pub(super) fn draw_box(img: &mut RgbImage, b: &[f64; 4], label: &str) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    if w == 0 || h == 0 {
        return;
    }
    let x1 = (b[0].floor() as i64).clamp(0, w - 1);
    let y1 = (b[1].floor() as i64).clamp(0, h - 1);
    let x2 = (b[2].ceil() as i64 - 1).clamp(0, w - 1);
    let y2 = (b[3].ceil() as i64 - 1).clamp(0, h - 1);
    let color = Rgb([255, 40, 40]);
    for t in 0..3 {
        for x in x1..=x2 {
            for y in [y1 + t, y2 - t] {
                if (0..h).contains(&y) {
                    img.put_pixel(x as u32, y as u32, color);
                }
            }
        }
        for y in y1..=y2 {
            for x in [x1 + t, x2 - t] {
                if (0..w).contains(&x) {
                    img.put_pixel(x as u32, y as u32, color);
                }
            }
        }
    }
    dtr1_perception::overlay::text(img, x1 + 1, (y1 - 10).max(0), label, 1);
}

pub(super) fn image_sub(t: &ImageTwin, ids: &BTreeSet<u32>) -> ImageTwin {
    let mut s = t.clone();
    s.objects.retain(|o| ids.contains(&o.id));
    s
}

pub(super) fn video_sub(v: &VideoTwin, ids: &BTreeSet<u32>) -> VideoTwin {
    let mut s = v.clone();
    s.tracks.retain(|t| ids.contains(&t.id));
    s.events.clear();
    s
}

pub(super) fn pictures(dir: &Path, o: &Outcome, query: &str) -> Result<Pictures> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let c = &o.cands[o.vote.winner];
    // Without a valid answer the picture shows the whole input twin, so the user sees what
    // the model was given.
    let answer = if c.has_answer() {
        c.short()
    } else {
        format!("{} - drawn: the input twin", c.short())
    };
    let ids: BTreeSet<u32> = c.ids().unwrap_or_default().into_iter().collect();
    let mut pics = Pictures::default();
    match &o.input.twin {
        Twin::Image(t) => {
            let base = match &o.input.canvas {
                Some(Canvas::Image(img)) => img.clone(),
                _ => blank(t.width, t.height),
            };
            let drawn = match o.task {
                Task::ImageReasonseg if c.has_answer() => {
                    dtr1_perception::overlay::draw(&base, &image_sub(t, &ids))?
                }
                Task::ImageGrounding if c.has_answer() => {
                    let mut img = base.clone();
                    if let Some(b) = &c.decoded.bbox {
                        let label = ids
                            .iter()
                            .next()
                            .and_then(|i| t.object(*i))
                            .map_or("answer".to_string(), |ob| {
                                format!("#{} {}", ob.id, ob.label)
                            });
                        draw_box(&mut img, b, &label);
                    }
                    img
                }
                _ => dtr1_perception::overlay::draw(&base, t)?,
            };
            let pic = dtr1_data::overlay::caption(&drawn, &qa_lines(query, &answer));
            let p = dir.join("answer.png");
            write_png(&image::DynamicImage::ImageRgb8(pic), &p)?;
            pics.overlay = Some(p);
            if let Some(m) = &c.decoded.mask {
                let p = dir.join("mask.png");
                write_png(&binary_png(m), &p)?;
                pics.mask = Some(p);
            }
        }
        Twin::Video(v) => {
            let frames = match &o.input.canvas {
                Some(Canvas::Frames(f)) if !f.is_empty() => f.clone(),
                _ => {
                    let step = sheet_step(Some(v.frames as usize));
                    (0..v.frames)
                        .step_by(step as usize)
                        .map(|f| (f, blank(v.width, v.height)))
                        .collect()
                }
            };
            let shown = if o.task == Task::VideoReasonseg && c.has_answer() {
                video_sub(v, &ids)
            } else {
                v.clone()
            };
            let sheet = video::contact_sheet(&shown, &frames, 4)?;
            let pic = dtr1_data::overlay::caption(&sheet, &qa_lines(query, &answer));
            let p = dir.join("sheet.png");
            write_png(&image::DynamicImage::ImageRgb8(pic), &p)?;
            pics.contact_sheet = Some(p);
            if o.task == Task::VideoReasonseg {
                let mdir = dir.join("masks");
                std::fs::create_dir_all(&mdir)
                    .with_context(|| format!("cannot create {}", mdir.display()))?;
                let empty = Rle::empty(v.height, v.width);
                let masks = c.decoded.masks.clone().unwrap_or_default();
                for f in 0..v.frames {
                    let m = masks.get(&f).unwrap_or(&empty);
                    write_png(&binary_png(m), &mdir.join(format!("frame_{f:05}.png")))?;
                }
                pics.frames_written = v.frames as usize;
                pics.masks_dir = Some(mdir);
            }
        }
    }
    Ok(pics)
}
