//! TODO(helper): bleu
