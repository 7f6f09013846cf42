//! Backends combined by configuration: TOML and JSON say the same thing, the import backend
//! works through the pipeline exactly as on its own, and depth can come from another source.

use dtr1_perception::builder::{build, BuildConfig};
use dtr1_perception::import::Import;
use dtr1_perception::pipeline::{DepthChoice, PerceptionConfig, Pipeline};
use dtr1_perception::Backend;
use dtr1_twinbench::scene::{render, SceneConfig};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dtr1-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn toml_and_json_configurations_agree() {
    let toml = "backend = \"import\"\ndepth = \"ground_plane\"\ndescribe = [\"pixels\"]\n\
                [build]\nmax_relations = 3\n[import]\ndetections = \"d.json\"\ninvert_depth = true\n";
    let json = r#"{"backend": "import", "depth": "ground_plane", "describe": ["pixels"],
        "build": {"max_relations": 3}, "import": {"detections": "d.json", "invert_depth": true}}"#;
    let (pt, pj) = (tmp("c.toml"), tmp("c.json"));
    std::fs::write(&pt, toml).unwrap();
    std::fs::write(&pj, json).unwrap();
    let (a, b) = (
        PerceptionConfig::load(&pt).unwrap(),
        PerceptionConfig::load(&pj).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a.depth, DepthChoice::GroundPlane);
    assert_eq!(a.build.max_relations, 3);
    assert_eq!(a.build.min_area, BuildConfig::default().min_area);
}

#[test]
fn import_through_the_pipeline_equals_import_alone_and_depth_is_swappable() {
    let scene = render(&SceneConfig::default(), 9).unwrap();
    let anns: Vec<serde_json::Value> = scene
        .objects
        .iter()
        .map(|o| serde_json::json!({"class_name": o.shape, "segmentation": o.mask, "score": 0.9}))
        .collect();
    let det = tmp("gsam.json");
    std::fs::write(&det, serde_json::json!({ "annotations": anns }).to_string()).unwrap();
    let alone = Import {
        detections: det.clone(),
        image_id: None,
        categories: Default::default(),
        depth: None,
        invert_depth: false,
    };
    let direct = build(
        &scene.image,
        &alone.perceive(&scene.image).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let cfg = PerceptionConfig::from_toml(&format!(
        "backend = \"import\"\n[import]\ndetections = {:?}\n",
        det.display().to_string()
    ))
    .unwrap();
    let piped = Pipeline::from_config(&cfg)
        .unwrap()
        .twin(&scene.image)
        .unwrap();
    assert_eq!(piped, direct);
    assert!(direct.objects.iter().all(|o| o.depth.is_none()));
    // The same objects with depth from the ground plane: nearer objects (lower in the
    // picture) get smaller depth, so the depth order follows the true one.
    let mut cfg = cfg;
    cfg.depth = DepthChoice::GroundPlane;
    let t = Pipeline::from_config(&cfg)
        .unwrap()
        .twin(&scene.image)
        .unwrap();
    let truth = scene.twin(6);
    let depth_of = |label: &str, area: Option<u64>, twin: &dtr1_twin::ImageTwin| {
        twin.objects
            .iter()
            .find(|o| o.label == label && o.area == area)
            .and_then(|o| o.depth)
            .map(|d| d.mean)
    };
    let (mut ok, mut n) = (0, 0);
    for a in &truth.objects {
        for b in &truth.objects {
            let (Some(ta), Some(tb)) = (a.depth, b.depth) else {
                continue;
            };
            if ta.mean + 0.05 < tb.mean {
                n += 1;
                let (pa, pb) = (
                    depth_of(&a.label, a.area, &t),
                    depth_of(&b.label, b.area, &t),
                );
                ok += usize::from(matches!((pa, pb), (Some(x), Some(y)) if x < y));
            }
        }
    }
    assert!(n > 0 && ok as f64 >= 0.9 * n as f64, "{ok}/{n}");
    assert_eq!(t.depth_source, Some(dtr1_twin::DepthSource::GroundPlane));
}
