//! The error `init_logging()` returns.

use crate::config::ConfigError;
use std::fmt;
use std::path::PathBuf;

/// Why stogger could not start. Logging failures after start are never
/// errors: they are `stogger:` warnings on stderr.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message names the key, where it
    /// came from, the value and what is allowed.
    Config(ConfigError),
    /// `systemd = "required"` but the journal socket does not exist.
    JournalRequired {
        /// The socket path that was checked.
        socket: PathBuf,
    },
    /// Another tracing subscriber without stogger's layer is already the
    /// global default.
    SubscriberConflict(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "stogger configuration: {e}"),
            Error::JournalRequired { socket } => write!(
                f,
                "systemd = \"required\" but the journal socket {} does not exist \
                 (set systemd = \"auto\" to log without the journal)",
                socket.display()
            ),
            Error::SubscriberConflict(why) => write!(
                f,
                "another tracing subscriber is already installed ({why}); add \
                 stogger_core::layer() to your registry instead"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
