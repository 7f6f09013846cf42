//! pycocotools' compressed `counts` string.
//!
//! Each run is delta-coded against the run two places before it (from the third run on),
//! then written as little-endian 5-bit groups with a continuation bit (0x20) and a sign bit
//! (0x10) in the last group, each group offset by ASCII `'0'`. Written by hand because no
//! crate implements this format.

use crate::RleError;

/// Encodes run lengths as pycocotools' compressed string.
pub fn encode_counts_string(counts: &[u32]) -> String {
    let mut out = String::with_capacity(counts.len() * 2);
    for (i, &c) in counts.iter().enumerate() {
        let mut x = i64::from(c);
        if i > 2 {
            x -= i64::from(counts[i - 2]);
        }
        loop {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            out.push(char::from(c + 48));
            if !more {
                break;
            }
        }
    }
    out
}

/// Decodes pycocotools' compressed string into run lengths, rejecting corrupt input.
pub fn decode_counts_string(s: &str) -> Result<Vec<u32>, RleError> {
    let bytes = s.as_bytes();
    let mut counts: Vec<u32> = Vec::with_capacity(bytes.len() / 2);
    let mut p = 0;
    while p < bytes.len() {
        let mut x: i64 = 0;
        let mut k = 0u32;
        loop {
            let Some(&b) = bytes.get(p) else {
                return Err(RleError::Truncated { offset: p });
            };
            if !(48..48 + 64).contains(&b) {
                return Err(RleError::BadChar { offset: p, byte: b });
            }
            // 13 groups of 5 bits already exceed any valid run; stop before the shift overflows.
            if k >= 12 {
                return Err(RleError::BadRun {
                    index: counts.len(),
                    value: x,
                });
            }
            let c = i64::from(b - 48);
            x |= (c & 0x1f) << (5 * k);
            p += 1;
            k += 1;
            if c & 0x20 == 0 {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        let i = counts.len();
        if i > 2 {
            x += i64::from(counts[i - 2]);
        }
        let run = u32::try_from(x).map_err(|_| RleError::BadRun { index: i, value: x })?;
        counts.push(run);
    }
    Ok(counts)
}
