//! The rollout contract: `<twin>…</twin>`, `<think>…</think>`, `<answer>…</answer>`, in that
//! order, once each, with nothing but whitespace around and between them.
//!
//! The parser is strict about the blocks (every deviation is reported as a typed
//! [`FormatProblem`]) and tolerant of whitespace. When the format fails, the blocks that can
//! still be located unambiguously (their tags occur exactly once, properly nested) are
//! returned as well, so the structure of the sub-twin can be scored.

use std::fmt;

/// The three blocks of a well-formed rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// Content of `<twin>`, the sub-twin JSON the model built.
    pub twin: String,
    /// Content of `<think>`, free reasoning.
    pub think: String,
    /// Content of `<answer>`.
    pub answer: String,
}

/// One way a rollout breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatProblem {
    /// A block is missing (its opening or closing tag is absent).
    Missing(&'static str),
    /// A tag occurs more than once.
    Repeated(&'static str),
    /// The blocks are not in the order twin, think, answer.
    WrongOrder,
    /// A closing tag comes before its opening tag.
    Unbalanced(&'static str),
    /// Non-whitespace text outside the blocks (the first few characters are kept).
    TextOutside(String),
}

impl fmt::Display for FormatProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatProblem::Missing(b) => write!(f, "missing <{b}> block"),
            FormatProblem::Repeated(b) => write!(f, "<{b}> occurs more than once"),
            FormatProblem::WrongOrder => {
                write!(f, "blocks must come in the order twin, think, answer")
            }
            FormatProblem::Unbalanced(b) => write!(f, "</{b}> comes before <{b}>"),
            FormatProblem::TextOutside(t) => write!(f, "text outside the blocks: {t:?}"),
        }
    }
}

/// The blocks, in contract order.
pub const BLOCKS: [&str; 3] = ["twin", "think", "answer"];

/// Where one block sits: byte ranges of its content and of the whole block.
#[derive(Debug, Clone, Copy)]
struct Span {
    open: usize,
    content: (usize, usize),
    end: usize,
}

fn locate(text: &str, name: &'static str, problems: &mut Vec<FormatProblem>) -> Option<Span> {
    let (open_tag, close_tag) = (format!("<{name}>"), format!("</{name}>"));
    let opens: Vec<usize> = text.match_indices(&open_tag).map(|(i, _)| i).collect();
    let closes: Vec<usize> = text.match_indices(&close_tag).map(|(i, _)| i).collect();
    if opens.is_empty() || closes.is_empty() {
        problems.push(FormatProblem::Missing(name));
        return None;
    }
    if opens.len() > 1 || closes.len() > 1 {
        problems.push(FormatProblem::Repeated(name));
        return None;
    }
    let (o, c) = (opens[0], closes[0]);
    if c < o + open_tag.len() {
        problems.push(FormatProblem::Unbalanced(name));
        return None;
    }
    Some(Span {
        open: o,
        content: (o + open_tag.len(), c),
        end: c + close_tag.len(),
    })
}

/// A parsed rollout: the blocks when the format holds, the problems otherwise, and the
/// blocks that could still be located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// `Ok` when the rollout meets the contract exactly.
    pub result: Result<Rollout, Vec<FormatProblem>>,
    /// `<twin>` content when it could be located unambiguously, even if the format failed.
    pub twin: Option<String>,
    /// `<answer>` content likewise.
    pub answer: Option<String>,
}

/// Parses a completion against the rollout contract.
pub fn parse(text: &str) -> Parsed {
    let mut problems = Vec::new();
    let spans: Vec<Option<Span>> = BLOCKS
        .iter()
        .map(|b| locate(text, b, &mut problems))
        .collect();
    let content = |s: &Option<Span>| s.map(|s| text[s.content.0..s.content.1].to_string());
    let (twin, answer) = (content(&spans[0]), content(&spans[2]));
    if let [Some(a), Some(b), Some(c)] = spans[..] {
        // Each tag occurs once, so disjoint, ordered blocks also rule out nesting.
        if !(a.end <= b.open && b.end <= c.open) {
            problems.push(FormatProblem::WrongOrder);
        } else {
            let outside = [
                &text[..a.open],
                &text[a.end..b.open],
                &text[b.end..c.open],
                &text[c.end..],
            ];
            if let Some(t) = outside.iter().find(|t| !t.trim().is_empty()) {
                problems.push(FormatProblem::TextOutside(
                    t.trim().chars().take(40).collect(),
                ));
            }
        }
    }
    let result = if problems.is_empty() {
        Ok(Rollout {
            twin: twin.clone().unwrap_or_default(),
            think: content(&spans[1]).unwrap_or_default(),
            answer: answer.clone().unwrap_or_default(),
        })
    } else {
        Err(problems)
    };
    Parsed {
        result,
        twin,
        answer,
    }
}
