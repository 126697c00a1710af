//! # stogger
//!
//! Structured logging for Rust services: every `tracing` event goes to several
//! targets at once — a coloured line on stderr, the same line in a log file,
//! native systemd-journal fields, and a row in a PostgreSQL table — and the
//! PostgreSQL rows are queryable with plain SQL.
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _guard = stogger_core::init_logging()?; // config file + STOGGER_* env
//!     tracing::info!(user_id = 123, username = "alice",
//!                    _replace_msg = "User {username} logged in", "user-login");
//!     Ok(()) // dropping the guard flushes every target
//! }
//! ```
//!
//! The event id is the tracing message (`"user-login"`); data goes in fields;
//! an optional sentence for humans in `_replace_msg`. Keys starting with `_`
//! steer rendering and never appear as data.
#![warn(missing_docs)]

pub mod config;
mod dispatch;
mod error;
pub mod event;
mod filter;
mod init;
mod layer;
pub mod output;
pub mod plugin;
mod published;
mod reload;
pub mod render;
mod scope;
mod setup;
pub mod target;
pub mod testing;
pub mod warn;

pub use config::Config;
pub use dispatch::emit;
pub use error::Error;
pub use event::{Event, FieldName, Level, Value};
pub use filter::{set_filter, set_target_filter};
pub use init::{
    init_early_logging, init_logging, layer, shutdown_logging, Builder, LoggingGuard, Stogger,
};
pub use scope::{log_scope, LogScope};
pub use target::Output;

pub(crate) use init::{ensure_layer_installed, mark_layer_registered};

/// Logs an event at level `critical`: an `ERROR` event marked `_critical = true`.
///
/// ```
/// stogger_core::critical!(disk = "/var", "disk-full");
/// ```
#[macro_export]
macro_rules! critical {
    ($($arg:tt)+) => {
        ::tracing::error!(_critical = true, $($arg)+)
    };
}
