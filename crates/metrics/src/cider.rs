//! cider
