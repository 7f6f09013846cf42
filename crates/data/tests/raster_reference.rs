//! Polygon rasterisation against OpenCV (`scripts/ref/raster_vectors.py`).

use dtr1_data::raster::{fill_poly, reasonseg_mask};
use dtr1_rle::Rle;
use serde::Deserialize;

#[derive(Deserialize)]
struct Single {
    h: u32,
    w: u32,
    points: Vec<[f64; 2]>,
    mask: Rle,
}

#[derive(Deserialize)]
struct Shape {
    label: String,
    points: Vec<[f64; 2]>,
}

#[derive(Deserialize)]
struct Scene {
    h: u32,
    w: u32,
    shapes: Vec<Shape>,
    target: Rle,
    ignore: Rle,
}

#[derive(Deserialize)]
struct Vectors {
    singles: Vec<Single>,
    scenes: Vec<Scene>,
}

fn diff(a: &Rle, b: &Rle) -> u64 {
    let (i, u) = dtr1_rle::intersection_union(a, b).unwrap();
    u - i
}

#[test]
fn fill_poly_matches_opencv() {
    let v: Vectors = dtr1_refvec::load("raster");
    let mut bad = Vec::new();
    for (k, s) in v.singles.iter().enumerate() {
        let pts: Vec<(i64, i64)> = s
            .points
            .iter()
            .map(|p| (p[0] as i64, p[1] as i64))
            .collect();
        let mut m = vec![0u8; (s.h * s.w) as usize];
        fill_poly(&mut m, s.w, s.h, &pts, 1);
        let got = Rle::encode_row_major(s.h, s.w, &m).unwrap();
        let d = diff(&got, &s.mask);
        if d != 0 {
            bad.push(format!(
                "single {k} ({}x{}, {} pts): {d} pixels differ",
                s.h,
                s.w,
                pts.len()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ: {:?}",
        bad.len(),
        v.singles.len(),
        &bad[..bad.len().min(8)]
    );
}

#[test]
fn reasonseg_masks_match_lisa_with_opencv() {
    let v: Vectors = dtr1_refvec::load("raster");
    for (k, s) in v.scenes.iter().enumerate() {
        let shapes: Vec<(String, Vec<[f64; 2]>)> = s
            .shapes
            .iter()
            .map(|x| (x.label.clone(), x.points.clone()))
            .collect();
        let m = reasonseg_mask(s.w, s.h, &shapes);
        let t: Vec<u8> = m.iter().map(|&v| u8::from(v == 1)).collect();
        let i: Vec<u8> = m.iter().map(|&v| u8::from(v == 255)).collect();
        assert_eq!(
            diff(&Rle::encode_row_major(s.h, s.w, &t).unwrap(), &s.target),
            0,
            "scene {k} target"
        );
        assert_eq!(
            diff(&Rle::encode_row_major(s.h, s.w, &i).unwrap(), &s.ignore),
            0,
            "scene {k} ignore"
        );
    }
}

#[test]
fn vectors_cover_polygons_leaving_the_image_and_label_case() {
    // The cases that once differed from LISA must stay in the vectors.
    let v: Vectors = dtr1_refvec::load("raster");
    let leaves = |h: u32, w: u32, pts: &[[f64; 2]]| {
        pts.iter()
            .any(|p| p[0] < 0.0 || p[1] < 0.0 || p[0] >= f64::from(w) || p[1] >= f64::from(h))
    };
    let wholly_outside = v
        .singles
        .iter()
        .filter(|s| s.points.iter().all(|p| p[0] < 0.0) && s.mask.area() == 0)
        .count();
    let partly = v
        .singles
        .iter()
        .filter(|s| leaves(s.h, s.w, &s.points) && s.mask.area() > 0)
        .count();
    assert!(
        wholly_outside >= 10 && partly >= 100,
        "{wholly_outside} {partly}"
    );
    let labels: Vec<&str> = v
        .scenes
        .iter()
        .flat_map(|s| s.shapes.iter().map(|x| x.label.as_str()))
        .collect();
    for l in ["Ignore_region", "IGNORE", "Flag", "FLAG"] {
        assert!(labels.contains(&l), "no {l} label in the vectors");
    }
    let clipped_scenes = v
        .scenes
        .iter()
        .filter(|s| s.shapes.iter().any(|x| leaves(s.h, s.w, &x.points)))
        .filter(|s| s.ignore.area() > 0 && s.target.area() > 0)
        .count();
    assert!(clipped_scenes >= 20, "{clipped_scenes}");
}
