//! `dtr1 ask` end to end: the `--json` output contract (validated against
//! `docs/ask.schema.json`), the six benchmark tasks asked on a generated TwinBench, `--twin`
//! input, the structure check naming ids that do not exist, self-consistency voting, and
//! errors for bad queries, media, twins and remote policies.
//!
//! The local policy is the real default model with few new tokens (the base model rarely
//! finishes a rollout in so few; the contract must hold for any completion). Deterministic
//! completions come from a loopback server speaking the OpenAI chat-completions wire format,
//! a stand-in for vLLM / llama.cpp, which cannot run here.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

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

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small TwinBench (10 scenes, 2 clips of 32 frames), generated once with the binary.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("dtr1-ask-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let out = dtr1(&[
            "data",
            "generate",
            "--out",
            s(&d.join("tb")),
            "--scenes",
            "10",
            "--clips",
            "2",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        d
    })
}

/// The six benchmarks with the `--task` each is asked with.
const SIX_TASKS: [(&str, &str); 6] = [
    ("image-reasonseg", "reasonseg"),
    ("image-grounding", "grounding"),
    ("image-vqa", "vqa"),
    ("video-reasonseg", "reasonseg"),
    ("video-vqa", "vqa"),
    ("video-summary", "summary"),
];

/// The first sample of `task` in any split: (media path, query, twin path).
fn sample(task: &str) -> (PathBuf, String, PathBuf) {
    let tb = dir().join("tb");
    for split in ["train", "val", "test", "heldout"] {
        let Ok(lines) = std::fs::read_to_string(tb.join(format!("{split}.jsonl"))) else {
            continue;
        };
        for l in lines.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            if v["task"] == task {
                let media = match v["media"]["kind"].as_str().unwrap() {
                    "image" => tb.join(v["media"]["path"].as_str().unwrap()),
                    _ => tb
                        .join(v["media"]["frames"][0].as_str().unwrap())
                        .parent()
                        .unwrap()
                        .to_path_buf(),
                };
                return (
                    media,
                    v["query"].as_str().unwrap().to_string(),
                    tb.join(v["twin"].as_str().unwrap()),
                );
            }
        }
    }
    panic!("no {task} sample");
}

// ------------------------------------------------------------- schema validation

fn schema() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ask.schema.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    })
}

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        other => panic!("schema type {other} is not handled"),
    }
}

/// Checks `v` against the subset of JSON Schema that docs/ask.schema.json uses ($ref to
/// $defs, type, enum, required, properties, additionalProperties, items, oneOf, minimum,
/// maximum); returns every violation with its path. Unknown keywords fail the test, so the
/// schema cannot grow past what is checked here.
fn validate(v: &Value, sch: &Value, at: &str, errs: &mut Vec<String>) {
    let sch = match sch.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("local $ref");
            &schema()["$defs"][name]
        }
        None => sch,
    };
    for k in sch.as_object().unwrap().keys() {
        assert!(
            [
                "$schema",
                "$id",
                "$defs",
                "$ref",
                "title",
                "description",
                "type",
                "enum",
                "required",
                "properties",
                "additionalProperties",
                "items",
                "oneOf",
                "minimum",
                "maximum"
            ]
            .contains(&k.as_str()),
            "schema keyword {k} at {at} is not checked by this test"
        );
    }
    if let Some(t) = sch.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
            _ => panic!("bad type at {at}"),
        };
        if !types.iter().any(|t| type_ok(v, t)) {
            errs.push(format!("{at}: {v} is not of type {types:?}"));
            return;
        }
    }
    if let Some(e) = sch.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let Some(n) = v.as_f64() {
        if sch
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n < m)
        {
            errs.push(format!("{at}: {n} is below the minimum"));
        }
        if sch
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n > m)
        {
            errs.push(format!("{at}: {n} is above the maximum"));
        }
    }
    if let Some(alts) = sch.get("oneOf").and_then(Value::as_array) {
        let passing = alts
            .iter()
            .filter(|a| {
                let mut e = Vec::new();
                validate(v, a, at, &mut e);
                e.is_empty()
            })
            .count();
        if passing != 1 {
            errs.push(format!("{at}: {passing} of the oneOf alternatives match"));
        }
    }
    if let Some(o) = v.as_object() {
        for r in sch
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !o.contains_key(r.as_str().unwrap()) {
                errs.push(format!("{at}: missing required key {r}"));
            }
        }
        let props = sch.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(x, ps, &format!("{at}/{k}"), errs),
                None => match sch.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{at}: unexpected key {k}")),
                    Some(ps @ Value::Object(_)) => validate(x, ps, &format!("{at}/{k}"), errs),
                    _ => {}
                },
            }
        }
    }
    if let (Some(a), Some(items)) = (v.as_array(), sch.get("items")) {
        for (i, x) in a.iter().enumerate() {
            validate(x, items, &format!("{at}/{i}"), errs);
        }
    }
}

/// Runs `dtr1 ask … --json`, checks success and the schema, returns the output.
fn ask_json(args: &[&str]) -> Value {
    let mut all = vec!["ask"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = dtr1(&all);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    let mut errs = Vec::new();
    validate(&v, schema(), "", &mut errs);
    assert!(errs.is_empty(), "schema violations: {errs:#?}\n{v:#}");
    v
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let mut errs = Vec::new();
    // Version 1 is the output before `policy.prompt_version`: not one of the versions allowed.
    validate(&serde_json::json!({"version": 1}), schema(), "", &mut errs);
    assert!(
        errs.iter().any(|e| e.contains("missing required key")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.contains("is not one of")), "{errs:?}");
    let mut errs = Vec::new();
    validate(
        &serde_json::json!({"size": [2, 2], "counts": 4, "x": 1}),
        &serde_json::json!({"$ref": "#/$defs/rle"}),
        "",
        &mut errs,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
}

// ------------------------------------------------------------- loopback policy server

/// An OpenAI-compatible chat-completions server on loopback: each request is answered with
/// `answer(seed)` (the request's seed picks the completion, as a seeded sampler would).
fn server(answer: impl Fn(u64) -> String + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut st) = conn else { return };
            let mut r = BufReader::new(st.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut buf = vec![0; len];
            if r.read_exact(&mut buf).is_err() {
                continue;
            }
            let req: Value = serde_json::from_slice(&buf).unwrap();
            let content = answer(req["seed"].as_u64().unwrap_or(0));
            let body = serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}).to_string();
            let _ = write!(
                st,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn twin_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

// ------------------------------------------------------------- tests

#[test]
fn the_committed_adapter_answers_in_the_rollout_format_by_default() {
    // No --adapter: `dtr1 ask` loads adapters/dtr1-smollm2-135m, the trained policy. The base
    // model almost never writes the three blocks; the trained one must, on (nearly) every task.
    let out_root = dir().join("committed");
    let mut well_formed = Vec::new();
    for (task, kind) in SIX_TASKS {
        let (media, query, _) = sample(task);
        let v = ask_json(&[
            s(&media),
            &query,
            "--task",
            kind,
            "--out",
            s(&out_root.join(task)),
        ]);
        let desc = v["policy"]["description"].as_str().unwrap();
        assert!(desc.contains("dtr1-smollm2-135m"), "{desc}");
        // The committed adapter predates prompt versioning: version 1 prompts.
        assert_eq!(v["policy"]["prompt_version"], "1", "{v:#}");
        let check = &v["rollout"]["check"];
        if check["format_ok"] == true && v["answer"]["valid"] == true {
            well_formed.push(task);
            assert!(check["structure"].as_f64().unwrap() > 0.5, "{task}: {v:#}");
        }
    }
    assert!(
        well_formed.len() >= 5,
        "well-formed only on {well_formed:?}"
    );
}

#[test]
fn each_benchmark_task_is_asked_on_twinbench_with_the_local_model() {
    let out_root = dir().join("six");
    for (task, kind) in SIX_TASKS {
        let (media, query, _) = sample(task);
        let out = out_root.join(task);
        let v = ask_json(&[
            s(&media),
            &query,
            "--task",
            kind,
            "--no-adapter",
            "--max-new-tokens",
            "4",
            "--out",
            s(&out),
        ]);
        assert_eq!(v["task"]["name"], task);
        assert_eq!(v["task"]["chosen_by"], "flag");
        assert_eq!(v["policy"]["kind"], "local");
        assert_eq!(
            v["policy"]["prompt_version"],
            dtr1_prompt::PromptVersion::LATEST.to_string()
        );
        assert!(
            v["policy"]["description"]
                .as_str()
                .unwrap()
                .contains("base model"),
            "{v:#}"
        );
        assert!(v["timings"]["prompt_tokens"].as_u64().unwrap() > 50);
        assert!(v["timings"]["generated_tokens"].as_u64().unwrap() <= 4);
        assert!(v["rollout"]["completion"].is_string());
        assert!(out.join("answer.json").is_file());
        if task.starts_with("image") {
            assert_eq!(v["input"]["kind"], "image");
            let pic = image::open(out.join("answer.png")).unwrap();
            assert_eq!(pic.width(), 480, "the picture keeps the image width");
        } else {
            assert_eq!(v["input"]["kind"], "video");
            assert_eq!(v["input"]["frames"], 32);
            assert!(out.join("sheet.png").is_file());
        }
        if task == "video-reasonseg" {
            // One mask per frame, even when the answer is empty.
            assert_eq!(v["pictures"]["mask_frames"], 32);
            assert!(out.join("masks/frame_00031.png").is_file());
        }
    }
}

#[test]
fn auto_task_follows_the_rule_and_says_why() {
    let url =
        server(|_| "<twin>{\"objects\": []}</twin><think>-</think><answer>two</answer>".into());
    let (img, _, twin) = sample("image-vqa");
    for (q, task, rule) in [
        ("How many pink objects are there?", "image-vqa", "rule 4"),
        ("Where is the red mug?", "image-grounding", "rule 3"),
        ("something to drink from", "image-reasonseg", "rule 5"),
    ] {
        let v = ask_json(&[s(&img), q, "--twin", s(&twin), "--remote", &url]);
        assert_eq!(v["task"]["name"], task, "{q}");
        assert_eq!(v["task"]["chosen_by"], "auto");
        assert!(
            v["task"]["reason"].as_str().unwrap().starts_with(rule),
            "{v:#}"
        );
    }
    let (clip, _, vtwin) = sample("video-summary");
    let v = ask_json(&[
        s(&clip),
        "Summarise what happens in the video.",
        "--twin",
        s(&vtwin),
        "--remote",
        &url,
    ]);
    assert_eq!(v["task"]["name"], "video-summary");
    assert_eq!(v["answer"]["text"], "two");
}

#[test]
fn twin_input_decodes_the_answer_and_names_ids_that_do_not_exist() {
    let (img, _, twin_path) = sample("image-reasonseg");
    let twin = twin_json(&twin_path);
    let first = &twin["objects"][0];
    let id = first["id"].as_u64().unwrap();
    let label = first["label"].as_str().unwrap().to_string();
    let completion = format!(
        "<twin>{{\"objects\": [{{\"id\": {id}, \"label\": \"{label}\"}}, {{\"id\": 999, \"label\": \"ghost\"}}]}}</twin>\n<think>the {label}</think>\n<answer>[{id}, 999]</answer>"
    );
    let url = server(move |_| completion.clone());
    let out = dir().join("twin-input");
    // The twin alone (no media): drawn on a blank canvas.
    let v = ask_json(&[
        "What could hold this?",
        "--twin",
        s(&twin_path),
        "--task",
        "reasonseg",
        "--remote",
        &url,
        "--out",
        s(&out),
    ]);
    assert_eq!(
        v["input"]["twin_source"].as_str().unwrap(),
        format!("file {}", s(&twin_path))
    );
    assert!(v["input"]["media"].is_null());
    assert_eq!(v["answer"]["ids"], serde_json::json!([id, 999]));
    // The mask is the one existing object's mask.
    assert_eq!(v["answer"]["mask"], first["mask"]);
    assert_eq!(v["rollout"]["think"], format!("the {label}"));
    let check = &v["rollout"]["check"];
    assert_eq!(check["format_ok"], true);
    let problems: Vec<&str> = check["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        problems.contains(&"cited id 999 is not in the input twin (no such object)"),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("lists object id 999, which is not in the input twin")),
        "{problems:?}"
    );
    assert!(check["structure"].as_f64().unwrap() < 1.0);
    assert_eq!(check["structure_checks"]["ids_exist"], 0.5);
    assert!(v["timings"]["prompt_tokens"].is_null());
    assert!(out.join("answer.png").is_file() && out.join("mask.png").is_file());
    let m = image::open(out.join("mask.png")).unwrap().to_luma8();
    let on = m.pixels().filter(|p| p.0[0] == 255).count() as u64;
    assert!(on > 0 && m.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));

    // The same twin with its image: drawn on the picture; the human output shows the check.
    let out = dtr1(&[
        "ask",
        s(&img),
        "What could hold this?",
        "--twin",
        s(&twin_path),
        "--task",
        "reasonseg",
        "--remote",
        &url,
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for want in [
        "task:   image-reasonseg (flag: --task reasonseg)",
        "--- <twin> the model wrote ---",
        "--- <think> ---",
        "cited id 999 is not in the input twin",
        "timings: twin build",
    ] {
        assert!(t.contains(want), "{want:?} missing in\n{t}");
    }
}

#[test]
fn grounding_draws_the_box_of_the_cited_object() {
    let (img, _, twin_path) = sample("image-grounding");
    let twin = twin_json(&twin_path);
    let o = &twin["objects"][1];
    let id = o["id"].as_u64().unwrap();
    let completion = format!(
        "<twin>{{\"objects\": [{{\"id\": {id}, \"label\": {}}}]}}</twin><think>it</think><answer>[{id}]</answer>",
        o["label"]
    );
    let url = server(move |_| completion.clone());
    let out = dir().join("grounding");
    let v = ask_json(&[
        s(&img),
        "the thing",
        "--task",
        "grounding",
        "--twin",
        s(&twin_path),
        "--remote",
        &url,
        "--out",
        s(&out),
    ]);
    assert_eq!(v["answer"]["box"], o["bbox"]);
    assert_eq!(v["rollout"]["check"]["problems"], serde_json::json!([]));
    // The box outline is drawn in red at its left edge, below the caption band.
    let pic = image::open(out.join("answer.png")).unwrap().to_rgb8();
    let band = pic.height() - 320;
    let b = o["bbox"].as_array().unwrap();
    let (x, y) = (
        b[0].as_f64().unwrap() as u32,
        ((b[1].as_f64().unwrap() + b[3].as_f64().unwrap()) / 2.0) as u32 + band,
    );
    assert_eq!(pic.get_pixel(x, y).0, [255, 40, 40]);
}

#[test]
fn self_consistency_votes_and_is_deterministic_with_a_seed() {
    // Remote: seeds 5, 6, 7 answer [1], [2], [1] — the IoU vote picks the first [1].
    let url = server(|seed| {
        let id = if seed == 6 { 2 } else { 1 };
        format!("<twin>{{\"objects\": [{{\"id\": {id}, \"label\": \"x\"}}]}}</twin><think>-</think><answer>[{id}]</answer>")
    });
    let (img, _, twin_path) = sample("image-reasonseg");
    let v = ask_json(&[
        s(&img),
        "segment it",
        "--twin",
        s(&twin_path),
        "--remote",
        &url,
        "--samples",
        "3",
        "--seed",
        "5",
    ]);
    assert_eq!(v["vote"]["method"], "medoid-iou");
    assert_eq!(v["vote"]["winner"], 0);
    assert_eq!(v["answer"]["ids"], serde_json::json!([1]));
    assert_eq!(v["vote"]["candidates"].as_array().unwrap().len(), 3);
    assert!(v["vote"]["candidates"][1]["answer"]
        .as_str()
        .unwrap()
        .starts_with("ids [2]"));

    // Local: three sampled rollouts, twice with the same seed, give the same vote.
    let (img, query, _) = sample("image-vqa");
    let run = || {
        ask_json(&[
            s(&img),
            &query,
            "--no-adapter",
            "--samples",
            "3",
            "--temperature",
            "1.0",
            "--seed",
            "11",
            "--max-new-tokens",
            "4",
        ])
    };
    let (a, b) = (run(), run());
    assert_eq!(a["vote"], b["vote"]);
    assert_eq!(a["rollout"]["completion"], b["rollout"]["completion"]);
    assert_eq!(a["sampling"]["temperature"], 1.0);
    assert_eq!(a["vote"]["candidates"].as_array().unwrap().len(), 3);
}

#[test]
fn bench_prints_the_latency_table() {
    let url =
        server(|_| "<twin>{\"objects\": []}</twin><think>-</think><answer>two</answer>".into());
    let (img, _, _) = sample("image-vqa");
    let out = dtr1(&[
        "ask",
        s(&img),
        "How many cubes?",
        "--remote",
        &url,
        "--bench",
        "--bench-runs",
        "2",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("| run | twin build | prompt tokens | generation (prefill + decode) |"),
        "{t}"
    );
    assert!(t.contains("| median |"), "{t}");
}

fn fails(args: &[&str], want: &str) {
    let mut all = vec!["ask"];
    all.extend_from_slice(args);
    let out = dtr1(&all);
    let t = text(&out);
    assert!(!out.status.success(), "succeeded: {t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(t.contains(want), "{want:?} not in: {t}");
}

#[test]
fn bad_input_gives_clear_errors() {
    let (img, _, twin_path) = sample("image-vqa");
    let img = s(&img).to_string();
    fails(&[&img, "   "], "the query is empty");
    let long = "why ".repeat(600);
    fails(&[&img, &long], "characters long; at most 2000");
    fails(
        &["/no/such/photo.png", "what?"],
        "/no/such/photo.png: no such file",
    );
    fails(&["what?"], "give the media and the query");
    let tmp = dir().join("bad");
    std::fs::create_dir_all(&tmp).unwrap();
    let corrupt = tmp.join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    fails(&[s(&corrupt), "what?", "--no-adapter"], "cannot read image");
    // A twin that fails validation: a duplicated object id.
    let mut t = twin_json(&twin_path);
    let dup = t["objects"][0].clone();
    t["objects"].as_array_mut().unwrap().push(dup);
    let bad_twin = tmp.join("dup.json");
    std::fs::write(&bad_twin, t.to_string()).unwrap();
    fails(
        &["what?", "--twin", s(&bad_twin), "--no-adapter"],
        "failed validation",
    );
    let not_json = tmp.join("not.json");
    std::fs::write(&not_json, "{").unwrap();
    fails(
        &["what?", "--twin", s(&not_json), "--no-adapter"],
        "is not a valid twin",
    );
    fails(
        &[&img, "what?", "--task", "summary", "--no-adapter"],
        "--task summary needs a video",
    );
    fails(&[&img, "what?", "--task", "caption"], "is not one of auto");
    fails(
        &[&img, "what?", "--samples", "0"],
        "--samples 0 must be within",
    );

    // A remote policy that accepts connections and never answers: a timeout, named.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().take(3) {
            held.push(c);
        }
        std::thread::sleep(std::time::Duration::from_secs(10));
    });
    fails(
        &[
            "what?",
            "--twin",
            s(&twin_path),
            "--remote",
            &url,
            "--timeout",
            "1",
        ],
        &format!("the remote policy at {url} did not answer"),
    );
    drop(keep);
    // A port nobody listens on: refused, named.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    fails(
        &["what?", "--twin", s(&twin_path), "--remote", &url],
        "gave up after 3 attempts",
    );
    fails(
        &["what?", "--twin", s(&twin_path), "--remote", "https://x"],
        "must start with http://",
    );
}

/// The two ids an id answer cites: for grounding, two objects whose union box is not the
/// first one's box (so a decoder taking the first cited object would be caught); otherwise
/// the first two objects or tracks with a mask.
fn two_ids(task: dtr1_data::Task, twin: &dtr1_twin::Twin) -> [(u32, String); 2] {
    use dtr1_twin::Twin;
    let cands: Vec<(u32, String, Option<[f64; 4]>)> = match twin {
        Twin::Image(t) => t
            .objects
            .iter()
            .filter(|o| o.mask.is_some() && o.bbox.is_some())
            .map(|o| (o.id, o.label.clone(), o.bbox))
            .collect(),
        Twin::Video(v) => v
            .tracks
            .iter()
            .filter(|t| t.frames.values().any(|f| f.mask.is_some()))
            .map(|t| (t.id, t.label.clone(), None))
            .collect(),
    };
    for (i, a) in cands.iter().enumerate() {
        for b in &cands[i + 1..] {
            let grows = match (a.2, b.2) {
                (Some(x), Some(y)) => y[0] < x[0] || y[1] < x[1] || y[2] > x[2] || y[3] > x[3],
                _ => true,
            };
            if task != dtr1_data::Task::ImageGrounding || grows {
                return [(a.0, a.1.clone()), (b.0, b.1.clone())];
            }
        }
    }
    panic!(
        "no two objects to cite in the twin of a {} sample",
        task.name()
    );
}

/// A score of 1 up to the metrics' smoothing terms.
fn perfect(x: f64) -> bool {
    (x - 1.0).abs() < 1e-6
}

#[test]
fn the_reward_eval_ask_and_serve_decode_one_rollout_per_task_alike() {
    use dtr1_data::{GroundTruth, Task};
    use dtr1_reward::answer::Decoded;
    use dtr1_twin::Twin;
    let tb = dir().join("tb");
    let prepared: Vec<dtr1_eval::PreparedSample> = ["train", "val", "test", "heldout"]
        .iter()
        .filter_map(|s| dtr1_eval::prepare(&tb, s, dtr1_prompt::PromptVersion::V1).ok())
        .flatten()
        .collect();
    for (name, flag) in SIX_TASKS {
        let task = Task::from_name(name).unwrap();
        let mut p = prepared
            .iter()
            .find(|p| p.sample.task == task)
            .unwrap_or_else(|| panic!("no {name} sample"))
            .clone();
        // One rollout: a sub-twin listing what the answer rests on, and the answer.
        let (listed, answer) = if task.answers_with_ids() {
            let ids = two_ids(task, &p.twin);
            let answer = format!("[{}, {}]", ids[0].0, ids[1].0);
            (ids.to_vec(), answer)
        } else {
            let first = match &p.twin {
                Twin::Image(t) => (t.objects[0].id, t.objects[0].label.clone()),
                Twin::Video(v) => (v.tracks[0].id, v.tracks[0].label.clone()),
            };
            let text = match task {
                // The solver's summary, which tells the twin's events (the reward pays a
                // summary for its event match).
                Task::VideoSummary => {
                    let trace = dtr1_prompt::solver::solve(p.version, &p.sample, &p.twin)
                        .unwrap()
                        .completion();
                    dtr1_reward::rollout::parse(&trace).answer.unwrap()
                }
                _ => "two".to_string(),
            };
            (vec![first], text)
        };
        let key = if task.is_video() { "tracks" } else { "objects" };
        let entries: Vec<String> = listed
            .iter()
            .map(|(id, label)| format!("{{\"id\": {id}, \"label\": {label:?}}}"))
            .collect();
        let completion = format!(
            "<twin>{{\"{key}\": [{}]}}</twin>\n<think>because</think>\n<answer>{answer}</answer>",
            entries.join(", ")
        );

        // The answer layer's reading.
        let reading = dtr1_reward::answer::read(task, &p.twin, &completion);
        assert!(
            reading.problems.is_empty(),
            "{name}: {:?}",
            reading.problems
        );
        // The label that this decoding matches exactly, so each consumer that decodes the
        // same thing scores it perfectly.
        let ids = Some(listed.iter().map(|l| l.0).collect::<Vec<_>>());
        p.sample.truth = match (&reading.decoded, task) {
            (Decoded::Mask(m), Task::ImageReasonseg) => GroundTruth::Mask {
                mask: m.clone(),
                ignore: None,
                ids,
            },
            (Decoded::Box(b), Task::ImageGrounding) => {
                let Twin::Image(t) = &p.twin else { panic!() };
                let bb: Vec<[f64; 4]> = listed
                    .iter()
                    .map(|l| t.object(l.0).unwrap().bbox.unwrap())
                    .collect();
                // The union box of the cited objects, not the first one's.
                let union = [
                    bb[0][0].min(bb[1][0]),
                    bb[0][1].min(bb[1][1]),
                    bb[0][2].max(bb[1][2]),
                    bb[0][3].max(bb[1][3]),
                ];
                assert_eq!(*b, union, "{name}");
                assert_ne!(*b, bb[0], "{name}");
                GroundTruth::Box { bbox: *b, ids }
            }
            (Decoded::FrameMasks(ms), Task::VideoReasonseg) => {
                assert!(!ms.is_empty(), "{name}");
                GroundTruth::VideoMasks {
                    masks: ms.clone(),
                    ids,
                }
            }
            (Decoded::Text(t), Task::ImageVqa | Task::VideoVqa) => GroundTruth::Answers {
                answers: vec![t.clone()],
                ids: None,
            },
            (Decoded::Text(t), Task::VideoSummary) => GroundTruth::Summaries {
                references: vec![t.clone()],
                ids: None,
            },
            (d, _) => panic!("{name}: decoded {d:?}"),
        };

        // The reward.
        let req = dtr1_reward::Request {
            task,
            query: &p.sample.query,
            twin: &p.twin,
            truth: &p.sample.truth,
            cider: None,
        };
        let cfg = dtr1_reward::RewardConfig::default();
        let r = dtr1_reward::score(&completion, &req, &cfg);
        assert_eq!(r.format, 1.0, "{name}: {:?}", r.problems);
        if task == Task::VideoSummary {
            // A summary's accuracy also weighs the twin's events: it is the decoded text's.
            let Decoded::Text(t) = &reading.decoded else {
                unreachable!()
            };
            let text = dtr1_reward::accuracy::Answer::Text(t.clone());
            let want = dtr1_reward::accuracy::accuracy(&text, &req, &cfg);
            assert_eq!(r.accuracy, want, "{name}: {:?}", r.problems);
            assert!(r.accuracy > 0.0, "{name}: {:?}", r.problems);
        } else {
            // Mask IoU keeps a tiny smoothing term: a perfect mask scores 1 − 1e-8 or so.
            assert!(
                perfect(r.accuracy),
                "{name}: {} {:?}",
                r.accuracy,
                r.problems
            );
        }

        // `dtr1 eval`.
        let eval_cfg = dtr1_eval::EvalConfig {
            resamples: 1,
            ..Default::default()
        };
        let report = dtr1_eval::evaluate(
            std::slice::from_ref(&p),
            std::slice::from_ref(&completion),
            &eval_cfg,
            "pinned",
            "pinned",
        )
        .unwrap();
        match report.samples[0].values {
            dtr1_eval::Values::Seg { iou, .. } | dtr1_eval::Values::Box { iou } => {
                assert!(perfect(iou), "{name}: {iou}")
            }
            dtr1_eval::Values::Vqa { accuracy } => assert!(perfect(accuracy), "{name}"),
            dtr1_eval::Values::Video { j, f } => assert!(perfect(j) && perfect(f), "{name}"),
            dtr1_eval::Values::Summary { rouge_l, .. } => assert!(perfect(rouge_l), "{name}"),
        }

        // `dtr1 serve`'s `/v1/ask`.
        let served = dtr1_serve::ask::decode(task, &p.twin, completion.clone());
        let got = match &reading.decoded {
            Decoded::Mask(m) => served.mask.as_ref() == Some(m),
            Decoded::FrameMasks(ms) => served.masks.as_ref() == Some(ms),
            Decoded::Box(b) => served.bbox == Some(*b),
            Decoded::Text(t) => served.text.as_ref() == Some(t),
            Decoded::Nothing => false,
        };
        assert!(got, "{name}: /v1/ask decoded {served:?}");

        // `dtr1 ask`, over the same twin file, the policy answering with this rollout.
        let twin_file = p
            .sample
            .twin
            .clone()
            .expect("TwinBench samples name their twin");
        let c = completion.clone();
        let url = server(move |_| c.clone());
        let v = ask_json(&[
            &p.sample.query,
            "--twin",
            s(&twin_file),
            "--task",
            flag,
            "--remote",
            &url,
        ]);
        let a = &v["answer"];
        let (field, want) = match &reading.decoded {
            Decoded::Mask(m) => ("mask", serde_json::json!(m)),
            Decoded::FrameMasks(ms) => ("masks", serde_json::json!(ms)),
            Decoded::Box(b) => ("box", serde_json::json!(b)),
            Decoded::Text(t) => ("text", serde_json::json!(t)),
            Decoded::Nothing => unreachable!(),
        };
        assert_eq!(a[field], want, "{name}: dtr1 ask answered {a:#}");
        assert_eq!(a["valid"], true, "{name}");
        assert_eq!(
            v["rollout"]["check"]["problems"],
            serde_json::json!([]),
            "{name}"
        );
    }
}
