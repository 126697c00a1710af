//! Test harness (skeleton).
