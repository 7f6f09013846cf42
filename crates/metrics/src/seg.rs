//! TODO(helper): seg
