//! `dtr1 twin`, `dtr1 validate`, `dtr1 schema`.

use anyhow::{bail, Context, Result};
use dtr1_twin::{compact, validate, Mode, Twin};
use std::path::Path;

fn load(path: &Path) -> Result<Twin> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read twin file {}", path.display()))?;
    Twin::from_json(&text).with_context(|| format!("{} is not a valid twin", path.display()))
}

fn mode(partial: bool) -> Mode {
    if partial {
        Mode::Partial
    } else {
        Mode::Strict
    }
}

/// Loads, validates and prints one twin.
pub fn show(path: &Path, json: bool, partial: bool) -> Result<()> {
    let twin = load(path)?;
    validate(&twin, mode(partial))
        .with_context(|| format!("{} failed validation", path.display()))?;
    if json {
        crate::out(&(twin.to_json_pretty() + "\n"))
    } else {
        crate::out(&compact::to_compact(&twin))
    }
}

/// Validates files and reports every problem; fails when any file is invalid.
pub fn validate_files(paths: &[impl AsRef<Path>], partial: bool) -> Result<()> {
    let mut bad = 0;
    for p in paths {
        let p = p.as_ref();
        match load(p).and_then(|t| validate(&t, mode(partial)).map_err(anyhow::Error::from)) {
            Ok(()) => println!("{}: ok", p.display()),
            Err(e) => {
                bad += 1;
                println!("{}: {e:#}", p.display());
            }
        }
    }
    if bad > 0 {
        bail!("{bad} of {} file(s) are not valid twins", paths.len());
    }
    Ok(())
}

/// Prints the twin JSON Schema.
pub fn schema() -> Result<()> {
    crate::out(&dtr1_twin::json_schema())
}

/// Builds a twin from an image with the `import` backend and prints it.
pub fn perceive(
    image: &Path,
    detections: std::path::PathBuf,
    image_id: Option<String>,
    depth: Option<std::path::PathBuf>,
    invert_depth: bool,
    json: bool,
) -> Result<()> {
    use dtr1_perception::Backend;
    let img = image::open(image)
        .with_context(|| format!("cannot read image {}", image.display()))?
        .to_rgb8();
    let backend = dtr1_perception::import::Import {
        detections,
        image_id,
        categories: Default::default(),
        depth,
        invert_depth,
    };
    let p = backend.perceive(&img)?;
    let twin = dtr1_perception::builder::build(&img, &p, &Default::default())?;
    let twin = Twin::Image(twin);
    if json {
        crate::out(&(twin.to_json_pretty() + "\n"))
    } else {
        crate::out(&compact::to_compact(&twin))
    }
}
