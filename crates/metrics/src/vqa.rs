//! TODO(helper): vqa
