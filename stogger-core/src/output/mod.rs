//! Loggers: the I/O half of each target.

pub(crate) mod console;
pub(crate) mod file;
pub(crate) mod journal;
pub(crate) mod postgres;
