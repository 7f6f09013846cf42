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
    zero_runs: Vec<ZeroRunCase>,
    no_pixels: Vec<NoPixelCase>,
}

/// Counts with zero-length runs; `runs`, `counts` and `bbox` are pycocotools' encoding of
/// the decoded pixels (the canonical form), `area` its `area` of the given counts.
#[derive(Deserialize)]
struct ZeroRunCase {
    h: u32,
    w: u32,
    given: Vec<u32>,
    area: u64,
    runs: Vec<u32>,
    counts: String,
    bbox: [f64; 4],
}

/// A mask with no pixels as pycocotools encodes it, and its `frPyObjects` of `counts: []`.
#[derive(Deserialize)]
struct NoPixelCase {
    h: u32,
    w: u32,
    counts: String,
    area: u64,
    bbox: [f64; 4],
    from_empty_list: String,
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

#[test]
fn zero_length_runs_become_pycocotools_canonical_runs() {
    let v = vectors();
    assert!(v.zero_runs.len() >= 100);
    for (i, c) in v.zero_runs.iter().enumerate() {
        let r = Rle::from_counts(c.h, c.w, c.given.clone()).unwrap();
        assert_eq!(r.counts(), &c.runs[..], "case {i}: runs of {:?}", c.given);
        assert_eq!(r.to_counts_string(), c.counts, "case {i}: string");
        assert_eq!(r.area(), c.area, "case {i}: area");
        assert_eq!(r.to_bbox(), c.bbox, "case {i}: bbox");
        let canonical = rle(c.h, c.w, &c.runs);
        assert_eq!(r, canonical, "case {i}: one mask, one representation");
        assert_eq!(
            r.decode_col_major(),
            canonical.decode_col_major(),
            "case {i}"
        );
        // The string form of the given runs (pycocotools writes the zero runs into it)
        // reads back as the same mask.
        let s = dtr1_rle::encode_counts_string(&c.given);
        assert_eq!(
            Rle::from_string(c.h, c.w, &s).unwrap(),
            canonical,
            "case {i}"
        );
        // Set operations see the pixels, not the layout.
        assert_eq!(
            iou(&r, &canonical, false).unwrap(),
            if c.area > 0 { 1.0 } else { 0.0 }
        );
        assert_eq!(
            merge(&[r.clone(), canonical.clone()], false).unwrap(),
            canonical,
            "case {i}"
        );
        assert_eq!(
            merge(&[canonical.clone(), r.clone()], true).unwrap(),
            canonical,
            "case {i}"
        );
    }
}

#[test]
fn masks_without_pixels_have_one_representation() {
    let v = vectors();
    for c in &v.no_pixels {
        let e = Rle::empty(c.h, c.w);
        assert_eq!(e.to_counts_string(), c.counts, "{}x{}", c.h, c.w);
        assert_eq!(e.area(), c.area);
        assert_eq!(e.to_bbox(), c.bbox);
        assert_eq!(Rle::encode_col_major(c.h, c.w, &[]).unwrap(), e);
        assert_eq!(Rle::encode_row_major(c.h, c.w, &[]).unwrap(), e);
        assert_eq!(Rle::from_string(c.h, c.w, &c.counts).unwrap(), e);
        // pycocotools keeps "" for `counts: []`; both strings are the same mask here.
        assert_eq!(Rle::from_string(c.h, c.w, &c.from_empty_list).unwrap(), e);
        assert_eq!(Rle::from_counts(c.h, c.w, vec![]).unwrap(), e);
        assert_eq!(Rle::from_counts(c.h, c.w, vec![0, 0, 0]).unwrap(), e);
        assert!(e.decode_row_major().is_empty());
        assert_eq!(merge(&[e.clone(), e.clone()], false).unwrap(), e);
        assert_eq!(iou(&e, &e, false).unwrap(), 0.0);
        assert_eq!(e.centroid(), None);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["counts"], c.counts.as_str());
    }
}
