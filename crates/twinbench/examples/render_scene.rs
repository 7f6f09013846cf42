//! Renders one TwinBench scene to a PNG: `cargo run -p dtr1-twinbench --example render_scene SEED OUT.png`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let out = args.get(2).cloned().unwrap_or_else(|| "scene.png".into());
    let scene = dtr1_twinbench::scene::render(&Default::default(), seed).expect("scene renders");
    std::fs::write(&out, scene.png()).expect("writable output");
    for o in &scene.objects {
        println!(
            "#{} {} {} {} {} area={}",
            o.id,
            o.color,
            o.material,
            o.size,
            o.shape,
            o.mask.area()
        );
    }
}
