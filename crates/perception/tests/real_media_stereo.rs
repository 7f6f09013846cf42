//! Stereo depth on real pairs, scored against their ground-truth disparity: scikit-image's
//! motorcycle (Middlebury 2014, 741×500, `motorcycle_disp.npz`) and OpenCV's aloe
//! (Middlebury 2006, `aloeGT.png`, disparity in pixels at 1282×1110, 0 = unknown), both
//! fetched by `scripts/fetch_media.sh`. The bounds sit a margin above what SGM measures
//! (docs/benchmarks.md has the numbers and the command).

use dtr1_perception::stereo::{self, SgmConfig};
use image::imageops;
use std::path::PathBuf;

fn media(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/media")
        .join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh (or scripts/fetch_media.sh) to fetch the test media",
        p.display()
    );
    p
}

fn gray(name: &str, width: u32) -> image::GrayImage {
    let img = dtr1_perception::pipeline::read_image(&media(name)).unwrap();
    let g = stereo::to_gray(&img);
    if g.width() == width {
        return g;
    }
    let h = (u64::from(g.height()) * u64::from(width) / u64::from(g.width())) as u32;
    imageops::resize(&g, width, h, imageops::FilterType::Triangle)
}

/// Runs SGM at `width` and scores it against the truth brought to that size.
fn run(left: &str, right: &str, truth: &str, width: u32, cfg: SgmConfig) -> stereo::StereoScore {
    let (l, r) = (gray(left, width), gray(right, width));
    let d = stereo::sgm(&l, &r, &cfg).unwrap();
    let gt = stereo::read_disparity(&media(truth), 1.0).unwrap();
    let gt = stereo::downscale_truth(gt, l.width(), l.height());
    let s = stereo::score(&d, &gt).unwrap();
    println!("{left} at {width}px: {s:?}");
    // The relative depth is ordered like the disparity: nearer (larger disparity) = smaller.
    let depth = d.to_depth();
    assert!(depth.values.iter().all(|v| (0.0..=1.0).contains(v)));
    s
}

#[test]
fn motorcycle_disparity_close_to_ground_truth() {
    // Half size: disparities 3.6–30 px.
    let cfg = SgmConfig {
        max_disparity: 40,
        ..Default::default()
    };
    let s = run(
        "motorcycle_left.png",
        "motorcycle_right.png",
        "motorcycle_disp.npz",
        370,
        cfg,
    );
    assert!(s.pixels > 30_000, "{s:?}");
    assert!(s.bad2 < 0.20, "bad-2px rate {:.3}", s.bad2);
    assert!(s.epe < 2.0, "end-point error {:.2}", s.epe);
    assert!(s.density > 0.6, "{s:?}");
}

#[test]
fn aloe_disparity_close_to_ground_truth() {
    // Quarter size: disparities up to 53 px.
    let cfg = SgmConfig {
        max_disparity: 64,
        ..Default::default()
    };
    let s = run("aloeL.jpg", "aloeR.jpg", "aloeGT.png", 320, cfg);
    assert!(s.pixels > 50_000, "{s:?}");
    assert!(s.bad2 < 0.20, "bad-2px rate {:.3}", s.bad2);
    assert!(s.epe < 2.0, "end-point error {:.2}", s.epe);
}

#[test]
fn mismatched_pair_and_bad_truth_are_clear_errors() {
    let l = gray("aloeL.jpg", 64);
    let r = gray("aloeR.jpg", 80);
    let e = stereo::sgm(&l, &r, &SgmConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("right view is 80x69 but the left view is 64x55"),
        "{e}"
    );
    let dir = std::env::temp_dir().join(format!("dtr1-stereo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A truncated .npz (the first kilobyte of the real one).
    let bytes = std::fs::read(media("motorcycle_disp.npz")).unwrap();
    let cut = dir.join("cut.npz");
    std::fs::write(&cut, &bytes[..1024]).unwrap();
    let e = stereo::read_disparity(&cut, 1.0).unwrap_err().to_string();
    assert!(e.contains("cut.npz") && e.contains(".npz"), "{e}");
    let png = dir.join("cut.png");
    let bytes = std::fs::read(media("aloeGT.png")).unwrap();
    std::fs::write(&png, &bytes[..2000]).unwrap();
    let e = stereo::read_disparity(&png, 1.0).unwrap_err().to_string();
    assert!(e.contains("not a readable disparity image"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
