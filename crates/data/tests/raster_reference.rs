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
