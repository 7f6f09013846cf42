//! `dtr1 serve` (the reward, scoring and twin service) and `dtr1 serve-bench` (its loopback
//! load test).

use anyhow::{bail, Context, Result};
use dtr1_serve::server::ServeConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `dtr1 serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (use 0.0.0.0 to accept other machines).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Largest request body in MiB.
    #[arg(long, default_value_t = 32)]
    max_body_mib: usize,
    /// Longest a request may take, in seconds (waiting for a slot included).
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Most work requests served at once (default: 2 × cores).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Most rollouts in one /v1/reward request.
    #[arg(long, default_value_t = 4096)]
    max_batch: usize,
    /// Let /v1/twin read server-side files below this directory.
    #[arg(long)]
    allow_paths: Option<PathBuf>,
    /// Parsed labels kept in memory (a GRPO group shares one label).
    #[arg(long, default_value_t = 1024)]
    label_cache: usize,
    /// Serve POST /v1/ask with this GGUF policy model (e.g. models/SmolLM2-135M-Instruct.Q4_1.gguf).
    #[arg(long)]
    model: Option<PathBuf>,
    /// LoRA adapter for /v1/ask. Default: as `dtr1 ask`, the committed trained adapter
    /// (adapters/dtr1-smollm2-135m) when it exists; its prompt version comes with it.
    #[arg(long, conflicts_with = "no_adapter")]
    adapter: Option<PathBuf>,
    /// Serve /v1/ask with the base model, without any adapter.
    #[arg(long)]
    no_adapter: bool,
    /// Most new tokens per /v1/ask answer.
    #[arg(long, default_value_t = 256)]
    ask_max_tokens: usize,
    /// Reward weights and limits (JSON with the fields of the reward configuration).
    #[arg(long)]
    reward_config: Option<PathBuf>,
}

fn config(a: &ServeArgs) -> Result<ServeConfig> {
    if a.max_body_mib == 0 || a.timeout_secs == 0 || a.max_batch == 0 {
        bail!("--max-body-mib, --timeout-secs and --max-batch must be at least 1");
    }
    let mut cfg = ServeConfig {
        max_body_bytes: a.max_body_mib << 20,
        timeout: Duration::from_secs(a.timeout_secs),
        max_batch: a.max_batch,
        label_cache: a.label_cache,
        allow_paths: a.allow_paths.clone(),
        ..Default::default()
    };
    if let Some(c) = a.concurrency {
        if c == 0 {
            bail!("--concurrency must be at least 1");
        }
        cfg.concurrency = c;
    }
    if let Some(dir) = &cfg.allow_paths {
        if !dir.is_dir() {
            bail!("--allow-paths {} is not a directory", dir.display());
        }
    }
    if a.ask_max_tokens == 0 || a.ask_max_tokens > 4096 {
        bail!("--ask-max-tokens must be within 1..=4096");
    }
    cfg.ask_max_tokens = a.ask_max_tokens;
    if let Some(m) = &a.model {
        // `dtr1 ask`'s adapter rule: the committed adapter unless told otherwise.
        let adapter =
            dtr1_policy::AdapterChoice::from_flags(a.adapter.as_deref(), a.no_adapter).resolve();
        let p = dtr1_serve::ask::Policy::load(m, adapter.as_deref())
            .with_context(|| format!("cannot load the policy model {}", m.display()))?;
        eprintln!(
            "/v1/ask: {} + {}, prompt version {}",
            m.display(),
            adapter
                .as_ref()
                .map_or("no adapter".to_string(), |d| format!(
                    "adapter {}",
                    d.display()
                )),
            p.version
        );
        cfg.policy = Some(std::sync::Arc::new(p));
    }
    if let Some(p) = &a.reward_config {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read reward configuration {}", p.display()))?;
        cfg.reward = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a reward configuration", p.display()))?;
    }
    Ok(cfg)
}

/// Runs the service until SIGINT or SIGTERM.
pub fn serve(a: &ServeArgs) -> Result<()> {
    let cfg = config(a)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let addr = format!("{}:{}", a.host, a.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        eprintln!(
            "dtr1 serve: listening on http://{} (POST /v1/reward /v1/score /v1/twin /v1/ask, GET /healthz /metrics)",
            listener.local_addr()?
        );
        dtr1_serve::server::serve(listener, cfg, dtr1_serve::server::shutdown_signal()).await?;
        eprintln!("dtr1 serve: stopped");
        Ok(())
    })
}

/// Options of `dtr1 serve-bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Requests in all.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Rollouts per request (a GRPO group).
    #[arg(long, default_value_t = 8)]
    group: usize,
    /// Most work requests the service serves at once (default: 2 × cores).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Parsed labels the service keeps (0 parses every label of every request: the worst case).
    #[arg(long, default_value_t = 1024)]
    label_cache: usize,
}

/// Load-tests /v1/reward on loopback and prints a table.
pub fn bench(a: &BenchArgs) -> Result<()> {
    if a.requests == 0 || a.clients == 0 || a.group == 0 || a.requests > 1_000_000 {
        bail!("--requests (1..=1000000), --clients and --group must be at least 1");
    }
    let mut cfg = ServeConfig {
        label_cache: a.label_cache,
        ..Default::default()
    };
    if let Some(c) = a.concurrency {
        cfg.concurrency = c.max(1);
    }
    let concurrency = cfg.concurrency;
    let r = dtr1_serve::bench::run(
        &dtr1_serve::bench::BenchConfig {
            requests: a.requests,
            clients: a.clients,
            group: a.group,
            seed: 1,
            progress: true,
        },
        cfg,
    )?;
    crate::out(&format!(
        "| requests | clients | rollouts/request | concurrency | errors | requests/s | rollouts/s | p50 ms | p99 ms | max ms |\n\
         |---|---|---|---|---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
        r.requests,
        a.clients,
        a.group,
        concurrency,
        r.errors,
        r.requests_per_s,
        r.rollouts_per_s,
        r.p50_ms,
        r.p99_ms,
        r.max_ms
    ))?;
    if r.errors > 0 {
        bail!(
            "{} of {} requests failed or disagreed with direct scoring",
            r.errors,
            r.requests
        );
    }
    Ok(())
}
