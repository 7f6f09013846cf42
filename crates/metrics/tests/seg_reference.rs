//! gIoU/cIoU, box IoU and J&F against the independent Python implementations of the
//! published definitions (`scripts/ref/segmetrics_vectors.py`).

use dtr1_metrics::boxes::{box_iou, grounding_scores, BoxConvention};
use dtr1_metrics::jf::{frame_scores_rle, JfAccumulator, SequenceScores};
use dtr1_metrics::seg::{counts_reasonseg, counts_rle, SegAccumulator};
use dtr1_rle::Rle;
use serde::Deserialize;

#[derive(Deserialize)]
struct SegSample {
    pred: Rle,
    gt: Rle,
    ignore: Rle,
    gt_dense: Option<Vec<u8>>,
    i: u64,
    u: u64,
    iou: f64,
}

#[derive(Deserialize)]
struct SegSet {
    samples: Vec<SegSample>,
    giou: f64,
    ciou: f64,
}

#[derive(Deserialize)]
struct BoxCase {
    a: [f64; 4],
    b: [f64; 4],
    continuous: f64,
    inclusive: f64,
}

#[derive(Deserialize)]
struct Frame {
    pred: Rle,
    gt: Rle,
    j: f64,
    f: f64,
}

#[derive(Deserialize)]
struct Sequence {
    frames: Vec<Frame>,
    j: f64,
    f: f64,
}

#[derive(Deserialize)]
struct Vectors {
    seg_sets: Vec<SegSet>,
    boxes: Vec<BoxCase>,
    box_acc05: f64,
    box_miou: f64,
    sequences: Vec<Sequence>,
    j: f64,
    f: f64,
    jf: f64,
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn giou_ciou_match_lisa_definition() {
    let v: Vectors = dtr1_refvec::load("segmetrics");
    let mut dense_checked = 0;
    for (k, set) in v.seg_sets.iter().enumerate() {
        let mut acc = SegAccumulator::default();
        for (i, s) in set.samples.iter().enumerate() {
            let c = counts_rle(&s.pred, &s.gt, Some(&s.ignore)).unwrap();
            assert_eq!((c.intersection, c.union), (s.i, s.u), "set {k} sample {i}");
            assert!(
                close(c.iou(), s.iou, 1e-12),
                "set {k} sample {i}: {} vs {}",
                c.iou(),
                s.iou
            );
            if let Some(gt) = &s.gt_dense {
                let d = counts_reasonseg(&s.pred.decode_row_major(), gt).unwrap();
                assert_eq!(d, c, "set {k} sample {i}: dense ReasonSeg path");
                dense_checked += 1;
            }
            acc.add(c);
        }
        let r = acc.finish().unwrap();
        assert!(
            close(r.giou, set.giou, 1e-12),
            "set {k}: gIoU {} vs {}",
            r.giou,
            set.giou
        );
        assert!(
            close(r.ciou, set.ciou, 1e-12),
            "set {k}: cIoU {} vs {}",
            r.ciou,
            set.ciou
        );
    }
    assert!(dense_checked > 5);
}

#[test]
fn box_iou_matches_both_conventions() {
    let v: Vectors = dtr1_refvec::load("segmetrics");
    let mut pairs = Vec::new();
    for (k, c) in v.boxes.iter().enumerate() {
        let got = box_iou(&c.a, &c.b, BoxConvention::Continuous).unwrap();
        assert!(
            close(got, c.continuous, 1e-12),
            "box {k}: {got} vs {}",
            c.continuous
        );
        let got = box_iou(&c.a, &c.b, BoxConvention::InclusivePixels).unwrap();
        assert!(
            close(got, c.inclusive, 1e-12),
            "box {k}: {got} vs {}",
            c.inclusive
        );
        pairs.push((Some(c.a), c.b));
    }
    let s = grounding_scores(&pairs, BoxConvention::Continuous).unwrap();
    assert!(close(s.acc_at_05, v.box_acc05, 1e-12));
    assert!(close(s.mean_iou, v.box_miou, 1e-12));
}

#[test]
fn j_and_f_match_davis_definition() {
    let v: Vectors = dtr1_refvec::load("segmetrics");
    let mut acc = JfAccumulator::default();
    for (k, s) in v.sequences.iter().enumerate() {
        for (i, fr) in s.frames.iter().enumerate() {
            let got = frame_scores_rle(&fr.pred, &fr.gt).unwrap();
            assert!(
                close(got.j, fr.j, 1e-12),
                "seq {k} frame {i}: J {} vs {}",
                got.j,
                fr.j
            );
            assert!(
                close(got.f, fr.f, 1e-9),
                "seq {k} frame {i}: F {} vs {}",
                got.f,
                fr.f
            );
        }
        let preds: Vec<Rle> = s.frames.iter().map(|f| f.pred.clone()).collect();
        let gts: Vec<Rle> = s.frames.iter().map(|f| f.gt.clone()).collect();
        let seq = SequenceScores::from_rle(&preds, &gts).unwrap();
        assert!(
            close(seq.j, s.j, 1e-12) && close(seq.f, s.f, 1e-9),
            "seq {k}"
        );
        acc.add(seq);
    }
    let r = acc.finish().unwrap();
    assert!(close(r.j, v.j, 1e-12) && close(r.f, v.f, 1e-9) && close(r.jf, v.jf, 1e-9));
}
