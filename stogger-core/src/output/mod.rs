//! Loggers: the I/O half of each target.

pub mod console;
pub mod file;
pub mod journal;
pub mod postgres;
