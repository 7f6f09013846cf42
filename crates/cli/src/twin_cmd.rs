//! `dtr1 twin`, `dtr1 validate`, `dtr1 schema`.

use anyhow::{bail, Context, Result};
use dtr1_perception::annotations::AnnotationFormat;
use dtr1_perception::pipeline::{
    AnnotationsSection, DepthChoice, ImportSection, PerceptionConfig, Pipeline,
};
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

/// File extensions taken for images.
const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"];

/// Whether `dtr1 twin FILE …` asks for perception on an image: a perception option was given
/// or the file has an image extension (a twin JSON otherwise).
pub fn is_image_request(file: &Path, perception_options: bool) -> bool {
    perception_options
        || file
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// Options of the image branch of `dtr1 twin`.
pub struct ImageArgs<'a> {
    /// The image.
    pub image: &'a Path,
    /// Perception configuration file (TOML or JSON).
    pub config: Option<&'a Path>,
    /// Object backend (overrides the configuration's): pixels, annotations or import.
    pub backend: Option<&'a str>,
    /// Detections for the import backend.
    pub detections: Option<&'a Path>,
    /// COCO image id (COCO results for import, COCO instances for annotations).
    pub image_id: Option<&'a str>,
    /// Depth map file (16-bit PNG or .npy): the import backend's depth, or the depth of any
    /// other backend.
    pub depth: Option<&'a Path>,
    /// The depth file holds disparity.
    pub invert_depth: bool,
    /// Ground truth for the annotations backend.
    pub annotations: Option<&'a Path>,
    /// Its format (twinbench, coco, reasonseg, revos).
    pub annotations_format: Option<&'a str>,
    /// Where to draw the twin.
    pub overlay: Option<&'a Path>,
    /// Print JSON instead of the compact form.
    pub json: bool,
}

/// The perception configuration the command-line options describe.
pub fn config_from(a: &ImageArgs) -> Result<PerceptionConfig> {
    let mut cfg = match a.config {
        Some(p) => PerceptionConfig::load(p)?,
        None => PerceptionConfig::with_backend(match (a.backend, a.detections, a.annotations) {
            (Some(b), _, _) => b,
            (None, Some(_), _) => "import",
            (None, None, Some(_)) => "annotations",
            (None, None, None) => "pixels",
        }),
    };
    if let Some(b) = a.backend {
        cfg.backend = b.to_string();
    }
    if a.detections.is_some() || a.depth.is_some() {
        let s = cfg.import.get_or_insert(ImportSection {
            detections: None,
            image_id: None,
            categories: Default::default(),
            depth: None,
            invert_depth: false,
        });
        if let Some(d) = a.detections {
            s.detections = Some(d.to_path_buf());
            s.image_id = a.image_id.map(String::from);
        }
        if let Some(d) = a.depth {
            s.depth = Some(d.to_path_buf());
            s.invert_depth = a.invert_depth;
            if cfg.backend != "import" {
                // A depth file given to another backend replaces that backend's depth.
                cfg.depth = DepthChoice::Import;
            }
        }
    }
    if let Some(path) = a.annotations {
        let format = match a.annotations_format.unwrap_or("twinbench") {
            "twinbench" => AnnotationFormat::Twinbench,
            "coco" => AnnotationFormat::Coco,
            "reasonseg" => AnnotationFormat::Reasonseg,
            "revos" => AnnotationFormat::Revos,
            other => bail!(
                "--annotations-format {other:?} is not one of twinbench, coco, reasonseg, revos"
            ),
        };
        let image_id = match (format, a.image_id) {
            (AnnotationFormat::Coco, Some(id)) => Some(
                id.parse::<u64>()
                    .with_context(|| format!("--image-id {id:?} is not a COCO image id"))?,
            ),
            _ => None,
        };
        cfg.annotations = Some(AnnotationsSection {
            format,
            path: path.to_path_buf(),
            image_id,
            anno_ids: Vec::new(),
            frame: 0,
        });
    }
    Ok(cfg)
}

/// Writes an image atomically (temporary file in the same directory, then rename).
pub fn save_png(img: &image::RgbImage, path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let tmp = dir.unwrap_or(Path::new(".")).join(format!(
        ".{}.tmp-{}.png",
        path.file_name()
            .map_or("overlay".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Builds the twin of an image with the configured perception, prints it and optionally
/// draws it. `stereo_right` is the right view of a rectified pair (photo backend).
pub fn perceive(a: &ImageArgs, stereo_right: Option<&Path>) -> Result<()> {
    let mut cfg = config_from(a)?;
    if let Some(right) = stereo_right {
        if cfg.backend != "photo" {
            bail!(
                "--stereo-right needs --backend photo (got `{}`)",
                cfg.backend
            );
        }
        cfg.photo.get_or_insert_with(Default::default).stereo_right = Some(right.to_path_buf());
    }
    let pipeline = Pipeline::from_config(&cfg).context("cannot set up perception")?;
    let img = dtr1_perception::pipeline::read_image(a.image)
        .with_context(|| format!("cannot read image {}", a.image.display()))?;
    let twin = pipeline
        .twin(&img)
        .with_context(|| format!("perception failed on {}", a.image.display()))?;
    if let Some(out) = a.overlay {
        let pic = dtr1_perception::overlay::draw(&img, &twin)?;
        save_png(&pic, out)?;
    }
    let twin = Twin::Image(twin);
    if a.json {
        crate::out(&(twin.to_json_pretty() + "\n"))
    } else {
        crate::out(&compact::to_compact(&twin))
    }
}
