//! The committed schema and example files are exactly what the code generates.
//! Regenerate them with `DTR1_BLESS=1 cargo test -p dtr1-twin --test files`.

use dtr1_twin::{compact, example, validate, Mode, Twin};
use std::path::PathBuf;

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn check_fresh(rel: &str, want: &str) {
    let path = repo_file(rel);
    if std::env::var_os("DTR1_BLESS").is_some() {
        std::fs::write(&path, want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{rel} is out of date with the code that generates it; \
         run `DTR1_BLESS=1 cargo test -p dtr1-twin --test files` and commit the result"
    );
}

#[test]
fn schema_file_is_fresh() {
    check_fresh("schema/twin.schema.json", &dtr1_twin::json_schema());
}

#[test]
fn example_files_are_fresh_and_strictly_valid() {
    let desk = Twin::Image(example::desk());
    let marbles = Twin::Video(example::marbles());
    for (rel, twin) in [
        ("examples/desk.twin.json", &desk),
        ("examples/marbles.video-twin.json", &marbles),
    ] {
        validate(twin, Mode::Strict).unwrap_or_else(|e| panic!("{rel}: {e}"));
        check_fresh(rel, &(twin.to_json_pretty() + "\n"));
        let loaded = Twin::from_json(&std::fs::read_to_string(repo_file(rel)).unwrap()).unwrap();
        assert_eq!(&loaded, twin, "{rel} loads back to the same twin");
        // The examples' numbers have the compact precision, so the round trip is exact.
        let text = compact::to_compact(twin);
        assert_eq!(
            compact::parse_compact(&text).unwrap(),
            compact::keep_compact_fields(twin)
        );
    }
}

#[test]
fn schema_lists_the_required_fields() {
    let schema: serde_json::Value = serde_json::from_str(&dtr1_twin::json_schema()).unwrap();
    let defs = &schema["definitions"];
    let required = |name: &str| -> Vec<String> {
        let mut v: Vec<String> =
            serde_json::from_value(defs[name]["required"].clone()).unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(required("ImageTwin"), ["height", "objects", "width"]);
    assert_eq!(required("Object"), ["id", "label"]);
    assert_eq!(
        required("VideoTwin"),
        ["fps", "frames", "height", "tracks", "width"]
    );
    assert_eq!(defs["Object"]["additionalProperties"], false);
}
