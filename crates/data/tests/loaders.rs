//! Loaders on fixtures written in the published formats (`scripts/ref/loaders_vectors.py`),
//! against masks from the reference tools (OpenCV for ReasonSeg, pycocotools for COCO).

use dtr1_data::coco::CocoInstances;
use dtr1_data::{dataset, reasonseg, refcoco, revos, DataError, GroundTruth, Media, Task};
use dtr1_rle::Rle;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Deserialize)]
struct RsExp {
    id: String,
    query: String,
    width: u32,
    height: u32,
    target: Rle,
    ignore: Rle,
}

#[derive(Deserialize)]
struct RefExp {
    id: String,
    bbox: [f64; 4],
}

#[derive(Deserialize)]
struct Expected {
    root: PathBuf,
    reasonseg: Vec<RsExp>,
    coco_masks: BTreeMap<String, Rle>,
    #[serde(rename = "refcoco_testA")]
    refcoco_test_a: Vec<RefExp>,
    revos_both: BTreeMap<String, Rle>,
}

fn expected() -> Expected {
    dtr1_refvec::load("loaders")
}

#[test]
fn reasonseg_matches_lisa() {
    let e = expected();
    let samples = reasonseg::samples(&e.root.join("reasonseg"), "reasonseg").unwrap();
    assert_eq!(samples.len(), e.reasonseg.len());
    for (s, x) in samples.iter().zip(&e.reasonseg) {
        assert_eq!(
            (s.id.as_str(), s.query.as_str(), s.task),
            (x.id.as_str(), x.query.as_str(), Task::ImageReasonseg)
        );
        assert!(
            matches!(s.media, Media::Image { width, height, .. } if width == x.width && height == x.height)
        );
        let GroundTruth::Mask { mask, ignore, .. } = &s.truth else {
            panic!("mask truth")
        };
        assert_eq!(mask, &x.target, "{}", s.id);
        assert_eq!(
            ignore.as_ref().unwrap_or(&Rle::empty(x.height, x.width)),
            &x.ignore,
            "{}",
            s.id
        );
    }
    // The cp1252 file decoded its é.
    assert!(samples.iter().any(|s| s.query.contains("café au lait")));
}

#[test]
fn coco_masks_match_pycocotools() {
    let e = expected();
    let c = CocoInstances::load(&e.root.join("refcoco/instances.json")).unwrap();
    for a in &c.annotations {
        assert_eq!(
            c.mask(a).unwrap(),
            e.coco_masks[&a.id.to_string()],
            "annotation {}",
            a.id
        );
    }
    let twin = c.twin(101, 6).unwrap();
    assert_eq!(twin.objects.len(), 2);
    assert_eq!(twin.objects[1].label, "chair");
    dtr1_twin::validate(&dtr1_twin::Twin::Image(twin), dtr1_twin::Mode::Strict).unwrap();
}

#[test]
fn refcoco_from_pickle_and_json() {
    let e = expected();
    let want = &e.refcoco_test_a;
    let inst = CocoInstances::load(&e.root.join("refcoco/instances.json")).unwrap();
    let images = e.root.join("refcoco/images");
    for file in ["refs(unc).p", "refs.json"] {
        let refs = refcoco::load_refs(&e.root.join("refcoco").join(file)).unwrap();
        let s = refcoco::samples(&refs, &inst, &images, Some("testA"), "refcoco").unwrap();
        assert_eq!(s.len(), want.len(), "{file}");
        for (s, w) in s.iter().zip(want) {
            assert_eq!(s.id, w.id);
            assert!(matches!(s.truth, GroundTruth::Box { bbox, .. } if bbox == w.bbox));
            assert!(matches!(&s.media, Media::Image { path, .. } if path.exists()));
        }
        assert_eq!(
            refcoco::samples(&refs, &inst, &images, None, "refcoco")
                .unwrap()
                .len(),
            3
        );
    }
}

#[test]
fn revos_unions_annotations_per_frame() {
    let e = expected();
    let r = e.root.join("revos");
    let s = revos::samples(
        &r.join("meta_expressions_valid_.json"),
        &r.join("mask_dict.json"),
        &r,
        "revos",
    )
    .unwrap();
    assert_eq!(s.len(), 3);
    let both = s.iter().find(|x| x.id == "revos/vid1/1").unwrap();
    let GroundTruth::VideoMasks { masks, ids } = &both.truth else {
        panic!()
    };
    let want: BTreeMap<u32, Rle> = e
        .revos_both
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.clone()))
        .collect();
    assert_eq!(masks, &want);
    assert_eq!(ids.as_deref(), Some(&[1, 2][..]));
    // Frames are sorted by name.
    let Media::Video {
        frames,
        width,
        height,
        ..
    } = &both.media
    else {
        panic!()
    };
    assert!(frames[0].ends_with("00000.jpg") && frames[2].ends_with("00010.jpg"));
    assert_eq!((*width, *height), (64, 48));
    let none = s.iter().find(|x| x.id == "revos/vid1/2").unwrap();
    assert!(matches!(&none.truth, GroundTruth::VideoMasks { masks, .. } if masks.is_empty()));
    assert_eq!(none.meta["type_id"], "2");
}

#[test]
fn malformed_files_get_named_errors() {
    let e = expected();
    let b = e.root.join("broken");
    let err = CocoInstances::load(&b.join("truncated.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("truncated.json") && err.contains("EOF"),
        "{err}"
    );
    let err = CocoInstances::load(&b.join("dangling.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("image_id 9 is not in images"), "{err}");
    let r = e.root.join("revos");
    let err = revos::samples(
        &r.join("meta_expressions_valid_.json"),
        &b.join("mask_dict_short.json"),
        &r,
        "x",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("anno_id 7 has 2 masks but video vid1 has 3 frames"),
        "{err}"
    );
    let err = refcoco::load_refs(&b.join("refs.p")).unwrap_err();
    assert!(matches!(err, DataError::Pickle { .. }), "{err}");
    let err = reasonseg::samples(&b.join("nope"), "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn dataset_round_trips_through_disk() {
    let e = expected();
    let samples = reasonseg::samples(&e.root.join("reasonseg"), "reasonseg").unwrap();
    let dir = std::env::temp_dir().join(format!("dtr1-dataset-{}", std::process::id()));
    // Stored media paths are relative to the dataset directory.
    let rel: Vec<_> = samples
        .iter()
        .cloned()
        .map(|mut s| {
            if let Media::Image { path, .. } = &mut s.media {
                *path = PathBuf::from(path.file_name().unwrap());
            }
            s
        })
        .collect();
    let mut splits = BTreeMap::new();
    splits.insert("val".to_string(), rel);
    dataset::write(&dir, "fixture", &splits).unwrap();
    let back = dataset::read_split(&dir, "val").unwrap();
    assert_eq!(back.len(), samples.len());
    assert_eq!(back[0].truth, samples[0].truth);
    assert!(matches!(&back[0].media, Media::Image { path, .. } if path.starts_with(&dir)));
    let err = dataset::read_split(&dir, "train").unwrap_err().to_string();
    assert!(err.contains("no split \"train\""), "{err}");
    std::fs::write(dir.join("val.jsonl"), "{\"id\": 1}\n").unwrap();
    let err = dataset::read_split(&dir, "val").unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
    // A dataset of an older format version names the command that rewrites it.
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let old = manifest.replace(
        &format!("\"version\": {}", dataset::VERSION),
        "\"version\": 1",
    );
    assert_ne!(old, manifest);
    std::fs::write(dir.join("manifest.json"), old).unwrap();
    let err = dataset::read_split(&dir, "val").unwrap_err();
    assert!(
        matches!(err, dtr1_data::DataError::OldVersion { found: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("dtr1 data generate"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
