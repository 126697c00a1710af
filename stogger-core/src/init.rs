//! Starting, reconfiguring and stopping stogger.
//!
//! The tracing layer is installed once per process; every `init_*` call
//! builds a new set of targets from the configuration and swaps it in behind
//! that layer, closing the previous set.

use crate::assembly;
use crate::config::{self, Config, ConfigValue};
use crate::delivery::{DeliveryReport, Tally};
use crate::dispatch;
use crate::error::Error;
use crate::event::{Event, Level};
use crate::filter::per_layer::StoggerFilter;
use crate::filter::spec::FilterSpec;
use crate::filter::state as filters;
use crate::layer::StoggerLayer;
use crate::panic_hook;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

static LAYER_REGISTERED: AtomicBool = AtomicBool::new(false);
static INSTALL: Mutex<()> = Mutex::new(());
static LOG_BRIDGE: Once = Once::new();

pub(crate) fn mark_layer_registered() {
    LAYER_REGISTERED.store(true, Ordering::Relaxed);
}

/// Returns stogger's layer, for applications that build their own
/// `tracing_subscriber::registry()`. Call [`init_logging`] afterwards to
/// configure the targets behind it:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// let fmt = tracing_subscriber::fmt::layer()
///     .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG);
/// tracing_subscriber::registry().with(fmt).with(stogger_core::layer()).init();
/// let _guard = stogger_core::init_logging().expect("logging");
/// tracing::debug!("cache-warm"); // fmt shows it; stogger (at info) does not
/// ```
///
/// The layer carries its own per-layer filter: stogger's configuration
/// (`log_filter`, the levels, [`crate::set_filter`]) decides what stogger
/// receives and nothing else. Other layers see what their own filters
/// let through, before `init_logging`, while stogger runs, and after
/// [`shutdown_logging`] (when stogger asks tracing for nothing at all).
/// The root of the subscriber must be tracing-subscriber's `Registry`.
///
/// The type is opaque on purpose: it is a layer, and which filter machinery
/// stogger uses inside is not part of the promise. To keep it in a struct
/// field, box it (`Box<dyn Layer<S> + Send + Sync>`).
pub fn layer<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    StoggerLayer.with_filter(StoggerFilter)
}

/// Installs the layer as the global default unless it already is. The `log`
/// bridge is installed too (records from the `log` crate reach stogger),
/// also when the user's registry carries the layer.
pub(crate) fn ensure_layer_installed() -> Result<(), Error> {
    // Held also after a panic elsewhere (a poisoned lock's `Err` would
    // hold nothing).
    let _lock = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !LAYER_REGISTERED.load(Ordering::Relaxed) {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(layer());
        if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
            // A subscriber is set already: fine if it is a user's registry that
            // carries our layer (a layered subscriber downcasts to its layers).
            let ours =
                tracing::dispatcher::get_default(|d| d.downcast_ref::<StoggerLayer>().is_some());
            if !ours {
                return Err(Error::SubscriberConflict(e.to_string()));
            }
        }
        mark_layer_registered();
    }
    // The bridge fails only if another `log` logger is set; then `log`
    // records go there instead, which is the user's choice.
    LOG_BRIDGE.call_once(|| {
        if tracing_log::LogTracer::init().is_ok() {
            filters::log_bridge_installed();
        }
    });
    Ok(())
}

/// Keeps the targets of one `init_*` call open; dropping it flushes and
/// closes them (the PostgreSQL queue is drained within
/// `postgres_shutdown_timeout_ms`).
///
/// **A guard owns the pipeline its own call installed, nothing else.**
/// Dropping it closes that pipeline only while it is still the current
/// one. A later `init_*` call replaces (and closes) the pipeline at once,
/// and the earlier guard is left with nothing to close: dropping it then
/// does nothing. So every way of writing a two-phase start works:
///
/// ```no_run
/// # fn parse_args() {}
/// fn setup() -> Result<stogger_core::LoggingGuard, stogger_core::Error> {
///     let _early = stogger_core::init_early_logging()?;
///     parse_args();
///     stogger_core::init_logging() // `_early` drops after this: no effect
/// }
/// let guard = setup()?;
///
/// let mut guard = stogger_core::init_early_logging()?;
/// guard = stogger_core::init_logging()?; // the early guard drops: no effect
/// # drop(guard);
/// # Ok::<(), stogger_core::Error>(())
/// ```
///
/// [`shutdown_logging`] stops whatever is current, whoever installed it.
///
/// [`LoggingGuard::close`] closes like a drop and also says what was not
/// delivered (outputs that did not start, failed writes, events lost at
/// the close).
#[must_use = "logging stops when the guard is dropped"]
#[derive(Debug)]
pub struct LoggingGuard {
    /// The generation of the pipeline this guard's call installed.
    generation: u64,
    /// That pipeline's tally (kept after a later `init_*` replaced it).
    tally: Arc<Tally>,
}

impl LoggingGuard {
    /// Flushes every target of the current pipeline now without closing it.
    pub fn flush(&self) {
        dispatch::flush();
    }

    /// Closes like dropping the guard (flushes and closes the targets its
    /// call installed, while they are still the current ones), then
    /// reports what that configuration did not deliver from its start to
    /// its close. When a later `init_*` call replaced it, that call closed
    /// it: the report still covers it, close included.
    pub fn close(self) -> DeliveryReport {
        let tally = Arc::clone(&self.tally);
        drop(self);
        tally.report()
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        if let Some(own) = dispatch::uninstall(self.generation) {
            stop_filters();
            own.close();
        }
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
    let built = assembly::assemble_console_only(&early);
    let spec = FilterSpec::from_config(&early).unwrap_or_default();
    crate::reload::stop();
    Ok(swap(built.pipeline, spec, Vec::new()))
}

/// Flushes and closes every target, whichever call installed them. Events
/// logged afterwards go nowhere until the next `init_*` call; guards alive
/// now have nothing left to close. stogger then asks tracing for nothing,
/// so the other layers of a subscriber get exactly what their own filters
/// want.
pub fn shutdown_logging() {
    stop_filters();
    if let Some(old) = dispatch::install(None).replaced {
        old.close();
    }
}

/// With no pipeline left: no SIGHUP reloading, and filters that want nothing.
fn stop_filters() {
    crate::reload::stop();
    filters::stop();
}

/// Installs `pipeline` and its filters, closes the pipeline it replaces,
/// logs the start-up notes.
fn swap(
    pipeline: dispatch::Pipeline,
    spec: FilterSpec,
    startup_events: Vec<Event>,
) -> LoggingGuard {
    let outputs = pipeline.outputs();
    let tally = Arc::clone(&pipeline.tally);
    let installed = dispatch::install(Some(pipeline));
    if let Some(old) = installed.replaced {
        old.close();
    }
    filters::start(spec, outputs);
    for event in startup_events {
        dispatch::emit(event);
    }
    LoggingGuard {
        generation: installed.generation,
        tally,
    }
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
    values: Vec<(&'static str, ConfigValue)>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values: Vec<(&str, String)> = self
            .values
            .iter()
            .map(|(key, value)| (*key, config::shown_value(key, &value.0)))
            .collect();
        f.debug_struct("Builder").field("values", &values).finish()
    }
}

impl Builder {
    /// Sets any configuration key (as named in the config reference) to a
    /// value (a `bool`, number, string or path; see [`ConfigValue`]); an
    /// invalid value makes [`Builder::init`] fail like a bad file value.
    pub fn set(mut self, key: &'static str, value: impl Into<ConfigValue>) -> Self {
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
        let spec = FilterSpec::from_config(&loaded.config)
            .map_err(|(key, bad)| crate::filter::invalid(key, config::Origin::Default, bad))?;
        ensure_layer_installed()?;
        let built = assembly::assemble(&loaded.config)?;
        let mut startup = Vec::new();
        for warning in &loaded.warnings {
            startup
                .push(Event::new(Level::Warning, "config-warning").with("detail", warning.clone()));
        }
        startup.extend(built.startup_events);
        crate::reload::configure(&loaded.config, &self.values, &mut startup);
        let guard = swap(built.pipeline, spec, startup);
        panic_hook::install();
        if loaded.config.log_cmd_output {
            // Like Python's init_logging(log_cmd_output=True); a failure
            // is a warning event, logging goes on.
            let _ = crate::command::init_command_logging();
        }
        Ok(guard)
    }
}
