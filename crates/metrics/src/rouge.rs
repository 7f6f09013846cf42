//! rouge
