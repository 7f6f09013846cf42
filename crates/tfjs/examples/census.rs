//! Op census of TF.js graph models: which ops they use, how often, and whether dtr1-tfjs
//! implements them.
//!
//! `cargo run -p dtr1-tfjs --example census -- models/human/nanodet.json models/human/selfie.json`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        return Err("usage: census MODEL.json…".into());
    }
    for p in paths {
        println!("{p}");
        println!("| op | nodes | supported |");
        println!("|---|---:|---|");
        for (op, (n, ok)) in dtr1_tfjs::census(std::path::Path::new(&p))? {
            println!("| {op} | {n} | {} |", if ok { "yes" } else { "NO" });
        }
    }
    Ok(())
}
