//! The `dtr1` binary end to end: the README's example, and bad input giving clear errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn dtr1(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dtr1"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dtr1-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn prints_the_example_twin_in_compact_form() {
    let out = dtr1(&["twin", repo("examples/desk.twin.json").to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("image 640x480\n#1 laptop"), "{text}");
    assert_eq!(text.lines().count(), 7);
    let out = dtr1(&[
        "twin",
        repo("examples/marbles.video-twin.json").to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("event f=13 collide 1,2"), "{text}");
}

#[test]
fn json_output_loads_back() {
    let out = dtr1(&[
        "twin",
        "--json",
        repo("examples/desk.twin.json").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let twin = dtr1_twin::Twin::from_json(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert!(matches!(twin, dtr1_twin::Twin::Image(t) if t.objects.len() == 6));
}

#[test]
fn bad_input_gets_a_named_error_not_a_panic() {
    let cases = [
        (tmp("trunc.json", "{\"width\": 3"), "malformed"),
        (tmp("list.json", "[1, 2]"), "top level"),
        (
            tmp(
                "bad-rle.json",
                r#"{"width":2,"height":2,"objects":[{"id":1,"label":"a","mask":{"size":[2,2],"counts":"~~"}}]}"#,
            ),
            "outside the alphabet",
        ),
        (
            tmp(
                "bad-box.json",
                r#"{"width":10,"height":10,"objects":[{"id":1,"label":"a","bbox":[0,0,20,5]}]}"#,
            ),
            "/objects/0/bbox",
        ),
        (PathBuf::from("/nonexistent/twin.json"), "cannot read"),
    ];
    for (path, want) in cases {
        let out = dtr1(&["twin", path.to_str().unwrap()]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(want), "{path:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn validate_reports_every_file() {
    let bad = tmp(
        "two-problems.json",
        r#"{"width":10,"height":10,"objects":[{"id":1,"label":"a","bbox":[0,0,5,5]},{"id":1,"label":"b","bbox":[0,0,5,5],"relations":[{"kind":"near","to":9}]}]}"#,
    );
    let good = repo("examples/desk.twin.json");
    let out = dtr1(&[
        "validate",
        "--partial",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("/objects/1/id") && text.contains("/objects/1/relations/0/to"),
        "{text}"
    );
    assert!(text.contains("desk.twin.json: ok"), "{text}");
}

#[test]
fn schema_is_the_committed_one() {
    let out = dtr1(&["schema"]);
    let committed = std::fs::read_to_string(repo("schema/twin.schema.json")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

#[test]
fn data_generate_and_stats() {
    let dir = std::env::temp_dir().join(format!("dtr1-cli-data-{}", std::process::id()));
    let out = dtr1(&[
        "data",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenes",
        "6",
        "--clips",
        "1",
        "--seed",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("train:") && text.contains("manifest.json"),
        "{text}"
    );
    let out = dtr1(&["data", "stats", dir.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("| train | image-vqa |"), "{text}");
    // Clip 0 lands in the test split with the three video benchmarks, or (its summary telling
    // of a held-out colour–shape pair) in the compositional held-out split.
    assert!(
        text.contains("| test | video-summary |") || text.contains("| heldout | video-summary |"),
        "{text}"
    );
    let out = dtr1(&[
        "data",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenes",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("scenes = 0"));
    let out = dtr1(&["data", "stats", "/nonexistent-dataset"]);
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("manifest.json"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn twin_from_an_image_and_imported_detections() {
    let dir = std::env::temp_dir().join(format!("dtr1-cli-perceive-{}", std::process::id()));
    let out = dtr1(&[
        "data",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenes",
        "1",
        "--clips",
        "0",
    ]);
    assert!(out.status.success());
    let twin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("twins/scene_00000.json")).unwrap())
            .unwrap();
    let anns: Vec<serde_json::Value> = twin["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| serde_json::json!({"class_name": o["label"], "segmentation": o["mask"], "score": 0.9}))
        .collect();
    let dump = dir.join("gsam.json");
    std::fs::write(&dump, serde_json::json!({"annotations": anns}).to_string()).unwrap();
    let img = dir.join("images/scene_00000.png");
    let out = dtr1(&[
        "twin",
        img.to_str().unwrap(),
        "--detections",
        dump.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("image 480x320\n#1 "), "{text}");
    assert_eq!(text.lines().count(), anns.len() + 1);
    assert!(text.contains("mask_source=import"), "{text}");
    let out = dtr1(&[
        "twin",
        dump.to_str().unwrap(),
        "--detections",
        dump.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot read image"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn chat_answers_with_the_default_model() {
    // Greedy decoding is deterministic; the set-up script fetched SmolLM2-135M-Instruct.
    let out = dtr1(&["chat", "What is the capital of France?"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Paris"), "{text}");
    let out = dtr1(&["chat", "hi", "--model", "/nonexistent/model.gguf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot load the model"));
    let out = dtr1(&["chat", "hi", "--max-tokens", "0"]);
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("--max-tokens 0"));
}
