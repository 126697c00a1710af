//! `_replace_msg` templates with Python-style format specs (skeleton).
