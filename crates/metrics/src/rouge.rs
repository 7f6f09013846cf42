//! TODO(helper): rouge
