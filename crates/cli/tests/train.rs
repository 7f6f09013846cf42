//! `dtr1 plot`, `dtr1 train` and `dtr1 sft` from the outside: curves are drawn from a run's
//! metrics, and bad configurations, data and metrics files give errors that name the problem.

use std::path::PathBuf;
use std::process::{Command, Output};

fn dtr1(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dtr1"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dtr1-train-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn plot_draws_grpo_and_sft_curves() {
    let d = dir("plot");
    let mut grpo = String::new();
    for s in 0..12 {
        let r = 0.3 + 0.05 * s as f64;
        grpo.push_str(&format!(
            "{{\"step\":{s},\"reward\":{r},\"accuracy\":{},\"kl\":{},\"completion_len\":{},\"tasks\":{{\"image-vqa\":{{\"n\":8,\"reward\":{r},\"accuracy\":0.5}},\"image-grounding\":{{\"n\":8,\"reward\":{r},\"accuracy\":0.25}}}}}}\n",
            r / 2.0,
            0.001 * s as f64,
            40 + s
        ));
    }
    std::fs::write(d.join("metrics.jsonl"), grpo).unwrap();
    let o = dtr1(&["plot", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(d.join("curves.png")).unwrap().to_rgb8();
    // Four panels (reward, accuracy, KL, length) in a 2 × 2 grid.
    assert_eq!(img.dimensions(), (840, 520));
    // The lines are drawn: some pixels carry the first series' blue.
    assert!(img.pixels().filter(|p| p.0 == [31, 119, 180]).count() > 100);

    let sft = d.join("sft.jsonl");
    std::fs::write(
        &sft,
        "{\"step\":0,\"loss\":2.0,\"lr\":0.001}\n{\"step\":1,\"loss\":1.5,\"lr\":0.001}\n",
    )
    .unwrap();
    let png = d.join("sft.png");
    let o = dtr1(&[
        "plot",
        sft.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        image::open(&png).unwrap().to_rgb8().dimensions(),
        (840, 260)
    );
}

#[test]
fn bad_metrics_configs_and_data_are_named() {
    let d = dir("bad");
    std::fs::write(
        d.join("metrics.jsonl"),
        "{\"step\":0,\"reward\":1}\nnot json\n",
    )
    .unwrap();
    let o = dtr1(&["plot", d.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("metrics.jsonl:2"), "{}", stderr(&o));

    let cfg = d.join("bad.toml");
    for (text, needle) in [
        ("[grpo]\ngroup_size = 1\n", "grpo.group_size"),
        ("[grpo]\ntemperature = 0.0\n", "grpo.temperature"),
        ("[grpo]\nepsilon_low = 1.5\n", "grpo.epsilon_low"),
        ("[lora]\ntargets = [\"qproj\"]\n", "unknown module `qproj`"),
        ("[optim]\nlearning_rate = 0.1\n", "learning_rate"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        for cmd in ["train", "sft"] {
            let o = dtr1(&[
                cmd,
                "--data",
                d.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "--out",
                d.join("run").to_str().unwrap(),
            ]);
            assert!(!o.status.success());
            let e = stderr(&o);
            assert!(
                e.contains(needle) && e.contains("bad.toml"),
                "{cmd} {text:?}: {e}"
            );
            assert!(!e.contains("panicked"), "{e}");
        }
    }

    // A directory that is not a dataset.
    let o = dtr1(&[
        "train",
        "--data",
        d.join("nope").to_str().unwrap(),
        "--out",
        d.join("run").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("nope") && !e.contains("panicked"), "{e}");
}
