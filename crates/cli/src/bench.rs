//! `dtr1 bench`: throughput of RLE, metrics and twin operations, beside the reference
//! implementations measured in the same run on the same inputs.

use anyhow::{bail, Context, Result};
use dtr1_metrics::{bleu, cider, jf, rouge, seg};
use dtr1_rle::Rle;
use dtr1_twin::{compact, example, validate, Mode, Twin};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// Options of `dtr1 bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Python interpreter with the reference implementations (set up by scripts/setup.sh).
    #[arg(long, default_value = ".venv/bin/python")]
    python: PathBuf,
    /// The reference timing script.
    #[arg(long, default_value = "scripts/ref/bench_reference.py")]
    script: PathBuf,
    /// Measure dt-r1 only (inputs are then generated here, not by the reference script).
    #[arg(long)]
    no_reference: bool,
    /// Repeats per measurement; the best time counts.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
}

#[derive(Deserialize)]
struct RefData {
    masks: Vec<Rle>,
    pairs: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct RefTimes {
    iou_pairs_per_s: f64,
    encode_masks_per_s: f64,
    #[serde(rename = "rougeL_pairs_per_s")]
    rouge_l_pairs_per_s: f64,
}

/// Best wall time of `repeats` runs of `f`, in seconds.
fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Inputs generated here when the reference script is not run: 128 masks of 640×480 with
/// one to three ellipses each, and 2000 sentence pairs.
fn local_inputs() -> RefData {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let masks = (0..128)
        .map(|_| {
            let shapes: Vec<example::Shape> = (0..1 + (next() * 3.0) as usize)
                .map(|_| example::Shape::Ellipse {
                    cx: next() * 640.0,
                    cy: next() * 480.0,
                    rx: 20.0 + next() * 180.0,
                    ry: 20.0 + next() * 140.0,
                })
                .collect();
            let parts = example::paint(640, 480, &shapes);
            dtr1_rle::merge(&parts, false).expect("same size")
        })
        .collect();
    let words: Vec<&str> =
        "the red ball rolls left of a blue cube then stops after it hits the green cylinder near two mugs"
            .split(' ')
            .collect();
    let mut sent = || {
        let n = 8 + (next() * 22.0) as usize;
        (0..n)
            .map(|_| words[(next() * words.len() as f64) as usize % words.len()])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let pairs = (0..2000).map(|_| (sent(), sent())).collect();
    RefData { masks, pairs }
}

fn run_reference(args: &BenchArgs, data: &std::path::Path) -> Result<RefTimes> {
    let out = Command::new(&args.python)
        .arg(&args.script)
        .arg(data)
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (run scripts/setup.sh first, or pass --no-reference)",
                args.python.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "reference script {} failed: {}",
            args.script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).context("reference script printed no timing line")
}

struct Row {
    what: &'static str,
    unit: &'static str,
    ours: f64,
    reference: Option<(&'static str, f64)>,
}

/// Runs the benchmarks and prints a Markdown table.
pub fn run(args: &BenchArgs) -> Result<()> {
    let r = args.repeats;
    let pb = ProgressBar::new(13);
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"),
    );
    let (data, reference) = inputs(args, &pb)?;
    let (dts, gts) = data.masks.split_at(64);
    let mut rows = Vec::new();
    bench_rle(r, &pb, &data, reference.as_ref(), &mut rows);
    bench_text_metrics(r, &pb, &data, reference.as_ref(), &mut rows);
    bench_mask_metrics(r, &pb, dts, gts, &mut rows);
    bench_twin(r, &pb, &mut rows);
    bench_reward(r, &pb, &mut rows);
    bench_twin_builder(r, &pb, &mut rows);
    bench_pixels_backend(r, &pb, &mut rows);
    pb.finish_and_clear();
    print_table(rows);
    Ok(())
}

/// The inputs, and the reference timings unless `--no-reference`: the reference script
/// writes the inputs it timed, so both sides measure the same data.
fn inputs(args: &BenchArgs, pb: &ProgressBar) -> Result<(RefData, Option<RefTimes>)> {
    pb.set_message("reference implementations");
    let (data, reference) = if args.no_reference {
        (local_inputs(), None)
    } else {
        let dir = std::env::temp_dir().join(format!("dtr1-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("inputs.json");
        let times = run_reference(args, &path)?;
        let text = std::fs::read_to_string(&path)?;
        std::fs::remove_dir_all(&dir).ok();
        (
            serde_json::from_str(&text).context("reference inputs do not parse")?,
            Some(times),
        )
    };
    pb.inc(1);
    if data.masks.len() < 128 || data.pairs.is_empty() {
        bail!("benchmark inputs need 128 masks and some sentence pairs");
    }
    Ok((data, reference))
}

/// RLE IoU, encode and decode.
fn bench_rle(
    r: usize,
    pb: &ProgressBar,
    data: &RefData,
    reference: Option<&RefTimes>,
    rows: &mut Vec<Row>,
) {
    let (dts, gts) = data.masks.split_at(64);
    pb.set_message("RLE IoU");
    let t = best(r, || {
        dtr1_rle::iou_matrix(dts, &gts[..64], &[]).expect("same sizes")
    });
    rows.push(Row {
        what: "RLE IoU, 64×64 matrix of 640×480 masks",
        unit: "pairs/s",
        ours: 4096.0 / t,
        reference: reference.map(|x| ("pycocotools `mask.iou`", x.iou_pairs_per_s)),
    });
    pb.inc(1);

    pb.set_message("RLE encode");
    let dense: Vec<Vec<u8>> = data.masks.iter().map(Rle::decode_col_major).collect();
    let t = best(r, || {
        dense
            .iter()
            .map(|m| {
                Rle::encode_col_major(480, 640, m)
                    .expect("size")
                    .counts()
                    .len()
            })
            .sum::<usize>()
    });
    rows.push(Row {
        what: "RLE encode, 640×480 column-major masks",
        unit: "masks/s",
        ours: dense.len() as f64 / t,
        reference: reference.map(|x| ("pycocotools `mask.encode`", x.encode_masks_per_s)),
    });
    pb.inc(1);

    pb.set_message("RLE decode");
    // Summing the bytes makes every decoded page really written and read.
    let t = best(r, || {
        data.masks
            .iter()
            .map(|m| {
                m.decode_col_major()
                    .iter()
                    .map(|&b| u64::from(b))
                    .sum::<u64>()
            })
            .sum::<u64>()
    });
    rows.push(Row {
        what: "RLE decode (and read back), 640×480",
        unit: "masks/s",
        ours: data.masks.len() as f64 / t,
        reference: None,
    });
    pb.inc(1);
}

/// Caption metrics on the sentence pairs: ROUGE-L, BLEU, CIDEr-D.
fn bench_text_metrics(
    r: usize,
    pb: &ProgressBar,
    data: &RefData,
    reference: Option<&RefTimes>,
    rows: &mut Vec<Row>,
) {
    pb.set_message("ROUGE-L");
    let t = best(r.min(3), || {
        data.pairs
            .iter()
            .map(|(a, b)| rouge::rouge_l(a, b, false).fmeasure)
            .sum::<f64>()
    });
    rows.push(Row {
        what: "ROUGE-L F1 (no stemming), sentence pairs",
        unit: "pairs/s",
        ours: data.pairs.len() as f64 / t,
        reference: reference.map(|x| ("rouge-score", x.rouge_l_pairs_per_s)),
    });
    pb.inc(1);

    pb.set_message("BLEU");
    let t = best(r.min(3), || {
        data.pairs
            .iter()
            .map(|(a, b)| bleu::sentence_bleu(a, &[b.as_str()]))
            .sum::<f64>()
    });
    rows.push(Row {
        what: "sentence BLEU-4 (13a)",
        unit: "pairs/s",
        ours: data.pairs.len() as f64 / t,
        reference: None,
    });
    pb.inc(1);

    pb.set_message("CIDEr-D");
    let cands: Vec<&str> = data.pairs.iter().map(|p| p.0.as_str()).collect();
    let refs: Vec<Vec<&str>> = data.pairs.iter().map(|p| vec![p.1.as_str()]).collect();
    let t = best(r.min(3), || cider::cider_d(&cands, &refs).0);
    rows.push(Row {
        what: "CIDEr-D, corpus of 2000 images",
        unit: "images/s",
        ours: cands.len() as f64 / t,
        reference: None,
    });
    pb.inc(1);
}

/// Segmentation metrics on mask pairs: gIoU/cIoU counts and J&F.
fn bench_mask_metrics(r: usize, pb: &ProgressBar, dts: &[Rle], gts: &[Rle], rows: &mut Vec<Row>) {
    pb.set_message("gIoU counts");
    let t = best(r, || {
        dts.iter()
            .zip(gts)
            .map(|(p, g)| seg::counts_rle(p, g, None).expect("size").iou())
            .sum::<f64>()
    });
    rows.push(Row {
        what: "gIoU/cIoU counts on RLE, 640×480",
        unit: "samples/s",
        ours: 64.0 / t,
        reference: None,
    });
    pb.inc(1);

    pb.set_message("J&F");
    let t = best(r.min(3), || {
        dts.iter()
            .zip(gts)
            .take(16)
            .map(|(p, g)| jf::frame_scores_rle(p, g).expect("size").f)
            .sum::<f64>()
    });
    rows.push(Row {
        what: "J&F per frame, 640×480",
        unit: "frames/s",
        ours: 16.0 / t,
        reference: None,
    });
    pb.inc(1);
}

/// The twin's compact form (write, parse) and strict validation.
fn bench_twin(r: usize, pb: &ProgressBar, rows: &mut Vec<Row>) {
    pb.set_message("twin");
    let twin = Twin::Image(example::synthetic(20, 1));
    let text = compact::to_compact(&twin);
    let t = best(r, || {
        (0..100)
            .map(|_| compact::to_compact(&twin).len())
            .sum::<usize>()
    });
    rows.push(Row {
        what: "compact form, write 20-object twin",
        unit: "twins/s",
        ours: 100.0 / t,
        reference: None,
    });
    let t = best(r, || {
        (0..100)
            .filter(|_| compact::parse_compact(&text).is_ok())
            .count()
    });
    rows.push(Row {
        what: "compact form, parse 20-object twin",
        unit: "twins/s",
        ours: 100.0 / t,
        reference: None,
    });
    let t = best(r, || {
        (0..100)
            .filter(|_| validate(&twin, Mode::Strict).is_ok())
            .count()
    });
    rows.push(Row {
        what: "strict validation, 20-object twin with masks",
        unit: "twins/s",
        ours: 100.0 / t,
        reference: None,
    });
    pb.inc(1);
}

/// The reward of one segmentation rollout.
fn bench_reward(r: usize, pb: &ProgressBar, rows: &mut Vec<Row>) {
    pb.set_message("reward");
    let scene = example::synthetic(15, 3);
    let target = &scene.objects[4];
    let truth = dtr1_reward::GroundTruth::Mask {
        ignore: None,
        mask: target.mask.clone().expect("example objects have masks"),
        ids: Some(vec![target.id]),
    };
    let b = target.bbox.expect("example objects have boxes");
    let completion = format!(
        "<twin>{{\"objects\":[{{\"id\":{},\"label\":\"{}\",\"bbox\":[{},{},{},{}]}}]}}</twin>\n\
         <think>it holds liquid and is left of the lamp</think>\n<answer>[{}]</answer>",
        target.id, target.label, b[0], b[1], b[2], b[3], target.id
    );
    let scene = Twin::Image(scene);
    let req = dtr1_reward::Request {
        task: dtr1_reward::Task::ImageReasonseg,
        query: "the thing you could pour water into",
        twin: &scene,
        truth: &truth,
        cider: None,
    };
    let cfg = dtr1_reward::RewardConfig::default();
    let t = best(r, || {
        (0..1000)
            .map(|_| dtr1_reward::score(&completion, &req, &cfg).total)
            .sum::<f64>()
    });
    rows.push(Row {
        what: "reward of one segmentation rollout, 15-object twin (µs each = 1e6 / value)",
        unit: "rollouts/s",
        ours: 1000.0 / t,
        reference: None,
    });
    pb.inc(1);
}

/// The twin builder from given detections and depth.
fn bench_twin_builder(r: usize, pb: &ProgressBar, rows: &mut Vec<Row>) {
    pb.set_message("twin builder");
    let cfg_scene = dtr1_twinbench::scene::SceneConfig {
        min_objects: 15,
        max_objects: 15,
        ..Default::default()
    };
    let scene = dtr1_twinbench::scene::render(&cfg_scene, 4).expect("a 15-object scene renders");
    let perception = dtr1_perception::Perception {
        detections: scene
            .objects
            .iter()
            .map(|o| dtr1_perception::Detection {
                label: o.shape.into(),
                score: 0.9,
                mask: o.mask.clone(),
                mask_source: dtr1_perception::MaskSource::Import,
            })
            .collect(),
        depth: Some(dtr1_perception::DepthMap {
            width: scene.image.width(),
            height: scene.image.height(),
            values: scene.depth.clone(),
        }),
        depth_source: Some(dtr1_perception::DepthSource::Import),
    };
    let n_obj = perception.detections.len();
    let t = best(r, || {
        dtr1_perception::builder::build(&scene.image, &perception, &Default::default())
            .expect("valid detections")
            .objects
            .len()
    });
    rows.push(Row {
        what: if n_obj == 15 {
            "twin builder: 15 detections + depth → validated twin, 480×320"
        } else {
            "twin builder: detections + depth → validated twin, 480×320"
        },
        unit: "twins/s",
        ours: 1.0 / t,
        reference: None,
    });
    pb.inc(1);
}

/// The pixels perception backend, image to validated twin.
fn bench_pixels_backend(r: usize, pb: &ProgressBar, rows: &mut Vec<Row>) {
    pb.set_message("pixels backend");
    // The cost target: a 640×480 image with 15 objects, segmented from its pixels
    // and built into a validated twin, on one core (the backend is single-threaded).
    let cfg_scene = dtr1_twinbench::scene::SceneConfig {
        width: 640,
        height: 480,
        min_objects: 15,
        max_objects: 15,
        ..Default::default()
    };
    let scene = dtr1_twinbench::scene::render(&cfg_scene, 4).expect("a 15-object scene renders");
    let pixels = dtr1_perception::pipeline::Pipeline::from_config(
        &dtr1_perception::pipeline::PerceptionConfig::with_backend("pixels"),
    )
    .expect("the default pixels configuration is valid");
    let t = best(r, || {
        pixels
            .twin(&scene.image)
            .expect("the pixels backend reads a TwinBench render")
            .objects
            .len()
    });
    rows.push(Row {
        what: "pixels backend: 640×480 render, 15 objects → validated twin (ms each = 1e3 / value)",
        unit: "twins/s",
        ours: 1.0 / t,
        reference: None,
    });
    pb.inc(1);
}

/// Prints the rows as a Markdown table.
fn print_table(rows: Vec<Row>) {
    println!("| operation | unit | dt-r1 | reference | reference value | dt-r1 / reference |");
    println!("|---|---|---:|---|---:|---:|");
    for row in rows {
        match row.reference {
            Some((name, v)) => println!(
                "| {} | {} | {:.0} | {} | {:.0} | {:.2}× |",
                row.what,
                row.unit,
                row.ours,
                name,
                v,
                row.ours / v
            ),
            None => println!("| {} | {} | {:.0} | | | |", row.what, row.unit, row.ours),
        }
    }
}
