//! The HTTP service behind `dtr1 serve`.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /v1/reward` (alias `/get_reward`) | OpenRLHF: `{"query": [..], "prompts": [..], "labels": [..]}` | `{"rewards": [..], "scores": [..], "extra_logs": {..}}` |
//! | `POST /v1/score` | `{"completion", "task", "query", "truth", "twin"}` | the reward breakdown |
//! | `POST /v1/twin` (`?overlay=true`) | JSON paths, or a multipart upload (`image`, `detections`, `depth`) | `{"twin": .., "overlay_png": base64}` |
//! | `POST /v1/ask` | `{"task", "query", "twin", "max_tokens"?}` | the policy's completion and its answer decoded (mask as RLE, box, text) |
//! | `GET /healthz` | | `{"status": "ok", ..}` |
//! | `GET /metrics` | | Prometheus (OpenMetrics) text |
//!
//! Every error is `{"error": {"code": .., "message": ..}}` with a fitting status. Bodies are
//! limited in size, requests in time (queueing included) and work routes in concurrency;
//! scoring and twin building run on the blocking pool so they never stall the I/O threads.
//! A request that times out (503) also stops its scoring: the batch loop checks a
//! cancellation flag before every rollout, and labels are size-limited, so the work left
//! after a timeout is at most one rollout's.

use crate::ask::Policy;
use crate::label::{split_completion, Label, LabelError, ParsedLabel};
use crate::metrics::{Metrics, RequestLabels, RouteLabels};
use crate::twin::TwinSource;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dtr1_reward::RewardConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::limit::ConcurrencyLimitLayer;

/// Limits and settings of the service.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest request body in bytes (uploads included).
    pub max_body_bytes: usize,
    /// Longest a request may take, waiting for a slot included.
    pub timeout: Duration,
    /// Most work requests (reward, score, twin) served at once; the rest wait.
    pub concurrency: usize,
    /// Most rollouts in one `/v1/reward` request.
    pub max_batch: usize,
    /// Parsed labels kept (GRPO sends a group of rollouts with the same label).
    pub label_cache: usize,
    /// `/v1/twin` reads server-side paths only below this directory; `None` refuses paths.
    pub allow_paths: Option<PathBuf>,
    /// Reward weights and limits.
    pub reward: RewardConfig,
    /// The policy behind `/v1/ask` (`None`: the route answers 503 `no_policy`).
    pub policy: Option<Arc<Policy>>,
    /// Most new tokens per `/v1/ask` answer (a request may ask for fewer).
    pub ask_max_tokens: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_body_bytes: 32 << 20,
            timeout: Duration::from_secs(60),
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            max_batch: 4096,
            label_cache: 1024,
            allow_paths: None,
            reward: RewardConfig::default(),
            policy: None,
            ask_max_tokens: 256,
        }
    }
}

/// A JSON error answer: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body whose every failure is an [`ApiError`]: too large (413), not JSON (400,
/// `malformed_json`), JSON of the wrong shape or types (422, `invalid_request`).
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "payload_too_large"
            } else {
                "bad_body"
            };
            ApiError::new(status, code, e.body_text())
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => ApiError::invalid(e.to_string()),
                _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()),
            }
        })
    }
}

struct AppState {
    cfg: ServeConfig,
    metrics: Metrics,
    labels: Mutex<HashMap<String, Arc<ParsedLabel>>>,
}

impl AppState {
    /// Parses a label, or takes it from the cache.
    fn label(&self, text: &str) -> Result<Arc<ParsedLabel>, LabelError> {
        if let Some(l) = self.labels.lock().expect("label cache").get(text) {
            self.metrics.label_cache_hits.inc();
            return Ok(l.clone());
        }
        self.metrics.label_cache_misses.inc();
        let parsed = Arc::new(ParsedLabel::from_json(text)?);
        let mut cache = self.labels.lock().expect("label cache");
        if cache.len() >= self.cfg.label_cache {
            // Whole-cache eviction: labels come in groups, so the working set is the current
            // batch, and clearing keeps the bookkeeping trivial.
            cache.clear();
        }
        if self.cfg.label_cache > 0 {
            cache.insert(text.to_string(), parsed.clone());
        }
        Ok(parsed)
    }
}

/// Builds the router with its layers.
pub fn router(cfg: ServeConfig) -> Router {
    let state = Arc::new(AppState {
        metrics: Metrics::new(),
        labels: Mutex::new(HashMap::new()),
        cfg,
    });
    let work = Router::new()
        .route("/v1/reward", post(reward))
        .route("/get_reward", post(reward))
        .route("/v1/score", post(score))
        .route("/v1/twin", post(twin))
        .route("/v1/ask", post(ask))
        .layer(ConcurrencyLimitLayer::new(state.cfg.concurrency.max(1)));
    Router::new()
        .merge(work)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.cfg.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(cfg))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Times out, counts and measures every request.
async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = match req.uri().path() {
        p @ ("/v1/reward" | "/get_reward" | "/v1/score" | "/v1/twin" | "/v1/ask" | "/healthz"
        | "/metrics") => p.to_string(),
        _ => "other".to_string(),
    };
    let start = Instant::now();
    st.metrics.in_flight.inc();
    let resp = match tokio::time::timeout(st.cfg.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {:?}", st.cfg.timeout),
        )
        .into_response(),
    };
    st.metrics.in_flight.dec();
    st.metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    st.metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

async fn healthz() -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "reward_version": dtr1_reward::REWARD_VERSION,
    }))
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let mut resp = st.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

/// Set when the request that started some blocking work is dropped (it timed out, or the
/// client went away), so that the work stops instead of outliving it.
#[derive(Clone, Default)]
struct Cancel(Arc<AtomicBool>);

impl Cancel {
    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sets its [`Cancel`] when dropped: held by the request's future, which the timeout drops.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0 .0.store(true, Ordering::Relaxed);
    }
}

/// Runs CPU work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

/// OpenRLHF's remote reward request. Fields it may add (`datasources`, token ids, …) are
/// ignored.
#[derive(Deserialize)]
struct RewardRequest {
    query: Vec<String>,
    #[serde(default)]
    prompts: Vec<String>,
    labels: Vec<Box<RawValue>>,
}

/// OpenRLHF's remote reward answer.
#[derive(Serialize)]
struct RewardResponse {
    /// The total reward per rollout (what the advantage is computed from).
    rewards: Vec<f64>,
    /// Task accuracy in [0, 1] per rollout (what OpenRLHF's dynamic filtering reads).
    scores: Vec<f64>,
    /// Components per rollout, for the trainer's logs.
    extra_logs: BTreeMap<&'static str, Vec<f64>>,
}

/// The text of a label: a JSON string holding the label (as OpenRLHF's `--label_key` column
/// carries it), or the label object itself.
fn label_text(raw: &RawValue) -> Result<std::borrow::Cow<'_, str>, serde_json::Error> {
    if raw.get().trim_start().starts_with('"') {
        Ok(std::borrow::Cow::Owned(serde_json::from_str::<String>(
            raw.get(),
        )?))
    } else {
        Ok(std::borrow::Cow::Borrowed(raw.get()))
    }
}

async fn reward(
    State(st): State<Arc<AppState>>,
    JsonBody(req): JsonBody<RewardRequest>,
) -> Result<Json<RewardResponse>, ApiError> {
    let n = req.query.len();
    if req.labels.len() != n {
        return Err(ApiError::invalid(format!(
            "{} queries but {} labels",
            n,
            req.labels.len()
        )));
    }
    if !req.prompts.is_empty() && req.prompts.len() != n {
        return Err(ApiError::invalid(format!(
            "{} queries but {} prompts",
            n,
            req.prompts.len()
        )));
    }
    if n > st.cfg.max_batch {
        return Err(ApiError::invalid(format!(
            "{n} rollouts in one request, more than the limit {}",
            st.cfg.max_batch
        )));
    }
    let st2 = st.clone();
    let cancel = Cancel::default();
    let _guard = CancelOnDrop(cancel.clone());
    let resp = blocking(move || {
        let mut out = RewardResponse {
            rewards: Vec::with_capacity(n),
            scores: Vec::with_capacity(n),
            extra_logs: BTreeMap::new(),
        };
        for (i, (query, raw)) in req.query.iter().zip(&req.labels).enumerate() {
            if cancel.is_set() {
                st2.metrics.cancelled.inc();
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cancelled",
                    "the request was dropped before its scoring finished",
                ));
            }
            let label = label_text(raw)
                .map_err(LabelError::from)
                .and_then(|t| st2.label(&t))
                .map_err(|e| ApiError::invalid(format!("labels[{i}]: {e}")))?;
            let prompt = req.prompts.get(i).map_or("", String::as_str);
            let completion = split_completion(query, prompt)
                .map_err(|e| ApiError::invalid(format!("query[{i}]: {e}")))?;
            let b = label.score(completion, &st2.cfg.reward);
            out.rewards.push(b.total);
            out.scores.push(b.accuracy);
            for (k, v) in [
                ("format", b.format),
                ("structure", b.structure),
                ("accuracy", b.accuracy),
                ("penalty", b.penalty),
            ] {
                out.extra_logs.entry(k).or_default().push(v);
            }
        }
        Ok(out)
    })
    .await?;
    st.metrics.rollouts.inc_by(n as u64);
    Ok(Json(resp))
}

/// One rollout and its label, flat.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreRequest {
    completion: String,
    task: dtr1_reward::Task,
    query: String,
    truth: dtr1_reward::GroundTruth,
    twin: Box<RawValue>,
}

async fn score(
    State(st): State<Arc<AppState>>,
    JsonBody(req): JsonBody<ScoreRequest>,
) -> Result<Json<dtr1_reward::RewardBreakdown>, ApiError> {
    let cfg = st.cfg.reward.clone();
    let b = blocking(move || {
        let label = Label {
            task: req.task,
            query: req.query,
            truth: req.truth,
            twin: req.twin,
        }
        .parse()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
        Ok(label.score(&req.completion, &cfg))
    })
    .await?;
    st.metrics.rollouts.inc();
    Ok(Json(b))
}

/// Resolves a server-side path, which must lie below the allowed root.
fn allowed(root: &Option<PathBuf>, p: &Path) -> Result<PathBuf, ApiError> {
    let root = root.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "paths_not_allowed",
            "this server reads no paths (start it with --allow-paths DIR); upload the files instead",
        )
    })?;
    let full = root.join(p);
    let canon = full.canonicalize().map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_file",
            format!("{}: {e}", p.display()),
        )
    })?;
    let root = root
        .canonicalize()
        .map_err(|e| ApiError::internal(format!("allowed root: {e}")))?;
    if !canon.starts_with(&root) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "path_outside_root",
            format!("{} is outside the allowed directory", p.display()),
        ));
    }
    Ok(canon)
}

/// Query parameters of `/v1/twin`.
#[derive(Deserialize, Default)]
struct TwinQuery {
    /// Also return the twin drawn over the image (PNG, base64).
    #[serde(default)]
    overlay: bool,
}

/// `POST /v1/twin`: JSON with paths below `--allow-paths`, or a multipart upload.
async fn twin(
    State(st): State<Arc<AppState>>,
    q: Result<axum::extract::Query<TwinQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    let overlay = q.map_err(|e| ApiError::invalid(e.body_text()))?.overlay;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (src, dir) = if is_multipart {
        let mp = Multipart::from_request(req, &st)
            .await
            .map_err(|e| ApiError::new(e.status(), "bad_multipart", e.body_text()))?;
        let (src, dir) = uploads(mp).await?;
        (src, Some(dir))
    } else {
        let JsonBody(mut src) = JsonBody::<TwinSource>::from_request(req, &st).await?;
        let root = &st.cfg.allow_paths;
        src.image = allowed(root, &src.image)?;
        src.detections = allowed(root, &src.detections)?;
        src.depth = src.depth.map(|d| allowed(root, &d)).transpose()?;
        (src, None)
    };
    blocking(move || {
        let (img, t) = src
            .build_with_image()
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        drop(dir);
        let mut out = json!({ "twin": t });
        if overlay {
            use base64::Engine;
            let drawn = dtr1_perception::overlay::draw(&img, &t)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let mut png = std::io::Cursor::new(Vec::new());
            drawn
                .write_to(&mut png, image::ImageFormat::Png)
                .map_err(|e| ApiError::internal(format!("PNG: {e}")))?;
            out["overlay_png"] =
                json!(base64::engine::general_purpose::STANDARD.encode(png.into_inner()));
        }
        Ok(Json(out))
    })
    .await
}

/// Writes the uploaded parts to a temporary directory (the import backend reads files).
async fn uploads(mut mp: Multipart) -> Result<(TwinSource, tempfile::TempDir), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(format!("temp dir: {e}")))?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_multipart", m);
    let (mut image, mut detections, mut depth) = (None, None, None);
    let (mut image_id, mut invert_depth) = (None, false);
    while let Some(field) = mp.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_string();
        let data = field.bytes().await.map_err(|e| bad(e.body_text()))?;
        match name.as_str() {
            "image" => {
                let ext = match image::guess_format(&data) {
                    Ok(image::ImageFormat::Png) => "png",
                    Ok(image::ImageFormat::Jpeg) => "jpg",
                    _ => return Err(ApiError::invalid("image: not a PNG or JPEG file")),
                };
                image = Some(write_part(&dir, &format!("image.{ext}"), &data)?);
            }
            "detections" => detections = Some(write_part(&dir, "detections.json", &data)?),
            "depth" => {
                let ext = if data.starts_with(b"\x93NUMPY") {
                    "npy"
                } else {
                    "png"
                };
                depth = Some(write_part(&dir, &format!("depth.{ext}"), &data)?);
            }
            "image_id" => image_id = Some(String::from_utf8_lossy(&data).into_owned()),
            "invert_depth" => invert_depth = matches!(&data[..], b"1" | b"true" | b"True" | b"yes"),
            other => return Err(ApiError::invalid(format!("unknown form field {other:?}"))),
        }
    }
    let src = TwinSource {
        image: image.ok_or_else(|| ApiError::invalid("missing form field `image`"))?,
        detections: detections
            .ok_or_else(|| ApiError::invalid("missing form field `detections`"))?,
        image_id,
        depth,
        invert_depth,
    };
    Ok((src, dir))
}

fn write_part(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> Result<PathBuf, ApiError> {
    let p = dir.path().join(name);
    std::fs::write(&p, data).map_err(|e| ApiError::internal(format!("writing upload: {e}")))?;
    Ok(p)
}

/// A question for the policy.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskRequest {
    task: dtr1_reward::Task,
    query: String,
    twin: Box<RawValue>,
    #[serde(default)]
    max_tokens: Option<usize>,
}

/// `POST /v1/ask`: greedy answer of the policy, decoded against the twin.
async fn ask(
    State(st): State<Arc<AppState>>,
    JsonBody(req): JsonBody<AskRequest>,
) -> Result<Json<crate::ask::AskAnswer>, ApiError> {
    let policy = st.cfg.policy.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_policy",
            "this server has no policy model (start it with --model FILE.gguf)",
        )
    })?;
    let max = st.cfg.ask_max_tokens;
    let n = req.max_tokens.unwrap_or(max);
    if n == 0 || n > max {
        return Err(ApiError::invalid(format!(
            "max_tokens {n} must be within 1..={max}"
        )));
    }
    if req.query.trim().is_empty() {
        return Err(ApiError::invalid("the query is empty"));
    }
    let out = blocking(move || {
        let twin = dtr1_twin::Twin::from_json(req.twin.get())
            .map_err(|e| ApiError::invalid(format!("twin: {e}")))?;
        dtr1_twin::validate(&twin, dtr1_twin::Mode::Partial)
            .map_err(|e| ApiError::invalid(format!("twin: {e}")))?;
        if matches!(twin, dtr1_twin::Twin::Video(_)) != req.task.is_video() {
            return Err(ApiError::invalid(format!(
                "task {} needs {} twin",
                req.task.name(),
                if req.task.is_video() {
                    "a video"
                } else {
                    "an image"
                }
            )));
        }
        policy
            .ask(req.task, &req.query, &twin, n)
            .map_err(|e| ApiError::internal(format!("policy: {e}")))
    })
    .await?;
    Ok(Json(out))
}
