//! The classical mask refinement inside a box: on TwinBench renders, whose true masks are
//! known, a refined mask must beat the filled box it starts from.

use dtr1_perception::refine::{refine_in_box, RefineConfig};
use dtr1_rle::Rle;
use dtr1_twinbench::scene::{render, SceneConfig};

#[test]
fn refined_masks_beat_their_boxes_on_renders() {
    let cfg = RefineConfig::default();
    let (mut n, mut refined, mut sum_refined, mut sum_box) = (0usize, 0usize, 0.0, 0.0);
    for seed in 0..4 {
        let scene = render(&SceneConfig::default(), seed).unwrap();
        let (w, h) = scene.image.dimensions();
        for o in &scene.objects {
            let [x, y, bw, bh] = o.mask.to_bbox();
            if bw < 16.0 || bh < 16.0 {
                continue;
            }
            let truth = o.mask.decode_row_major();
            let bbox = [x as f32, y as f32, (x + bw) as f32, (y + bh) as f32];
            let box_rle = Rle::from_bbox([x, y, bw, bh], h, w).unwrap();
            let box_iou = dtr1_rle::iou(&box_rle, &o.mask, false).unwrap();
            n += 1;
            sum_box += box_iou;
            let iou = match refine_in_box(&scene.image, bbox, &cfg) {
                Some(m) => {
                    refined += 1;
                    assert_eq!(m.len(), truth.len());
                    // Nothing outside the box.
                    let r = Rle::encode_row_major(h, w, &m).unwrap();
                    let [rx, ry, rw, rh] = r.to_bbox();
                    assert!(rx >= x && ry >= y && rx + rw <= x + bw && ry + rh <= y + bh);
                    dtr1_rle::iou(&r, &o.mask, false).unwrap()
                }
                None => box_iou,
            };
            sum_refined += iou;
        }
    }
    let (mr, mb) = (sum_refined / n as f64, sum_box / n as f64);
    println!("{n} objects, {refined} refined: mean IoU refined {mr:.3} vs box {mb:.3}");
    assert!(n >= 20, "{n}");
    assert!(refined * 4 >= n * 3, "only {refined} of {n} refined");
    // Measured: 0.853 refined vs 0.713 for the boxes (30 objects, seeds 0–3).
    assert!(mr > 0.8 && mr > mb + 0.08, "refined {mr:.3} vs box {mb:.3}");
}

#[test]
fn degenerate_boxes_are_not_refined() {
    let scene = render(&SceneConfig::default(), 1).unwrap();
    let cfg = RefineConfig::default();
    for b in [
        [10.0, 10.0, 12.0, 40.0],
        [-50.0, -50.0, -10.0, -10.0],
        [5000.0, 10.0, 6000.0, 40.0],
        [f32::NAN, 0.0, 10.0, 10.0],
    ] {
        assert!(refine_in_box(&scene.image, b, &cfg).is_none(), "{b:?}");
    }
}
