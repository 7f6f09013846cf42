//! Writing a TwinBench image suite to disk in the dataset format ([`crate::dataset`]).
//!
//! Scene `i` is rendered from seed `seed + i`; its image goes to `images/scene_i.png`, its true
//! twin to `twins/scene_i.json`. Scenes with `i % 10 == 0` form `test`, `i % 10 == 1` form
//! `val`, the rest `train`. Queries that mention one of [`HELDOUT_PAIRS`] (a colour–shape
//! combination) go to the compositional `heldout` split instead, so train never sees them.

use crate::dataset::{self, write_atomic};
use crate::queries::{self, Spec};
use crate::scene::{render, SceneConfig};
use crate::{DataError, Media, Sample};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Colour–shape combinations kept out of train/val/test.
pub const HELDOUT_PAIRS: [(&str, &str); 4] = [
    ("red", "cube"),
    ("blue", "sphere"),
    ("green", "mug"),
    ("yellow", "cone"),
];

fn mentions_heldout(spec: &Spec, twin: &dtr1_twin::ImageTwin, targets: &[u32]) -> bool {
    let pair = |c: &str, s: &str| HELDOUT_PAIRS.iter().any(|(hc, hs)| *hc == c && *hs == s);
    let target_pair = targets.iter().filter_map(|id| twin.object(*id)).any(|o| {
        pair(
            o.attributes.color.as_deref().unwrap_or(""),
            o.attributes.shape.as_deref().unwrap_or(""),
        )
    });
    target_pair
        || match spec {
            Spec::Ref { color, shape } | Spec::Exists { color, shape } => pair(color, shape),
            Spec::RefLeftOf {
                anchor_color,
                anchor_shape,
                ..
            } => pair(anchor_color, anchor_shape),
            _ => false,
        }
}

/// Generates `scenes` scenes with up to `per_task` queries per image benchmark each, writes
/// the dataset to `dir`, and returns the number of samples per split. `progress` is called
/// after each scene.
pub fn generate(
    dir: &Path,
    scenes: usize,
    seed: u64,
    per_task: usize,
    cfg: &SceneConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<BTreeMap<String, usize>, DataError> {
    if scenes == 0 || scenes > 1_000_000 || per_task == 0 || per_task > 100 {
        return Err(DataError::invalid(
            dir,
            format!("scenes = {scenes} must be 1..=1e6 and per_task = {per_task} 1..=100"),
        ));
    }
    let mut splits: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for i in 0..scenes {
        let s = seed.wrapping_add(i as u64);
        let scene = render(cfg, s)?;
        let twin = scene.twin(6);
        let name = format!("scene_{i:05}");
        let img = PathBuf::from("images").join(format!("{name}.png"));
        let twin_path = PathBuf::from("twins").join(format!("{name}.json"));
        write_atomic(&dir.join(&img), &scene.png())?;
        let twin_json = serde_json::to_string(&twin).expect("twins serialise");
        write_atomic(&dir.join(&twin_path), twin_json.as_bytes())?;
        let split = match i % 10 {
            0 => "test",
            1 => "val",
            _ => "train",
        };
        for (k, q) in queries::generate(&scene, &twin, s, per_task)
            .into_iter()
            .enumerate()
        {
            let heldout = mentions_heldout(&q.spec, &twin, &q.targets);
            let mut meta = BTreeMap::new();
            meta.insert("spec".into(), format!("{:?}", q.spec));
            meta.insert("seed".into(), s.to_string());
            let sample = Sample {
                id: format!("twinbench/{name}/{k}"),
                task: q.task,
                query: q.text.clone(),
                media: Media::Image {
                    path: img.clone(),
                    width: cfg.width,
                    height: cfg.height,
                },
                truth: queries::ground_truth(&q, &twin),
                category: Some(q.category),
                level: Some(q.level),
                twin: Some(twin_path.clone()),
                source: format!("twinbench/{}", if heldout { "heldout" } else { split }),
                meta,
            };
            splits
                .entry(if heldout { "heldout" } else { split }.to_string())
                .or_default()
                .push(sample);
        }
        progress(i + 1);
    }
    let counts = splits.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    dataset::write(dir, "twinbench-image", &splits)?;
    Ok(counts)
}
