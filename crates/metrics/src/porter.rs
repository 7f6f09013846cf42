//! The Porter stemmer exactly as NLTK's `PorterStemmer()` (its default `NLTK_EXTENSIONS`
//! mode) stems, because that is what `rouge-score` applies with `use_stemmer=True`.
//!
//! Written by hand: the Rust stemming crates implement Snowball's Porter2 or the original
//! 1980 algorithm, whose outputs differ from NLTK's on words such as `dying`, `agreed`,
//! `generalli`; ROUGE scores would then differ from the reference. Operates on ASCII
//! lowercase words (the ROUGE tokenizer only produces `[a-z0-9]+`); other input is returned
//! unchanged.

/// Stems one lowercase ASCII word.
pub fn stem(word: &str) -> String {
    if !word
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return word.to_string();
    }
    if let Some(s) = irregular(word) {
        return s.to_string();
    }
    if word.len() <= 2 {
        return word.to_string();
    }
    let mut w = word.as_bytes().to_vec();
    w = step1a(w);
    w = step1b(w);
    w = step1c(w);
    w = step2(w);
    w = step3(w);
    w = step4(w);
    w = step5a(w);
    w = step5b(w);
    String::from_utf8(w).expect("ASCII in, ASCII out")
}

fn irregular(w: &str) -> Option<&'static str> {
    Some(match w {
        "sky" | "skies" => "sky",
        "dying" => "die",
        "lying" => "lie",
        "tying" => "tie",
        "news" => "news",
        "innings" | "inning" => "inning",
        "outings" | "outing" => "outing",
        "cannings" | "canning" => "canning",
        "howe" => "howe",
        "proceed" => "proceed",
        "exceed" => "exceed",
        "succeed" => "succeed",
        _ => return None,
    })
}

fn is_consonant(w: &[u8], i: usize) -> bool {
    match w[i] {
        b'a' | b'e' | b'i' | b'o' | b'u' => false,
        b'y' => i == 0 || !is_consonant(w, i - 1),
        _ => true,
    }
}

/// Porter's m: the number of vowel→consonant transitions.
fn measure(stem: &[u8]) -> usize {
    let cv: Vec<bool> = (0..stem.len()).map(|i| is_consonant(stem, i)).collect();
    cv.windows(2).filter(|p| !p[0] && p[1]).count()
}

fn contains_vowel(stem: &[u8]) -> bool {
    (0..stem.len()).any(|i| !is_consonant(stem, i))
}

fn ends_double_consonant(w: &[u8]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

fn ends_cvc(w: &[u8]) -> bool {
    let n = w.len();
    (n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1], b'w' | b'x' | b'y'))
        || (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1))
}

/// A rule's condition on the stem left after removing the suffix.
type Cond<'a> = &'a dyn Fn(&[u8]) -> bool;

/// Applies the first rule whose suffix matches; if its condition fails, the word is
/// returned unchanged (later rules are not tried), as in NLTK. The suffix `*d` stands for
/// a double consonant.
fn apply_rules(w: Vec<u8>, rules: &[(&str, &str, Option<Cond>)]) -> Vec<u8> {
    for (suffix, repl, cond) in rules {
        if *suffix == "*d" {
            if ends_double_consonant(&w) {
                let stem = &w[..w.len() - 2];
                return if cond.is_none_or(|c| c(stem)) {
                    [stem, repl.as_bytes()].concat()
                } else {
                    w
                };
            }
            continue;
        }
        if w.ends_with(suffix.as_bytes()) {
            let stem = &w[..w.len() - suffix.len()];
            return if cond.is_none_or(|c| c(stem)) {
                [stem, repl.as_bytes()].concat()
            } else {
                w
            };
        }
    }
    w
}

fn replace(w: &[u8], suffix: usize, repl: &str) -> Vec<u8> {
    [&w[..w.len() - suffix], repl.as_bytes()].concat()
}

fn positive(stem: &[u8]) -> bool {
    measure(stem) > 0
}

fn step1a(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"ies") && w.len() == 4 {
        return replace(&w, 3, "ie");
    }
    apply_rules(
        w,
        &[
            ("sses", "ss", None),
            ("ies", "i", None),
            ("ss", "ss", None),
            ("s", "", None),
        ],
    )
}

fn step1b(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"ied") {
        return replace(&w, 3, if w.len() == 4 { "ie" } else { "i" });
    }
    if w.ends_with(b"eed") {
        let stem = &w[..w.len() - 3];
        return if measure(stem) > 0 {
            replace(&w, 1, "")
        } else {
            w
        };
    }
    let mut inter = None;
    for suffix in ["ed", "ing"] {
        if w.ends_with(suffix.as_bytes()) {
            let stem = &w[..w.len() - suffix.len()];
            if contains_vowel(stem) {
                inter = Some(stem.to_vec());
                break;
            }
        }
    }
    let Some(inter) = inter else { return w };
    let last = *inter.last().expect("a stem with a vowel is non-empty");
    let last_s = (last as char).to_string();
    let not_lsz = move |_: &[u8]| !matches!(last, b'l' | b's' | b'z');
    let add_e = |stem: &[u8]| measure(stem) == 1 && ends_cvc(stem);
    apply_rules(
        inter,
        &[
            ("at", "ate", None),
            ("bl", "ble", None),
            ("iz", "ize", None),
            ("*d", &last_s, Some(&not_lsz)),
            ("", "e", Some(&add_e)),
        ],
    )
}

fn step1c(w: Vec<u8>) -> Vec<u8> {
    let cond = |stem: &[u8]| stem.len() > 1 && is_consonant(stem, stem.len() - 1);
    apply_rules(w, &[("y", "i", Some(&cond))])
}

fn step2(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"alli") && positive(&w[..w.len() - 4]) {
        return step2(replace(&w, 4, "al"));
    }
    let p: Cond = &positive;
    let whole = w.clone();
    let logi = move |_: &[u8]| positive(&whole[..whole.len() - 3]);
    apply_rules(
        w,
        &[
            ("ational", "ate", Some(p)),
            ("tional", "tion", Some(p)),
            ("enci", "ence", Some(p)),
            ("anci", "ance", Some(p)),
            ("izer", "ize", Some(p)),
            ("bli", "ble", Some(p)),
            ("alli", "al", Some(p)),
            ("entli", "ent", Some(p)),
            ("eli", "e", Some(p)),
            ("ousli", "ous", Some(p)),
            ("ization", "ize", Some(p)),
            ("ation", "ate", Some(p)),
            ("ator", "ate", Some(p)),
            ("alism", "al", Some(p)),
            ("iveness", "ive", Some(p)),
            ("fulness", "ful", Some(p)),
            ("ousness", "ous", Some(p)),
            ("aliti", "al", Some(p)),
            ("iviti", "ive", Some(p)),
            ("biliti", "ble", Some(p)),
            ("fulli", "ful", Some(p)),
            ("logi", "log", Some(&logi)),
        ],
    )
}

fn step3(w: Vec<u8>) -> Vec<u8> {
    let p: Cond = &positive;
    apply_rules(
        w,
        &[
            ("icate", "ic", Some(p)),
            ("ative", "", Some(p)),
            ("alize", "al", Some(p)),
            ("iciti", "ic", Some(p)),
            ("ical", "ic", Some(p)),
            ("ful", "", Some(p)),
            ("ness", "", Some(p)),
        ],
    )
}

fn step4(w: Vec<u8>) -> Vec<u8> {
    let gt1 = |stem: &[u8]| measure(stem) > 1;
    let ion = |stem: &[u8]| measure(stem) > 1 && matches!(stem.last(), Some(b's' | b't'));
    let g: Cond = &gt1;
    apply_rules(
        w,
        &[
            ("al", "", Some(g)),
            ("ance", "", Some(g)),
            ("ence", "", Some(g)),
            ("er", "", Some(g)),
            ("ic", "", Some(g)),
            ("able", "", Some(g)),
            ("ible", "", Some(g)),
            ("ant", "", Some(g)),
            ("ement", "", Some(g)),
            ("ment", "", Some(g)),
            ("ent", "", Some(g)),
            ("ion", "", Some(&ion)),
            ("ou", "", Some(g)),
            ("ism", "", Some(g)),
            ("ate", "", Some(g)),
            ("iti", "", Some(g)),
            ("ous", "", Some(g)),
            ("ive", "", Some(g)),
            ("ize", "", Some(g)),
        ],
    )
}

fn step5a(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"e") {
        let stem = &w[..w.len() - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    w
}

fn step5b(w: Vec<u8>) -> Vec<u8> {
    let whole = w.clone();
    let cond = move |_: &[u8]| measure(&whole[..whole.len() - 1]) > 1;
    apply_rules(w, &[("ll", "l", Some(&cond))])
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn known_nltk_stems() {
        for (w, s) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("dying", "die"),
            ("agreed", "agre"),
            ("running", "run"),
            ("generalization", "gener"),
            ("relational", "relat"),
            ("hopping", "hop"),
            ("filing", "file"),
            ("sized", "size"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }
}
