//! The loopback load test of `POST /v1/reward`: the service starts in-process on
//! `127.0.0.1` (ephemeral port), `clients` concurrent clients send `requests` requests in all,
//! each a GRPO group of `group` rollouts of one TwinBench scene in OpenRLHF's format, and
//! every answer is checked against [`dtr1_reward::score`] called directly. Bounded: it sends
//! exactly `requests` requests and stops.

use crate::label::ParsedLabel;
use crate::server::{serve, ServeConfig};
use dtr1_reward::{GroundTruth, RewardConfig, Task};
use dtr1_twin::{compact, ImageTwin, Twin};
use dtr1_twinbench::scene::{render, SceneConfig};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct BenchConfig {
    /// Requests in all.
    pub requests: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Rollouts per request.
    pub group: usize,
    /// Scene seed.
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
}

/// What was measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Requests sent.
    pub requests: usize,
    /// Rollouts scored.
    pub rollouts: usize,
    /// Failed requests and answers that disagreed with direct scoring.
    pub errors: usize,
    /// Wall time.
    pub seconds: f64,
    /// Requests per second.
    pub requests_per_s: f64,
    /// Rollouts per second.
    pub rollouts_per_s: f64,
    /// Median latency (ms).
    pub p50_ms: f64,
    /// 99th-percentile latency (ms).
    pub p99_ms: f64,
    /// Slowest request (ms).
    pub max_ms: f64,
}

/// Why the load test could not run. Failed requests are not errors: they are counted in
/// [`BenchReport::errors`].
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A count of 0.
    #[error("requests, clients and group must be at least 1")]
    ZeroCount,
    /// The TwinBench scene could not be rendered.
    #[error("{0}")]
    Scene(#[from] dtr1_data::DataError),
    /// The rendered scene has no objects to ask about.
    #[error("scene has no objects")]
    NoObjects,
    /// The target object has no mask.
    #[error("no mask")]
    NoMask,
    /// The request body could not be serialised.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The runtime, the listener or the server failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(#[from] reqwest::Error),
    /// A client task or the server task panicked or was cancelled.
    #[error("{0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A realistic payload: a TwinBench scene, a segmentation label, and `group` completions
/// ranging from the correct answer to known hacks; returns the request body and the rewards
/// the service must answer.
pub fn payload(group: usize, seed: u64) -> Result<(Value, Vec<f64>), BenchError> {
    let scene = render(&SceneConfig::default(), seed)?;
    let twin: ImageTwin = scene.twin(6);
    let target = twin.objects.first().ok_or(BenchError::NoObjects)?.id;
    let truth = GroundTruth::Mask {
        mask: twin
            .object(target)
            .and_then(|o| o.mask.clone())
            .ok_or(BenchError::NoMask)?,
        ignore: None,
        ids: Some(vec![target]),
    };
    let query = "the object farthest from the camera".to_string();
    let label = ParsedLabel {
        task: Task::ImageReasonseg,
        query: query.clone(),
        truth,
        twin: Twin::Image(twin.clone()),
    };
    let prompt = format!(
        "<|im_start|>user\nTwin:\n{}\nQuery: {query}<|im_end|>\n<|im_start|>assistant\n",
        compact::to_compact(&label.twin)
    );
    let obj = |id: u32| -> String {
        let o = twin.object(id).expect("id from the twin");
        let b = o.bbox.unwrap_or_default();
        format!(
            r#"{{"id":{id},"label":"{}","bbox":[{},{},{},{}]}}"#,
            o.label, b[0], b[1], b[2], b[3]
        )
    };
    let ids: Vec<u32> = twin.objects.iter().map(|o| o.id).collect();
    let variants: Vec<String> = vec![
        format!("<twin>{{\"objects\":[{}]}}</twin><think>farthest is {target}</think><answer>[{target}]</answer>", obj(target)),
        format!("<twin>{{\"objects\":[{}]}}</twin><think>guess</think><answer>[{}]</answer>", obj(*ids.last().unwrap_or(&target)), ids.last().unwrap_or(&target)),
        format!("<twin>{{\"objects\":[{}]}}</twin><think>all</think><answer>{ids:?}</answer>", ids.iter().map(|&i| obj(i)).collect::<Vec<_>>().join(",")),
        "<think>no twin</think><answer>[1]</answer>".to_string(),
        format!("<twin>{{\"objects\":[]}}</twin><think>x</think><answer>{query}</answer>"),
    ];
    let cfg = RewardConfig::default();
    let label_text = label.to_json();
    let (mut queries, mut expect) = (vec![], vec![]);
    for i in 0..group {
        let c = &variants[i % variants.len()];
        queries.push(format!("{prompt}{c}<|im_end|>"));
        expect.push(label.score(c, &cfg).total);
    }
    let body = json!({
        "query": queries,
        "prompts": vec![prompt; group],
        "labels": vec![label_text; group],
    });
    Ok((body, expect))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the load test.
pub fn run(cfg: &BenchConfig, serve_cfg: ServeConfig) -> Result<BenchReport, BenchError> {
    if cfg.requests == 0 || cfg.clients == 0 || cfg.group == 0 {
        return Err(BenchError::ZeroCount);
    }
    let (body, expect) = payload(cfg.group, cfg.seed)?;
    let body = Arc::new(serde_json::to_vec(&body)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, serve_cfg, async {
            let _ = stopped.await;
        }));
        let url = format!("http://{addr}/v1/reward");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let next = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let lat = Arc::new(Mutex::new(Vec::with_capacity(cfg.requests)));
        let bar = if cfg.progress {
            indicatif::ProgressBar::new(cfg.requests as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        let expect = Arc::new(expect);
        let start = Instant::now();
        let mut tasks = vec![];
        for _ in 0..cfg.clients {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            let (next, errors, lat, bar, expect) = (
                next.clone(),
                errors.clone(),
                lat.clone(),
                bar.clone(),
                expect.clone(),
            );
            let total = cfg.requests;
            tasks.push(tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let t = Instant::now();
                    let ok = match client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                            Ok(v) => v["rewards"].as_array().is_some_and(|rs| {
                                rs.len() == expect.len()
                                    && rs
                                        .iter()
                                        .zip(expect.iter())
                                        .all(|(a, b)| a.as_f64() == Some(*b))
                            }),
                            Err(_) => false,
                        },
                        _ => false,
                    };
                    lat.lock()
                        .expect("latencies")
                        .push(t.elapsed().as_secs_f64() * 1e3);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    bar.inc(1);
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let _ = stop.send(());
        server.await??;
        let mut l = lat.lock().expect("latencies").clone();
        l.sort_by(f64::total_cmp);
        Ok(BenchReport {
            requests: cfg.requests,
            rollouts: cfg.requests * cfg.group,
            errors: errors.load(Ordering::Relaxed),
            seconds,
            requests_per_s: cfg.requests as f64 / seconds,
            rollouts_per_s: (cfg.requests * cfg.group) as f64 / seconds,
            p50_ms: percentile(&l, 0.5),
            p99_ms: percentile(&l, 0.99),
            max_ms: l.last().copied().unwrap_or(0.0),
        })
    })
}
