//! dt-r1 as a service for distributed RL engines (verl, OpenRLHF, TRL).
//!
//! - [`label`]: the **label** a trainer carries beside each prompt — a JSON string with the
//!   task, the query, the ground truth and the input twin — how a trainer's `query` (prompt +
//!   completion) is split, and scoring with [`dtr1_reward::score`]. The Python package uses
//!   this module too, so the service and the package score identically.
//! - [`twin`]: building a twin from an image and someone else's detections (the perception
//!   `import` backend), for `POST /v1/twin` and the Python `build_twin`.
//! - `server` (feature `server`, default): the axum service behind `dtr1 serve` —
//!   `POST /v1/reward` (OpenRLHF's remote reward protocol), `POST /v1/score`,
//!   `POST /v1/twin`, `POST /v1/ask` (the policy), `GET /healthz`, `GET /metrics` — with body limits, timeouts, bounded
//!   concurrency, JSON errors and graceful shutdown.
//! - `export` (feature `export`, default): the dataset export for verl, TRL and OpenRLHF.
//! - `bench` (feature `server`): the loopback load test of `POST /v1/reward`.

#[cfg(feature = "export")]
pub mod export;
pub mod label;
pub mod twin;

#[cfg(feature = "server")]
pub mod ask;
#[cfg(feature = "server")]
pub mod bench;
#[cfg(feature = "server")]
mod metrics;
#[cfg(feature = "server")]
pub mod server;

pub use label::{split_completion, Label, LabelError, ParsedLabel};
