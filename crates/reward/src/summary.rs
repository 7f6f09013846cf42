//! Summary content: the events a summary tells, read back against the twin, and how well they
//! match the twin's own events — which events, who took part, in which order.
//!
//! ROUGE-L and CIDEr-D pay for shared words, so a content-free template ("there are 3
//! objects … one hits another, then one stops") shares enough of them with the references to
//! outscore a fluent summary of the wrong events. The event match pays only for content:
//!
//! 1. The twin's events a summary should tell are listed in order
//!    ([`dtr1_data::is_told`]: appearances after the first frame, leaves,
//!    starts, stops, collisions).
//! 2. The summary is cut into clauses (at `.`, `;`, `,`, `!`, `?`, newlines, and before
//!    `then`, `after`, `afterwards`, `while`, `when`, `which`, `until`, `before`, or `and`
//!    followed by an event verb). A clause tells at most one event: the kind of its first
//!    event verb ([`verb_kind`]) and the tracks it names. A track is named by its shape (or
//!    label) with its colour when the shape alone is ambiguous (`the red marble`), or by
//!    `@id` / `object id` / `track id`. A name stands for every track that looks exactly
//!    like that (two red cubes cannot be told apart by words); a name that fits tracks that
//!    look different (`the cube` for a red and a blue one) names none. A clause with a verb
//!    but no name takes the first name of the previous clause (`… hits the blue marble and
//!    stops`).
//! 3. A told event matches a twin event by `overlap × (1 if the kinds agree, else 1/4)`,
//!    `overlap = |twin tracks matched by distinct names| / max(|names|, |twin tracks|)`: an
//!    event without the right tracks earns nothing, whatever its verb.
//! 4. The event score is an F-measure over the best order-preserving alignment (a weighted
//!    longest common subsequence, ROUGE-L over events): precision over the events told,
//!    recall over the twin's. Telling nothing when nothing happens scores 1.
//!
//! The clause reader is a deliberate, documented heuristic written here because no library
//! reads events out of English against a twin's vocabulary; it is generous with phrasing
//! (any of the verbs below) and strict with content (names must resolve to tracks).

use dtr1_data::is_told;
use dtr1_twin::{EventKind, VideoTwin};

/// One event as a summary tells it, or as the twin records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    /// What happened.
    pub kind: EventKind,
    /// The tracks involved, one entry per name: the tracks that name may stand for (one,
    /// or several that look alike; always one for the twin's own events).
    pub tracks: Vec<Vec<u32>>,
}

/// Match credit of a told event whose tracks are right but whose kind is not.
pub const WRONG_KIND_CREDIT: f64 = 0.25;

/// The events of the twin a summary should tell, in the twin's order.
pub fn twin_events(v: &VideoTwin) -> Vec<Told> {
    let mut evs: Vec<&dtr1_twin::Event> = v.events.iter().filter(|e| is_told(e)).collect();
    evs.sort_by_key(|e| e.frame);
    evs.into_iter()
        .map(|e| {
            let mut tracks = e.tracks.clone();
            tracks.sort_unstable();
            tracks.dedup();
            Told {
                kind: e.kind,
                tracks: tracks.into_iter().map(|t| vec![t]).collect(),
            }
        })
        .collect()
}

/// The event kind a word announces, if it is one of the event verbs.
pub fn verb_kind(word: &str) -> Option<EventKind> {
    Some(match word {
        "hit" | "hits" | "collide" | "collides" | "collided" | "colliding" | "collision"
        | "bump" | "bumps" | "bumped" | "crash" | "crashes" | "crashed" | "strike" | "strikes"
        | "struck" | "knock" | "knocks" | "knocked" | "smash" | "smashes" | "smashed" => {
            EventKind::Collide
        }
        "stop" | "stops" | "stopped" | "rest" | "rests" | "halt" | "halts" | "halted" => {
            EventKind::Stop
        }
        "start" | "starts" | "started" | "begin" | "begins" | "began" => EventKind::Start,
        "enter" | "enters" | "entered" | "appear" | "appears" | "appeared" | "arrive"
        | "arrives" | "arrived" | "view" => EventKind::Appear,
        "leave" | "leaves" | "exit" | "exits" | "exited" | "out" | "disappear" | "disappears"
        | "disappeared" | "vanish" | "vanishes" => EventKind::Leave,
        _ => return None,
    })
}

/// Words that open a new clause.
const CLAUSE_WORDS: [&str; 8] = [
    "then",
    "after",
    "afterwards",
    "while",
    "when",
    "which",
    "until",
    "before",
];

fn words(text: &str) -> Vec<Vec<String>> {
    let mut clauses: Vec<Vec<String>> = vec![vec![]];
    for piece in text.split(['.', ';', ',', '!', '?', ':', '\n']) {
        if !clauses.last().is_some_and(Vec::is_empty) {
            clauses.push(vec![]);
        }
        let toks: Vec<String> = piece
            .split(|c: char| !(c.is_alphanumeric() || c == '@' || c == '#'))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        for (i, w) in toks.iter().enumerate() {
            let next_is_verb = toks.get(i + 1).is_some_and(|n| verb_kind(n).is_some());
            let opens = CLAUSE_WORDS.contains(&w.as_str()) || (w == "and" && next_is_verb);
            if opens {
                if !clauses.last().is_some_and(Vec::is_empty) {
                    clauses.push(vec![]);
                }
                continue;
            }
            clauses.last_mut().expect("never empty").push(w.clone());
        }
    }
    clauses.retain(|c| !c.is_empty());
    clauses
}

/// A track's name as words: its shape (or label) and its colour.
struct Name {
    id: u32,
    noun: Vec<String>,
    color: Option<String>,
}

fn split_words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn names(v: &VideoTwin) -> Vec<Name> {
    v.tracks
        .iter()
        .map(|t| Name {
            id: t.id,
            noun: split_words(t.attributes.shape.as_deref().unwrap_or(&t.label)),
            color: t.attributes.color.as_deref().map(str::to_lowercase),
        })
        .filter(|n| !n.noun.is_empty())
        .collect()
}

/// Whether `words[at..]` starts with `noun` (its last word also as a plural).
fn noun_at(words: &[String], at: usize, noun: &[String]) -> bool {
    let n = noun.len();
    if at + n > words.len() {
        return false;
    }
    noun.iter().enumerate().all(|(k, w)| {
        let got = &words[at + k];
        got == w || (k + 1 == n && (*got == format!("{w}s") || *got == format!("{w}es")))
    })
}

/// The names in a clause, in order, each as the tracks it may stand for.
fn named(words: &[String], names: &[Name], v: &VideoTwin) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        // By id: `@3`, `#3`, `object 3`, `track 3`.
        let by_id = w
            .strip_prefix('@')
            .or_else(|| w.strip_prefix('#'))
            .and_then(|d| d.parse::<u32>().ok())
            .or_else(|| {
                (w == "object" || w == "track")
                    .then(|| words.get(i + 1)?.parse::<u32>().ok())
                    .flatten()
            });
        if let Some(id) = by_id.filter(|id| v.track(*id).is_some()) {
            out.push(vec![id]);
            i += 1;
            continue;
        }
        // By shape or label, with the colour in the two words before it.
        let mut matched = 0;
        let mut hits: Vec<&Name> = Vec::new();
        for n in names {
            if noun_at(words, i, &n.noun) {
                matched = matched.max(n.noun.len());
                hits.push(n);
            }
        }
        if hits.is_empty() {
            i += 1;
            continue;
        }
        let before = &words[i.saturating_sub(2)..i];
        let coloured: Vec<&Name> = hits
            .iter()
            .copied()
            .filter(|n| n.color.as_ref().is_some_and(|c| before.contains(c)))
            .collect();
        let cands = if coloured.is_empty() { hits } else { coloured };
        // A name stands for tracks that look alike, never for tracks that look different.
        let alike = cands
            .iter()
            .all(|n| n.noun == cands[0].noun && n.color == cands[0].color);
        if alike {
            out.push(cands.iter().map(|n| n.id).collect());
        }
        i += matched.max(1);
    }
    out
}

/// The events a summary tells (see the module docs).
pub fn read_events(text: &str, v: &VideoTwin) -> Vec<Told> {
    let names = names(v);
    let mut out = Vec::new();
    let mut subject: Option<Vec<u32>> = None;
    for clause in words(text) {
        let kind = clause.iter().find_map(|w| verb_kind(w));
        let mut tracks = named(&clause, &names, v);
        if tracks.is_empty() {
            tracks.extend(subject.clone());
        } else {
            subject = Some(tracks[0].clone());
        }
        let Some(kind) = kind else { continue };
        tracks.truncate(if kind == EventKind::Collide { 2 } else { 1 });
        out.push(Told { kind, tracks });
    }
    out
}

/// How many of the twin event's tracks distinct names of the told event stand for (a
/// maximum matching; events have at most two tracks, so both pairings are tried).
fn matched_tracks(told: &[Vec<u32>], truth: &[u32]) -> usize {
    let has = |k: usize, t: u32| told.get(k).is_some_and(|c| c.contains(&t));
    match truth {
        [] => 0,
        [a] => usize::from((0..told.len()).any(|k| has(k, *a))),
        [a, b, ..] => {
            let straight = usize::from(has(0, *a)) + usize::from(has(1, *b));
            let crossed = usize::from(has(0, *b)) + usize::from(has(1, *a));
            let single = usize::from((0..told.len()).any(|k| has(k, *a) || has(k, *b)));
            straight.max(crossed).max(single)
        }
    }
}

/// Match credit of a told event against a twin event (see the module docs).
pub fn event_match(told: &Told, truth: &Told) -> f64 {
    let actors: Vec<u32> = truth.tracks.iter().flatten().copied().collect();
    let shared = matched_tracks(&told.tracks, &actors);
    let most = told.tracks.len().max(actors.len());
    if shared == 0 || most == 0 {
        return 0.0;
    }
    let overlap = shared as f64 / most as f64;
    overlap
        * if told.kind == truth.kind {
            1.0
        } else {
            WRONG_KIND_CREDIT
        }
}

/// Event F-measure of the told events against the twin's: the weight of the best
/// order-preserving alignment over both counts (see the module docs).
pub fn event_score(told: &[Told], truth: &[Told]) -> f64 {
    if truth.is_empty() {
        return f64::from(u8::from(told.is_empty()));
    }
    if told.is_empty() {
        return 0.0;
    }
    let m = truth.len();
    let mut prev = vec![0.0f64; m + 1];
    let mut cur = vec![0.0f64; m + 1];
    for p in told {
        for (j, r) in truth.iter().enumerate() {
            cur[j + 1] = prev[j + 1].max(cur[j]).max(prev[j] + event_match(p, r));
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let w = prev[m];
    if w <= 0.0 {
        return 0.0;
    }
    let (p, r) = (w / told.len() as f64, w / m as f64);
    2.0 * p * r / (p + r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtr1_twin::example;

    #[test]
    fn the_marbles_events_read_back_from_a_fluent_summary() {
        let v = example::marbles();
        let truth = twin_events(&v);
        let text = "The green marble rolls into view. The red marble hits the blue marble and \
                    stops, then the blue one starts moving. The green marble leaves.";
        let told = read_events(text, &v);
        // "the blue one" names no track: the shape word is missing.
        assert_eq!(
            told.iter().map(|t| t.kind).collect::<Vec<_>>(),
            vec![
                EventKind::Appear,
                EventKind::Collide,
                EventKind::Stop,
                EventKind::Start,
                EventKind::Leave
            ]
        );
        assert_eq!(told[1].tracks, vec![vec![1], vec![2]]);
        assert_eq!(
            told[2].tracks,
            vec![vec![1]],
            "the subject carries over to 'and stops'"
        );
        let s = event_score(&told, &truth);
        assert!(s > 0.7, "{s} for {told:?} vs {truth:?}");
    }

    #[test]
    fn templates_and_wrong_actors_earn_nothing() {
        let v = example::marbles();
        let truth = twin_events(&v);
        for text in [
            "There are 3 objects. One hits another, then one stops, then one starts moving.",
            "Something enters, something collides, something stops, something leaves.",
            "",
        ] {
            let told = read_events(text, &v);
            assert_eq!(event_score(&told, &truth), 0.0, "{text}: {told:?}");
        }
        // The right verbs in the right order with the wrong tracks.
        let told = read_events(
            "The red marble rolls into view. The green marble hits the blue marble.",
            &v,
        );
        let wrong = event_score(&told, &truth);
        let right = event_score(
            &read_events(
                "The green marble rolls into view. The red marble hits the blue marble.",
                &v,
            ),
            &truth,
        );
        assert!(wrong < right, "{wrong} vs {right}");
    }

    #[test]
    fn a_name_stands_for_every_track_that_looks_like_it() {
        let mut v = example::marbles();
        v.tracks[1].attributes.color = Some("red".into()); // two red marbles: 1 and 2
        let truth = twin_events(&v);
        let told = read_events("the red marble hits the red marble", &v);
        assert_eq!(told[0].tracks, vec![vec![1, 2], vec![1, 2]]);
        let collide = truth.iter().find(|e| e.kind == EventKind::Collide).unwrap();
        assert_eq!(event_match(&told[0], collide), 1.0);
        // "the marble" fits red and green ones: it names nothing.
        assert!(read_events("the marble leaves", &v)[0].tracks.is_empty());
    }

    #[test]
    fn order_matters() {
        let v = example::marbles();
        let truth = twin_events(&v);
        let fwd: Vec<Told> = truth.clone();
        let mut back = truth.clone();
        back.reverse();
        assert!((event_score(&fwd, &truth) - 1.0).abs() < 1e-12);
        assert!(event_score(&back, &truth) < 0.5);
    }

    #[test]
    fn an_ambiguous_name_names_nothing() {
        let v = example::marbles();
        // Three marbles: "the marble" alone is ambiguous.
        assert!(read_events("the marble stops", &v)[0].tracks.is_empty());
        assert_eq!(read_events("@2 stops", &v)[0].tracks, vec![vec![2]]);
        assert_eq!(read_events("object 3 leaves", &v)[0].tracks, vec![vec![3]]);
        assert!(read_events("object 9 leaves", &v)[0].tracks.is_empty());
    }
}
