//! Renders a TwinBench clip as a contact sheet (every 4th frame) and prints its events:
//! `cargo run -p dtr1-twinbench --example render_clip SEED OUT.png`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let out = args.get(2).cloned().unwrap_or_else(|| "clip.png".into());
    let clip = dtr1_twinbench::video::render(&Default::default(), seed).expect("clip renders");
    let (w, h) = clip.frames[0].dimensions();
    let picks: Vec<usize> = (0..clip.frames.len()).step_by(4).collect();
    let mut sheet = image::RgbImage::new(w * 4, h * picks.len().div_ceil(4) as u32);
    for (k, &f) in picks.iter().enumerate() {
        image::imageops::replace(
            &mut sheet,
            &clip.frames[f],
            i64::from(w * (k as u32 % 4)),
            i64::from(h * (k as u32 / 4)),
        );
    }
    sheet.save(&out).expect("writable output");
    for o in &clip.objects {
        println!("@{} {} {} {}", o.id, o.color, o.material, o.shape);
    }
    for e in &clip.events {
        println!("f={} {:?} {:?}", e.frame, e.kind, e.tracks);
    }
}
