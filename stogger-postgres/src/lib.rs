//! stogger-postgres (skeleton).
