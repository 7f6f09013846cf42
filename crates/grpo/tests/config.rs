//! The documented configuration is the real one: `examples/grpo.toml` lists every key with
//! its default, so it must parse to exactly `TrainConfig::default()`.

use dtr1_grpo::TrainConfig;

#[test]
fn the_example_config_documents_the_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/grpo.toml");
    let cfg = TrainConfig::load(&path).unwrap();
    assert_eq!(cfg, TrainConfig::default());
    // Every key of the defaults appears in the file (a key missing there would also parse
    // to its default, so equality alone does not prove it is documented).
    let text = std::fs::read_to_string(&path).unwrap();
    let defaults = toml::to_string(&TrainConfig::default()).unwrap();
    for line in defaults.lines() {
        if let Some((key, _)) = line.split_once(" = ") {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{key} ="))),
                "examples/grpo.toml does not document `{key}`"
            );
        }
    }
}

#[test]
fn an_unknown_group_filter_names_the_key_and_the_choices() {
    let err = TrainConfig::from_toml("[grpo]\nfilter_groups = \"accurate\"\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("accurate"), "{msg}");
    assert!(
        msg.contains("accuracy") && msg.contains("none") && msg.contains("reward_std"),
        "{msg}"
    );
}

#[test]
fn refills_need_a_filter_and_a_bound() {
    let err = TrainConfig::from_toml("[grpo]\nmax_refill_groups = 4\n").unwrap_err();
    assert!(
        err.to_string().contains("needs grpo.filter_groups"),
        "{err}"
    );
    let err = TrainConfig::from_toml(
        "[grpo]\nprompts_per_step = 2\nfilter_groups = \"reward_std\"\nmax_refill_groups = 1000\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("max_refill_groups = 1000"),
        "{err}"
    );
    let ok = TrainConfig::from_toml(
        "[grpo]\nprompts_per_step = 2\nfilter_groups = \"reward_std\"\nmax_refill_groups = 4\n",
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn checkpoint_minutes_must_be_a_sane_interval() {
    for (text, key) in [
        (
            "[grpo]\ncheckpoint_minutes = -1.0\n",
            "grpo.checkpoint_minutes",
        ),
        (
            "[sft]\ncheckpoint_minutes = 1e9\n",
            "sft.checkpoint_minutes",
        ),
        (
            "[sft]\ncheckpoint_minutes = nan\n",
            "sft.checkpoint_minutes",
        ),
    ] {
        let msg = TrainConfig::from_toml(text).unwrap_err().to_string();
        assert!(msg.contains(key), "{text:?}: {msg}");
    }
    let cfg = TrainConfig::from_toml("[grpo]\ncheckpoint_minutes = 0.0\n").unwrap();
    assert_eq!(cfg.grpo.checkpoint_minutes, 0.0);
}
