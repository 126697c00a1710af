//! Starting, reconfiguring and stopping stogger.
//!
//! The tracing layer is installed once per process; every `init_*` call
//! builds a new set of targets from the configuration and swaps it in behind
//! that layer, closing the previous set.

use crate::config::{self, Config};
use crate::dispatch;
use crate::error::Error;
use crate::event::{Event, Level};
use crate::layer::StoggerLayer;
use crate::setup;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

static LAYER_REGISTERED: AtomicBool = AtomicBool::new(false);
static INSTALL: Mutex<()> = Mutex::new(());
static PANIC_HOOK: Once = Once::new();

pub(crate) fn mark_layer_registered() {
    LAYER_REGISTERED.store(true, Ordering::Relaxed);
}

/// Returns stogger's layer, for applications that build their own
/// `tracing_subscriber::registry()`. Call [`init_logging`] afterwards to
/// configure the targets behind it:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// tracing_subscriber::registry().with(stogger_core::layer()).init();
/// let _guard = stogger_core::init_logging().expect("logging");
/// ```
pub fn layer() -> StoggerLayer {
    StoggerLayer::new()
}

/// Installs the layer as the global default unless it already is. The `log`
/// bridge is installed too (records from the `log` crate reach stogger).
pub(crate) fn ensure_layer_installed() -> Result<(), Error> {
    let _lock = INSTALL.lock();
    if LAYER_REGISTERED.load(Ordering::Relaxed) {
        return Ok(());
    }
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(StoggerLayer::new());
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        // A subscriber is set already: fine if it is a user's registry that
        // carries our layer (a layered subscriber downcasts to its layers).
        let ours = tracing::dispatcher::get_default(|d| d.downcast_ref::<StoggerLayer>().is_some());
        if !ours {
            return Err(Error::SubscriberConflict(e.to_string()));
        }
    }
    mark_layer_registered();
    // The bridge fails only if another `log` logger is set; then `log`
    // records go there instead, which is the user's choice.
    let _ = tracing_log::LogTracer::init();
    Ok(())
}

/// Keeps stogger's targets open; dropping it flushes and closes them
/// (the PostgreSQL queue is drained within `postgres_shutdown_timeout_ms`).
#[must_use = "logging stops when the guard is dropped"]
#[derive(Debug)]
pub struct LoggingGuard {
    _private: (),
}

impl LoggingGuard {
    /// Flushes every target now without closing it.
    pub fn flush(&self) {
        dispatch::flush();
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        shutdown_logging();
    }
}

/// Reads the config file and `STOGGER_*` environment, installs stogger's
/// layer (once per process) and starts every configured target.
///
/// Calling it again, or after [`init_early_logging`], replaces the
/// configuration. Errors name the bad key, its source, the value and the
/// allowed values.
pub fn init_logging() -> Result<LoggingGuard, Error> {
    Builder::default().init()
}

/// A minimal stderr pipeline (console only, defaults plus environment
/// where valid) for the time before the configuration is known. Replace it
/// with [`init_logging`].
pub fn init_early_logging() -> Result<LoggingGuard, Error> {
    crate::event::refresh_pid();
    ensure_layer_installed()?;
    let loaded = config::load(&[]).map(|l| l.config).unwrap_or_default();
    let early = Config {
        log_to_console: true,
        enable_postgres: false,
        systemd: config::SystemdMode::Off,
        ..loaded
    };
    let built = setup::build_console_only(&early);
    swap(built.pipeline, Vec::new());
    Ok(LoggingGuard { _private: () })
}

/// Flushes and closes every target. Events logged afterwards go nowhere
/// until the next `init_*` call.
pub fn shutdown_logging() {
    if let Some(old) = dispatch::install(None) {
        old.close();
    }
}

fn swap(pipeline: dispatch::Pipeline, startup_events: Vec<Event>) {
    if let Some(old) = dispatch::install(Some(pipeline)) {
        old.close();
    }
    for event in startup_events {
        dispatch::emit(event);
    }
}

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "panic".to_string()
            };
            let mut event = Event::new(Level::Critical, "panic").with("message", message);
            if let Some(loc) = info.location() {
                event.code.file = Some(loc.file().to_string().into());
                event.code.line = Some(loc.line());
            }
            dispatch::emit(event);
            dispatch::flush();
            previous(info);
        }));
    });
}

/// Entry point of the builder: `Stogger::builder().verbose(true).init()`.
#[derive(Debug)]
pub struct Stogger;

impl Stogger {
    /// Values set in code: above the config file, below `STOGGER_*` env.
    pub fn builder() -> Builder {
        Builder::default()
    }
}

/// Configuration set in code. Precedence: defaults < file < builder < env.
/// `Debug` shows the values as configuration errors show them: never the
/// connection string.
#[derive(Default, Clone)]
pub struct Builder {
    values: Vec<(&'static str, toml::Value)>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values: Vec<(&str, String)> = self
            .values
            .iter()
            .map(|(key, value)| (*key, config::shown_value(key, value)))
            .collect();
        f.debug_struct("Builder").field("values", &values).finish()
    }
}

impl Builder {
    /// Sets any configuration key (as named in the config reference) to a
    /// value; an invalid value makes [`Builder::init`] fail like a bad file value.
    pub fn set(mut self, key: &'static str, value: impl Into<toml::Value>) -> Self {
        self.values.push((key, value.into()));
        self
    }

    /// `verbose`: log debug events too.
    pub fn verbose(self, on: bool) -> Self {
        self.set("verbose", on)
    }

    /// `logdir`: directory of the log file.
    pub fn logdir(self, dir: impl Into<PathBuf>) -> Self {
        self.set("logdir", dir.into().to_string_lossy().into_owned())
    }

    /// `log_to_console`: write to stderr.
    pub fn log_to_console(self, on: bool) -> Self {
        self.set("log_to_console", on)
    }

    /// `syslog_identifier`: the service name (file name, journal identifier).
    pub fn syslog_identifier(self, name: &str) -> Self {
        self.set("syslog_identifier", name)
    }

    /// `enable_postgres`: register the PostgreSQL target.
    pub fn enable_postgres(self, on: bool) -> Self {
        self.set("enable_postgres", on)
    }

    /// `postgres_dsn`: connection string.
    pub fn postgres_dsn(self, dsn: &str) -> Self {
        self.set("postgres_dsn", dsn)
    }

    /// Loads the configuration (file < these values < env) and starts logging.
    pub fn init(self) -> Result<LoggingGuard, Error> {
        crate::event::refresh_pid();
        let loaded = config::load(&self.values)?;
        ensure_layer_installed()?;
        let built = setup::build(&loaded.config)?;
        let mut startup = Vec::new();
        for warning in &loaded.warnings {
            startup
                .push(Event::new(Level::Warning, "config-warning").with("detail", warning.clone()));
        }
        startup.extend(built.startup_events);
        swap(built.pipeline, startup);
        install_panic_hook();
        Ok(LoggingGuard { _private: () })
    }
}
