//! Data for dt-r1: the six benchmarks' [`Task`]s and [`GroundTruth`], the common [`Sample`],
//! the dataset format on disk ([`dataset`]), and loaders for the public formats users bring
//! ([`coco`], [`refcoco`], [`revos`], [`reasonseg`]).

pub mod coco;
pub mod dataset;
mod error;
pub mod overlay;
pub mod queries;
pub mod raster;
pub mod reasonseg;
pub mod refcoco;
pub mod revos;
mod sample;
pub mod scene;
pub mod spec;
pub mod suite;
mod task;
pub mod video;
pub mod video_queries;

pub use error::DataError;
pub use sample::{Category, Media, Sample};
pub use spec::{Extreme, ImageSpec, Named, Outcome, QuerySpec, VideoSpec};
pub use task::{GroundTruth, Task};
