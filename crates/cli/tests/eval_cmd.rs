//! `dtr1 eval` and `dtr1 prompt` end to end on a small generated TwinBench.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dtr1(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dtr1"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// A fresh directory under the system's temporary directory, removed when dropped.
struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("dtr1-eval-cmd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn generate(dir: &Path) {
    let out = dtr1(&[
        "data",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenes",
        "20",
        "--clips",
        "10",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

/// `dtr1 eval` of the train split of `data` by `answerer`, reports written to `out_dir`.
fn eval_train_split(data: &Path, answerer: &str, out_dir: &Path) -> Output {
    dtr1(&[
        "eval",
        data.to_str().unwrap(),
        "--split",
        "train",
        "--answerer",
        answerer,
        "--resamples",
        "100",
        "--out",
        out_dir.to_str().unwrap(),
    ])
}

#[test]
fn eval_prints_the_table_and_writes_reports() {
    let tmp = Tmp::new("eval");
    let data = tmp.path().join("tb");
    generate(&data);
    let out_dir = tmp.path().join("report");
    let out = eval_train_split(&data, "oracle", &out_dir);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("| image-reasonseg |"), "{t}");
    assert!(
        t.contains("| image-grounding | ") && t.contains("Acc@0.5 | 100.0"),
        "{t}"
    );
    for f in ["report.md", "report.json", "samples.jsonl"] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }

    let out = dtr1(&[
        "eval",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--answerer",
        "baseline",
        "--resamples",
        "100",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Answerer `baseline`"));

    let out = dtr1(&[
        "eval",
        data.to_str().unwrap(),
        "--split",
        "nope",
        "--answerer",
        "oracle",
    ]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("error:") && t.contains("no split \"nope\""),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn prompt_prints_the_messages_and_the_trace() {
    let tmp = Tmp::new("prompt");
    let data = tmp.path().join("tb");
    generate(&data);
    let out = dtr1(&[
        "prompt",
        data.to_str().unwrap(),
        "--split",
        "val",
        "--sample",
        "0",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for part in [
        "--- system ---",
        "--- user ---",
        "Query: ",
        "--- solver trace ---",
        "<answer>",
    ] {
        assert!(t.contains(part), "{part} missing from\n{t}");
    }
    let out = dtr1(&["prompt", data.to_str().unwrap(), "--sample", "100000"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("out of range"), "{}", text(&out));
}

#[test]
fn compare_pairs_two_runs_and_names_the_better_one() {
    let tmp = Tmp::new("compare");
    let data = tmp.path().join("tb");
    generate(&data);
    let run = |answerer: &str| {
        let dir = tmp.path().join(answerer);
        let out = eval_train_split(&data, answerer, &dir);
        assert!(out.status.success(), "{}", text(&out));
        dir
    };
    let (base, oracle) = (run("baseline"), run("oracle"));
    let row = |t: &str, bench: &str, metric: &str| {
        t.lines()
            .find(|l| l.starts_with(&format!("| {bench} | {metric} |")))
            .unwrap_or_else(|| panic!("no {bench} {metric} row in\n{t}"))
            .to_string()
    };
    let out = dtr1(&["compare", base.to_str().unwrap(), oracle.to_str().unwrap()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // The solver is exact; keyword matching misses every spatial query.
    assert!(
        row(&t, "image-reasonseg", "gIoU").ends_with("| B better |"),
        "{t}"
    );
    assert!(
        row(&t, "image-reasonseg", "gIoU").contains("| 100.0 | +"),
        "{t}"
    );
    let out = dtr1(&["compare", oracle.to_str().unwrap(), base.to_str().unwrap()]);
    assert!(row(&text(&out), "image-reasonseg", "gIoU").ends_with("| A better |"));
    // A run against itself: no difference anywhere, on every benchmark of the split.
    let out = dtr1(&["compare", base.to_str().unwrap(), base.to_str().unwrap()]);
    let t = text(&out);
    let rows: Vec<&str> = t
        .lines()
        .filter(|l| l.starts_with("| image-") || l.starts_with("| video-"))
        .collect();
    assert!(rows.len() >= 6, "{t}");
    assert!(rows.iter().all(|r| r.ends_with("| no difference |")), "{t}");

    let out = dtr1(&[
        "compare",
        base.join("samples.jsonl").to_str().unwrap(),
        oracle.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &v.as_array().unwrap()[0];
    assert_eq!(first["benchmark"], "image-reasonseg");
    assert_eq!(first["verdict"], "b_better");

    let missing = tmp.path().join("nope");
    let out = dtr1(&[
        "compare",
        missing.to_str().unwrap(),
        oracle.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert!(!out.status.success());
    assert!(t.contains("error:") && t.contains("nope"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}
