//! Data for dt-r1: the six benchmarks' [`Task`]s and [`GroundTruth`], the common [`Sample`]
//! and the typed meaning of a generated query ([`spec`]), the dataset format on disk
//! ([`dataset`]), loaders for the public formats users bring ([`coco`], [`refcoco`], [`revos`],
//! [`reasonseg`]), TwinBench's vocabulary shared by its generator and perception
//! ([`palette`]), and pictures of samples ([`overlay`]). The TwinBench generator itself is the
//! `dtr1-twinbench` crate.

pub mod coco;
pub mod dataset;
mod error;
pub mod overlay;
pub mod palette;
pub mod raster;
pub mod reasonseg;
pub mod refcoco;
pub mod revos;
mod sample;
pub mod spec;
mod task;

pub use error::DataError;
pub use sample::{Category, Media, Sample};
pub use spec::{Extreme, ImageSpec, Named, Outcome, QuerySpec, VideoSpec};
pub use task::{is_told, GroundTruth, Task};
