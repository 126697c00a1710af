//! # stogger-pg-proto
//!
//! The contract between stogger-core and its PostgreSQL plugin
//! (stogger-postgres), written once and used by both sides: stogger-core
//! cannot depend on the plugin (the plugin may be a shared library loaded
//! at run time) and the plugin must not depend on stogger-core, so what
//! the two must agree on lives here.
//!
//! - [`abi`]: the C ABI — its version, return codes, `#[repr(C)]` types and
//!   entry point signatures (the contract in words: `docs/plugin-abi.md`).
//! - [`dsn`]: connection strings — the `%PASSWORD%` placeholder and its
//!   substitution, taking a DSN apart, and redacting its password.
//! - [`limiter`]: the one rate limiter of diagnostics, used by the host for
//!   its own warnings and by the plugin for its warnings.
//! - [`settings`]: the writer's settings, [`PgSettings`], with one entry per
//!   key ([`settings::SETTINGS`]): name, default, allowed range, meaning.
//!
//! This crate is small on purpose: no async runtime, no database driver, no
//! library loader.

#![warn(missing_docs)]

pub mod abi;
pub mod dsn;
pub mod limiter;
pub mod settings;

pub use settings::{
    GinOpclass, PartitionManager, Partitioning, PgSettings, SettingsError, WriteMode,
};
