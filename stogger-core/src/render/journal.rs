//! Event to journal fields (skeleton).
