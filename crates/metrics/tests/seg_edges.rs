//! Edge cases of the segmentation and grounding metrics, stated in their docs.

use dtr1_metrics::boxes::{box_iou, grounding_scores, BoxConvention};
use dtr1_metrics::jf::{bound_radius, frame_scores, JfAccumulator};
use dtr1_metrics::seg::{counts_dense, Counts, SegAccumulator};

#[test]
fn lisa_empty_target_rule() {
    // Empty prediction, empty target: IoU 1.
    let c = counts_dense(&[0, 0, 0], &[0, 0, 0], None).unwrap();
    assert_eq!(c.iou(), 1.0);
    // Non-empty prediction, empty target: IoU 0.
    let c = counts_dense(&[1, 0, 0], &[0, 0, 0], None).unwrap();
    assert_eq!(c.iou(), 0.0);
    // Perfect prediction is 1 - eps/U, as LISA computes it.
    let c = counts_dense(&[1, 1, 0], &[1, 1, 0], None).unwrap();
    assert_eq!(c.iou(), 2.0 / (2.0 + 1e-5));
    // Ignored pixels count nowhere.
    let c = counts_dense(&[1, 1, 1], &[1, 0, 0], Some(&[0, 1, 1])).unwrap();
    assert_eq!(
        c,
        Counts {
            intersection: 1,
            union: 1
        }
    );
    assert!(counts_dense(&[1], &[1, 0], None).is_err());
    assert!(SegAccumulator::default().finish().is_err());
}

#[test]
fn boxes_edges() {
    let a = [0.0, 0.0, 10.0, 10.0];
    assert_eq!(box_iou(&a, &a, BoxConvention::Continuous).unwrap(), 1.0);
    // Exactly 0.5 is not a hit (strictly greater).
    let half = [0.0, 0.0, 10.0, 5.0];
    let s = grounding_scores(&[(Some(half), a)], BoxConvention::Continuous).unwrap();
    assert_eq!((s.mean_iou, s.acc_at_05), (0.5, 0.0));
    // Touching boxes do not overlap; inverted boxes have zero area.
    assert_eq!(
        box_iou(&a, &[10.0, 0.0, 20.0, 10.0], BoxConvention::Continuous).unwrap(),
        0.0
    );
    assert_eq!(
        box_iou(
            &[5.0, 5.0, 1.0, 1.0],
            &[5.0, 5.0, 1.0, 1.0],
            BoxConvention::Continuous
        )
        .unwrap(),
        0.0
    );
    // Inclusive convention: [0,0,9,9] is 10x10 pixels.
    let b = [0.0, 0.0, 9.0, 9.0];
    assert_eq!(
        box_iou(&b, &[0.0, 0.0, 9.0, 4.0], BoxConvention::InclusivePixels).unwrap(),
        0.5
    );
    assert!(box_iou(&[f64::NAN, 0.0, 1.0, 1.0], &a, BoxConvention::Continuous).is_err());
    let s = grounding_scores(&[(None, a)], BoxConvention::Continuous).unwrap();
    assert_eq!(s.mean_iou, 0.0);
    assert!(grounding_scores(&[], BoxConvention::Continuous).is_err());
}

#[test]
fn jf_edges() {
    // DAVIS radius for a 480x854 frame: ceil(0.008 * 979.7) = 8.
    assert_eq!(bound_radius(480, 854), 8);
    let empty = vec![0u8; 16];
    let s = frame_scores(&empty, &empty, 4, 4).unwrap();
    assert_eq!((s.j, s.f), (1.0, 1.0));
    let mut one = empty.clone();
    one[5] = 1;
    let s = frame_scores(&empty, &one, 4, 4).unwrap();
    assert_eq!((s.j, s.f), (0.0, 0.0));
    let s = frame_scores(&one, &one, 4, 4).unwrap();
    assert_eq!((s.j, s.f), (1.0, 1.0));
    assert!(frame_scores(&one, &one, 4, 3).is_err());
    assert!(JfAccumulator::default().finish().is_err());
}
