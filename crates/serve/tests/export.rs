//! The dataset export: a small TwinBench suite exported for verl, TRL and OpenRLHF; labels
//! score the solver's correct traces at full marks; the parquet reads back with pyarrow.

use dtr1_data::dataset::{read_manifest, read_split};
use dtr1_prompt::PromptVersion;
use dtr1_serve::export::{export, Format};
use dtr1_serve::ParsedLabel;
use dtr1_twinbench::scene::SceneConfig;
use serde_json::Value;
use std::path::Path;

fn suite(dir: &Path) -> usize {
    let counts =
        dtr1_twinbench::suite::generate(dir, 4, 1, 7, 1, &SceneConfig::default(), &mut |_| {})
            .unwrap();
    counts.values().sum()
}

fn jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn jsonl_exports_carry_prompts_and_labels_that_score() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tb");
    let total = suite(&data);
    for (format, key) in [(Format::Trl, "prompt"), (Format::Openrlhf, "input")] {
        let out = tmp.path().join(key);
        let mut seen = 0;
        let files = export(&data, format, PromptVersion::LATEST, &out, &[], &mut |n| {
            seen = n
        })
        .unwrap();
        assert_eq!(seen, total);
        assert_eq!(files.iter().map(|f| f.1).sum::<usize>(), total);
        assert!(std::fs::read_to_string(out.join("dtr1_reward.py"))
            .unwrap()
            .contains("from dtr1.adapters import"));
        for split in read_manifest(&data).unwrap().splits.keys() {
            let rows = jsonl(&out.join(format!("{split}.jsonl")));
            let samples = read_split(&data, split).unwrap();
            assert_eq!(rows.len(), samples.len());
            for (r, s) in rows.iter().zip(&samples) {
                assert_eq!(r["id"], s.id.as_str());
                let msgs = r[key].as_array().unwrap();
                assert_eq!(msgs[0]["role"], "system");
                assert_eq!(msgs[1]["role"], "user");
                assert!(msgs[1]["content"].as_str().unwrap().contains(&s.query));
                // The label scores the solver's trace over the same twin at full accuracy.
                let label = ParsedLabel::from_json(r["label"].as_str().unwrap()).unwrap();
                assert_eq!(label.task, s.task);
                let trace =
                    dtr1_prompt::solver::solve(PromptVersion::LATEST, s, &label.twin).unwrap();
                let b = label.score(&trace.completion(), &Default::default());
                assert_eq!(b.format, 1.0, "{}: {:?}", s.id, b.problems);
                assert!(b.accuracy > 0.5, "{}: accuracy {}", s.id, b.accuracy);
            }
        }
    }
    // A split the dataset does not have.
    let err = export(
        &data,
        Format::Trl,
        PromptVersion::LATEST,
        &tmp.path().join("x"),
        &["nope".into()],
        &mut |_| {},
    );
    assert!(err.unwrap_err().to_string().contains("nope"));
}

/// The Python of the project's virtual environment, which has pyarrow (scripts/setup.sh).
fn venv_python() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

#[test]
fn verl_parquet_reads_back_with_pyarrow() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tb");
    suite(&data);
    let out = tmp.path().join("verl");
    let trl = tmp.path().join("trl");
    let files = export(
        &data,
        Format::Verl,
        PromptVersion::LATEST,
        &out,
        &["train".into()],
        &mut |_| {},
    )
    .unwrap();
    export(
        &data,
        Format::Trl,
        PromptVersion::LATEST,
        &trl,
        &["train".into()],
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(files.len(), 1);
    let rows = jsonl(&trl.join("train.jsonl"));
    let script = r#"
import json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
rows = t.to_pylist()
print(json.dumps({"names": t.schema.names, "types": [str(x) for x in t.schema.types], "rows": rows}))
"#;
    let o = std::process::Command::new(venv_python())
        .args(["-c", script])
        .arg(&files[0].0)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["names"],
        serde_json::json!([
            "data_source",
            "prompt",
            "ability",
            "reward_model",
            "extra_info"
        ])
    );
    assert!(v["types"][1]
        .as_str()
        .unwrap()
        .starts_with("list<item: struct<role: string"));
    let got = v["rows"].as_array().unwrap();
    assert_eq!(got.len(), rows.len());
    for (i, (g, r)) in got.iter().zip(&rows).enumerate() {
        assert_eq!(g["prompt"], r["prompt"]);
        assert_eq!(g["reward_model"]["style"], "rule");
        assert_eq!(g["reward_model"]["ground_truth"], r["label"]);
        assert_eq!(g["extra_info"]["index"], i);
        assert_eq!(g["extra_info"]["id"], r["id"]);
        assert_eq!(
            g["data_source"],
            format!("dtr1/{}", r["task"].as_str().unwrap())
        );
    }
}
