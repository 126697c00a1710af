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

mod call;
pub mod command;
pub mod config;
mod delivery;
mod dispatch;
mod error;
pub mod event;
mod exception;
mod filter;
mod fork;
mod init;
mod layer;
pub mod output;
mod panic_hook;
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
pub use delivery::{delivery_failures, DeliveryReport, NotStarted};
pub use dispatch::emit;
pub use error::Error;
pub use event::{Event, FieldName, Level, Value};
pub use exception::exception;
pub use filter::{set_filter, set_target_filter};
pub use init::{
    init_early_logging, init_logging, layer, shutdown_logging, Builder, LoggingGuard, Stogger,
};
pub use scope::{log_scope, LogScope, SCOPE_FAILED_MESSAGE};
pub use stogger_macros::{log_call, log_operation, log_result};
pub use target::Output;

/// `#[log_scope("name")]` on a function: the body runs in a scope, which
/// ends with `scope-end` when the function returns `Ok` (or anything that
/// is not a `Result`) and `scope-failed` when it returns `Err` or panics.
/// Works on `async fn`s and methods too. See [`log_scope()`](fn@log_scope).
pub use stogger_macros::log_scope;

/// What the code the attribute macros generate refers to. Not a public
/// API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::call::*;
    pub use crate::exception::Failure;
    pub use crate::scope::ScopeCore;
    pub use tracing;
}

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
