//! TODO(helper): jf
