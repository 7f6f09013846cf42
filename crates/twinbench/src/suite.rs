//! Writing a TwinBench suite to disk in the dataset format ([`dtr1_data::dataset`]).
//!
//! Scene `i` is rendered from seed `seed + i`; its image goes to `images/scene_i.png`, its true
//! twin to `twins/scene_i.json`. Scenes with `i % 10 == 0` form `test`, `i % 10 == 1` form
//! `val`, the rest `train`. Queries that mention one of [`HELDOUT_PAIRS`] (a colour–shape
//! combination) go to the compositional `heldout` split instead, so train never sees them.
//! Clips follow the same rules (clip `i % 10` picks the split; a video query about a track
//! of a held-out pair — named by the query, one of its targets, or an actor of an event a
//! summary tells — goes to `heldout`).

use crate::queries;
use crate::scene::{render, SceneConfig};
use dtr1_data::dataset::{self, write_atomic};
use dtr1_data::{DataError, ImageSpec, Media, Outcome, QuerySpec, Sample, VideoSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Colour–shape combinations kept out of train/val/test.
pub const HELDOUT_PAIRS: [(&str, &str); 4] = [
    ("red", "cube"),
    ("blue", "sphere"),
    ("green", "mug"),
    ("yellow", "cone"),
];

fn mentions_heldout(spec: &ImageSpec, twin: &dtr1_twin::ImageTwin, targets: &[u32]) -> bool {
    let pair = |c: &str, s: &str| HELDOUT_PAIRS.iter().any(|(hc, hs)| *hc == c && *hs == s);
    let target_pair = targets.iter().filter_map(|id| twin.object(*id)).any(|o| {
        pair(
            o.attributes.color.as_deref().unwrap_or(""),
            o.attributes.shape.as_deref().unwrap_or(""),
        )
    });
    target_pair
        || match spec {
            ImageSpec::Ref { color, shape } | ImageSpec::Exists { color, shape } => {
                pair(color, shape)
            }
            ImageSpec::RefLeftOf {
                anchor_color,
                anchor_shape,
                ..
            } => pair(anchor_color, anchor_shape),
            _ => false,
        }
}

fn is_heldout_pair(c: &str, s: &str) -> bool {
    HELDOUT_PAIRS.iter().any(|(hc, hs)| *hc == c && *hs == s)
}

/// Whether a video query is about a track of a held-out pair: the pairs it names, its target
/// tracks, or (summaries, `tracks` = the tracks of the told events) the tracks it tells of.
fn video_mentions_heldout(
    spec: Option<&VideoSpec>,
    twin: &dtr1_twin::VideoTwin,
    tracks: &[u32],
) -> bool {
    let named = match spec {
        Some(VideoSpec::CollisionsOf { color, shape })
        | Some(VideoSpec::StopBeforeAfterCollision { color, shape }) => {
            is_heldout_pair(color, shape)
        }
        Some(VideoSpec::FirstToStop { a, b }) => {
            is_heldout_pair(&a.color, &a.shape) || is_heldout_pair(&b.color, &b.shape)
        }
        _ => false,
    };
    named
        || tracks.iter().filter_map(|id| twin.track(*id)).any(|t| {
            is_heldout_pair(
                t.attributes.color.as_deref().unwrap_or(""),
                t.attributes.shape.as_deref().unwrap_or(""),
            )
        })
}

/// Generates `scenes` scenes with up to `per_task` queries per image benchmark each and
/// `clips` video clips (frames `clips/clip_i/frame_NNN.png`, queries for the three video
/// benchmarks), writes the dataset to `dir`, and returns the number of samples per split.
/// `progress` is called after each scene and clip with the number done.
pub fn generate(
    dir: &Path,
    scenes: usize,
    clips: usize,
    seed: u64,
    per_task: usize,
    cfg: &SceneConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<BTreeMap<String, usize>, DataError> {
    if scenes == 0 || scenes > 1_000_000 || per_task == 0 || per_task > 100 || clips > 100_000 {
        return Err(DataError::invalid(
            dir,
            format!("scenes = {scenes} must be 1..=1e6, clips = {clips} at most 1e5, per_task = {per_task} 1..=100"),
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
                spec: Some(QuerySpec::Image(q.spec)),
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
    let clip_cfg = crate::video::ClipConfig::default();
    for i in 0..clips {
        let s = seed.wrapping_add(1_000_000 + i as u64);
        let clip = crate::video::render(&clip_cfg, s)?;
        let twin = clip.twin();
        let name = format!("clip_{i:05}");
        let mut frames = Vec::new();
        for (f, img) in clip.frames.iter().enumerate() {
            let rel = PathBuf::from("clips")
                .join(&name)
                .join(format!("frame_{f:03}.png"));
            let mut png = std::io::Cursor::new(Vec::new());
            img.write_to(&mut png, image::ImageFormat::Png)
                .expect("encoding a PNG in memory cannot fail");
            write_atomic(&dir.join(&rel), &png.into_inner())?;
            frames.push(rel);
        }
        let twin_path = PathBuf::from("twins").join(format!("{name}.json"));
        write_atomic(
            &dir.join(&twin_path),
            serde_json::to_string(&twin)
                .expect("twins serialise")
                .as_bytes(),
        )?;
        let split = match i % 10 {
            0 => "test",
            1 => "val",
            _ => "train",
        };
        let media = Media::Video {
            frames,
            fps: Some(clip_cfg.fps),
            width: clip_cfg.width,
            height: clip_cfg.height,
        };
        let mut samples = Vec::new();
        for q in crate::video_queries::generate(&clip, &twin) {
            let heldout = video_mentions_heldout(Some(&q.spec), &twin, &q.targets);
            let truth = match q.task {
                dtr1_data::Task::VideoReasonseg => {
                    let mut masks = BTreeMap::new();
                    for (f, fm) in clip.masks.iter().enumerate() {
                        let parts: Vec<dtr1_rle::Rle> = q
                            .targets
                            .iter()
                            .map(|id| fm[*id as usize - 1].clone())
                            .collect();
                        let m = dtr1_rle::merge(&parts, false).expect("same-size masks");
                        if m.area() > 0 {
                            masks.insert(f as u32, m);
                        }
                    }
                    dtr1_data::GroundTruth::VideoMasks {
                        masks,
                        ids: Some(q.targets.clone()),
                    }
                }
                _ => dtr1_data::GroundTruth::Answers {
                    answers: vec![q.answer.clone().unwrap_or_default()],
                    ids: crate::video_queries::relevant(&q.spec, &twin),
                },
            };
            samples.push((
                q.task,
                q.text,
                truth,
                q.level,
                QuerySpec::Video(q.spec),
                heldout,
            ));
        }
        let told = crate::video_queries::summary_relevant(&twin);
        let summary_heldout = video_mentions_heldout(None, &twin, &told);
        samples.push((
            dtr1_data::Task::VideoSummary,
            "Summarise what happens in the video.".to_string(),
            dtr1_data::GroundTruth::Summaries {
                references: crate::video_queries::summaries(&twin),
                ids: Some(told),
            },
            2,
            QuerySpec::Summary,
            summary_heldout,
        ));
        for (k, (task, text, truth, level, spec, heldout)) in samples.into_iter().enumerate() {
            let split = if heldout { "heldout" } else { split };
            let mut meta = BTreeMap::new();
            meta.insert("seed".into(), s.to_string());
            splits.entry(split.to_string()).or_default().push(Sample {
                id: format!("twinbench/{name}/{k}"),
                task,
                query: text,
                media: media.clone(),
                truth,
                category: Some(crate::video_queries::CATEGORY),
                level: Some(level),
                spec: Some(spec),
                twin: Some(twin_path.clone()),
                source: format!("twinbench/{split}"),
                meta,
            });
        }
        progress(scenes + i + 1);
    }
    let counts = splits.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    dataset::write(dir, "twinbench", &splits)?;
    Ok(counts)
}

/// What a query's spec decides on a twin of the query's kind, by the generator's own checkers
/// ([`queries::check`], [`crate::video_queries::check`]); `None` when the spec picks out no
/// clear answer on this twin, or when spec and twin are of different kinds. A summary has no
/// single answer, so it decides nothing.
pub fn check(spec: &QuerySpec, twin: &dtr1_twin::Twin) -> Option<Outcome> {
    match (spec, twin) {
        (QuerySpec::Image(s), dtr1_twin::Twin::Image(t)) => queries::check(s, t),
        (QuerySpec::Video(s), dtr1_twin::Twin::Video(t)) => crate::video_queries::check(s, t),
        _ => None,
    }
}
