//! Configuration: the effective settings and where each came from.
//!
//! Sources, lowest to highest precedence: defaults < config file < values set
//! in code ([`crate::Builder`]) < environment `STOGGER_<KEY>`. The config file is
//! `STOGGER_CONFIG` (a path) or the first found in the working directory of
//! `stogger.toml` (top-level keys), `Cargo.toml` `[package.metadata.stogger]`,
//! `pyproject.toml` `[tool.stogger]`.

mod keys;
mod load;
mod postgres;
mod value;

pub use crate::filter::FilterInForce;
pub use keys::syslog_facility_code;
pub(crate) use load::file_settings;
pub(crate) use load::show as shown_value;
pub use load::{load, load_from, load_from_vars, ConfigError, KeyInfo, Loaded, Origin, KEYS};
pub use postgres::{Dsn, PgSettings};
pub use value::ConfigValue;

use crate::event::Level;
use std::path::PathBuf;

/// Output format of the file target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// The console line without colours.
    Simple,
    /// One JSON object per line.
    Json,
}

/// Whether and how the systemd journal target is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemdMode {
    /// Use the journal when its socket exists; skip silently otherwise.
    Auto,
    /// `init_logging()` fails when the socket is missing.
    Required,
    /// Never try.
    Off,
}

/// File rotation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The file grows without bound.
    None,
    /// Rotate when the next write would pass `log_max_bytes`.
    Size,
}

/// How timestamps are shown on console and file lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampPrecision {
    /// `2026-06-01T17:19:01.123456Z` (microseconds).
    Iso,
    /// `2026-06-01T17:19:01Z` (the default).
    IsoSeconds,
    /// `2026-06-01T17:19:01` (seconds, no zone letter, as Python stogger).
    IsoNoZ,
    /// Seconds since logging started: `+12.345s`.
    Relative,
}

/// How the PostgreSQL target writes: batch (bounded queue, background
/// COPY; the default) or sync (one durable write per event before the log
/// call returns).
pub use stogger_pg_proto::WriteMode;

/// Time partitions of the PostgreSQL table (`postgres_partitioning`), who
/// manages them (`postgres_partition_manager`), and the GIN index's
/// operator class (`postgres_gin_opclass`): the contract's types.
pub use stogger_pg_proto::{GinOpclass, PartitionManager, Partitioning};

/// The `[format]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatConfig {
    /// Timestamp form on console and file lines.
    pub timestamp_precision: TimestampPrecision,
    /// Least severe level logged when `verbose` is off.
    pub min_level: Level,
    /// Append the code location (`file:line`) to console and file lines.
    pub show_code_info: bool,
    /// Width the event name is padded to.
    pub pad_event_width: usize,
}

/// Every setting stogger reads. Field names are the config keys. `Debug`
/// never shows the DSN's password.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Log debug events too.
    pub verbose: bool,
    /// Filter directives (`RUST_LOG` syntax) for every output without its
    /// own; `RUST_LOG` when no source sets the key. `None`: the level
    /// shorthands alone.
    pub log_filter: Option<String>,
    /// Directory of the log file.
    pub logdir: PathBuf,
    /// Write to stderr.
    pub log_to_console: bool,
    /// Write `{logdir}/{syslog_identifier}.log`.
    pub log_to_file: bool,
    /// Name of the service: file name, journal identifier.
    pub syslog_identifier: String,
    /// Show `func='<module>::<function>'` in the key=value body.
    pub show_caller_info: bool,
    /// Format of the file target.
    pub log_format: LogFormat,
    /// Journal mode.
    pub systemd: SystemdMode,
    /// syslog facility name for the journal (`LOG_LOCAL0`).
    pub systemd_facility: String,
    /// Path of the journal's native socket.
    pub journal_socket: PathBuf,
    /// Register the PostgreSQL target.
    pub enable_postgres: bool,
    /// Connection string; `%PASSWORD%` is replaced by `STOGGER_POSTGRES_PASSWORD`.
    /// Its `Debug` masks the password.
    pub postgres_dsn: Option<Dsn>,
    /// Table name (optionally `schema.table`).
    pub postgres_table: String,
    /// Explicit path of `libstogger_postgres.so`.
    pub postgres_plugin: Option<PathBuf>,
    /// Batch or sync.
    pub postgres_write_mode: WriteMode,
    /// Events held in memory at most while the database is slow or away.
    pub postgres_queue_capacity: usize,
    /// Bytes of event text held in memory at most (with the capacity,
    /// whichever is reached first drops).
    pub postgres_queue_max_bytes: u64,
    /// Rows per COPY.
    pub postgres_batch_size: usize,
    /// Longest time an event waits in the queue before a flush.
    pub postgres_flush_interval_ms: u64,
    /// How long dropping the guard waits for the queue to drain.
    pub postgres_shutdown_timeout_ms: u64,
    /// How long the panic hook waits for slow targets after logging a panic.
    pub panic_flush_timeout_ms: u64,
    /// Connect timeout.
    pub postgres_connect_timeout_ms: u64,
    /// Bound of one write and of every statement (and of the wait for a
    /// lost COMMIT).
    pub postgres_write_timeout_ms: u64,
    /// Directory of the disk spool; `None`: no spool.
    pub postgres_spool_dir: Option<PathBuf>,
    /// Bytes of spool files at most.
    pub postgres_spool_max_bytes: u64,
    /// Sync mode: connections a process writes through at most.
    pub postgres_sync_pool_size: usize,
    /// Sync mode: prepare the INSERT once per pooled connection (not
    /// through pgbouncer's transaction pooling without prepared-statement
    /// support).
    pub postgres_prepared_statements: bool,
    /// Plain table, or time partitions of this width.
    pub postgres_partitioning: Partitioning,
    /// Partitions kept ready ahead of the current one.
    pub postgres_partition_premake: u32,
    /// Partitions entirely older than this many days are dropped; 0 keeps all.
    pub postgres_retention_days: u32,
    /// A DEFAULT partition catches rows outside every time partition.
    pub postgres_default_partition: bool,
    /// Who creates and drops partitions: stogger's writer, or someone else.
    pub postgres_partition_manager: PartitionManager,
    /// How often the partition maintenance runs (it also runs at start).
    pub postgres_maintenance_interval_ms: u64,
    /// The GIN index on `data` of a table stogger creates.
    pub postgres_gin_opclass: GinOpclass,
    /// File rotation.
    pub log_rotation: Rotation,
    /// Size limit of the log file with `log_rotation = "size"`.
    pub log_max_bytes: u64,
    /// Rotated files kept (`.1` newest); 0 disables rotation.
    pub log_backup_count: u32,
    /// Permission bits of a log file stogger creates (`0o640`); the
    /// process umask still applies. An existing file keeps its mode.
    pub log_file_mode: u32,
    /// Directory of the translation files `{language}.toml`.
    pub translation_dir: Option<PathBuf>,
    /// The translation file to use; `None` is `en` (Python stogger's default).
    pub language: Option<String>,
    /// Open `{logdir}/build-output.log` for command output at start
    /// (see [`crate::command::init_command_logging`]).
    pub log_cmd_output: bool,
    /// [`crate::exception`] adds a backtrace of the log call.
    pub capture_backtrace: bool,
    /// Level of the console target; `None`: the global level.
    pub console_min_level: Option<Level>,
    /// Level of the file target; `None`: the global level.
    pub file_min_level: Option<Level>,
    /// Level of the journal target; `None`: the global level.
    pub journal_min_level: Option<Level>,
    /// Level of the PostgreSQL target; `None`: the global level.
    pub postgres_min_level: Option<Level>,
    /// The console's own filter directives.
    pub console_filter: Option<String>,
    /// The file's own filter directives.
    pub file_filter: Option<String>,
    /// The journal's own filter directives.
    pub journal_filter: Option<String>,
    /// The PostgreSQL target's own filter directives.
    pub postgres_filter: Option<String>,
    /// Re-read the configuration's filters on SIGHUP.
    pub reload_on_sighup: bool,
    /// Console/file line format.
    pub format: FormatConfig,
}

impl Config {
    /// The global level: `format.min_level`, or debug with `verbose` when
    /// that is more verbose. The default of every filter without a bare level.
    pub fn effective_min_level(&self) -> Level {
        if self.verbose {
            self.format.min_level.min(Level::Debug)
        } else {
            self.format.min_level
        }
    }

    /// A target's level shorthand: its own `<target>_min_level` when set,
    /// else the global one. The filter an output uses may say more
    /// (`log_filter`, `<output>_filter`): see [`Loaded::filters`].
    pub fn target_level(&self, own: Option<Level>) -> Level {
        own.unwrap_or_else(|| self.effective_min_level())
    }

    /// `panic_flush_timeout_ms` as a duration.
    pub(crate) fn panic_flush_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.panic_flush_timeout_ms)
    }
}

impl Default for Config {
    fn default() -> Self {
        // The PostgreSQL writer's defaults are the contract's.
        let pg = PgSettings::new(String::new());
        Config {
            verbose: false,
            log_filter: None,
            logdir: PathBuf::from("logs"),
            log_to_console: true,
            log_to_file: true,
            syslog_identifier: default_identifier(),
            show_caller_info: false,
            log_format: LogFormat::Simple,
            systemd: SystemdMode::Auto,
            systemd_facility: "LOG_LOCAL0".to_string(),
            journal_socket: PathBuf::from("/run/systemd/journal/socket"),
            enable_postgres: false,
            postgres_dsn: None,
            postgres_table: pg.table,
            postgres_plugin: None,
            postgres_write_mode: pg.write_mode,
            postgres_queue_capacity: pg.queue_capacity,
            postgres_queue_max_bytes: pg.queue_max_bytes,
            postgres_batch_size: pg.batch_size,
            postgres_flush_interval_ms: postgres::millis(pg.flush_interval),
            postgres_shutdown_timeout_ms: postgres::millis(pg.shutdown_timeout),
            panic_flush_timeout_ms: 100,
            postgres_connect_timeout_ms: postgres::millis(pg.connect_timeout),
            postgres_write_timeout_ms: postgres::millis(pg.write_timeout),
            postgres_spool_dir: None,
            postgres_spool_max_bytes: pg.spool_max_bytes,
            postgres_sync_pool_size: pg.sync_pool_size,
            postgres_prepared_statements: pg.prepared_statements,
            postgres_partitioning: pg.partitioning,
            postgres_partition_premake: pg.partition_premake,
            postgres_retention_days: pg.retention_days,
            postgres_default_partition: pg.default_partition,
            postgres_partition_manager: pg.partition_manager,
            postgres_maintenance_interval_ms: postgres::millis(pg.maintenance_interval),
            postgres_gin_opclass: pg.gin_opclass,
            log_rotation: Rotation::None,
            log_max_bytes: 10_000_000,
            log_backup_count: 5,
            log_file_mode: crate::output::file::DEFAULT_FILE_MODE,
            translation_dir: None,
            language: None,
            log_cmd_output: false,
            capture_backtrace: false,
            console_min_level: None,
            file_min_level: None,
            journal_min_level: None,
            postgres_min_level: None,
            console_filter: None,
            file_filter: None,
            journal_filter: None,
            postgres_filter: None,
            reload_on_sighup: false,
            format: FormatConfig {
                timestamp_precision: TimestampPrecision::IsoSeconds,
                min_level: Level::Info,
                show_code_info: false,
                pad_event_width: 30,
            },
        }
    }
}

/// The executable's file name without extension, or `stogger`.
pub(crate) fn default_identifier() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "stogger".to_string())
}
