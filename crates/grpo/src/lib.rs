//! dt-r1 training: GRPO (group-relative policy optimisation) and SFT cold start for the
//! LoRA-adapted policy of `dtr1-policy`.
//!
//! The pieces, each in its own module:
//! - [`config`]: every knob, read from TOML (`examples/grpo.toml` documents each key);
//! - [`advantage`]: group-relative advantages (GRPO std scaling or Dr. GRPO's none);
//! - [`loss`]: clipped importance ratio with ε_low/ε_high, k3 KL to the adapter-off
//!   reference, token or sequence aggregation;
//! - [`optim`]: AdamW with saved moments, global-norm clipping, warm-up + cosine;
//! - [`env`]: the environment interface (prompts and the reward) the trainer optimises;
//! - [`trainer`]: the GRPO loop with shared-prompt rollouts and training forwards, metrics
//!   JSONL, atomic checkpoints and exact resume;
//! - [`sft`]: supervised cold start on solver traces;
//! - [`checkpoint`]: atomic checkpoint directories;
//! - [`plot`]: PNG curves from a run's metrics;
//! - [`progress`]: a bar on a terminal, rate-limited lines in a log file;
//! - [`twinbench`]: the six benchmarks with the DT-R1 reward as an environment.

pub mod advantage;
pub mod checkpoint;
pub mod config;
pub mod env;
pub mod error;
pub mod loss;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod sft;
pub mod trainer;
pub mod twinbench;

pub use config::TrainConfig;
pub use env::{EnvItem, Environment, Score};
pub use error::{GrpoError, Result};
pub use sft::{train_sft, SftExample};
pub use trainer::{GrpoTrainer, StepMetrics};
