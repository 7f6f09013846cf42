use thiserror::Error;

/// Why a metric could not be computed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricError {
    /// Two inputs that must have the same size do not.
    #[error("{what}: sizes differ ({a} vs {b})")]
    SizeMismatch {
        what: &'static str,
        a: String,
        b: String,
    },
    /// A coordinate or value is NaN or infinite.
    #[error("{what}: non-finite value in {value}")]
    NonFinite { what: &'static str, value: String },
    /// An aggregate over nothing.
    #[error("{what}: no samples")]
    Empty { what: &'static str },
    /// An input that makes no sense for the metric.
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}
