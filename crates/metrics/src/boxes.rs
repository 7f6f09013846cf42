//! TODO(helper): boxes
