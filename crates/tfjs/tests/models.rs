//! The human-models graphs on the real test photographs (scikit-image's astronaut, coffee,
//! chelsea and motorcycle_left): what is plainly in them is found.

mod common;

use dtr1_tfjs::nanodet::{Detection, NanoDet};
use dtr1_tfjs::segment::PersonSegmenter;

/// Detections at the score threshold the tests use.
const MIN_SCORE: f32 = 0.3;

fn detect(det: &NanoDet, file: &str) -> Vec<Detection> {
    let img = common::media(file);
    let d = det.detect(&img, MIN_SCORE).unwrap();
    for x in &d {
        assert!(x.score > MIN_SCORE && x.score <= 1.0);
        assert!(x.bbox[0] <= x.bbox[2] && x.bbox[1] <= x.bbox[3]);
        assert!(x.bbox[0] >= 0.0 && x.bbox[2] <= img.width() as f32);
        assert!(x.bbox[1] >= 0.0 && x.bbox[3] <= img.height() as f32);
    }
    println!(
        "{file}: {:?}",
        d.iter().map(|x| (x.label, x.score)).collect::<Vec<_>>()
    );
    d
}

#[test]
fn nanodet_finds_what_is_in_the_photographs() {
    let det = NanoDet::load(common::model_dir()).unwrap();
    // The top detection is the object the picture is of.
    for (file, label, min) in [
        ("astronaut.png", "person", 0.6),
        ("coffee.png", "cup", 0.45),
        ("motorcycle_left.png", "motorcycle", 0.6),
    ] {
        let d = detect(&det, file);
        assert_eq!(d[0].label, label, "{file}: top detection {:?}", d[0]);
        assert!(
            d[0].score > min,
            "{file}: {label} scores only {}",
            d[0].score
        );
    }
    // The cat is found (this small model also sees a person and a dog in the close-up).
    let d = detect(&det, "chelsea.png");
    let cat = d
        .iter()
        .find(|x| x.label == "cat")
        .expect("no cat in chelsea.png");
    assert!(cat.score > 0.35);
    // The astronaut's box covers her: most of the picture's height, the left two thirds.
    let a = detect(&det, "astronaut.png");
    let b = a[0].bbox;
    assert!(
        b[3] - b[1] > 400.0 && b[0] < 60.0 && b[2] > 300.0 && b[2] < 420.0,
        "{b:?}"
    );
}

#[test]
fn human_normalization_is_selectable() {
    let mut det = NanoDet::load(common::model_dir()).unwrap();
    det.normalization = dtr1_tfjs::nanodet::Normalization::Human;
    det.class_agnostic = true;
    let d = detect(&det, "astronaut.png");
    assert_eq!(d[0].label, "person");
}

#[test]
fn selfie_mask_covers_the_astronaut() {
    let dir = common::model_dir();
    let det = NanoDet::load(&dir).unwrap();
    let seg = PersonSegmenter::load(&dir).unwrap();
    let img = common::media("astronaut.png");
    let person = det.detect(&img, MIN_SCORE).unwrap()[0].bbox;
    let mask = seg.segment(&img).unwrap();
    assert_eq!(mask.dimensions(), img.dimensions());
    let (mut area, mut inside) = (0usize, 0usize);
    for (x, y, p) in mask.enumerate_pixels() {
        if p.0[0] >= 128 {
            area += 1;
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            if fx >= person[0] && fx <= person[2] && fy >= person[1] && fy <= person[3] {
                inside += 1;
            }
        }
    }
    let box_area = (person[2] - person[0]) * (person[3] - person[1]);
    let inside_frac = inside as f32 / area.max(1) as f32;
    let cover = inside as f32 / box_area;
    println!(
        "mask {area} px, {:.1}% inside the person box, covering {:.1}% of it",
        100.0 * inside_frac,
        100.0 * cover
    );
    // The selfie model segments the foreground: besides the astronaut it takes in the helmet
    // beside her (bottom right, outside her box), so a fifth of the mask lies outside the box.
    assert!(
        inside_frac > 0.8,
        "only {inside_frac} of the mask is inside the person box"
    );
    assert!(
        cover > 0.5 && cover < 0.95,
        "mask covers {cover} of the person box"
    );
    // Her head (top centre of the box) is person, the sky-free top corners are not.
    let head = mask
        .get_pixel(((person[0] + person[2]) / 2.0) as u32 + 35, 80)
        .0[0];
    assert!(head > 200, "head probability {head}");
    assert!(mask.get_pixel(10, 10).0[0] < 50 && mask.get_pixel(500, 10).0[0] < 50);
}

#[test]
fn a_truncated_model_file_is_a_clear_error() {
    let src = common::model_dir();
    let dir = std::env::temp_dir().join(format!("dtr1-tfjs-{}-truncated", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(src.join("nanodet.json"), dir.join("nanodet.json")).unwrap();
    let bin = std::fs::read(src.join("nanodet.bin")).unwrap();
    std::fs::write(dir.join("nanodet.bin"), &bin[..bin.len() / 2]).unwrap();
    let msg = NanoDet::load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("nanodet.bin") && msg.contains("truncated"),
        "{msg}"
    );
    std::fs::remove_file(dir.join("nanodet.bin")).unwrap();
    let msg = NanoDet::load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("cannot read") && msg.contains("nanodet.bin"),
        "{msg}"
    );
    std::fs::write(dir.join("nanodet.json"), "{\"modelTopology\": {\"node\": [").unwrap();
    let msg = NanoDet::load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("nanodet.json") && msg.contains("not a TF.js graph model"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
