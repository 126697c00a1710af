//! `reload_on_sighup = true`: on SIGHUP, read the configuration again (file,
//! values set in code, environment, as `init_logging` did) and apply its
//! filters; report every other changed setting as needing a restart.
//!
//! The signal is caught by signal-hook's handler, which only writes to a
//! pipe; a thread named `stogger-sighup` reads it and does the work. Once
//! installed (by the first configuration asking for it) the handler stays
//! for the life of the process: SIGHUP no longer ends it, and while a later
//! configuration has the key off, a SIGHUP does nothing.

use crate::config::{self, Config, ConfigValue, Origin};
use crate::dispatch;
use crate::event::{Event, Level};
use crate::filter::spec::FilterSpec;
use crate::filter::state as filters;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

/// The keys a reload applies; every other change needs a restart.
const RELOADED: [&str; 11] = [
    "log_filter",
    "console_filter",
    "file_filter",
    "journal_filter",
    "postgres_filter",
    "verbose",
    "format.min_level",
    "console_min_level",
    "file_min_level",
    "journal_min_level",
    "postgres_min_level",
];

/// What the running configuration was made from.
struct Running {
    /// Values set in code (the builder's), read again on every reload.
    code: Vec<(&'static str, ConfigValue)>,
    /// The configuration `init_logging` started the targets with.
    config: Config,
    /// Its config file's settings as written then.
    file: BTreeMap<String, toml::Value>,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// Whether the handler is installed: `Err` says why not.
static LISTENING: OnceLock<Result<(), String>> = OnceLock::new();

/// Remembers what `init_logging` started with and, when the configuration
/// asks for it, makes sure SIGHUP is listened for. A failure to install
/// the handler becomes a warning event in `notes`.
pub(crate) fn configure(
    config: &Config,
    code: &[(&'static str, ConfigValue)],
    notes: &mut Vec<Event>,
) {
    let running = Running {
        code: code.to_vec(),
        config: config.clone(),
        file: if config.reload_on_sighup {
            config::file_settings()
        } else {
            BTreeMap::new()
        },
    };
    match RUNNING.lock() {
        Ok(mut slot) => *slot = Some(running),
        Err(poisoned) => *poisoned.into_inner() = Some(running),
    }
    if !config.reload_on_sighup {
        return;
    }
    if let Err(why) = LISTENING.get_or_init(listen) {
        notes.push(
            Event::new(Level::Warning, "config-reload-unavailable")
                .with("error", why.clone())
                .with(
                    "_replace_msg",
                    "reload_on_sighup is set but SIGHUP cannot be caught: {error}",
                ),
        );
    }
}

/// Forgets the running configuration (`shutdown_logging`): a SIGHUP then
/// does nothing.
pub(crate) fn stop() {
    if let Ok(mut slot) = RUNNING.lock() {
        *slot = None;
    }
}

fn listen() -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("stogger-sighup".to_string())
        .spawn(move || {
            for _ in signals.forever() {
                reload();
            }
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// One SIGHUP.
fn reload() {
    let Ok(mut slot) = RUNNING.lock() else { return };
    let Some(running) = slot.as_mut().filter(|r| r.config.reload_on_sighup) else {
        return;
    };
    let spec = config::load(&running.code).and_then(|loaded| {
        FilterSpec::from_config(&loaded.config)
            .map(|spec| (loaded.config, spec))
            .map_err(|(key, bad)| crate::filter::invalid(key, Origin::Default, bad))
    });
    let (config, spec) = match spec {
        Ok(ok) => ok,
        Err(e) => {
            drop(slot);
            dispatch::emit(
                Event::new(Level::Warning, "config-reload-failed")
                    .with("error", e.to_string())
                    .with(
                        "_replace_msg",
                        "SIGHUP: the configuration was not reloaded, the filters in force \
                         stay: {error}",
                    ),
            );
            return;
        }
    };
    filters::update(|current| *current = spec);
    let restart = needs_restart(running, &config);
    // The filters now come from the new configuration; everything else
    // still from the one the targets were started with.
    running.config = with_filters_of(&running.config, &config);
    drop(slot);
    dispatch::emit(Event::new(Level::Info, "config-reloaded").with(
        "_replace_msg",
        "SIGHUP: the configuration's filters were reloaded",
    ));
    if !restart.is_empty() {
        dispatch::emit(
            Event::new(Level::Warning, "config-reload-needs-restart")
                .with("keys", restart.join(", "))
                .with(
                    "_replace_msg",
                    "SIGHUP: changed settings apply only after a restart: {keys}",
                ),
        );
    }
}

/// The settings other than filters that differ between what runs and `new`.
fn needs_restart(running: &Running, new: &Config) -> Vec<String> {
    if with_filters_of(&running.config, new) == *new {
        return Vec::new();
    }
    let now = config::file_settings();
    let keys: BTreeSet<&String> = running.file.keys().chain(now.keys()).collect();
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|k| !RELOADED.contains(&k.as_str()) && config::KEYS.iter().any(|i| i.name == **k))
        .filter(|k| running.file.get(*k) != now.get(*k))
        .cloned()
        .collect();
    if changed.is_empty() {
        // Changed elsewhere than in the file (the environment of the process).
        vec!["settings other than the filters".to_string()]
    } else {
        changed
    }
}

/// `base` with the reloadable settings of `from`.
fn with_filters_of(base: &Config, from: &Config) -> Config {
    Config {
        log_filter: from.log_filter.clone(),
        console_filter: from.console_filter.clone(),
        file_filter: from.file_filter.clone(),
        journal_filter: from.journal_filter.clone(),
        postgres_filter: from.postgres_filter.clone(),
        verbose: from.verbose,
        console_min_level: from.console_min_level,
        file_min_level: from.file_min_level,
        journal_min_level: from.journal_min_level,
        postgres_min_level: from.postgres_min_level,
        format: config::FormatConfig {
            min_level: from.format.min_level,
            ..base.format.clone()
        },
        ..base.clone()
    }
}
