//! CIDEr-D exactly as `pycocoevalcap`'s `Cider` scorer computes it (which, despite its
//! name, is the CIDEr-D variant: clipped term frequencies and a Gaussian length penalty).
//!
//! For each image with candidate `c` and references `S`:
//! - n-grams n = 1..4 of whitespace tokens; document frequency `df(g)` = number of images
//!   whose reference set contains `g`; `ref_len = ln(#images)` (IDF over the corpus of
//!   references, so scores depend on the whole corpus);
//! - tf-idf vector `v_n(g) = tf(g) · (ref_len − ln(max(1, df(g))))`, norm over each order;
//! - per reference and order: `Σ_g min(v_c(g), v_s(g)) · v_s(g) / (|v_c|·|v_s|)` (no division
//!   when a norm is 0), times `exp(−δ² / (2·6²))` with δ = difference of the *bigram
//!   counts* (pycocoevalcap's "length");
//! - image score = 10 · mean over orders of the mean over references; corpus score = mean
//!   over images.
//!
//! Tokenisation: pycocoevalcap normally runs the PTB tokenizer (Java). dt-r1 instead feeds
//! [`tokenize`]'s output (lowercase, punctuation removed, whitespace-joined), and the
//! reference vectors do the same, so the scorer itself is compared exactly.

use std::collections::{BTreeMap, HashMap};

const N: usize = 4;
const SIGMA: f64 = 6.0;

/// dt-r1's tokenisation before CIDEr: lowercase, every character that is not alphanumeric
/// or an apostrophe becomes a space, whitespace collapsed.
pub fn tokenize(text: &str) -> String {
    let s: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// Ordered, so sums over n-grams run in one order and a score is the same bit for bit on
// every run (a reward that varies in its last bits would break exact training resume).
type Counts = BTreeMap<Vec<String>, f64>;

fn precook(s: &str) -> Counts {
    let words: Vec<&str> = s.split_whitespace().collect();
    let mut m = BTreeMap::new();
    for k in 1..=N {
        for w in words.windows(k) {
            *m.entry(w.iter().map(|x| x.to_string()).collect())
                .or_insert(0.0) += 1.0;
        }
    }
    m
}

struct Vec4 {
    vec: [Counts; N],
    norm: [f64; N],
    length: f64,
}

/// A CIDEr-D scorer with the document frequencies of a reference corpus: build it once from
/// all reference sets (e.g. a training split) and score single candidates against it, which
/// is how a reward scores one rollout with corpus-level IDF.
#[derive(Debug, Clone)]
pub struct CiderD {
    df: HashMap<Vec<String>, f64>,
    ref_len: f64,
}

impl CiderD {
    /// Document frequencies over `references` (one entry per image: its reference set).
    pub fn from_references<S: AsRef<str>>(references: &[Vec<S>]) -> Self {
        let mut df: HashMap<Vec<String>, f64> = HashMap::new();
        for refs in references {
            let mut seen: std::collections::HashSet<Vec<String>> = Default::default();
            for r in refs {
                seen.extend(precook(r.as_ref()).into_keys());
            }
            for g in seen {
                *df.entry(g).or_insert(0.0) += 1.0;
            }
        }
        CiderD {
            df,
            ref_len: (references.len().max(1) as f64).ln(),
        }
    }

    fn to_vec(&self, c: &Counts) -> Vec4 {
        let mut v = Vec4 {
            vec: Default::default(),
            norm: [0.0; N],
            length: 0.0,
        };
        for (g, &tf) in c {
            let d = self.df.get(g).copied().unwrap_or(0.0).max(1.0).ln();
            let n = g.len() - 1;
            let x = tf * (self.ref_len - d);
            v.vec[n].insert(g.clone(), x);
            v.norm[n] += x * x;
            if n == 1 {
                v.length += tf;
            }
        }
        for x in &mut v.norm {
            *x = x.sqrt();
        }
        v
    }

    /// CIDEr-D of one (tokenised) candidate against its references; 0 without references.
    pub fn score<S: AsRef<str>>(&self, candidate: &str, references: &[S]) -> f64 {
        if references.is_empty() {
            return 0.0;
        }
        let hv = self.to_vec(&precook(candidate));
        let mut acc = [0.0; N];
        for r in references {
            let rv = self.to_vec(&precook(r.as_ref()));
            for (a, s) in acc.iter_mut().zip(sim(&hv, &rv)) {
                *a += s;
            }
        }
        acc.iter().sum::<f64>() / N as f64 / references.len() as f64 * 10.0
    }
}

fn sim(h: &Vec4, r: &Vec4) -> [f64; N] {
    let delta = h.length - r.length;
    let mut val = [0.0; N];
    for (n, v) in val.iter_mut().enumerate() {
        for (g, &x) in &h.vec[n] {
            if let Some(&y) = r.vec[n].get(g) {
                *v += x.min(y) * y;
            }
        }
        if h.norm[n] != 0.0 && r.norm[n] != 0.0 {
            *v /= h.norm[n] * r.norm[n];
        }
        *v *= std::f64::consts::E.powf(-(delta * delta) / (2.0 * SIGMA * SIGMA));
    }
    val
}

/// CIDEr-D of a corpus: `(mean, per-image scores)`. Inputs are already tokenised
/// (whitespace-separated); an image with no references scores 0.
pub fn cider_d(candidates: &[&str], references: &[Vec<&str>]) -> (f64, Vec<f64>) {
    let n_img = candidates.len().min(references.len());
    if n_img == 0 {
        return (0.0, Vec::new());
    }
    let scorer = CiderD::from_references(&references[..n_img]);
    let scores: Vec<f64> = candidates[..n_img]
        .iter()
        .zip(&references[..n_img])
        .map(|(c, refs)| scorer.score(c, refs))
        .collect();
    (scores.iter().sum::<f64>() / n_img as f64, scores)
}
