//! How good a perceived image twin is, against a ground-truth twin.
//!
//! Objects are matched one-to-one, highest mask IoU first, pairs with IoU ≥ 0.5 only (COCO's
//! detection criterion; ground-truth masks of one image do not overlap, so at most one
//! prediction can pass 0.5 with each). Over a set of images:
//! - **mask mIoU** = mean IoU of the matched pairs;
//! - **detection precision / recall** = matched / predicted, matched / true objects;
//! - **label accuracy** = share of matched pairs whose labels agree;
//! - **colour accuracy** = share of matched pairs whose `color` attributes agree (pairs where
//!   the truth has a colour);
//! - **depth-order accuracy** = over pairs of matched objects whose true mean depths differ by
//!   more than [`DEPTH_TIE`], the share the prediction orders the same way (equal predicted
//!   depths count as wrong);
//! - **relation precision / recall**: all relations of [`dtr1_twin::relations::between`]
//!   between every ordered pair of objects (uncapped, so the per-object cap does not decide),
//!   predicted objects renamed to their matched true ids; a relation of an unmatched object
//!   can only be a false positive or a false negative.

use crate::{PerceptionError, Size};
use dtr1_twin::{relations, ImageTwin, Object, RelationKind};
use serde::Serialize;
use std::collections::HashSet;

/// True depths closer than this are ties, left out of depth-order accuracy.
pub const DEPTH_TIE: f64 = 0.02;

/// Counts over one or more images; add them up and call [`Counts::summary`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Images scored.
    pub images: usize,
    /// True objects.
    pub truth: usize,
    /// Predicted objects.
    pub predicted: usize,
    /// Matched pairs (IoU ≥ 0.5).
    pub matched: usize,
    /// Sum of the matched pairs' IoU.
    pub iou_sum: f64,
    /// Matched pairs with the same label.
    pub label_ok: usize,
    /// Matched pairs where the truth names a colour.
    pub color_pairs: usize,
    /// … and the prediction names the same one.
    pub color_ok: usize,
    /// Object pairs with distinct true depths.
    pub depth_pairs: usize,
    /// … ordered the same way by the prediction.
    pub depth_ok: usize,
    /// Predicted relations.
    pub rel_predicted: usize,
    /// True relations.
    pub rel_truth: usize,
    /// Predicted relations that are true.
    pub rel_ok: usize,
}

/// Rates from [`Counts`] (each `None` when its denominator is zero).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Images scored.
    pub images: usize,
    /// Mean IoU of matched objects.
    pub miou: Option<f64>,
    /// Detection precision at IoU 0.5.
    pub precision: Option<f64>,
    /// Detection recall at IoU 0.5.
    pub recall: Option<f64>,
    /// Label accuracy of matched objects.
    pub label_accuracy: Option<f64>,
    /// Colour accuracy of matched objects.
    pub color_accuracy: Option<f64>,
    /// Depth-order accuracy over pairs.
    pub depth_order_accuracy: Option<f64>,
    /// Relation precision.
    pub relation_precision: Option<f64>,
    /// Relation recall.
    pub relation_recall: Option<f64>,
}

fn ratio(a: f64, b: usize) -> Option<f64> {
    (b > 0).then(|| a / b as f64)
}

impl Counts {
    /// Adds another image's (or set's) counts.
    pub fn add(&mut self, o: &Counts) {
        self.images += o.images;
        self.truth += o.truth;
        self.predicted += o.predicted;
        self.matched += o.matched;
        self.iou_sum += o.iou_sum;
        self.label_ok += o.label_ok;
        self.color_pairs += o.color_pairs;
        self.color_ok += o.color_ok;
        self.depth_pairs += o.depth_pairs;
        self.depth_ok += o.depth_ok;
        self.rel_predicted += o.rel_predicted;
        self.rel_truth += o.rel_truth;
        self.rel_ok += o.rel_ok;
    }

    /// The rates.
    pub fn summary(&self) -> Summary {
        Summary {
            images: self.images,
            miou: ratio(self.iou_sum, self.matched),
            precision: ratio(self.matched as f64, self.predicted),
            recall: ratio(self.matched as f64, self.truth),
            label_accuracy: ratio(self.label_ok as f64, self.matched),
            color_accuracy: ratio(self.color_ok as f64, self.color_pairs),
            depth_order_accuracy: ratio(self.depth_ok as f64, self.depth_pairs),
            relation_precision: ratio(self.rel_ok as f64, self.rel_predicted),
            relation_recall: ratio(self.rel_ok as f64, self.rel_truth),
        }
    }
}

/// The one-to-one matching: `(predicted index, true index, IoU)`, IoU ≥ 0.5.
pub fn match_objects(
    pred: &ImageTwin,
    truth: &ImageTwin,
) -> Result<Vec<(usize, usize, f64)>, PerceptionError> {
    let masks = |t: &ImageTwin, who: &'static str| {
        t.objects
            .iter()
            .map(|o| {
                o.mask
                    .clone()
                    .ok_or(PerceptionError::NoMask { who, id: o.id })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let (pm, tm) = (masks(pred, "predicted")?, masks(truth, "true")?);
    if (pred.width, pred.height) != (truth.width, truth.height) {
        return Err(PerceptionError::SizeMismatch {
            what: "the predicted twin".into(),
            size: Size::new(pred.width, pred.height),
            other: "the true one",
            expected: Size::new(truth.width, truth.height),
        });
    }
    let ious = dtr1_rle::iou_matrix(&pm, &tm, &[]).map_err(|source| PerceptionError::Mask {
        context: "mask IoU".into(),
        source,
    })?;
    let mut cand: Vec<(usize, usize, f64)> = Vec::new();
    for i in 0..pm.len() {
        for j in 0..tm.len() {
            let v = ious[i * tm.len() + j];
            if v >= 0.5 {
                cand.push((i, j, v));
            }
        }
    }
    cand.sort_by(|a, b| b.2.total_cmp(&a.2));
    let (mut pu, mut tu) = (vec![false; pm.len()], vec![false; tm.len()]);
    let mut out = Vec::new();
    for (i, j, v) in cand {
        if !pu[i] && !tu[j] {
            pu[i] = true;
            tu[j] = true;
            out.push((i, j, v));
        }
    }
    Ok(out)
}

fn all_relations(
    objs: &[Object],
    names: &[i64],
    diagonal: f64,
) -> HashSet<(i64, RelationKind, i64)> {
    let mut out = HashSet::new();
    for (a, na) in objs.iter().zip(names) {
        for (b, nb) in objs.iter().zip(names) {
            if std::ptr::eq(a, b) {
                continue;
            }
            for k in relations::between(a, b, diagonal) {
                out.insert((*na, k, *nb));
            }
        }
    }
    out
}

/// Scores one predicted twin against the true one.
pub fn score(pred: &ImageTwin, truth: &ImageTwin) -> Result<Counts, PerceptionError> {
    let m = match_objects(pred, truth)?;
    let mut c = Counts {
        images: 1,
        truth: truth.objects.len(),
        predicted: pred.objects.len(),
        matched: m.len(),
        ..Default::default()
    };
    for &(i, j, v) in &m {
        let (p, t) = (&pred.objects[i], &truth.objects[j]);
        c.iou_sum += v;
        c.label_ok += usize::from(p.label == t.label);
        if let Some(tc) = &t.attributes.color {
            c.color_pairs += 1;
            c.color_ok += usize::from(p.attributes.color.as_ref() == Some(tc));
        }
    }
    for (x, &(pi, ti, _)) in m.iter().enumerate() {
        for &(pj, tj, _) in &m[x + 1..] {
            let (Some(a), Some(b)) = (truth.objects[ti].depth, truth.objects[tj].depth) else {
                continue;
            };
            if (a.mean - b.mean).abs() <= DEPTH_TIE {
                continue;
            }
            c.depth_pairs += 1;
            if let (Some(pa), Some(pb)) = (pred.objects[pi].depth, pred.objects[pj].depth) {
                let same = (a.mean < b.mean && pa.mean < pb.mean)
                    || (a.mean > b.mean && pa.mean > pb.mean);
                c.depth_ok += usize::from(same);
            }
        }
    }
    // Predicted objects take their matched true index as name; unmatched ones get names no
    // true object has.
    let mut pred_names: Vec<i64> = (0..pred.objects.len()).map(|i| -1 - i as i64).collect();
    for &(i, j, _) in &m {
        pred_names[i] = j as i64;
    }
    let true_names: Vec<i64> = (0..truth.objects.len() as i64).collect();
    let diagonal = f64::from(truth.width).hypot(f64::from(truth.height));
    let pr = all_relations(&pred.objects, &pred_names, diagonal);
    let tr = all_relations(&truth.objects, &true_names, diagonal);
    c.rel_predicted = pr.len();
    c.rel_truth = tr.len();
    c.rel_ok = pr.intersection(&tr).count();
    Ok(c)
}

/// The images of a dataset split that come with a ground-truth image twin: `(image, twin)`
/// paths, each image once, in the order the split first names them.
pub fn image_pairs(
    dir: &std::path::Path,
    split: &str,
) -> Result<Vec<(std::path::PathBuf, std::path::PathBuf)>, PerceptionError> {
    let samples = dtr1_data::dataset::read_split(dir, split).map_err(PerceptionError::Data)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for s in samples {
        if let (dtr1_data::Media::Image { path, .. }, Some(t)) = (&s.media, &s.twin) {
            if seen.insert(path.clone()) {
                out.push((path.clone(), t.clone()));
            }
        }
    }
    Ok(out)
}

/// Reads a ground-truth image twin.
pub fn read_truth(path: &std::path::Path) -> Result<ImageTwin, PerceptionError> {
    let file_err = |message: String| PerceptionError::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    match dtr1_twin::Twin::from_json(&text) {
        Ok(dtr1_twin::Twin::Image(t)) => Ok(t),
        Ok(_) => Err(file_err("a video twin, not an image twin".into())),
        Err(e) => Err(file_err(format!("not a twin: {e}"))),
    }
}

/// Runs the pipeline `make(image, truth twin path)` returns on every image of a split that
/// has a ground-truth twin and adds up the scores; `progress(done, total)` after each image.
pub fn evaluate_split(
    dir: &std::path::Path,
    split: &str,
    make: &mut dyn FnMut(
        &std::path::Path,
        &std::path::Path,
    ) -> Result<crate::pipeline::Pipeline, PerceptionError>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Counts, PerceptionError> {
    let pairs = image_pairs(dir, split)?;
    let mut total = Counts::default();
    for (k, (img_path, twin_path)) in pairs.iter().enumerate() {
        let truth = read_truth(twin_path)?;
        let image = crate::pipeline::read_image(img_path)?;
        let pipe = make(img_path, twin_path)?;
        let pred = pipe.twin(&image).map_err(|e| PerceptionError::File {
            path: img_path.display().to_string(),
            message: e.to_string(),
        })?;
        total.add(&score(&pred, &truth)?);
        progress(k + 1, pairs.len());
    }
    Ok(total)
}
