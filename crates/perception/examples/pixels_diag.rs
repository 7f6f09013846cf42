//! Lists what the pixels backend gets wrong on rendered scenes (a development aid).
use dtr1_perception::eval::{match_objects, score, Counts};
use dtr1_perception::pipeline::{PerceptionConfig, Pipeline};
use dtr1_twinbench::scene::{render, SceneConfig};
fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (from, n) = (
        args.first().copied().unwrap_or(1000),
        args.get(1).copied().unwrap_or(30),
    );
    let pipe = Pipeline::from_config(&PerceptionConfig::with_backend("pixels")).unwrap();
    let mut total = Counts::default();
    for seed in from..from + n {
        let scene = render(&SceneConfig::default(), seed).unwrap();
        let truth = scene.twin(6);
        let pred = pipe.twin(&scene.image).unwrap();
        let c = score(&pred, &truth).unwrap();
        let m = match_objects(&pred, &truth).unwrap();
        for (i, j, v) in &m {
            let (p, t) = (&pred.objects[*i], &truth.objects[*j]);
            if p.label != t.label {
                println!(
                    "seed {seed}: true #{} {} {:?} area {:?} -> {} (score {:?}) iou {v:.3}",
                    t.id, t.label, t.bbox, t.area, p.label, p.score
                );
            }
        }
        for (j, t) in truth.objects.iter().enumerate() {
            if !m.iter().any(|x| x.1 == j) {
                println!(
                    "seed {seed}: missed #{} {} {:?} area {:?} {:?}",
                    t.id, t.label, t.bbox, t.area, t.attributes.color
                );
            }
        }
        if let Ok(dir) = std::env::var("DTR1_DUMP") {
            dtr1_perception::overlay::draw(&scene.image, &pred)
                .unwrap()
                .save(format!("{dir}/pred{seed}.png"))
                .unwrap();
            scene.image.save(format!("{dir}/img{seed}.png")).unwrap();
        }
        total.add(&c);
    }
    println!("{:?}", total.summary());
}
