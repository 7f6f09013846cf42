//! ReasonSeg (LISA): a directory of `NAME.jpg` + `NAME.json` pairs, each JSON
//! `{"text": [query, …], "is_sentence": bool, "shapes": [{"label", "points", …}]}`. Each
//! query becomes one image-reasonseg [`Sample`]; the target and ignore regions are
//! rasterised as LISA does ([`crate::raster::reasonseg_mask`]). JSON files that are not
//! UTF-8 are read as Windows-1252, as the reference loader falls back to.

use crate::error::{image_size, read, DataError};
use crate::raster::reasonseg_mask;
use crate::{GroundTruth, Media, Sample, Task};
use dtr1_rle::Rle;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
struct Shape {
    label: String,
    points: Vec<[f64; 2]>,
}

#[derive(Deserialize)]
struct Annotation {
    text: Vec<String>,
    #[serde(default)]
    is_sentence: bool,
    shapes: Vec<Shape>,
}

/// Loads every `*.json` with a sibling `.jpg` in `dir` (sorted by name).
pub fn samples(dir: &Path, source: &str) -> Result<Vec<Sample>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut jsons: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort();
    let mut out = Vec::new();
    for jp in jsons {
        let bytes = read(&jp)?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => encoding_rs::WINDOWS_1252
                .decode(e.as_bytes())
                .0
                .into_owned(),
        };
        let ann: Annotation = serde_json::from_str(&text).map_err(|source| DataError::Json {
            path: jp.clone(),
            source,
        })?;
        let img = jp.with_extension("jpg");
        let (w, h) = image_size(&img)?;
        let shapes: Vec<(String, Vec<[f64; 2]>)> = ann
            .shapes
            .into_iter()
            .map(|s| (s.label, s.points))
            .collect();
        let dense = reasonseg_mask(w, h, &shapes);
        let target: Vec<u8> = dense.iter().map(|&v| u8::from(v == 1)).collect();
        let ignore: Vec<u8> = dense.iter().map(|&v| u8::from(v == 255)).collect();
        let enc = |m: &[u8]| Rle::encode_row_major(h, w, m).expect("mask has h*w pixels");
        let ignore = enc(&ignore);
        let stem = jp
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        for (i, q) in ann.text.iter().enumerate() {
            let mut meta = BTreeMap::new();
            meta.insert("is_sentence".into(), ann.is_sentence.to_string());
            out.push(Sample {
                id: format!("{source}/{stem}/{i}"),
                task: Task::ImageReasonseg,
                query: q.clone(),
                media: Media::Image {
                    path: img.clone(),
                    width: w,
                    height: h,
                },
                truth: GroundTruth::Mask {
                    mask: enc(&target),
                    ignore: (ignore.area() > 0).then(|| ignore.clone()),
                    ids: None,
                },
                category: None,
                level: None,
                spec: None,
                twin: None,
                source: source.into(),
                meta,
            });
        }
    }
    Ok(out)
}
