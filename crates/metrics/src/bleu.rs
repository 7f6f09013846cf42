//! bleu
