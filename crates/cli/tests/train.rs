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

#[test]
fn a_run_records_its_prompt_version_with_every_adapter_it_writes() {
    let d = dir("version");
    let data = d.join("data");
    let o = dtr1(&[
        "data",
        "generate",
        "--out",
        data.to_str().unwrap(),
        "--scenes",
        "2",
        "--clips",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg = d.join("sft.toml");
    std::fs::write(
        &cfg,
        "[sft]\nepochs = 1\nbatch_size = 2\ncheckpoint_every = 1\n[lora]\nrank = 2\nalpha = 4.0\ntop_layers = 1\n",
    )
    .unwrap();
    let run = d.join("run");
    let sft = |extra: &[&str]| {
        let mut args = vec![
            "sft",
            "--data",
            data.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--split",
            "val",
            "--limit",
            "2",
        ];
        args.extend_from_slice(extra);
        dtr1(&args)
    };
    let o = sft(&["--prompt-version", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("prompt version 1"), "{}", stderr(&o));
    let record = |p: PathBuf| -> String {
        std::fs::read_to_string(p.join("dtr1_prompt.json"))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    assert!(record(run.clone()).contains("\"1\""));
    assert!(record(run.join("adapter")).contains("\"1\""));
    let latest = std::fs::read_to_string(run.join("latest")).unwrap();
    assert!(record(run.join(latest.trim()).join("adapter")).contains("\"1\""));
    // Resuming under another version is refused, naming both.
    let o = sft(&["--resume", "--prompt-version", "2"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("--prompt-version 2") && e.contains("version 1"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    // GRPO from that adapter takes its version by default.
    let grpo = d.join("grpo.toml");
    std::fs::write(
        &grpo,
        "[grpo]\nsteps = 1\nprompts_per_step = 1\ngroup_size = 2\nmax_completion_tokens = 4\ncheckpoint_every = 0\n[lora]\nrank = 2\nalpha = 4.0\ntop_layers = 1\n",
    )
    .unwrap();
    let train = d.join("train");
    let o = dtr1(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--config",
        grpo.to_str().unwrap(),
        "--out",
        train.to_str().unwrap(),
        "--init-adapter",
        run.join("adapter").to_str().unwrap(),
        "--split",
        "val",
        "--limit",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("prompt version 1"), "{}", stderr(&o));
    assert!(record(train.join("adapter")).contains("\"1\""));
    // A damaged record is an error, not a silent version 1.
    std::fs::write(run.join("adapter").join("dtr1_prompt.json"), "{").unwrap();
    let o = dtr1(&[
        "eval",
        data.to_str().unwrap(),
        "--split",
        "val",
        "--answerer",
        "policy",
        "--adapter",
        run.join("adapter").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("dtr1_prompt.json"), "{}", stderr(&o));
}
