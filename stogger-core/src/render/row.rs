//! Event to PostgreSQL row (skeleton).
