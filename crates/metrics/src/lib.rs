//! Every metric dt-r1 reports, each with its exact convention in its doc comment and a
//! cross-check against the reference implementation (see `tests/`).
//!
//! | module | metric | reference |
//! |---|---|---|
//! | [`seg`] | gIoU, cIoU (reasoning segmentation) | LISA's evaluation |
//! | [`boxes`] | box IoU, Acc@0.5 (grounding) | refer / REC evaluation |
//! | [`jf`] | J, F, J&F (video segmentation) | DAVIS 2017 evaluation |
//! | [`vqa`] | normalised exact match, VQA soft accuracy | official VQA evaluation |
//! | [`rouge`] | ROUGE-L F1 | `rouge-score` |
//! | [`bleu`] | BLEU-4 | `sacrebleu` |
//! | [`cider`] | CIDEr-D | `pycocoevalcap` |

pub mod bleu;
mod error;
pub use error::MetricError;
pub mod boxes;
pub mod cider;
pub mod jf;
pub mod porter;
pub mod rouge;
pub mod seg;
pub mod vqa;
