//! The `photo` backend on real media fetched by `scripts/setup.sh`: scikit-image's photographs
//! (astronaut, coffee, chelsea, motorcycle), the motorcycle stereo pair, and OpenCV's
//! `vtest.avi` pedestrians. Each test asserts what is plainly in the picture.

use dtr1_perception::photo::PhotoSection;
use dtr1_perception::pipeline::{read_image, PerceptionConfig, Pipeline};
use dtr1_twin::{validate, DepthSource, ImageTwin, MaskSource, Mode, Twin};
use std::path::PathBuf;

fn media(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/media")
        .join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh (or scripts/fetch_media.sh) to fetch the test media",
        p.display()
    );
    p
}

fn models() -> PathBuf {
    let d = dtr1_tfjs::default_model_dir();
    assert!(
        d.join("nanodet.json").is_file() && d.join("selfie.json").is_file(),
        "{} lacks nanodet.json/selfie.json: run scripts/setup.sh to fetch the photo models",
        d.display()
    );
    d
}

fn photo_config(right: Option<PathBuf>) -> PerceptionConfig {
    let mut cfg = PerceptionConfig::with_backend("photo");
    cfg.photo = Some(PhotoSection {
        models: models(),
        stereo_right: right,
        ..Default::default()
    });
    cfg
}

fn twin_of(name: &str) -> ImageTwin {
    let pipeline = Pipeline::from_config(&photo_config(None)).unwrap();
    let img = read_image(&media(name)).unwrap();
    let t = pipeline.twin(&img).unwrap();
    validate(&Twin::Image(t.clone()), Mode::Strict).unwrap();
    let found: Vec<String> = t
        .objects
        .iter()
        .map(|o| format!("{} {:?} {:?}", o.label, o.score, o.mask_source))
        .collect();
    println!("{name}: {found:?}");
    t
}

/// The best-scoring object with `label`, with its mask filling a sane part of its box.
fn has(t: &ImageTwin, label: &str, name: &str) -> dtr1_twin::Object {
    let o = t
        .objects
        .iter()
        .find(|o| o.label == label)
        .unwrap_or_else(|| panic!("no {label} in {name}"))
        .clone();
    let b = o.bbox.unwrap();
    let fill = o.area.unwrap() as f64 / ((b[2] - b[0]) * (b[3] - b[1]));
    assert!(
        fill > 0.1,
        "{label} in {name}: mask fills {fill:.2} of its box"
    );
    assert!(o.mask_source.is_some() && o.depth.is_some());
    o
}

#[test]
fn astronaut_is_a_person_with_a_model_mask() {
    let t = twin_of("astronaut.png");
    let p = has(&t, "person", "astronaut.png");
    assert_eq!(p.mask_source, Some(MaskSource::Model));
    assert!(p.score.unwrap() > 0.5, "{:?}", p.score);
    // The astronaut fills most of the 512×512 frame.
    assert!(p.area.unwrap() > 512 * 512 / 5, "{:?}", p.area);
    assert_eq!(t.depth_source, Some(DepthSource::GroundPlane));
}

#[test]
fn coffee_has_a_cup_chelsea_a_cat_motorcycle_a_motorcycle() {
    for (name, label) in [
        ("coffee.png", "cup"),
        ("chelsea.png", "cat"),
        ("motorcycle_left.png", "motorcycle"),
    ] {
        let t = twin_of(name);
        let o = has(&t, label, name);
        assert!(
            matches!(o.mask_source, Some(MaskSource::Refined | MaskSource::Box)),
            "{name}: {:?}",
            o.mask_source
        );
    }
}

#[test]
fn stereo_pair_gives_stereo_depth() {
    let cfg = photo_config(Some(media("motorcycle_right.png")));
    let pipeline = Pipeline::from_config(&cfg).unwrap();
    let img = read_image(&media("motorcycle_left.png")).unwrap();
    let t = pipeline.twin(&img).unwrap();
    assert_eq!(t.depth_source, Some(DepthSource::Stereo));
    let bike = has(&t, "motorcycle", "motorcycle_left.png");
    // The motorcycle is the nearest thing in the scene: its depth is in the near half.
    assert!(bike.depth.unwrap().mean < 0.5, "{:?}", bike.depth);
    // A right view of another size is refused with both sizes named.
    let cfg = photo_config(Some(media("aloeR.jpg")));
    let e = Pipeline::from_config(&cfg)
        .unwrap()
        .twin(&img)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1282x1110 but the image is 741x500"), "{e}");
}

#[test]
fn unreadable_media_and_models_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("dtr1-photo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Truncated files: a JPEG cut inside its headers, a PNG cut inside its pixel data.
    for (name, keep) in [("aloeL.jpg", 300), ("chelsea.png", 60_000)] {
        let bytes = std::fs::read(media(name)).unwrap();
        let cut = dir.join(format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let Err(e) = read_image(&cut) else {
            panic!("truncated {name} was read without an error")
        };
        let e = e.to_string();
        assert!(
            e.contains("cut-") && e.contains("not a readable image"),
            "{e}"
        );
    }
    // A model directory without the models.
    let mut cfg = PerceptionConfig::with_backend("photo");
    cfg.photo = Some(PhotoSection {
        models: dir.clone(),
        ..Default::default()
    });
    let e = Pipeline::from_config(&cfg).err().unwrap().to_string();
    assert!(
        e.contains("nanodet.json") && e.contains("scripts/setup.sh"),
        "{e}"
    );
    // A missing right view.
    let e = Pipeline::from_config(&photo_config(Some(dir.join("none.png"))))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("none.png"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "ffmpeg")]
#[test]
fn vtest_pedestrians_are_tracked_with_stable_ids() {
    use dtr1_perception::video::{self, VideoConfig};
    let pipeline = Pipeline::from_config(&photo_config(None)).unwrap();
    let mut src = video::open(&media("vtest.avi"), None).unwrap();
    let frames = 60;
    let out = video::perceive(
        src.as_mut(),
        &pipeline,
        &VideoConfig {
            max_frames: Some(frames),
            ..Default::default()
        },
        &|_| false,
        &mut |_| {},
    )
    .unwrap();
    let t = out.twin;
    validate(&Twin::Video(t.clone()), Mode::Strict).unwrap();
    let long: Vec<_> = t
        .tracks
        .iter()
        .filter(|tr| tr.label == "person" && tr.frames.len() >= 30)
        .collect();
    println!(
        "vtest: {} tracks, {} person tracks seen in >= 30 of {frames} frames",
        t.tracks.len(),
        long.len()
    );
    assert!(long.len() >= 3, "{} long person tracks", long.len());
    // Every observation says where its mask came from, and only the photo backend's three
    // sources occur. (The selfie segmenter is made for near people: about half of these
    // small pedestrians' masks are refined instead.)
    let mut by_source = std::collections::BTreeMap::new();
    for o in long.iter().flat_map(|tr| tr.frames.values()) {
        *by_source.entry(o.mask_source).or_insert(0) += 1;
    }
    println!("vtest person masks by source: {by_source:?}");
    for tr in &t.tracks {
        for o in tr.frames.values() {
            assert!(
                matches!(
                    o.mask_source,
                    Some(MaskSource::Model | MaskSource::Refined | MaskSource::Box)
                ),
                "track {}: {:?}",
                tr.id,
                o.mask_source
            );
        }
    }
    // Stable ids: a person walking through is one track, so the people outnumber neither
    // the tracks nor, by much, the people seen at once.
    let persons = t.tracks.iter().filter(|tr| tr.label == "person").count();
    let most_at_once = (0..frames as u32)
        .map(|f| {
            t.tracks
                .iter()
                .filter(|tr| tr.label == "person" && tr.frames.contains_key(&f))
                .count()
        })
        .max()
        .unwrap();
    assert!(
        persons <= 2 * most_at_once + 2,
        "{persons} person tracks for at most {most_at_once} people at once"
    );
}
