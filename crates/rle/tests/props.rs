//! Property tests: round trips, and no panic on hostile input.

use dtr1_rle::{decode_counts_string, encode_counts_string, intersection_union, iou, merge, Rle};
use proptest::prelude::*;

fn mask_strategy() -> impl Strategy<Value = (u32, u32, Vec<u8>)> {
    (1u32..24, 1u32..24).prop_flat_map(|(h, w)| {
        (
            Just(h),
            Just(w),
            proptest::collection::vec(0u8..2, (h * w) as usize),
        )
    })
}

fn pair_strategy() -> impl Strategy<Value = (u32, u32, Vec<u8>, Vec<u8>)> {
    (1u32..20, 1u32..20).prop_flat_map(|(h, w)| {
        let n = (h * w) as usize;
        (
            Just(h),
            Just(w),
            proptest::collection::vec(0u8..2, n),
            proptest::collection::vec(0u8..2, n),
        )
    })
}

proptest! {
    #[test]
    fn dense_round_trip((h, w, m) in mask_strategy()) {
        let r = Rle::encode_row_major(h, w, &m).unwrap();
        prop_assert_eq!(r.decode_row_major(), m.clone());
        prop_assert_eq!(r.area(), m.iter().filter(|&&v| v != 0).count() as u64);
        let s = r.to_counts_string();
        prop_assert_eq!(Rle::from_string(h, w, &s).unwrap(), r.clone());
        let json = serde_json::to_string(&r).unwrap();
        prop_assert_eq!(serde_json::from_str::<Rle>(&json).unwrap(), r);
    }

    #[test]
    fn string_codec_round_trips_any_runs(counts in proptest::collection::vec(0u32..u32::MAX, 0..40)) {
        let s = encode_counts_string(&counts);
        prop_assert_eq!(decode_counts_string(&s).unwrap(), counts);
    }

    #[test]
    fn decoder_never_panics_on_strings(s in ".{0,64}") {
        let _ = decode_counts_string(&s);
        let _ = Rle::from_string(7, 9, &s);
    }

    #[test]
    fn decoder_never_panics_on_alphabet_strings(s in "[0-o]{0,64}") {
        // Strings from the right alphabet still decode to errors, never panics.
        if let Ok(c) = decode_counts_string(&s) {
            prop_assert_eq!(encode_counts_string(&c).len() <= s.len() + 8 * c.len(), true);
        }
    }

    #[test]
    fn json_decoder_never_panics(h in 0u32..5, w in 0u32..5, counts in proptest::collection::vec(any::<u32>(), 0..8)) {
        let json = serde_json::json!({"size": [h, w], "counts": counts}).to_string();
        if let Ok(r) = serde_json::from_str::<Rle>(&json) {
            prop_assert_eq!(r.counts().iter().map(|&c| u64::from(c)).sum::<u64>(), u64::from(h) * u64::from(w));
        }
    }

    #[test]
    fn set_ops_agree_with_dense((h, w, a, b) in pair_strategy()) {
        let ra = Rle::encode_row_major(h, w, &a).unwrap();
        let rb = Rle::encode_row_major(h, w, &b).unwrap();
        let inter = a.iter().zip(&b).filter(|(x, y)| **x != 0 && **y != 0).count() as u64;
        let uni = a.iter().zip(&b).filter(|(x, y)| **x != 0 || **y != 0).count() as u64;
        prop_assert_eq!(intersection_union(&ra, &rb).unwrap(), (inter, uni));
        let u = merge(&[ra.clone(), rb.clone()], false).unwrap();
        prop_assert_eq!(u.area(), ra.area() + rb.area() - inter);
        let n = merge(&[ra.clone(), rb.clone()], true).unwrap();
        prop_assert_eq!(n.area(), inter);
        let x = iou(&ra, &rb, false).unwrap();
        prop_assert!((0.0..=1.0).contains(&x));
        prop_assert_eq!(x, iou(&rb, &ra, false).unwrap());
    }

    #[test]
    fn resize_is_identity_at_same_size((h, w, m) in mask_strategy()) {
        let r = Rle::encode_row_major(h, w, &m).unwrap();
        prop_assert_eq!(r.resize(h, w).unwrap(), r);
    }
}

#[test]
fn corrupt_inputs_give_named_errors() {
    let e = Rle::from_counts(2, 2, vec![1, 2]).unwrap_err().to_string();
    assert!(e.contains("sum to 3") && e.contains("[2, 2]"), "{e}");
    let e = decode_counts_string("0 1").unwrap_err().to_string();
    assert!(e.contains("offset 1"), "{e}");
    let e = decode_counts_string("P").unwrap_err().to_string();
    assert!(e.contains("ends inside a number"), "{e}");
    let e = serde_json::from_str::<Rle>(r#"{"size":[2,2],"counts":"oooooooooooooooo1"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a valid run length"), "{e}");
    let a = Rle::empty(2, 3);
    let b = Rle::empty(3, 2);
    assert!(iou(&a, &b, false)
        .unwrap_err()
        .to_string()
        .contains("sizes differ"));
    assert!(merge(&[], false).is_err());
    assert!(Rle::from_polygon(&[0.0, 1.0, 2.0], 4, 4).is_err());
    assert!(Rle::from_polygon(&[0.0, 1.0, f64::NAN, 2.0, 3.0, 3.0], 4, 4).is_err());
    assert!(a.resize(0, 3).is_err());
    assert!(a.resize(1 << 20, 1 << 20).is_err());
}

proptest! {
    #[test]
    fn centroid_matches_dense((h, w, m) in mask_strategy()) {
        let r = Rle::encode_row_major(h, w, &m).unwrap();
        let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for y in 0..h as usize {
            for x in 0..w as usize {
                if m[y * w as usize + x] != 0 {
                    n += 1.0;
                    sx += x as f64 + 0.5;
                    sy += y as f64 + 0.5;
                }
            }
        }
        match r.centroid() {
            None => prop_assert_eq!(n, 0.0),
            Some([cx, cy]) => {
                prop_assert!((cx - sx / n).abs() < 1e-9 && (cy - sy / n).abs() < 1e-9);
            }
        }
    }
}

/// A random mask, its canonical runs with zero-length runs inserted (pairs `0, 0`, which
/// keep the values of the runs after them, and optionally a trailing `0`).
fn zero_run_strategy() -> impl Strategy<Value = (u32, u32, Vec<u8>, Vec<u32>)> {
    (
        mask_strategy(),
        proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|((h, w, m), at, trailing)| {
            let mut runs = Rle::encode_row_major(h, w, &m).unwrap().counts().to_vec();
            for i in at {
                let k = i.index(runs.len() + 1);
                runs.splice(k..k, [0, 0]);
            }
            if trailing {
                runs.push(0);
            }
            (h, w, m, runs)
        })
}

/// `[x, y, w, h]` of the set pixels of a row-major mask, zeros when none is set.
fn dense_bbox(h: u32, w: u32, m: &[u8]) -> [f64; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if m[(y * w + x) as usize] != 0 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    if x0 == u32::MAX {
        return [0.0; 4];
    }
    [
        f64::from(x0),
        f64::from(y0),
        f64::from(x1 - x0 + 1),
        f64::from(y1 - y0 + 1),
    ]
}

proptest! {
    #[test]
    fn zero_length_runs_are_normalised((h, w, m, given) in zero_run_strategy()) {
        let r = Rle::from_counts(h, w, given.clone()).unwrap();
        let canonical = Rle::encode_row_major(h, w, &m).unwrap();
        prop_assert_eq!(&r, &canonical);
        prop_assert!(r.counts()[1..].iter().all(|&c| c > 0), "{:?}", r.counts());
        prop_assert_eq!(r.decode_row_major(), m.clone());
        prop_assert_eq!(r.area(), m.iter().filter(|&&v| v != 0).count() as u64);
        prop_assert_eq!(r.to_bbox(), dense_bbox(h, w, &m));
        prop_assert_eq!(Rle::from_string(h, w, &encode_counts_string(&given)).unwrap(), canonical.clone());
        let u = merge(&[r.clone(), canonical.clone()], false).unwrap();
        prop_assert_eq!(u, canonical);
    }

    #[test]
    fn bbox_matches_dense((h, w, m) in mask_strategy()) {
        let r = Rle::encode_row_major(h, w, &m).unwrap();
        prop_assert_eq!(r.to_bbox(), dense_bbox(h, w, &m));
    }

    #[test]
    fn polygons_give_canonical_runs(h in 0u32..30, w in 0u32..30, poly in proptest::collection::vec(-10.0f64..40.0, 6..16)) {
        let n = poly.len() / 2 * 2;
        let r = Rle::from_polygon(&poly[..n], h, w).unwrap();
        prop_assert!(!r.counts().is_empty() && r.counts()[1..].iter().all(|&c| c > 0), "{:?}", r.counts());
    }
}

#[test]
fn all_zero_runs_do_not_panic() {
    // `[0, 0, …]` made pycocotools' toBbox wrap around and ours panic on overflow.
    let r = Rle::from_counts(2, 2, vec![0, 0, 0, 0, 4]).unwrap();
    assert_eq!(r.counts(), &[4]);
    assert_eq!(r.to_bbox(), [0.0; 4]);
    let r = Rle::from_counts(2, 2, vec![0, 0, 0, 4]).unwrap();
    assert_eq!(r.counts(), &[0, 4]);
    assert_eq!(r.to_bbox(), [0.0, 0.0, 2.0, 2.0]);
    let e =
        Rle::from_counts(1, u32::MAX, vec![u32::MAX - 1, 0, 0, 0, 1]).map(|r| r.counts().to_vec());
    assert_eq!(e, Ok(vec![u32::MAX]));
    let e = Rle::from_counts(2, u32::MAX, vec![u32::MAX, 0, u32::MAX])
        .unwrap_err()
        .to_string();
    assert!(e.contains("run 2") && e.contains("u32::MAX"), "{e}");
}
