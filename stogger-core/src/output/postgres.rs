//! The PostgreSQL target: events rendered into rows by
//! [`crate::render::row::RowRenderer`] and handed to the plugin's writer
//! through its C ABI (see [`crate::plugin`] and `docs/plugin-abi.md`).
//!
//! What happens at startup:
//!
//! | condition | behaviour |
//! |---|---|
//! | `enable_postgres = false` | nothing is searched or loaded |
//! | plugin not found | one info event `stogger-postgres-not-available` per process (`searched`, `fix`) |
//! | plugin of another ABI version / not loadable | a warning event `stogger-postgres-abi-mismatch` / `stogger-postgres-load-failed` |
//! | `postgres_dsn` missing | a warning event `postgres-dsn-missing` naming the key |
//! | `%PASSWORD%` without `STOGGER_POSTGRES_PASSWORD` | a warning event `postgres-password-missing`; the placeholder becomes an empty password |
//! | first connection fails | a `stogger: postgres: cannot connect at startup: ...` line on stderr with the reason (from the writer's thread: `init_logging()` never waits for the database); the target stays and the writer retries in the background |
//! | the plugin refuses the configuration | a `stogger: postgres: ...` line; no target |
//!
//! The other targets are never affected. The password never appears in
//! anything stogger prints: the plugin redacts it, and every message coming
//! from the plugin is scrubbed of it once more here.

use crate::assembly::StartupLog;
use crate::config::{Config, PgSettings};
use crate::delivery::{self, Failures, NotStarted};
use crate::dispatch;
use crate::event::{Event, Level};
use crate::fork::PerProcess;
use crate::plugin::{self, Handle, Opened, Plugin, PluginStatus};
use crate::render::row::{Row, RowRenderer};
use crate::target::{self, Logger, Output, Outputs, Renderer, Target};
use crate::warn;
use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Duration;
use stogger_pg_proto::abi::{StoggerPgReport, StoggerPgRow};
use stogger_pg_proto::dsn::{ParsedDsn, Redactor, PASSWORD_ENV, PASSWORD_PLACEHOLDER};

/// Name of the target in warnings.
const NAME: &str = "postgres";

/// Set once `stogger-postgres-not-available` was logged in this process.
static NOT_AVAILABLE_REPORTED: AtomicBool = AtomicBool::new(false);

/// Builds the PostgreSQL target when `enable_postgres` is on and the plugin is found.
pub(crate) fn build(cfg: &Config, startup: &mut StartupLog) -> Option<Box<dyn Target>> {
    if !cfg.enable_postgres {
        return None;
    }
    let env = |name: &str| std::env::var(name).ok();
    let plugin = plugin::load(cfg);
    let request = prepare(cfg, startup, plugin, &env, &NOT_AVAILABLE_REPORTED)?;
    start(cfg, request)
}

/// What the writer is started with: the plugin and the settings.
struct OpenRequest {
    plugin: &'static Plugin,
    settings: PgSettings,
}

/// Turns a discovery result and the configuration into notes, or into what
/// the writer is started with.
fn prepare(
    cfg: &Config,
    startup: &mut StartupLog,
    plugin: Result<&'static Plugin, PluginStatus>,
    env: &dyn Fn(&str) -> Option<String>,
    not_available_reported: &AtomicBool,
) -> Option<OpenRequest> {
    let plugin = match plugin {
        Ok(p) => Some(p),
        Err(status) => {
            match unavailable_note(&status, not_available_reported) {
                Some(note) => startup.failed(Output::Postgres, note),
                // A missing plugin is logged once per process; the output
                // still did not start.
                None => startup.not_started.push(NotStarted {
                    output: Output::Postgres,
                    event: "stogger-postgres-not-available".to_string(),
                }),
            }
            None
        }
    };
    let Some(dsn) = cfg.postgres_dsn.as_deref().filter(|d| !d.trim().is_empty()) else {
        startup.failed(
            Output::Postgres,
            Event::new(Level::Warning, "postgres-dsn-missing")
                .with("key", "postgres_dsn")
                .with(
                    "_replace_msg",
                    "enable_postgres is on but {key} is not set; PostgreSQL logging is off",
                ),
        );
        return None;
    };
    let plugin = plugin?;
    let password = if dsn.contains(PASSWORD_PLACEHOLDER) {
        env(PASSWORD_ENV).unwrap_or_else(|| {
            startup.events.push(
                Event::new(Level::Warning, "postgres-password-missing")
                    .with("variable", PASSWORD_ENV)
                    .with(
                        "_replace_msg",
                        "postgres_dsn contains %PASSWORD% but {variable} is not set; \
                         connecting with an empty password",
                    ),
            );
            String::new()
        })
    } else {
        String::new()
    };
    add_secret(&password);
    let settings = cfg.postgres_settings(&password)?;
    if let Some(password) = ParsedDsn::parse(&settings.dsn, &[])
        .ok()
        .as_ref()
        .and_then(ParsedDsn::password)
    {
        add_secret(password);
    }
    Some(OpenRequest { plugin, settings })
}

/// The note for a plugin that cannot be used (`None` when it was already given).
fn unavailable_note(status: &PluginStatus, not_available_reported: &AtomicBool) -> Option<Event> {
    let file = plugin::library_file_name().to_string_lossy().into_owned();
    match status {
        PluginStatus::NotFound { searched } => {
            if not_available_reported.swap(true, Ordering::Relaxed) {
                return None;
            }
            let fix = format!(
                "enable stogger-core's `postgres` feature, or put {file} in one of the searched \
                 places, or set STOGGER_PLUGIN_DIR to its directory (or postgres_plugin to the file)"
            );
            Some(
                Event::new(Level::Info, "stogger-postgres-not-available")
                    .with("searched", plugin::describe_searched(searched))
                    .with("fix", fix)
                    .with("file", file)
                    .with(
                        "_replace_msg",
                        "stogger-postgres not available, PostgreSQL logging is off: {file} \
                         not found (searched: {searched}); to fix: {fix}",
                    ),
            )
        }
        PluginStatus::AbiMismatch {
            path,
            found,
            expected,
        } => Some(
            Event::new(Level::Warning, "stogger-postgres-abi-mismatch")
                .with("path", path.display().to_string())
                .with("found", *found)
                .with("expected", *expected)
                .with(
                    "fix",
                    format!(
                        "replace {file} with the one from the same stogger release as this \
                         service (plugin ABI version {expected}), or build the service with \
                         stogger-core's `postgres` feature"
                    ),
                )
                .with(
                    "_replace_msg",
                    "{path} has plugin ABI version {found}, this stogger needs version \
                     {expected}; PostgreSQL logging is off; to fix: {fix}",
                ),
        ),
        PluginStatus::LoadError { path, error } => Some(
            Event::path_failure("stogger-postgres-load-failed", "path", path, error).with(
                "_replace_msg",
                "cannot load the PostgreSQL plugin {path}: {error}; PostgreSQL logging is off",
            ),
        ),
        PluginStatus::Static | PluginStatus::Loaded { .. } => None,
    }
}

/// Starts the writer; `None` when the plugin refuses the configuration.
fn start(cfg: &Config, request: OpenRequest) -> Option<Box<dyn Target>> {
    let OpenRequest { plugin, settings } = request;
    // Never waits for the database: the writer connects in the background
    // and a failure ("cannot connect at startup: ...") comes as a warning.
    let handle = match plugin.open(settings.to_json().as_bytes(), forward_warning) {
        Opened::Started(handle) => handle,
        Opened::Failed(code, reason) => {
            warn::warn(&format!(
                "postgres: PostgreSQL logging is off: {} (code {code})",
                scrub(&reason)
            ));
            return None;
        }
    };
    Some(Box::new(PostgresTarget {
        renderer: RowRenderer::new(),
        logger: PgLogger {
            plugin,
            handle: RwLock::new(Some(handle)),
            timeout_ms: cfg.postgres_shutdown_timeout_ms,
        },
    }))
}

thread_local! {
    /// The row each thread renders into, so the hot path reuses its buffers.
    static SCRATCH: RefCell<Row> = RefCell::new(Row::default());
}

/// Rows above this size are not kept in a thread's scratch row afterwards.
const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

/// The row renderer and the plugin's writer, as one target.
struct PostgresTarget {
    renderer: RowRenderer,
    logger: PgLogger,
}

impl PostgresTarget {
    /// Hands the row to the writer. An event that arrives after this target
    /// was closed (its pipeline was replaced while the event was on its
    /// way) goes to the current pipeline's PostgreSQL target instead; when
    /// there is none, it is counted and reported as lost.
    fn write(&self, row: &Row, event: &Event) -> Failures {
        match self.logger.offer(row) {
            Some(failures) => failures,
            None => dispatch::redeliver(self, event)
                .unwrap_or_else(|| warn::target_failed(NAME, "write", &target::closed_error())),
        }
    }
}

impl Target for PostgresTarget {
    fn name(&self) -> &str {
        NAME
    }

    fn outputs(&self) -> Outputs {
        Output::Postgres.into()
    }

    fn handle(&self, event: &Event, to: Outputs) -> Failures {
        if !to.contains(Output::Postgres) {
            return Failures::NONE;
        }
        let reused = SCRATCH.try_with(|cell| {
            let Ok(mut row) = cell.try_borrow_mut() else {
                return None;
            };
            self.renderer.render_into(event, &mut row);
            let failures = self.write(&row, event);
            if row.data.capacity() > SCRATCH_KEEP_BYTES {
                *row = Row::default();
            }
            Some(failures)
        });
        match reused {
            Ok(Some(failures)) => failures,
            _ => self.write(&self.renderer.render(event), event),
        }
    }

    fn flush(&self) -> Failures {
        match self.logger.flush() {
            Ok(()) => Failures::NONE,
            Err(err) => warn::target_failed(NAME, "flush", &err),
        }
    }

    /// After a panic: rows not committed within `timeout` stay queued (the
    /// writer goes on, and the shutdown drains or reports them), so running
    /// out of time is no failure here; any other result is reported.
    fn flush_within(&self, timeout: Duration) -> Failures {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        match self.logger.flush_for(ms) {
            Err(err) if err.kind() != io::ErrorKind::TimedOut => {
                warn::target_failed(NAME, "flush", &err)
            }
            _ => Failures::NONE,
        }
    }

    fn close(&self) -> Failures {
        match self.logger.close() {
            Ok(None) => Failures::NONE,
            Ok(Some(note)) => warn::target_lost(NAME, &note),
            Err(err) => warn::target_failed(NAME, "close", &err),
        }
    }
}

/// Passes rows to the plugin's writer.
pub(crate) struct PgLogger {
    plugin: &'static Plugin,
    /// `None` once closed; writes hold the read lock so a close never frees
    /// the handle under a concurrent write.
    handle: RwLock<Option<Handle>>,
    timeout_ms: u64,
}

impl std::fmt::Debug for PgLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLogger")
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

fn ffi_row(row: &Row) -> StoggerPgRow {
    let opt = |s: &Option<String>| match s {
        Some(s) => (s.as_ptr(), s.len()),
        None => (std::ptr::null(), 0),
    };
    let (func_ptr, func_len) = opt(&row.func);
    let (scope_ptr, scope_len) = opt(&row.scope);
    StoggerPgRow {
        ts_micros: row.ts_micros,
        level_ptr: row.level.as_ptr(),
        level_len: row.level.len(),
        event_ptr: row.event.as_ptr(),
        event_len: row.event.len(),
        func_ptr,
        func_len,
        scope_ptr,
        scope_len,
        data_ptr: row.data.as_ptr(),
        data_len: row.data.len(),
    }
}

impl PgLogger {
    /// Waits at most `timeout_ms` for the queue to drain, with every result
    /// code of `stogger_pg_flush` turned into what it means.
    fn flush_for(&self, timeout_ms: u64) -> io::Result<()> {
        let guard = self.handle.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(handle) => flush_result(self.plugin.flush(handle, timeout_ms), timeout_ms),
            None => Ok(()), // closed: nothing left to flush
        }
    }
}

/// What a `stogger_pg_flush` result code means (`docs/plugin-abi.md`).
fn flush_result(code: i32, timeout_ms: u64) -> io::Result<()> {
    match code {
        0 => Ok(()),
        1 => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("events still queued after {timeout_ms} ms (is the database reachable?)"),
        )),
        -1 => Err(io::Error::other(
            "the plugin refused the writer handle (code -1)",
        )),
        -2 => Err(io::Error::other(
            "database error while flushing (code -2); the events stay queued",
        )),
        -3 => Err(io::Error::other(
            "the plugin panicked while flushing (code -3); whether the queued events were \
             written is unknown",
        )),
        code => Err(io::Error::other(format!(
            "unknown result {code} from stogger_pg_flush; whether the queued events were \
             written is unknown"
        ))),
    }
}

/// The note for the user from `stogger_pg_close`'s code and report:
/// `None` only when the plugin says everything was delivered and nothing
/// was dropped. `queued` is the queue length just before closing, for when
/// the report is missing.
fn close_note(code: i32, report: &StoggerPgReport, queued: Option<u64>) -> Option<String> {
    let up_to = match queued {
        Some(n) => format!("up to {n} queued events"),
        None => "the queued events".to_string(),
    };
    match code {
        0 => undelivered_note(report),
        1 => Some(undelivered_note(report).unwrap_or_else(|| {
            format!(
                "events not delivered ({up_to}; the close deadline passed but the plugin's \
                 report counts none)"
            )
        })),
        -3 => Some(format!(
            "closing the writer panicked (code -3): whether {up_to} were written is unknown"
        )),
        code => Some(format!(
            "closing the writer failed with code {code}: whether {up_to} were written is unknown"
        )),
    }
}

impl PgLogger {
    /// Passes one row to the writer; `None` when the logger is closed.
    fn offer(&self, row: &Row) -> Option<Failures> {
        let guard = self.handle.read().unwrap_or_else(|p| p.into_inner());
        let handle = guard.as_ref()?;
        // Batch mode: a short count means a full queue; sync mode: < 0
        // is a failed write. The plugin counts both and warns itself.
        let accepted = self.plugin.write(handle, &[ffi_row(row)]);
        // Reported by the plugin; counted here for the guard's report.
        Some(if accepted < 1 {
            Failures::ONE
        } else {
            Failures::NONE
        })
    }
}

impl Logger<Row> for PgLogger {
    fn write(&self, row: &Row, _event: &Event) -> io::Result<()> {
        match self.offer(row) {
            Some(Failures::NONE) => Ok(()),
            Some(_) => Err(io::Error::other(
                "the writer did not take the row (the plugin said why)",
            )),
            None => Err(target::closed_error()),
        }
    }

    fn flush(&self) -> io::Result<()> {
        self.flush_for(self.timeout_ms)
    }

    fn close(&self) -> io::Result<Option<String>> {
        let handle = {
            let mut guard = self.handle.write().unwrap_or_else(|p| p.into_inner());
            guard.take()
        };
        let Some(handle) = handle else {
            return Ok(None);
        };
        // For the note when the close goes wrong and reports nothing.
        let queued = self.plugin.stats(&handle).map(|stats| stats.queued);
        let (code, report) = self.plugin.close(handle, self.timeout_ms);
        Ok(close_note(code, &report, queued))
    }
}

impl Drop for PgLogger {
    fn drop(&mut self) {
        // The dispatcher closes every target it replaces; this only matters
        // for a logger dropped some other way.
        if let Ok(Some(note)) = Logger::close(self) {
            delivery::count_in_process(warn::target_lost(NAME, &note));
        }
    }
}

/// "N events not delivered (...)" from `stogger_pg_close`'s report, when
/// anything accepted by the target did not reach the table: still queued at
/// the shutdown deadline (`undelivered`), or dropped earlier (queue full,
/// rejected by the database, database unreachable in sync mode).
fn undelivered_note(report: &StoggerPgReport) -> Option<String> {
    let total = report.not_delivered();
    if total == 0 {
        return None;
    }
    let parts = [
        (report.undelivered, "still queued at the shutdown deadline"),
        (
            report.dropped_queue_full,
            "dropped because the queue was full",
        ),
        (
            report.dropped_spool_full,
            "dropped because the spool was full",
        ),
        (report.dropped_rejected, "rejected by the database"),
        (
            report.dropped_unavailable,
            "dropped while the database was unreachable",
        ),
    ];
    let mut why: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if report.uncertain > 0 {
        why.push(format!(
            "{} more with an unknown outcome after a lost connection",
            report.uncertain
        ));
    }
    Some(format!("{total} events not delivered ({})", why.join(", ")))
}

/// The plugin's diagnostics, forwarded as `stogger: postgres: ...` lines.
/// The plugin rate-limits them per kind (the ABI's contract, with the one
/// limiter of `stogger_pg_proto::limiter`), so they are not limited again.
/// May be called from the plugin's threads.
extern "C" fn forward_warning(_kind: *const u8, _kind_len: usize, msg: *const u8, msg_len: usize) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the plugin passes a valid buffer for the call.
        let msg = unsafe { text_from(msg, msg_len) };
        warn::warn(&format!("postgres: {}", scrub(&msg)));
    });
}

/// # Safety
/// `ptr` must be null or point to `len` readable bytes.
unsafe fn text_from(ptr: *const u8, len: usize) -> String {
    if ptr.is_null() || len == 0 {
        return String::new();
    }
    String::from_utf8_lossy(std::slice::from_raw_parts(ptr, len)).into_owned()
}

/// Passwords stogger knows of; scrubbed from every message the plugin sends.
/// Per process: a forked child starts with none (a lock a parent's thread
/// held at fork would never be released) and learns its own on
/// `init_logging()`.
static SECRETS: PerProcess<RwLock<Redactor>> = PerProcess::new(|| RwLock::new(Redactor::new()));

fn add_secret(secret: &str) {
    let mut secrets = SECRETS.get().write().unwrap_or_else(|p| p.into_inner());
    secrets.add_password(secret);
}

/// Replaces every known password in `message` by `***`.
fn scrub(message: &str) -> String {
    let secrets = SECRETS.get().read().unwrap_or_else(|p| p.into_inner());
    secrets.apply(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cfg() -> Config {
        Config {
            enable_postgres: true,
            postgres_dsn: Some("postgresql://stogger:%PASSWORD%@db/logs".into()),
            ..Config::default()
        }
    }

    fn not_found() -> PluginStatus {
        PluginStatus::NotFound {
            searched: vec![
                PathBuf::from("/plugins/libstogger_postgres.so"),
                PathBuf::from("libstogger_postgres.so"),
            ],
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn disabled_postgres_builds_nothing_and_says_nothing() {
        let mut startup = StartupLog::default();
        let cfg = Config {
            enable_postgres: false,
            ..cfg()
        };
        assert!(build(&cfg, &mut startup).is_none());
        assert!(startup.events.is_empty());
    }

    #[test]
    fn missing_plugin_is_one_info_event_per_process() {
        let reported = AtomicBool::new(false);
        let mut startup = StartupLog::default();
        assert!(prepare(&cfg(), &mut startup, Err(not_found()), &no_env, &reported).is_none());
        assert!(prepare(&cfg(), &mut startup, Err(not_found()), &no_env, &reported).is_none());
        // Logged once, but not started both times.
        let not_started: Vec<&str> = startup
            .not_started
            .iter()
            .map(|n| n.event.as_str())
            .collect();
        assert_eq!(
            not_started,
            [
                "stogger-postgres-not-available",
                "stogger-postgres-not-available"
            ]
        );
        let notes = startup.events;
        assert_eq!(notes.len(), 1, "{notes:?}");
        let note = &notes[0];
        assert_eq!(note.name, "stogger-postgres-not-available");
        assert_eq!(note.level, Level::Info);
        let searched = note.get("searched").and_then(|v| v.as_str()).unwrap();
        assert!(
            searched.contains("/plugins/libstogger_postgres.so"),
            "{searched}"
        );
        assert!(searched.contains("LD_LIBRARY_PATH"), "{searched}");
        let fix = note.get("fix").and_then(|v| v.as_str()).unwrap();
        assert!(fix.contains("`postgres` feature") && fix.contains("STOGGER_PLUGIN_DIR"));
        assert!(note.template().is_some());
    }

    #[test]
    fn abi_mismatch_is_a_warning_naming_both_versions_and_the_file() {
        let mut startup = StartupLog::default();
        let status = PluginStatus::AbiMismatch {
            path: "/p/libstogger_postgres.so".into(),
            found: 999,
            expected: 1,
        };
        prepare(
            &cfg(),
            &mut startup,
            Err(status),
            &no_env,
            &AtomicBool::new(false),
        );
        let notes = startup.events;
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].level, Level::Warning);
        assert_eq!(notes[0].name, "stogger-postgres-abi-mismatch");
        assert_eq!(notes[0].get("found"), Some(&999u32.into()));
        assert_eq!(notes[0].get("expected"), Some(&1u32.into()));
        assert_eq!(
            notes[0].get("path"),
            Some(&"/p/libstogger_postgres.so".into())
        );
        let fix = notes[0].get("fix").and_then(|v| v.as_str()).unwrap();
        assert!(
            fix.contains("same stogger release") && fix.contains("version 1"),
            "{fix}"
        );
    }

    #[test]
    fn missing_dsn_is_one_warning_naming_the_key() {
        for dsn in [None, Some("  ".to_string())] {
            let mut startup = StartupLog::default();
            let cfg = Config {
                postgres_dsn: dsn.map(Into::into),
                ..cfg()
            };
            let reported = AtomicBool::new(true);
            assert!(prepare(&cfg, &mut startup, Err(not_found()), &no_env, &reported).is_none());
            let notes = startup.events;
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert_eq!(notes[0].name, "postgres-dsn-missing");
            assert_eq!(notes[0].level, Level::Warning);
            assert_eq!(notes[0].get("key"), Some(&"postgres_dsn".into()));
        }
    }

    #[test]
    fn plugin_messages_never_carry_a_known_password() {
        add_secret("hunter2-scrub-test");
        add_secret("p@ss-scrub");
        let msg = scrub(
            "password authentication failed for hunter2-scrub-test and postgresql://u:p%40ss-scrub@h",
        );
        assert!(!msg.contains("hunter2-scrub-test"), "{msg}");
        assert!(!msg.contains("p%40ss-scrub"), "{msg}");
        assert!(msg.contains("***"));
    }

    #[test]
    fn every_flush_code_means_something() {
        assert!(flush_result(0, 100).is_ok());
        let timed_out = flush_result(1, 100).unwrap_err();
        assert_eq!(timed_out.kind(), io::ErrorKind::TimedOut);
        assert!(timed_out.to_string().contains("100 ms"), "{timed_out}");
        for code in [-1, -2, -3, 2, 42] {
            let err = flush_result(code, 100).unwrap_err();
            assert_ne!(err.kind(), io::ErrorKind::TimedOut, "{code}");
        }
        assert!(flush_result(-3, 1)
            .unwrap_err()
            .to_string()
            .contains("unknown"));
        assert!(flush_result(7, 1)
            .unwrap_err()
            .to_string()
            .contains("unknown"));
    }

    #[test]
    fn a_close_that_ends_badly_is_reported_as_unknown_never_as_nothing() {
        let clean = StoggerPgReport {
            delivered: 5,
            ..StoggerPgReport::default()
        };
        assert_eq!(close_note(0, &clean, Some(0)), None);
        assert!(close_note(1, &clean, Some(3))
            .unwrap()
            .contains("report counts none"));
        let panicked = close_note(-3, &StoggerPgReport::default(), Some(12)).unwrap();
        assert!(
            panicked.contains("panicked")
                && panicked.contains("up to 12")
                && panicked.contains("unknown"),
            "{panicked}"
        );
        let odd = close_note(9, &StoggerPgReport::default(), None).unwrap();
        assert!(odd.contains("code 9") && odd.contains("unknown"), "{odd}");
        let late = StoggerPgReport {
            undelivered: 2,
            queued: 2,
            ..StoggerPgReport::default()
        };
        assert_eq!(
            close_note(1, &late, Some(2)).as_deref(),
            Some("2 events not delivered (2 still queued at the shutdown deadline)")
        );
    }

    #[test]
    fn close_report_gives_the_undelivered_count() {
        let report =
            |undelivered, dropped_queue_full, dropped_rejected, uncertain| StoggerPgReport {
                undelivered,
                dropped_queue_full,
                dropped_rejected,
                uncertain,
                queued: undelivered,
                delivered: 5,
                ..StoggerPgReport::default()
            };
        assert_eq!(
            undelivered_note(&report(10, 2, 0, 0)).as_deref(),
            Some(
                "12 events not delivered (10 still queued at the shutdown deadline, \
                 2 dropped because the queue was full)"
            )
        );
        assert_eq!(
            undelivered_note(&report(0, 0, 1, 3)).as_deref(),
            Some(
                "1 events not delivered (1 rejected by the database, \
                 3 more with an unknown outcome after a lost connection)"
            )
        );
        assert_eq!(undelivered_note(&report(0, 0, 0, 0)), None);
    }
}
