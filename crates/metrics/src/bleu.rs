//! BLEU-4 exactly as `sacrebleu` computes it with its defaults.
//!
//! - Tokenisation: sacrebleu's `13a` tokenizer (mteval-v13a): drop `<skipped>`, join
//!   `-\n`, unescape `&quot; &amp; &lt; &gt;`, split off punctuation and symbols, split `.`
//!   and `,` unless between digits, split `-` after a digit; no lowercasing.
//! - Statistics: n-grams n = 1..4; a hypothesis n-gram is matched at most as many times as
//!   it occurs in the reference that has it most; reference length = the closest
//!   reference length (the shorter on ties).
//! - Score (0–100): brevity penalty `exp(1 - r/c)` when `c < r` (0 when `c = 0`); geometric
//!   mean of the precisions with `exp` smoothing (the k-th zero precision becomes
//!   `100 / (2^k · total)`); 0 when no n-gram matches at all.
//! - [`corpus_bleu`] sums statistics over segments and uses all 4 orders;
//!   [`sentence_bleu`] uses the *effective order* (orders beyond the hypothesis length are
//!   left out), as sacrebleu's `sentence_bleu` does.

use regex::Regex;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Maximum n-gram order.
pub const MAX_ORDER: usize = 4;

fn rules() -> &'static [(Regex, &'static str); 4] {
    static R: OnceLock<[(Regex, &'static str); 4]> = OnceLock::new();
    R.get_or_init(|| {
        [
            (
                Regex::new(r"([\{-~\[-` -&\(-\+:-@/])").expect("valid"),
                " $1 ",
            ),
            (Regex::new(r"([^0-9])([\.,])").expect("valid"), "$1 $2 "),
            (Regex::new(r"([\.,])([^0-9])").expect("valid"), " $1 $2"),
            (Regex::new(r"([0-9])(-)").expect("valid"), "$1 $2 "),
        ]
    })
}

/// sacrebleu's `13a` tokenizer; returns the tokens.
pub fn tokenize_13a(line: &str) -> Vec<String> {
    let mut s = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if s.contains('&') {
        s = s
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut s = format!(" {s} ");
    for (re, rep) in rules() {
        s = re.replace_all(&s, *rep).into_owned();
    }
    s.split_whitespace().map(str::to_string).collect()
}

fn ngrams(tokens: &[String]) -> HashMap<&[String], usize> {
    let mut m = HashMap::new();
    for n in 1..=MAX_ORDER {
        for w in tokens.windows(n) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    m
}

/// Sufficient statistics of one or more segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BleuStats {
    /// Hypothesis length in tokens.
    pub sys_len: usize,
    /// Closest reference length.
    pub ref_len: usize,
    /// Matched n-grams per order.
    pub correct: [usize; MAX_ORDER],
    /// Hypothesis n-grams per order.
    pub total: [usize; MAX_ORDER],
}

impl std::ops::AddAssign for BleuStats {
    fn add_assign(&mut self, o: Self) {
        self.sys_len += o.sys_len;
        self.ref_len += o.ref_len;
        for n in 0..MAX_ORDER {
            self.correct[n] += o.correct[n];
            self.total[n] += o.total[n];
        }
    }
}

/// Statistics of one hypothesis against its references.
pub fn segment_stats(hypothesis: &str, references: &[&str]) -> BleuStats {
    let hyp = tokenize_13a(hypothesis);
    let refs: Vec<Vec<String>> = references.iter().map(|r| tokenize_13a(r)).collect();
    let mut max_ref: HashMap<&[String], usize> = HashMap::new();
    let mut closest: Option<(usize, usize)> = None; // (diff, len)
    for r in &refs {
        for (g, c) in ngrams(r) {
            let e = max_ref.entry(g).or_insert(0);
            *e = (*e).max(c);
        }
        let diff = hyp.len().abs_diff(r.len());
        match closest {
            Some((d, l)) if diff > d || (diff == d && r.len() >= l) => {}
            _ => closest = Some((diff, r.len())),
        }
    }
    let mut st = BleuStats {
        sys_len: hyp.len(),
        ref_len: closest.map_or(0, |c| c.1),
        ..Default::default()
    };
    for (g, c) in ngrams(&hyp) {
        let n = g.len() - 1;
        st.total[n] += c;
        if let Some(&rc) = max_ref.get(g) {
            st.correct[n] += c.min(rc);
        }
    }
    st
}

/// The BLEU score (0–100) of statistics, with `exp` smoothing.
pub fn score(st: &BleuStats, effective_order: bool) -> f64 {
    let bp = if st.sys_len < st.ref_len {
        if st.sys_len > 0 {
            (1.0 - st.ref_len as f64 / st.sys_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    if st.correct.iter().all(|&c| c == 0) {
        return 0.0;
    }
    let mut precisions = [0.0f64; MAX_ORDER];
    let mut smooth = 1.0;
    let mut eff = MAX_ORDER;
    for (n, p) in precisions.iter_mut().enumerate() {
        if st.total[n] == 0 {
            break;
        }
        if effective_order {
            eff = n + 1;
        }
        *p = if st.correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * st.total[n] as f64)
        } else {
            100.0 * st.correct[n] as f64 / st.total[n] as f64
        };
    }
    // sacrebleu floors log(0) at -9999999999 rather than returning -inf.
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    bp * (precisions[..eff].iter().map(|&p| log(p)).sum::<f64>() / eff as f64).exp()
}

/// Corpus BLEU-4: `hypotheses[i]` against `references[i]` (each a list of references).
pub fn corpus_bleu(hypotheses: &[&str], references: &[Vec<&str>]) -> f64 {
    let mut st = BleuStats::default();
    for (h, r) in hypotheses.iter().zip(references) {
        st += segment_stats(h, r);
    }
    score(&st, false)
}

/// Sentence BLEU-4 with effective order, as sacrebleu's `sentence_bleu`.
pub fn sentence_bleu(hypothesis: &str, references: &[&str]) -> f64 {
    score(&segment_stats(hypothesis, references), true)
}
