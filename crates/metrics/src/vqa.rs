//! vqa
