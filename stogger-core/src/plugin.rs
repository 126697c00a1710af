//! Finding and loading the PostgreSQL plugin (skeleton).
