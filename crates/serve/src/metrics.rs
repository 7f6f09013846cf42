//! Prometheus metrics of the service, kept with `prometheus-client` (the Prometheus project's
//! own Rust client: small, no global registry, OpenMetrics text that Prometheus scrapes).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a finished request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route (`/v1/reward`, …) or `other`.
    pub route: String,
    /// The HTTP status code.
    pub status: u16,
}

/// Labels of a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route.
    pub route: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s: a single reward takes well under a millisecond, a twin build seconds.
    Histogram::new(exponential_buckets(0.00025, 2.0, 16))
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    /// Finished requests by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by route.
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Requests being served.
    pub in_flight: Gauge,
    /// Completions scored.
    pub rollouts: Counter,
    /// Labels found already parsed in the cache.
    pub label_cache_hits: Counter,
    /// Labels parsed.
    pub label_cache_misses: Counter,
    /// Scoring batches stopped because their request was dropped (timed out).
    pub cancelled: Counter,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dtr1");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let in_flight = Gauge::default();
        let rollouts = Counter::default();
        let label_cache_hits = Counter::default();
        let label_cache_misses = Counter::default();
        let cancelled = Counter::default();
        registry.register(
            "scoring_cancelled",
            "Scoring batches stopped because their request timed out or was dropped",
            cancelled.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests finished, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by route",
            latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served",
            in_flight.clone(),
        );
        registry.register("rollouts_scored", "Completions scored", rollouts.clone());
        registry.register(
            "label_cache_hits",
            "Labels found parsed in the cache",
            label_cache_hits.clone(),
        );
        registry.register(
            "label_cache_misses",
            "Labels parsed and checked",
            label_cache_misses.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
            rollouts,
            label_cache_hits,
            label_cache_misses,
            cancelled,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
