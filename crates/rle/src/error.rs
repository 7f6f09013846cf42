use thiserror::Error;

/// Everything that can be wrong with an RLE or the mask it is built from.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RleError {
    /// The runs do not cover the image exactly.
    #[error("RLE counts sum to {sum} but size [{h}, {w}] needs {expected} pixels")]
    CountsSum {
        h: u32,
        w: u32,
        sum: u64,
        expected: u64,
    },
    /// Joining the runs around a zero-length run would exceed `u32::MAX` pixels, which no
    /// COCO run can hold.
    #[error("RLE counts: run {index} follows a zero-length run, and joining it to the run before makes a run longer than u32::MAX pixels")]
    RunTooLong { index: usize },
    /// A dense mask has the wrong number of pixels.
    #[error("mask has {len} pixels but size [{h}, {w}] needs h*w")]
    MaskLen { h: u32, w: u32, len: usize },
    /// A byte of a compressed `counts` string is outside pycocotools' alphabet.
    #[error("compressed RLE counts: byte {byte:#04x} at offset {offset} is outside the alphabet '0'..='o'")]
    BadChar { offset: usize, byte: u8 },
    /// The compressed string ends in the middle of a number.
    #[error("compressed RLE counts: string ends inside a number at offset {offset}")]
    Truncated { offset: usize },
    /// A decoded run is negative or too large (the string is corrupt).
    #[error(
        "compressed RLE counts: run {index} decodes to {value}, which is not a valid run length"
    )]
    BadRun { index: usize, value: i64 },
    /// Two masks that must share a size do not.
    #[error("mask sizes differ: [{h1}, {w1}] vs [{h2}, {w2}]")]
    SizeMismatch { h1: u32, w1: u32, h2: u32, w2: u32 },
    /// `iscrowd` must have one flag per ground-truth mask.
    #[error("iscrowd has {crowd} flags but there are {gts} ground-truth masks")]
    CrowdLen { crowd: usize, gts: usize },
    /// Merging needs at least one mask to know the size.
    #[error("cannot merge an empty list of masks")]
    EmptyMerge,
    /// A polygon that cannot be rasterised.
    #[error("bad polygon: {reason}")]
    BadPolygon { reason: String },
    /// A resize target that is zero or too large.
    #[error("cannot resize to [{h}, {w}]: {reason}")]
    BadResize {
        h: u32,
        w: u32,
        reason: &'static str,
    },
}
