//! The import backend and the twin builder on TwinBench scenes, whose ground truth is known:
//! Grounded-SAM-2 and COCO-results dumps of the true masks, depth as .npy and 16-bit PNG.

use dtr1_perception::builder::{build, BuildConfig};
use dtr1_perception::import::Import;
use dtr1_perception::Backend;
use dtr1_twinbench::scene::{render, SceneConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dtr1-perception-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn gsam_json(scene: &dtr1_twinbench::scene::Scene) -> String {
    let anns: Vec<serde_json::Value> = scene
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({"class_name": o.shape, "bbox": [0, 0, 1, 1], "segmentation": o.mask, "score": [0.9]})
        })
        .collect();
    serde_json::json!({"image_path": "x.png", "annotations": anns, "box_format": "xyxy",
        "img_width": scene.image.width(), "img_height": scene.image.height()})
    .to_string()
}

fn write_npy(path: &PathBuf, w: u32, h: u32, v: &[f32]) {
    let mut out = Vec::new();
    use npyz::WriterBuilder;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[u64::from(h), u64::from(w)])
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    writer.extend(v.iter().copied()).unwrap();
    writer.finish().unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn twins_from_imported_ground_truth_name_colours_and_order_depth() {
    let (mut named, mut total, mut pairs_ok, mut pairs) = (0, 0, 0, 0);
    for seed in 0..20u64 {
        let scene = render(&SceneConfig::default(), seed).unwrap();
        let (w, h) = scene.image.dimensions();
        let det = tmp(&format!("gsam{seed}.json"));
        std::fs::write(&det, gsam_json(&scene)).unwrap();
        let depth = tmp(&format!("depth{seed}.npy"));
        write_npy(&depth, w, h, &scene.depth);
        let backend = Import {
            detections: det,
            image_id: None,
            categories: BTreeMap::new(),
            depth: Some(depth),
            invert_depth: false,
        };
        let p = backend.perceive(&scene.image).unwrap();
        let twin = build(
            &scene.image,
            &p,
            &BuildConfig {
                min_area: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(twin.objects.len(), scene.objects.len());
        for o in &twin.objects {
            // Ids follow score order; every mask is one of the scene's, unchanged.
            let truth = scene
                .objects
                .iter()
                .find(|s| Some(&s.mask) == o.mask.as_ref())
                .expect("mask kept as imported");
            assert_eq!(o.label, truth.shape);
            assert_eq!(o.mask_source, Some(dtr1_twin::MaskSource::Import));
            total += 1;
            named += usize::from(o.attributes.color.as_deref() == Some(truth.color));
        }
        for a in &twin.objects {
            for b in &twin.objects {
                let [ta, tb] = [a, b].map(|o| {
                    scene
                        .objects
                        .iter()
                        .find(|s| Some(&s.mask) == o.mask.as_ref())
                        .unwrap()
                        .z
                });
                if (ta - tb).abs() > 0.05 {
                    pairs += 1;
                    pairs_ok +=
                        usize::from((a.depth.unwrap().mean < b.depth.unwrap().mean) == (ta < tb));
                }
            }
        }
    }
    assert!(
        named * 100 >= total * 95,
        "colour names right for {named}/{total}"
    );
    assert!(
        pairs_ok * 100 >= pairs * 95,
        "depth order right for {pairs_ok}/{pairs} pairs"
    );
}

#[test]
fn coco_results_and_png_depth() {
    let scene = render(&SceneConfig::default(), 3).unwrap();
    let (w, h) = scene.image.dimensions();
    let rows: Vec<serde_json::Value> = scene
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| serde_json::json!({"image_id": if i == 0 { 8 } else { 7 }, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.8, "segmentation": o.mask}))
        .collect();
    let det = tmp("coco.json");
    std::fs::write(&det, serde_json::to_string(&rows).unwrap()).unwrap();
    let png = tmp("disp.png");
    let disp: Vec<u16> = scene
        .depth
        .iter()
        .map(|d| ((1.0 - d) * 60000.0) as u16)
        .collect();
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w, h, disp)
        .unwrap()
        .save(&png)
        .unwrap();
    let mut cats = BTreeMap::new();
    cats.insert(1, "thing".to_string());
    let b = Import {
        detections: det,
        image_id: Some("7".into()),
        categories: cats,
        depth: Some(png),
        invert_depth: true,
    };
    let p = b.perceive(&scene.image).unwrap();
    assert_eq!(p.detections.len(), scene.objects.len() - 1);
    let twin = build(&scene.image, &p, &BuildConfig::default()).unwrap();
    assert!(twin
        .objects
        .iter()
        .all(|o| o.label == "thing" && o.depth.is_some()));
}

#[test]
fn bad_input_is_a_clear_error() {
    let scene = render(&SceneConfig::default(), 1).unwrap();
    let small = image::RgbImage::new(100, 80);
    let det = tmp("g1.json");
    std::fs::write(&det, gsam_json(&scene)).unwrap();
    let b = Import {
        detections: det.clone(),
        image_id: None,
        categories: BTreeMap::new(),
        depth: None,
        invert_depth: false,
    };
    let e = b.perceive(&small).unwrap_err().to_string();
    assert!(e.contains("mask size") && e.contains("100x80"), "{e}");
    std::fs::write(&det, "{\"annotations\": [").unwrap();
    assert!(b
        .perceive(&scene.image)
        .unwrap_err()
        .to_string()
        .contains("not JSON"));
    let nan = tmp("nan.npy");
    let (w, h) = scene.image.dimensions();
    let mut v = scene.depth.clone();
    v[5] = f32::NAN;
    write_npy(&nan, w, h, &v);
    let e = dtr1_perception::import::read_depth(&nan, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite depth at pixel 5"), "{e}");
    let wrong = tmp("wrong.npy");
    write_npy(&wrong, 10, 10, &[0.0; 100]);
    std::fs::write(&det, gsam_json(&scene)).unwrap();
    let b = Import {
        detections: det,
        image_id: None,
        categories: BTreeMap::new(),
        depth: Some(wrong),
        invert_depth: false,
    };
    let p = b.perceive(&scene.image).unwrap();
    let e = build(&scene.image, &p, &BuildConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("depth map is 10x10"), "{e}");
}
