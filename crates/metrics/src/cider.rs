//! TODO(helper): cider
