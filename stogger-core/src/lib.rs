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
//!
//! # The public API, by purpose
//!
//! Everything else is private: the targets, renderers and the dispatcher
//! can change in any release without breaking a program that uses stogger.
//!
//! **Starting and stopping.** [`init_logging`] (configuration file and
//! `STOGGER_*` environment), or [`Stogger::builder`] for values set in code
//! ([`Builder::set`] takes any key of the configuration reference, as a
//! [`ConfigValue`]); [`init_early_logging`] for the time before the
//! configuration is known. Each returns a [`LoggingGuard`]: dropping it
//! flushes and closes what its call started, and [`LoggingGuard::close`]
//! does the same and returns a [`DeliveryReport`] (outputs that did not
//! start, failed writes, events lost at the close). [`shutdown_logging`]
//! stops whatever runs. [`delivery_failures`] counts the failures of every
//! configuration since the process started. [`Error`] is why a start failed.
//!
//! **In a subscriber of your own.** [`layer`] returns stogger's tracing
//! layer (with its own per-layer filter) for `tracing_subscriber::registry()`.
//!
//! **Filtering while running.** [`set_filter`] and [`set_target_filter`]
//! (per [`Output`]) replace the `RUST_LOG`-style directives on every thread.
//!
//! **Logging.** `tracing`'s macros; [`critical!`] for the level tracing
//! lacks; [`exception`] for an error with its type, message, causes and
//! traceback; [`log_scope()`](fn@log_scope) and [`LogScope`] (also as the
//! attribute [`macro@log_scope`]); the call attributes [`log_call`],
//! [`log_result`] and [`log_operation`]; [`command`] for a child process's
//! output as events.
//!
//! **Events built at run time.** [`emit`] sends an [`Event`] (made with
//! [`Event::new`] and its `with*` methods; fields are [`Value`]s, levels
//! [`Level`]s) through the configured outputs, as `stogger emit` does.
//!
//! **Tests.** [`testing::capture`] records the events a test logs, as
//! [`Event`]s.
//!
//! **Tools** (the `stogger` command uses nothing else): [`config`] loads
//! the configuration as the library does, with the origin of every value
//! ([`config::Loaded`]) and every key's description ([`config::KEYS`]);
//! [`plugin`] finds the PostgreSQL plugin as the library would and reports
//! on it; [`LineFormat`] lays an event out as the console and the file do
//! (with [`color_wanted`] deciding colours as the console does), and
//! [`Event::json_line`] as a JSON log file does.
#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod assembly;
mod call;
pub mod command;
pub mod config;
mod delivery;
mod dispatch;
mod error;
mod event;
mod exception;
mod filter;
mod fork;
mod init;
mod layer;
mod output;
mod panic_hook;
pub mod plugin;
mod published;
mod reload;
mod render;
mod scope;
mod target;
pub mod testing;
mod warn;

pub use config::{Config, ConfigValue};
pub use delivery::{delivery_failures, DeliveryReport, NotStarted};
pub use dispatch::emit;
pub use error::Error;
pub use event::{CodeLocation, Event, FieldName, Level, Value};
pub use exception::exception;
pub use filter::{set_filter, set_target_filter};
pub use init::{
    init_early_logging, init_logging, layer, shutdown_logging, Builder, LoggingGuard, Stogger,
};
pub use output::console::color_wanted;
pub use render::text::LineFormat;
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
