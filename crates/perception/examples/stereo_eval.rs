//! Stereo depth against ground truth, with timing: SGM on scikit-image's motorcycle pair
//! (`motorcycle_disp.npz`) and OpenCV's aloe pair (`aloeGT.png`, disparity in pixels at full
//! size), each at the working widths given, and a Markdown table of bad-pixel rates (> 1, 2,
//! 4 px, after filling), end-point error, density after the left-right check and time.
//!
//! `cargo run --release -p dtr1-perception --example stereo_eval` (media from
//! `scripts/fetch_media.sh`).

use dtr1_perception::pipeline::read_image;
use dtr1_perception::stereo::{self, SgmConfig};
use image::imageops;
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/media");
    // (pair, truth, working width, disparities searched at that width)
    let runs = [
        (
            "motorcycle",
            "motorcycle_left.png",
            "motorcycle_right.png",
            "motorcycle_disp.npz",
            370,
            40,
        ),
        (
            "motorcycle",
            "motorcycle_left.png",
            "motorcycle_right.png",
            "motorcycle_disp.npz",
            741,
            72,
        ),
        ("aloe", "aloeL.jpg", "aloeR.jpg", "aloeGT.png", 320, 64),
        ("aloe", "aloeL.jpg", "aloeR.jpg", "aloeGT.png", 641, 112),
    ];
    println!("| pair | size | disparities | bad >1px | bad >2px | bad >4px | EPE px | LR density | SGM ms |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, l, r, gt, width, nd) in runs {
        let gray = |f: &str| -> Result<image::GrayImage, Box<dyn std::error::Error>> {
            let g = stereo::to_gray(&read_image(&media.join(f))?);
            let h = (u64::from(g.height()) * width as u64 / u64::from(g.width())) as u32;
            Ok(if g.width() == width {
                g
            } else {
                imageops::resize(&g, width, h, imageops::FilterType::Triangle)
            })
        };
        let (lg, rg) = (gray(l)?, gray(r)?);
        let cfg = SgmConfig {
            max_disparity: nd,
            ..Default::default()
        };
        let t = Instant::now();
        let d = stereo::sgm(&lg, &rg, &cfg)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let truth = stereo::read_disparity(&media.join(gt), 1.0)?;
        let truth = stereo::downscale_truth(truth, lg.width(), lg.height());
        let s = stereo::score(&d, &truth)?;
        println!(
            "| {name} | {}×{} | {nd} | {:.1} % | {:.1} % | {:.1} % | {:.2} | {:.1} % | {ms:.0} |",
            lg.width(),
            lg.height(),
            100.0 * s.bad1,
            100.0 * s.bad2,
            100.0 * s.bad4,
            s.epe,
            100.0 * s.density
        );
    }
    Ok(())
}
