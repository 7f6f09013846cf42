//! Bit-exact cross-check against pycocotools on vectors from `scripts/ref/rle_vectors.py`.

use dtr1_rle::{iou, iou_matrix, merge, Rle};
use serde::Deserialize;

#[derive(Deserialize)]
struct MaskCase {
    h: u32,
    w: u32,
    runs: Vec<u32>,
    counts: String,
    area: u64,
    bbox: [f64; 4],
}

#[derive(Deserialize)]
struct PairCase {
    h: u32,
    w: u32,
    a: Vec<u32>,
    b: Vec<u32>,
    iou: f64,
    iou_crowd: f64,
    union: String,
    intersection: String,
    inter_area: u64,
    union_area: u64,
}

#[derive(Deserialize)]
struct MatrixCase {
    h: u32,
    w: u32,
    dts: Vec<Vec<u32>>,
    gts: Vec<Vec<u32>>,
    crowd: Vec<u8>,
    iou: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct PolyCase {
    h: u32,
    w: u32,
    poly: Vec<f64>,
    counts: String,
}

#[derive(Deserialize)]
struct MultiPolyCase {
    h: u32,
    w: u32,
    polys: Vec<Vec<f64>>,
    counts: String,
}

#[derive(Deserialize)]
struct BoxCase {
    h: u32,
    w: u32,
    bbox: [f64; 4],
    counts: String,
}

#[derive(Deserialize)]
struct ResizeCase {
    h: u32,
    w: u32,
    runs: Vec<u32>,
    new_h: u32,
    new_w: u32,
    out_runs: Vec<u32>,
}

#[derive(Deserialize)]
struct Vectors {
    masks: Vec<MaskCase>,
    pairs: Vec<PairCase>,
    matrices: Vec<MatrixCase>,
    polygons: Vec<PolyCase>,
    multi_polygons: Vec<MultiPolyCase>,
    boxes: Vec<BoxCase>,
    resizes: Vec<ResizeCase>,
}

fn vectors() -> Vectors {
    dtr1_refvec::load("rle")
}

fn rle(h: u32, w: u32, runs: &[u32]) -> Rle {
    Rle::from_counts(h, w, runs.to_vec()).expect("vector runs are valid")
}

#[test]
fn encode_area_bbox_match_pycocotools() {
    let v = vectors();
    assert!(v.masks.len() >= 500, "need at least 500 masks");
    for (i, c) in v.masks.iter().enumerate() {
        let r = rle(c.h, c.w, &c.runs);
        assert_eq!(
            r.to_counts_string(),
            c.counts,
            "mask {i}: compressed string"
        );
        let back = Rle::from_string(c.h, c.w, &c.counts).unwrap();
        assert_eq!(back.counts(), &c.runs[..], "mask {i}: string decode");
        assert_eq!(r.area(), c.area, "mask {i}: area");
        assert_eq!(r.to_bbox(), c.bbox, "mask {i}: bbox");
        // Dense round trip in both layouts.
        let col = r.decode_col_major();
        assert_eq!(
            Rle::encode_col_major(c.h, c.w, &col).unwrap(),
            r,
            "mask {i}"
        );
        let row = r.decode_row_major();
        assert_eq!(
            Rle::encode_row_major(c.h, c.w, &row).unwrap(),
            r,
            "mask {i}"
        );
        // JSON in pycocotools' shape.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["counts"], c.counts.as_str());
        assert_eq!(json["size"], serde_json::json!([c.h, c.w]));
    }
}

#[test]
fn iou_and_merge_match_pycocotools() {
    let v = vectors();
    for (i, c) in v.pairs.iter().enumerate() {
        let (a, b) = (rle(c.h, c.w, &c.a), rle(c.h, c.w, &c.b));
        assert_eq!(iou(&a, &b, false).unwrap(), c.iou, "pair {i}: iou");
        assert_eq!(
            iou(&a, &b, true).unwrap(),
            c.iou_crowd,
            "pair {i}: crowd iou"
        );
        let u = merge(&[a.clone(), b.clone()], false).unwrap();
        assert_eq!(u.to_counts_string(), c.union, "pair {i}: union counts");
        let n = merge(&[a.clone(), b.clone()], true).unwrap();
        assert_eq!(
            n.to_counts_string(),
            c.intersection,
            "pair {i}: intersection counts"
        );
        assert_eq!(
            dtr1_rle::intersection_union(&a, &b).unwrap(),
            (c.inter_area, c.union_area),
            "pair {i}: areas"
        );
    }
}

#[test]
fn iou_matrix_matches_pycocotools() {
    let v = vectors();
    for (i, c) in v.matrices.iter().enumerate() {
        let dts: Vec<Rle> = c.dts.iter().map(|r| rle(c.h, c.w, r)).collect();
        let gts: Vec<Rle> = c.gts.iter().map(|r| rle(c.h, c.w, r)).collect();
        let crowd: Vec<bool> = c.crowd.iter().map(|&x| x != 0).collect();
        let got = iou_matrix(&dts, &gts, &crowd).unwrap();
        let want: Vec<f64> = c.iou.iter().flatten().copied().collect();
        assert_eq!(got, want, "matrix {i}");
    }
}

#[test]
fn polygons_and_boxes_match_pycocotools() {
    let v = vectors();
    assert!(v.polygons.len() >= 100);
    for (i, c) in v.polygons.iter().enumerate() {
        let r = Rle::from_polygon(&c.poly, c.h, c.w).unwrap();
        assert_eq!(r.to_counts_string(), c.counts, "polygon {i}: {:?}", c.poly);
    }
    for (i, c) in v.multi_polygons.iter().enumerate() {
        let r = Rle::from_polygons(&c.polys, c.h, c.w).unwrap();
        assert_eq!(r.to_counts_string(), c.counts, "multi-polygon {i}");
    }
    for (i, c) in v.boxes.iter().enumerate() {
        let r = Rle::from_bbox(c.bbox, c.h, c.w).unwrap();
        assert_eq!(r.to_counts_string(), c.counts, "box {i}: {:?}", c.bbox);
    }
}

#[test]
fn resize_matches_centre_sampling_reference() {
    let v = vectors();
    for (i, c) in v.resizes.iter().enumerate() {
        let r = rle(c.h, c.w, &c.runs).resize(c.new_h, c.new_w).unwrap();
        assert_eq!(
            r.counts(),
            &c.out_runs[..],
            "resize {i}: [{}, {}] -> [{}, {}]",
            c.h,
            c.w,
            c.new_h,
            c.new_w
        );
    }
}
