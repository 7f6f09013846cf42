//! TwinBench, the generated benchmark: seeded image scenes ([`scene`]) and video clips
//! ([`video`]) with exact ground truth, queries for the three image benchmarks ([`queries`])
//! and the three video benchmarks ([`video_queries`]), each kept only when an independent
//! checker on the true twin agrees with the generator, and the suite written to disk in the
//! dataset format with held-out splits ([`suite`]). `docs/twinbench.md` describes it.
//!
//! The sample, task and truth types, the typed query specs and the vocabulary (shapes,
//! colours, sizes) it draws from are `dtr1-data`'s, so that consumers read them without the
//! generator.

pub mod queries;
pub mod scene;
pub mod suite;
pub mod video;
pub mod video_queries;
