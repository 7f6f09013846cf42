//! Every backend rejects bad input with a clear error: wrong image size, corrupt files,
//! masks outside the frame, NaN depth (the import backend's own cases are in `import.rs`).

use dtr1_perception::annotations::Annotations;
use dtr1_perception::pipeline::{
    read_image, DepthChoice, ImportSection, PerceptionConfig, Pipeline,
};
use dtr1_perception::{builder, Backend, DepthMap, Detection, Perception};
use dtr1_twinbench::scene::{render, SceneConfig};
use image::RgbImage;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dtr1-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn err<T: std::fmt::Debug>(r: Result<T, dtr1_perception::PerceptionError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn pixels_rejects_tiny_images_and_bad_options() {
    let p = Pipeline::from_config(&PerceptionConfig::with_backend("pixels")).unwrap();
    let e = err(p.twin(&RgbImage::new(20, 10)));
    assert!(
        e.contains("the image is 20x10; at least 32x32 is needed"),
        "{e}"
    );
    let e = err(
        PerceptionConfig::from_toml("backend = \"pixels\"\n[pixels]\ntolerance = -1.0\n")
            .and_then(|c| Pipeline::from_config(&c).map(|_| ())),
    );
    assert!(e.contains("pixels: tolerance -1 is outside [0, ∞)"), "{e}");
    let e = err(PerceptionConfig::from_toml(
        "backend = \"pixels\"\nsurprise = 1\n",
    ));
    assert!(e.contains("unknown field `surprise`"), "{e}");
}

#[test]
fn corrupt_and_missing_files_name_the_file() {
    let bad = tmp("corrupt.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = err(read_image(&bad));
    assert!(e.contains("corrupt.png: not a readable image"), "{e}");
    let e = err(read_image(&tmp("missing.png")));
    assert!(e.contains("missing.png"), "{e}");
    let twin = tmp("broken.json");
    std::fs::write(&twin, "{\"width\": 10").unwrap();
    let e = err(Annotations::twin_file(&twin));
    assert!(e.contains("broken.json: not a twin"), "{e}");
}

#[test]
fn annotations_reject_other_sizes_and_masks_outside_the_frame() {
    let scene = render(&SceneConfig::default(), 3).unwrap();
    let a = Annotations::from_twin(&scene.twin(6), "twinbench");
    let e = err(a.perceive(&RgbImage::new(200, 100)));
    assert!(
        e.contains("annotations is 480x320 but the image given is 200x100"),
        "{e}"
    );
    // A twin whose mask belongs to a smaller frame.
    let mut t = scene.twin(6);
    t.objects[0].mask = Some(dtr1_rle::Rle::from_bbox([0.0, 0.0, 5.0, 5.0], 100, 100).unwrap());
    let e = err(Annotations::from_twin(&t, "twinbench").perceive(&scene.image));
    assert!(
        e.contains("'s mask is 100x100 but the image is 480x320"),
        "{e}"
    );
    // ReasonSeg polygons outside the picture.
    let js = tmp("rs.json");
    std::fs::write(
        &js,
        r#"{"text": ["q"], "is_sentence": false, "shapes": [{"label": "target", "points": [[1, 1], [900, 5], [5, 9]]}]}"#,
    )
    .unwrap();
    let e = err(Annotations::reasonseg(&js, 480, 320));
    assert!(
        e.contains("point [900.0, 5.0] is outside the 480x320 image"),
        "{e}"
    );
    // ReVOS masks of different sizes in one frame.
    let md = tmp("mask_dict.json");
    let m1 = dtr1_rle::Rle::from_bbox([0.0, 0.0, 5.0, 5.0], 20, 30).unwrap();
    let m2 = dtr1_rle::Rle::from_bbox([0.0, 0.0, 5.0, 5.0], 21, 30).unwrap();
    std::fs::write(&md, serde_json::json!({"1": [m1], "2": [m2]}).to_string()).unwrap();
    let e = err(Annotations::revos(&md, &[], 0));
    assert!(
        e.contains("annotation 2: mask size [21, 30] differs from [20, 30]"),
        "{e}"
    );
}

#[test]
fn nan_depth_and_wrong_sizes_reach_no_twin() {
    let scene = render(&SceneConfig::default(), 5).unwrap();
    let (w, h) = scene.image.dimensions();
    let det = Detection {
        label: "cube".into(),
        score: 0.9,
        mask: scene.objects[0].mask.clone(),
        mask_source: dtr1_perception::MaskSource::Model,
    };
    let mut values = scene.depth.clone();
    values[77] = f32::NAN;
    let p = Perception {
        detections: vec![det.clone()],
        depth: Some(DepthMap {
            width: w,
            height: h,
            values,
        }),
        depth_source: None,
    };
    let e = err(builder::build(&scene.image, &p, &Default::default()));
    assert!(e.contains("non-finite depth at pixel 77"), "{e}");
    let p = Perception {
        detections: vec![det],
        depth: Some(DepthMap {
            width: w - 1,
            height: h,
            values: vec![0.0; ((w - 1) * h) as usize],
        }),
        depth_source: None,
    };
    let e = err(builder::build(&scene.image, &p, &Default::default()));
    assert!(
        e.contains("depth map is 479x320 but the image is 480x320"),
        "{e}"
    );
    // A depth file of the wrong size given to the pixels backend.
    let png = tmp("depth.png");
    image::GrayImage::new(10, 10).save(&png).unwrap();
    let mut cfg = PerceptionConfig::with_backend("pixels");
    cfg.depth = DepthChoice::Import;
    cfg.import = Some(ImportSection {
        detections: None,
        image_id: None,
        categories: Default::default(),
        depth: Some(png),
        invert_depth: false,
    });
    let e = err(Pipeline::from_config(&cfg).unwrap().twin(&scene.image));
    assert!(
        e.contains("depth map is 10x10 but the image is 480x320"),
        "{e}"
    );
}
