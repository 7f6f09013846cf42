//! PNG curves of a run's `metrics.jsonl`: one panel per metric (reward, accuracy overall
//! and per task, KL, completion length for GRPO; loss for SFT), step on the x axis.
//!
//! Lines are drawn with plotters; the few labels (panel title, y range, last step) are
//! drawn with the 8×8 bitmap font, so plotting needs no system fonts.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::error::{GrpoError, Result};

const PANEL_W: u32 = 420;
const PANEL_H: u32 = 260;
/// Line colours (matplotlib's tab10). The per-task accuracy panel draws seven series (all
/// and the six benchmarks), so fewer than seven colours would draw two of them alike.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A named series of (step, value).
type Series = (String, Vec<(f64, f64)>);

fn perr(e: impl std::fmt::Display) -> GrpoError {
    GrpoError::Plot(e.to_string())
}

/// Panels to draw from the metric lines: `(title, series)`.
fn panels(lines: &[serde_json::Value], beta: Option<f64>) -> Vec<(String, Vec<Series>)> {
    let pick = |key: &str| -> Vec<(f64, f64)> {
        lines
            .iter()
            .filter_map(|v| Some((v["step"].as_f64()?, v[key].as_f64()?)))
            .collect()
    };
    let mut out = Vec::new();
    let single = |title: &str, key: &str| (title.to_string(), vec![(key.to_string(), pick(key))]);
    if lines.iter().any(|v| v.get("reward").is_some()) {
        out.push(single("reward (mean)", "reward"));
        let mut acc = vec![("all".to_string(), pick("accuracy"))];
        let mut tasks: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for v in lines {
            if let (Some(step), Some(t)) = (v["step"].as_f64(), v["tasks"].as_object()) {
                for (name, tm) in t {
                    if let Some(a) = tm["accuracy"].as_f64() {
                        tasks.entry(name.clone()).or_default().push((step, a));
                    }
                }
            }
        }
        acc.extend(tasks);
        out.push(("accuracy (all, per task)".to_string(), acc));
        // With β = 0 the trainer skips the reference pass and logs 0; say so instead of
        // drawing a flat line that reads as "the policy never moved".
        let kl_title = if beta == Some(0.0) {
            "KL to reference (k3): not computed, beta = 0"
        } else {
            "KL to reference (k3)"
        };
        out.push(single(kl_title, "kl"));
        out.push(single("completion length (tokens)", "completion_len"));
        // Dynamic sampling: the share of drawn groups the filter dropped (TRL's
        // frac_reward_zero_std when the filter is on reward std).
        let dropped: Vec<(f64, f64)> = lines
            .iter()
            .filter_map(|v| {
                let drawn = v["drawn_groups"].as_f64().filter(|d| *d > 0.0)?;
                Some((v["step"].as_f64()?, v["filtered_groups"].as_f64()? / drawn))
            })
            .collect();
        if dropped.iter().any(|(_, f)| *f > 0.0) {
            out.push((
                "groups dropped by the filter (fraction of drawn)".to_string(),
                vec![("filtered".to_string(), dropped)],
            ));
        }
    } else {
        out.push(single("SFT loss (NLL per token)", "loss"));
        out.push(single("learning rate", "lr"));
    }
    out.retain(|(_, s)| s.iter().any(|(_, p)| !p.is_empty()));
    out
}

/// Draw `text` onto an RGB buffer of width `w` at (x, y), 8 px per character.
fn text(buf: &mut [u8], w: u32, h: u32, x: u32, y: u32, s: &str, rgb: [u8; 3]) {
    for (dx, dy) in dtr1_data::overlay::text_pixels(s, 1) {
        let (px, py) = (x + dx, y + dy);
        if px < w && py < h {
            let o = ((py * w + px) * 3) as usize;
            buf[o..o + 3].copy_from_slice(&rgb);
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 || (v.abs() >= 0.01 && v.abs() < 10_000.0) {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

/// The KL coefficient β of the run whose `metrics.jsonl` is at `metrics`, from the
/// `config.toml` the trainer saved beside it (None when absent or unreadable: plotting
/// metrics alone must keep working).
fn run_beta(metrics: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(metrics.parent()?.join("config.toml")).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    v.get("grpo")?.get("beta")?.as_float()
}

/// Plot the metrics JSONL at `metrics` into the PNG `out` (written atomically).
pub fn plot_metrics(metrics: &Path, out: &Path) -> Result<()> {
    let text_in = std::fs::read_to_string(metrics).map_err(|e| GrpoError::io(metrics, e))?;
    let lines: Vec<serde_json::Value> = text_in
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                GrpoError::Plot(format!("{}:{}: not JSON: {e}", metrics.display(), i + 1))
            })
        })
        .collect::<Result<_>>()?;
    let panels = panels(&lines, run_beta(metrics));
    if panels.is_empty() {
        return Err(GrpoError::Plot(format!(
            "{} holds no step metrics to plot",
            metrics.display()
        )));
    }
    let cols = 2u32;
    let rows = (panels.len() as u32).div_ceil(cols);
    let (w, h) = (PANEL_W * cols, PANEL_H * rows);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let mut labels: Vec<(u32, u32, String, [u8; 3])> = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let areas = root.split_evenly((rows as usize, cols as usize));
        for (pi, ((title, series), area)) in panels.iter().zip(areas).enumerate() {
            let (ox, oy) = ((pi as u32 % cols) * PANEL_W, (pi as u32 / cols) * PANEL_H);
            let pts = series.iter().flat_map(|(_, p)| p.iter());
            let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for &(x, y) in pts {
                if y.is_finite() {
                    x0 = x0.min(x);
                    x1 = x1.max(x);
                    y0 = y0.min(y);
                    y1 = y1.max(y);
                }
            }
            if x0 > x1 {
                continue;
            }
            if x1 - x0 < 1.0 {
                x1 = x0 + 1.0;
            }
            let pad = ((y1 - y0) * 0.08).max(1e-6);
            let (y0, y1) = (y0 - pad, y1 + pad);
            let mut chart = ChartBuilder::on(&area)
                .margin_top(22)
                .margin_left(62)
                .margin_right(10)
                .margin_bottom(20)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(perr)?;
            chart
                .plotting_area()
                .fill(&RGBColor(248, 248, 248))
                .map_err(perr)?;
            for (si, (name, p)) in series.iter().enumerate() {
                let c = PALETTE[si % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                    .map_err(perr)?;
                if series.len() > 1 {
                    labels.push((
                        ox + 70,
                        oy + 30 + si as u32 * 10,
                        name.clone(),
                        [c.0, c.1, c.2],
                    ));
                }
            }
            labels.push((ox + 8, oy + 6, title.clone(), [0, 0, 0]));
            labels.push((ox + 4, oy + 24, fmt_num(y1), [60, 60, 60]));
            labels.push((ox + 4, oy + PANEL_H - 30, fmt_num(y0), [60, 60, 60]));
            labels.push((ox + 62, oy + PANEL_H - 14, format!("{x0}"), [60, 60, 60]));
            let last = format!("step {x1}");
            labels.push((
                ox + PANEL_W - 10 - 8 * last.len() as u32,
                oy + PANEL_H - 14,
                last,
                [60, 60, 60],
            ));
        }
        root.present().map_err(perr)?;
    }
    for (x, y, s, c) in labels {
        text(&mut buf, w, h, x, y, &s, c);
    }
    let img = image::RgbImage::from_raw(w, h, buf)
        .ok_or_else(|| GrpoError::Plot("buffer size mismatch".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(perr)?;
    crate::checkpoint::write_atomic(out, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accuracy_panel_has_a_distinct_colour_for_all_and_every_benchmark() {
        let n = dtr1_data::Task::ALL.len() + 1;
        assert!(PALETTE.len() >= n);
        for (i, a) in PALETTE[..n].iter().enumerate() {
            for (j, b) in PALETTE[..i].iter().enumerate() {
                assert_ne!(a, b, "colours {i} and {j}");
            }
        }
    }

    #[test]
    fn the_kl_panel_says_when_beta_is_zero() {
        let lines = vec![serde_json::json!({"step": 0, "reward": 0.5, "accuracy": 0.2, "kl": 0.0})];
        let title = |beta| {
            panels(&lines, beta)
                .into_iter()
                .map(|(t, _)| t)
                .find(|t| t.starts_with("KL"))
                .unwrap()
        };
        assert_eq!(
            title(Some(0.0)),
            "KL to reference (k3): not computed, beta = 0"
        );
        assert_eq!(title(Some(0.04)), "KL to reference (k3)");
        assert_eq!(title(None), "KL to reference (k3)");
    }
}
