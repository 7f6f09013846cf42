//! COCO run-length encoded (RLE) binary masks, exactly as pycocotools writes them.
//!
//! A mask of `h × w` pixels is flattened in **column-major** order (down the first column,
//! then the next), and stored as alternating run lengths that always start with a run of
//! zeros (possibly of length 0). The JSON form is `{"size": [h, w], "counts": …}` where
//! `counts` is either the uncompressed list of runs or pycocotools' compressed string
//! (a 6-bit, delta-coded variable-length encoding offset by ASCII 48).
//!
//! **Canonical runs.** Every [`Rle`] holds its runs in the one layout pycocotools `encode`
//! writes for the same pixels: a leading run of zeros that is 0 only when the first pixel is
//! set, every later run at least 1 pixel long, and `[0]` for a mask with no pixels (`h` or
//! `w` = 0). Input with zero-length runs (legal in COCO files, e.g. `[3, 0, 2]`) is accepted
//! and normalised by merging the runs on either side of each empty one, so one mask has one
//! representation (`==` compares masks) and every operation — area, box, IoU, merge,
//! decode, string encoding — is defined on it. pycocotools itself keeps such runs and its
//! `toBbox` then reports pixels that are not set (or wraps around on `[0, 0, …]`); our
//! `to_bbox` is pycocotools' box of the canonical runs, i.e. the box of the pixels.
//!
//! Every operation here is cross-checked bit-for-bit against pycocotools by the tests in
//! `tests/pycocotools.rs` on vectors that `scripts/ref/rle_vectors.py` generates.

mod codec;
mod error;
mod ops;
mod poly;
mod resize;

pub use codec::{decode_counts_string, encode_counts_string};
pub use error::RleError;
pub use ops::{intersection_area, intersection_union, iou, iou_matrix, merge, union_area};
pub use resize::MAX_PIXELS;

use serde::{Deserialize, Serialize};

const LANES: usize = 8;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

fn word_at(m: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(m[i..i + LANES].try_into().expect("8 bytes"))
}

/// End of the run of zero bytes starting at `pos`; skips 8 bytes at a time, because masks
/// are mostly long runs and this loop dominates encoding.
fn run_end_zero(m: &[u8], mut pos: usize) -> usize {
    while pos + LANES <= m.len() && word_at(m, pos) == 0 {
        pos += LANES;
    }
    while pos < m.len() && m[pos] == 0 {
        pos += 1;
    }
    pos
}

/// End of the run of non-zero bytes starting at `pos` (8 at a time: a word has no zero byte
/// exactly when the classic `(w - 0x01…) & !w & 0x80…` test is 0).
fn run_end_nonzero(m: &[u8], mut pos: usize) -> usize {
    while pos + LANES <= m.len() {
        let w = word_at(m, pos);
        if w.wrapping_sub(ONES) & !w & HIGHS != 0 {
            break;
        }
        pos += LANES;
    }
    while pos < m.len() && m[pos] != 0 {
        pos += 1;
    }
    pos
}

/// A binary mask as COCO run-length encoding.
///
/// Invariants (established by every constructor): the runs sum to `h * w`, and they are
/// canonical (see the crate docs): only the first run may be 0, and a mask with no pixels
/// is `[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rle {
    h: u32,
    w: u32,
    counts: Vec<u32>,
}

impl Rle {
    /// Builds an RLE from run lengths, checking that they cover exactly `h * w` pixels.
    ///
    /// Zero-length runs after the first are merged away (`[3, 0, 2]` becomes `[5]`,
    /// `[0, 0, 4]` becomes `[4]`, and `[]` for a 0-pixel mask becomes `[0]`), so the result
    /// has the canonical runs pycocotools `encode` writes for the same pixels. Fails when the
    /// sum is wrong, or when merging would make one run longer than `u32::MAX` pixels.
    pub fn from_counts(h: u32, w: u32, counts: Vec<u32>) -> Result<Self, RleError> {
        let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        let expected = u64::from(h) * u64::from(w);
        if total != expected {
            return Err(RleError::CountsSum {
                h,
                w,
                sum: total,
                expected,
            });
        }
        let counts = canonical_counts(counts)?;
        Ok(Self { h, w, counts })
    }

    /// Builds an RLE from pycocotools' compressed `counts` string (normalised as
    /// [`Rle::from_counts`] does; `""` and `"0"` are both the 0-pixel mask).
    pub fn from_string(h: u32, w: u32, s: &str) -> Result<Self, RleError> {
        Self::from_counts(h, w, decode_counts_string(s)?)
    }

    /// An all-zero mask; `[0]` when it has no pixels, as pycocotools encodes a 0×w array.
    pub fn empty(h: u32, w: u32) -> Self {
        let n = h * w;
        Self {
            h,
            w,
            counts: vec![n],
        }
    }

    /// Encodes a mask given in **column-major** order (`mask[x * h + y]`), as pycocotools
    /// receives a Fortran-ordered array. Any non-zero byte is foreground.
    pub fn encode_col_major(h: u32, w: u32, mask: &[u8]) -> Result<Self, RleError> {
        let n = h as usize * w as usize;
        if mask.len() != n {
            return Err(RleError::MaskLen {
                h,
                w,
                len: mask.len(),
            });
        }
        if n == 0 {
            // pycocotools writes one empty run for a mask without pixels.
            return Ok(Self::empty(h, w));
        }
        let mut counts = Vec::new();
        let mut pos = 0usize;
        // Runs start with zeros: a mask whose first pixel is set gets a leading 0 run.
        let mut on = false;
        while pos < n {
            let end = if on {
                run_end_nonzero(mask, pos)
            } else {
                run_end_zero(mask, pos)
            };
            counts.push((end - pos) as u32);
            pos = end;
            on = !on;
        }
        Ok(Self { h, w, counts })
    }

    /// Encodes a mask given in **row-major** order (`mask[y * w + x]`), the layout of images.
    pub fn encode_row_major(h: u32, w: u32, mask: &[u8]) -> Result<Self, RleError> {
        let n = h as usize * w as usize;
        if mask.len() != n {
            return Err(RleError::MaskLen {
                h,
                w,
                len: mask.len(),
            });
        }
        let (hu, wu) = (h as usize, w as usize);
        let mut col = vec![0u8; n];
        for y in 0..hu {
            for x in 0..wu {
                col[x * hu + y] = mask[y * wu + x];
            }
        }
        Self::encode_col_major(h, w, &col)
    }

    /// Decodes to a column-major 0/1 mask (`mask[x * h + y]`).
    pub fn decode_col_major(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.h as usize * self.w as usize);
        let mut v = 0u8;
        for &c in &self.counts {
            out.extend(std::iter::repeat_n(v, c as usize));
            v ^= 1;
        }
        out
    }

    /// Decodes to a row-major 0/1 mask (`mask[y * w + x]`).
    pub fn decode_row_major(&self) -> Vec<u8> {
        let (hu, wu) = (self.h as usize, self.w as usize);
        let col = self.decode_col_major();
        let mut out = vec![0u8; hu * wu];
        for x in 0..wu {
            for y in 0..hu {
                out[y * wu + x] = col[x * hu + y];
            }
        }
        out
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.h
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.w
    }

    /// `[h, w]`, as COCO's `size` field.
    pub fn size(&self) -> [u32; 2] {
        [self.h, self.w]
    }

    /// The canonical run lengths, starting with a run of zeros (see the crate docs).
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// pycocotools' compressed `counts` string.
    pub fn to_counts_string(&self) -> String {
        encode_counts_string(&self.counts)
    }

    /// Number of foreground pixels (pycocotools `area`).
    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| u64::from(c))
            .sum()
    }

    /// Tight bounding box `[x, y, w, h]` in pixels, exactly as pycocotools `toBbox`
    /// computes it on these (canonical) runs (all zeros for an empty mask).
    pub fn to_bbox(&self) -> [f64; 4] {
        // Only whole (zeros, ones) pairs matter: a trailing zero run cannot extend the box.
        let m = (self.counts.len() / 2) * 2;
        if m == 0 || self.h == 0 {
            return [0.0; 4];
        }
        let h = u64::from(self.h);
        let (mut xs, mut ys) = (u64::from(self.w), h);
        let (mut xe, mut ye) = (0u64, 0u64);
        let mut cc = 0u64;
        let mut xp = 0u64;
        for (j, &c) in self.counts[..m].iter().enumerate() {
            cc += u64::from(c);
            // Runs of ones are never empty (canonical form), so `cc >= 1` here when j is odd:
            // `t` is the last pixel of the run of ones, or the first pixel after the zeros.
            let t = cc - (j % 2) as u64;
            let y = t % h;
            let x = (t - y) / h;
            if j % 2 == 0 {
                xp = x;
            } else if xp < x {
                // A run of ones that wraps into the next column touches every row.
                ys = 0;
                ye = h - 1;
            }
            xs = xs.min(x);
            xe = xe.max(x);
            ys = ys.min(y);
            ye = ye.max(y);
        }
        [
            xs as f64,
            ys as f64,
            (xe - xs + 1) as f64,
            (ye - ys + 1) as f64,
        ]
    }
}

/// Rewrites runs into the canonical layout: each zero-length run after the first is dropped
/// and its two neighbours (which have the same value) are joined; a leading run of ones
/// gets a 0 in front; no runs at all (a 0-pixel mask) become `[0]`. Callers have checked
/// that the runs sum to `h * w`.
fn canonical_counts(counts: Vec<u32>) -> Result<Vec<u32>, RleError> {
    if !counts.is_empty() && counts[1..].iter().all(|&c| c > 0) {
        return Ok(counts);
    }
    let mut out: Vec<u32> = Vec::with_capacity(counts.len());
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let ones = i % 2 == 1;
        // The value of the run `out` ends with: out[k] holds ones when k is odd.
        let last_ones = out.len().is_multiple_of(2);
        match out.last_mut() {
            Some(last) if last_ones == ones => {
                *last = last
                    .checked_add(c)
                    .ok_or(RleError::RunTooLong { index: i })?;
            }
            Some(_) => out.push(c),
            None => {
                if ones {
                    out.push(0);
                }
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    Ok(out)
}

/// The JSON form of an RLE, with `counts` either compressed or as a list.
#[derive(Serialize, Deserialize)]
struct RleJson {
    size: [u32; 2],
    counts: CountsJson,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CountsJson {
    String(String),
    List(Vec<u32>),
}

impl Serialize for Rle {
    /// Always writes the compressed string form, as pycocotools `encode` does.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RleJson {
            size: self.size(),
            counts: CountsJson::String(self.to_counts_string()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Rle {
    /// Accepts both the compressed string and the uncompressed list of `counts`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = RleJson::deserialize(d)?;
        let [h, w] = j.size;
        match j.counts {
            CountsJson::String(s) => Rle::from_string(h, w, &s),
            CountsJson::List(c) => Rle::from_counts(h, w, c),
        }
        .map_err(serde::de::Error::custom)
    }
}

impl Rle {
    /// Mean position of the foreground pixels' centres, `[x, y]` in continuous pixel
    /// coordinates (pixel `(col, row)` has centre `(col + 0.5, row + 0.5)`); `None` when
    /// the mask is empty. Computed on runs without decoding.
    pub fn centroid(&self) -> Option<[f64; 2]> {
        let h = u64::from(self.h);
        let (mut n, mut sx, mut sy) = (0u64, 0f64, 0f64);
        let mut pos = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            let c = u64::from(c);
            if i % 2 == 1 {
                // Split the run at column boundaries: within a column, rows are consecutive.
                let (mut p, end) = (pos, pos + c);
                while p < end {
                    let (x, y0) = (p / h, p % h);
                    let y1 = (y0 + (end - p)).min(h);
                    let k = y1 - y0;
                    n += k;
                    sx += (x as f64 + 0.5) * k as f64;
                    // Sum of (y + 0.5) for y in y0..y1.
                    sy += (y0 + y1 - 1) as f64 * k as f64 / 2.0 + 0.5 * k as f64;
                    p += k;
                }
            }
            pos += c;
        }
        (n > 0).then(|| [sx / n as f64, sy / n as f64])
    }
}
