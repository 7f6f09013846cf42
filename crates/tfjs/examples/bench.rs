//! Speed of the TF.js runtime on the human-models graphs, one core unless `--threads N`.
//!
//! `cargo run --release -p dtr1-tfjs --example bench -- [--threads N] [--iters N] [IMAGE]`
//! prints a Markdown table (median wall time and median CPU time of the calling thread per
//! frame, after one warm-up run) and the detections on the image (default
//! `data/media/astronaut.png`). With one thread all work runs on the calling thread, so its CPU
//! time is the compute cost even when other processes share the cores.

use dtr1_tfjs::{nanodet::NanoDet, segment::PersonSegmenter};
use std::time::Instant;

/// CPU time consumed by the calling thread, in milliseconds.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median wall and thread-CPU milliseconds per call.
fn time<T>(
    iters: usize,
    mut f: impl FnMut() -> Result<T, dtr1_tfjs::Error>,
) -> Result<(f64, f64), dtr1_tfjs::Error> {
    f()?;
    let (mut wall, mut cpu) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    for _ in 0..iters {
        let (t, c) = (Instant::now(), thread_cpu_ms());
        f()?;
        cpu.push(thread_cpu_ms() - c);
        wall.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((median(wall), median(cpu)))
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
    println!("| model | input | load ms | wall ms/frame (median) | CPU ms/frame (median, calling thread) |");
    println!("|---|---|---:|---:|---:|");
    let (wall, cpu) = time(iters, || det.detect(&img, 0.3))?;
    println!(
        "| nanodet (detect, incl. pre/post) | 416×416 | {load_det:.0} | {wall:.1} | {cpu:.1} |"
    );
    let (wall, cpu) = time(iters, || seg.segment(&img))?;
    println!("| selfie (segment, incl. resize) | 256×256 | {load_seg:.0} | {wall:.1} | {cpu:.1} |");
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
