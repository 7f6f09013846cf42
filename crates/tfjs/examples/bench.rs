//! Speed of the TF.js runtime on the human-models graphs, one core unless `--threads N`.
//!
//! `cargo run --release -p dtr1-tfjs --example bench -- [--threads N] [--iters N] [IMAGE]`
//! prints a Markdown table (median and mean wall time per frame, after one warm-up run) and
//! the detections on the image (default `data/media/astronaut.png`).

use dtr1_tfjs::{nanodet::NanoDet, segment::PersonSegmenter};
use std::time::Instant;

fn time<T>(
    iters: usize,
    mut f: impl FnMut() -> Result<T, dtr1_tfjs::Error>,
) -> Result<(f64, f64), dtr1_tfjs::Error> {
    f()?;
    let mut ms = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], ms.iter().sum::<f64>() / ms.len() as f64))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut threads = 1;
    let mut iters = 10;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut image = root.join("data/media/astronaut.png");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--iters" => iters = args.next().ok_or("--iters N")?.parse::<usize>()?.max(1),
            _ => image = a.into(),
        }
    }
    let img = image::open(&image)
        .map_err(|e| format!("cannot read {}: {e}", image.display()))?
        .to_rgb8();
    let dir = dtr1_tfjs::default_model_dir();
    let t = Instant::now();
    let mut det = NanoDet::load(&dir)?;
    let load_det = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut seg = PersonSegmenter::load(&dir)?;
    let load_seg = t.elapsed().as_secs_f64() * 1e3;
    det.set_threads(threads);
    seg.set_threads(threads);
    let (w, h) = img.dimensions();
    println!(
        "image {} ({w}×{h}), {threads} thread(s), {iters} timed runs after one warm-up\n",
        image.display()
    );
    println!("| model | input | load ms | median ms/frame | mean ms/frame |");
    println!("|---|---|---:|---:|---:|");
    let (med, mean) = time(iters, || det.detect(&img, 0.3))?;
    println!(
        "| nanodet (detect, incl. pre/post) | 416×416 | {load_det:.0} | {med:.1} | {mean:.1} |"
    );
    let (med, mean) = time(iters, || seg.segment(&img))?;
    println!("| selfie (segment, incl. resize) | 256×256 | {load_seg:.0} | {med:.1} | {mean:.1} |");
    println!();
    if std::env::var_os("DTR1_TFJS_PROFILE").is_some() {
        let mut p: Vec<(String, f64)> = det.profile(&img)?.into_iter().collect();
        p.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (op, ms) in p {
            println!("{op:>16} {ms:8.1} ms");
        }
    }
    for d in det.detect(&img, 0.3)? {
        println!(
            "{:>14} {:.3} [{:.1}, {:.1}, {:.1}, {:.1}]",
            d.label, d.score, d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]
        );
    }
    Ok(())
}
