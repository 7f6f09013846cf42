//! The `pixels` and `annotations` backends measured on a generated TwinBench set (val split),
//! against the targets: pixels mask mIoU ≥ 0.90 and label accuracy ≥ 0.95.

use dtr1_perception::eval::{evaluate_split, Counts};
use dtr1_perception::pipeline::{AnnotationsSection, PerceptionConfig, Pipeline};
use dtr1_twinbench::scene::SceneConfig;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A TwinBench set of 200 scenes (20 in val), generated once per test run.
fn suite() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Under cargo's per-target temp dir with a fixed name, so each run replaces the last
        // one's 60 MB instead of leaving it behind in /tmp.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pixels-suite");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        dtr1_twinbench::suite::generate(&dir, 200, 0, 7, 1, &SceneConfig::default(), &mut |_| {})
            .unwrap();
        dir
    })
}

fn run(cfg: &dyn Fn(&Path) -> PerceptionConfig) -> Counts {
    evaluate_split(
        suite(),
        "val",
        &mut |_, twin| Pipeline::from_config(&cfg(twin)),
        &mut |_, _| {},
    )
    .unwrap()
}

#[test]
fn pixels_meets_the_quality_targets_on_val() {
    let c = run(&|_| PerceptionConfig::with_backend("pixels"));
    let s = c.summary();
    eprintln!("pixels on val: {s:?}");
    assert_eq!(s.images, 20);
    assert!(s.miou.unwrap() >= 0.90, "{s:?}");
    assert!(s.label_accuracy.unwrap() >= 0.95, "{s:?}");
    // Not targets of the issue, but a floor that catches regressions.
    assert!(
        s.recall.unwrap() >= 0.85 && s.precision.unwrap() >= 0.85,
        "{s:?}"
    );
    assert!(s.color_accuracy.unwrap() >= 0.95, "{s:?}");
    assert!(s.depth_order_accuracy.unwrap() >= 0.9, "{s:?}");
}

#[test]
fn annotations_are_the_upper_bound() {
    let c = run(&|twin| {
        let mut cfg = PerceptionConfig::with_backend("annotations");
        cfg.annotations = Some(AnnotationsSection {
            format: dtr1_perception::annotations::AnnotationFormat::Twinbench,
            path: twin.to_path_buf(),
            image_id: None,
            anno_ids: Vec::new(),
            frame: 0,
        });
        cfg
    });
    let s = c.summary();
    eprintln!("annotations on val: {s:?}");
    for v in [
        s.miou,
        s.precision,
        s.recall,
        s.label_accuracy,
        s.color_accuracy,
        s.depth_order_accuracy,
    ] {
        assert_eq!(v, Some(1.0), "{s:?}");
    }
    // Relations are recomputed from the same masks, boxes and depths: all of them agree.
    assert_eq!(s.relation_precision, Some(1.0), "{s:?}");
    assert_eq!(s.relation_recall, Some(1.0), "{s:?}");
}
