//! Running commands with their output logged.
