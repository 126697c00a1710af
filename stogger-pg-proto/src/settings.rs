//! The settings of the PostgreSQL writer: one typed struct,
//! [`PgSettings`], and one table of its keys, [`SETTINGS`].
//!
//! Each key is defined once, in its [`Setting`]: its name (in the JSON
//! object `stogger_pg_open` takes, and as a stogger configuration key), its
//! default, what is allowed, and what it does. Everything else is derived
//! from that entry: the defaults of [`PgSettings::new`], the checks of
//! [`PgSettings::validate`], the JSON written by [`PgSettings::to_json`] and
//! read by [`PgSettings::from_json`], and stogger-core's checks and
//! reference text for its `postgres_*` keys. Adding a key is adding a field
//! and one entry.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::dsn::{redact, Dsn, ParsedDsn};

/// How rows reach the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Rows are queued and written by a background task with binary COPY
    /// (the default).
    Batch,
    /// Every write is one committed INSERT before the call returns.
    Sync,
}

impl WriteMode {
    /// Every mode, in the order of the reference.
    pub const ALL: [WriteMode; 2] = [WriteMode::Batch, WriteMode::Sync];

    /// The name as written in configuration (`batch`, `sync`).
    pub const fn as_str(self) -> &'static str {
        match self {
            WriteMode::Batch => "batch",
            WriteMode::Sync => "sync",
        }
    }

    /// The mode named `name` (exactly as [`WriteMode::as_str`] writes it).
    pub fn parse(name: &str) -> Option<WriteMode> {
        WriteMode::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// Declares a configuration enum: its variants with their names, `ALL`,
/// `as_str` and `parse` (the names are the configuration's spellings).
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the order of the reference.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name as written in configuration.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value named `name` (exactly as [`Self::as_str`] writes it).
            pub fn parse(name: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// Whether the table is split into time partitions, and how wide one is.
    /// Periods are aligned in UTC: hours, days, ISO weeks (from Monday),
    /// calendar months.
    Partitioning {
        /// One plain table (the seed's DDL).
        None = "none",
        /// One partition per hour.
        Hourly = "hourly",
        /// One partition per day.
        Daily = "daily",
        /// One partition per ISO week (Monday to Monday).
        Weekly = "weekly",
        /// One partition per calendar month.
        Monthly = "monthly",
    }
}

named_enum! {
    /// Who creates and drops the partitions of a partitioned table.
    PartitionManager {
        /// The writer: ahead of time, and expired ones dropped (retention).
        Stogger = "stogger",
        /// Someone else (pg_partman, a DBA): stogger runs no DDL at all and
        /// only writes.
        External = "external",
    }
}

named_enum! {
    /// The operator class of the GIN index on `data`, or no GIN index.
    GinOpclass {
        /// Serves containment (`data @> '{"k": v}'`); smaller and faster to
        /// write than `jsonb_ops`.
        JsonbPathOps = "jsonb_path_ops",
        /// PostgreSQL's default: also serves the key-existence operators
        /// `?`, `?|`, `?&`.
        JsonbOps = "jsonb_ops",
        /// No GIN index (fastest writes; `data @>` scans).
        None = "none",
    }
}

/// The default table name.
pub const DEFAULT_TABLE: &str = "stogger_logs";

/// PostgreSQL's identifier length limit (NAMEDATALEN - 1).
pub const MAX_IDENT_BYTES: usize = 63;

/// Everything the PostgreSQL writer is configured with. Build it with
/// [`PgSettings::new`] (every default) and check it with
/// [`PgSettings::validate`]. `Debug` shows the DSN with its password masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// The connection string (may contain a password; never printed).
    pub dsn: Dsn,
    /// The table, `name` or `schema.name` (taken literally and quoted).
    pub table: String,
    /// Batch (default) or sync.
    pub write_mode: WriteMode,
    /// Maximum number of rows waiting in memory (batch mode).
    pub queue_capacity: usize,
    /// Maximum bytes of row text waiting in memory (batch mode); whichever
    /// of this and `queue_capacity` is reached first drops.
    pub queue_max_bytes: u64,
    /// Maximum rows per COPY.
    pub batch_size: usize,
    /// The longest a queued row waits for a fuller batch.
    pub flush_interval: Duration,
    /// Bound for one connection attempt (and for a sync write's reconnect).
    pub connect_timeout: Duration,
    /// Bound for one write (a batch's `BEGIN`/`COPY`/`COMMIT`) and for every
    /// statement; also how long a lost COMMIT is waited on.
    pub write_timeout: Duration,
    /// Directory of the disk spool (batch mode); None: no spool.
    pub spool_dir: Option<String>,
    /// Maximum bytes of the spool's segment files.
    pub spool_max_bytes: u64,
    /// Default deadline for flushing on close (used when the writer is
    /// dropped without being closed).
    pub shutdown_timeout: Duration,
    /// `application_name` reported to the server (overrides the DSN's).
    pub application_name: Option<String>,
    /// Connections sync mode writes through at most (callers that find them
    /// all busy are written together, one INSERT per group).
    pub sync_pool_size: usize,
    /// Sync mode: prepare each INSERT once per pooled connection instead
    /// of sending it as an unnamed statement every time (not through a
    /// pooler that does not track prepared statements).
    pub prepared_statements: bool,
    /// Plain table, or time partitions of this width.
    pub partitioning: Partitioning,
    /// Partitions kept ready ahead of the current one.
    pub partition_premake: u32,
    /// Partitions whose whole range is older than this many days are
    /// dropped; 0 keeps everything.
    pub retention_days: u32,
    /// A DEFAULT partition catches rows outside every time partition.
    pub default_partition: bool,
    /// Who creates and drops partitions.
    pub partition_manager: PartitionManager,
    /// How often the partition maintenance runs (it also runs at start).
    pub maintenance_interval: Duration,
    /// The GIN index on `data`.
    pub gin_opclass: GinOpclass,
}

/// One key of [`PgSettings`]: its names, default, allowed values and
/// meaning, and how its value is read, checked and stored.
pub struct Setting {
    /// The key in the JSON object of `stogger_pg_open` (`queue_capacity`).
    pub name: &'static str,
    /// The stogger configuration key (`postgres_queue_capacity`); `None`
    /// for a setting stogger-core fills from another key.
    pub config_key: Option<&'static str>,
    /// The default, in words.
    pub default: &'static str,
    /// What is allowed, in words (for error messages and the reference).
    pub allowed: &'static str,
    /// What the key does, in one line.
    pub doc: &'static str,
    kind: Kind,
}

/// How a setting's value looks and where it lives in [`PgSettings`].
enum Kind {
    /// A string; `check` says what is wrong with a refused one.
    Text {
        default: Option<&'static str>,
        required: bool,
        check: fn(&str) -> Result<(), String>,
        get: fn(&PgSettings) -> Option<&str>,
        set: fn(&mut PgSettings, Option<String>),
    },
    /// One of a list of names.
    Choice {
        options: &'static [&'static str],
        default: &'static str,
        get: fn(&PgSettings) -> &'static str,
        set: fn(&mut PgSettings, &str),
    },
    /// A boolean (a JSON boolean).
    Flag {
        default: bool,
        get: fn(&PgSettings) -> bool,
        set: fn(&mut PgSettings, bool),
    },
    /// A whole number in `min..=max` (milliseconds for durations).
    Integer {
        min: u64,
        max: u64,
        default: u64,
        get: fn(&PgSettings) -> u64,
        set: fn(&mut PgSettings, u64),
    },
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn any_text(_: &str) -> Result<(), String> {
    Ok(())
}

fn check_dsn(dsn: &str) -> Result<(), String> {
    if dsn.trim().is_empty() {
        return Err("is empty".to_string());
    }
    ParsedDsn::parse(dsn, &[])
        .map(|_| ())
        .map_err(|e| format!("{e} (in {})", redact(dsn)))
}

/// The connection string.
pub const DSN: Setting = Setting {
    name: "dsn",
    config_key: Some("postgres_dsn"),
    default: "none",
    allowed: "a PostgreSQL connection string (URL or key=value); empty for none",
    doc: "Connection string; `%PASSWORD%` is replaced by STOGGER_POSTGRES_PASSWORD.",
    kind: Kind::Text {
        default: None,
        required: true,
        check: check_dsn,
        get: |s| Some(s.dsn.as_str()),
        set: |s, v| s.dsn = Dsn::from(v.unwrap_or_default()),
    },
};

/// The table.
pub const TABLE: Setting = Setting {
    name: "table",
    config_key: Some("postgres_table"),
    default: DEFAULT_TABLE,
    allowed: "a table name or `schema.table`, each part 1 to 63 bytes, no NUL",
    doc: "Table the events are written to (created when missing).",
    kind: Kind::Text {
        default: Some(DEFAULT_TABLE),
        required: false,
        check: check_table_name,
        get: |s| Some(s.table.as_str()),
        set: |s, v| s.table = v.unwrap_or_else(|| DEFAULT_TABLE.to_string()),
    },
};

/// Batch or sync.
pub const WRITE_MODE: Setting = Setting {
    name: "write_mode",
    config_key: Some("postgres_write_mode"),
    default: "batch",
    allowed: "batch, sync",
    doc: "Batch: bounded queue and background COPY. Sync: one durable write per event.",
    kind: Kind::Choice {
        options: &["batch", "sync"],
        default: "batch",
        get: |s| s.write_mode.as_str(),
        set: |s, v| s.write_mode = WriteMode::parse(v).unwrap_or(WriteMode::Batch),
    },
};

/// The queue's bound.
pub const QUEUE_CAPACITY: Setting = Setting {
    name: "queue_capacity",
    config_key: Some("postgres_queue_capacity"),
    default: "100000",
    allowed: "an integer from 1 to 100000000",
    doc: "Events held in memory at most while the database is slow or away.",
    kind: Kind::Integer {
        min: 1,
        max: 100_000_000,
        default: 100_000,
        get: |s| count(s.queue_capacity),
        set: |s, n| s.queue_capacity = to_usize(n),
    },
};

/// The queue's bound in bytes.
pub const QUEUE_MAX_BYTES: Setting = Setting {
    name: "queue_max_bytes",
    config_key: Some("postgres_queue_max_bytes"),
    default: "67108864",
    allowed: "a size from 65536 to 68719476736 bytes (64 MiB by default): an integer, or in stogger's configuration a string with a unit, e.g. \"64MiB\"",
    doc: "Bytes of event text held in memory at most; with queue_capacity, whichever is reached first drops.",
    kind: Kind::Integer {
        min: 65_536,
        max: 64 << 30,
        default: 64 << 20,
        get: |s| s.queue_max_bytes,
        set: |s, n| s.queue_max_bytes = n,
    },
};

/// Rows per COPY.
pub const BATCH_SIZE: Setting = Setting {
    name: "batch_size",
    config_key: Some("postgres_batch_size"),
    default: "5000",
    allowed: "an integer from 1 to 1000000",
    doc: "Rows per COPY.",
    kind: Kind::Integer {
        min: 1,
        max: 1_000_000,
        default: 5000,
        get: |s| count(s.batch_size),
        set: |s, n| s.batch_size = to_usize(n),
    },
};

/// The longest a row waits in the queue.
pub const FLUSH_INTERVAL_MS: Setting = Setting {
    name: "flush_interval_ms",
    config_key: Some("postgres_flush_interval_ms"),
    default: "200",
    allowed: "an integer from 1 to 3600000 (milliseconds)",
    doc: "Longest time an event waits in the queue before a flush.",
    kind: Kind::Integer {
        min: 1,
        max: 3_600_000,
        default: 200,
        get: |s| millis(s.flush_interval),
        set: |s, n| s.flush_interval = Duration::from_millis(n),
    },
};

/// How long closing waits for the queue.
pub const SHUTDOWN_TIMEOUT_MS: Setting = Setting {
    name: "shutdown_timeout_ms",
    config_key: Some("postgres_shutdown_timeout_ms"),
    default: "5000",
    allowed: "an integer from 0 to 3600000 (milliseconds)",
    doc: "How long dropping the guard waits for the queue to drain.",
    kind: Kind::Integer {
        min: 0,
        max: 3_600_000,
        default: 5000,
        get: |s| millis(s.shutdown_timeout),
        set: |s, n| s.shutdown_timeout = Duration::from_millis(n),
    },
};

/// The bound of one connection attempt.
pub const CONNECT_TIMEOUT_MS: Setting = Setting {
    name: "connect_timeout_ms",
    config_key: Some("postgres_connect_timeout_ms"),
    default: "5000",
    allowed: "an integer from 1 to 600000 (milliseconds)",
    doc: "Timeout of one connection attempt (per host when the DSN lists several).",
    kind: Kind::Integer {
        min: 1,
        max: 600_000,
        default: 5000,
        get: |s| millis(s.connect_timeout),
        set: |s, n| s.connect_timeout = Duration::from_millis(n),
    },
};

/// The bound of one write and of every statement.
pub const WRITE_TIMEOUT_MS: Setting = Setting {
    name: "write_timeout_ms",
    config_key: Some("postgres_write_timeout_ms"),
    default: "30000",
    allowed: "an integer from 100 to 3600000 (milliseconds)",
    doc: "Longest one write (BEGIN, COPY, COMMIT) or statement may take; also how long a lost COMMIT is waited on.",
    kind: Kind::Integer {
        min: 100,
        max: 3_600_000,
        default: 30_000,
        get: |s| millis(s.write_timeout),
        set: |s, n| s.write_timeout = Duration::from_millis(n),
    },
};

fn check_spool_dir(dir: &str) -> Result<(), String> {
    if dir.contains('\0') {
        return Err("the path contains a NUL character".to_string());
    }
    Ok(())
}

/// The disk spool's directory.
pub const SPOOL_DIR: Setting = Setting {
    name: "spool_dir",
    config_key: Some("postgres_spool_dir"),
    default: "none (no spool)",
    allowed: "a directory path (created when missing); empty for none",
    doc: "Directory where events go while the database is away or the queue is past half full; replayed in order later, also by the next run.",
    kind: Kind::Text {
        default: None,
        required: false,
        check: check_spool_dir,
        get: |s| s.spool_dir.as_deref(),
        set: |s, v| s.spool_dir = v.filter(|d| !d.is_empty()),
    },
};

/// The spool's bound in bytes.
pub const SPOOL_MAX_BYTES: Setting = Setting {
    name: "spool_max_bytes",
    config_key: Some("postgres_spool_max_bytes"),
    default: "1073741824",
    allowed: "a size from 1048576 to 1099511627776 bytes (1 GiB by default): an integer, or in stogger's configuration a string with a unit, e.g. \"1GiB\"",
    doc: "Bytes of spool files at most; when full, the newest events are dropped (counted).",
    kind: Kind::Integer {
        min: 1 << 20,
        max: 1 << 40,
        default: 1 << 30,
        get: |s| s.spool_max_bytes,
        set: |s, n| s.spool_max_bytes = n,
    },
};

/// The name the server shows for the connection.
pub const APPLICATION_NAME: Setting = Setting {
    name: "application_name",
    config_key: None,
    default: "the DSN's application_name, else stogger",
    allowed: "any text",
    doc: "application_name reported to the server (stogger-core passes syslog_identifier).",
    kind: Kind::Text {
        default: None,
        required: false,
        check: any_text,
        get: |s| s.application_name.as_deref(),
        set: |s, v| s.application_name = v,
    },
};

/// Sync mode's connections.
pub const SYNC_POOL_SIZE: Setting = Setting {
    name: "sync_pool_size",
    config_key: Some("postgres_sync_pool_size"),
    default: "2",
    allowed: "an integer from 1 to 256",
    doc: "Sync mode: connections the log calls of a process write through at most (callers that find them all busy are written together in one INSERT).",
    kind: Kind::Integer {
        min: 1,
        max: 256,
        default: 2,
        get: |s| count(s.sync_pool_size),
        set: |s, n| s.sync_pool_size = to_usize(n),
    },
};

/// Sync mode's statements: prepared per connection, or unnamed.
pub const PREPARED_STATEMENTS: Setting = Setting {
    name: "prepared_statements",
    config_key: Some("postgres_prepared_statements"),
    default: "false",
    allowed: "true or false",
    doc: "Sync mode: prepare the INSERT once per pooled connection (less work for the server per statement) instead of an unnamed statement each time. Only for direct connections or poolers that track prepared statements (pgbouncer 1.21+ with max_prepared_statements > 0), never with pgbouncer's transaction pooling otherwise.",
    kind: Kind::Flag {
        default: false,
        get: |s| s.prepared_statements,
        set: |s, v| s.prepared_statements = v,
    },
};

/// Time partitions.
pub const PARTITIONING: Setting = Setting {
    name: "partitioning",
    config_key: Some("postgres_partitioning"),
    default: "none",
    allowed: "none, hourly, daily, weekly, monthly",
    doc: "Time partitions of the table (PARTITION BY RANGE on timestamp), or one plain table.",
    kind: Kind::Choice {
        options: &["none", "hourly", "daily", "weekly", "monthly"],
        default: "none",
        get: |s| s.partitioning.as_str(),
        set: |s, v| s.partitioning = Partitioning::parse(v).unwrap_or(Partitioning::None),
    },
};

/// Partitions made ahead of time.
pub const PARTITION_PREMAKE: Setting = Setting {
    name: "partition_premake",
    config_key: Some("postgres_partition_premake"),
    default: "3",
    allowed: "an integer from 0 to 1000",
    doc: "Partitions kept ready after the current one (partitioned tables).",
    kind: Kind::Integer {
        min: 0,
        max: 1000,
        default: 3,
        get: |s| u64::from(s.partition_premake),
        set: |s, n| s.partition_premake = u32::try_from(n).unwrap_or(u32::MAX),
    },
};

/// Retention.
pub const RETENTION_DAYS: Setting = Setting {
    name: "retention_days",
    config_key: Some("postgres_retention_days"),
    default: "0",
    allowed: "an integer from 0 to 36500 (days; 0 keeps everything)",
    doc: "Partitions entirely older than this are dropped (partitioned tables); 0 keeps all.",
    kind: Kind::Integer {
        min: 0,
        max: 36_500,
        default: 0,
        get: |s| u64::from(s.retention_days),
        set: |s, n| s.retention_days = u32::try_from(n).unwrap_or(u32::MAX),
    },
};

/// The DEFAULT partition.
pub const DEFAULT_PARTITION: Setting = Setting {
    name: "default_partition",
    config_key: Some("postgres_default_partition"),
    default: "true",
    allowed: "true or false",
    doc: "A DEFAULT partition catches rows outside every time partition (skewed clocks).",
    kind: Kind::Flag {
        default: true,
        get: |s| s.default_partition,
        set: |s, v| s.default_partition = v,
    },
};

/// Who manages partitions.
pub const PARTITION_MANAGER: Setting = Setting {
    name: "partition_manager",
    config_key: Some("postgres_partition_manager"),
    default: "stogger",
    allowed: "stogger, external",
    doc: "stogger: the writer creates and drops partitions. external (pg_partman, a DBA): stogger only writes.",
    kind: Kind::Choice {
        options: &["stogger", "external"],
        default: "stogger",
        get: |s| s.partition_manager.as_str(),
        set: |s, v| {
            s.partition_manager = PartitionManager::parse(v).unwrap_or(PartitionManager::Stogger)
        },
    },
};

/// The maintenance schedule.
pub const MAINTENANCE_INTERVAL_MS: Setting = Setting {
    name: "maintenance_interval_ms",
    config_key: Some("postgres_maintenance_interval_ms"),
    default: "3600000",
    allowed: "an integer from 1000 to 86400000 (milliseconds)",
    doc: "How often the writer creates partitions ahead and drops expired ones (also at start).",
    kind: Kind::Integer {
        min: 1000,
        max: 86_400_000,
        default: 3_600_000,
        get: |s| millis(s.maintenance_interval),
        set: |s, n| s.maintenance_interval = Duration::from_millis(n),
    },
};

/// The GIN index's operator class.
pub const GIN_OPCLASS: Setting = Setting {
    name: "gin_opclass",
    config_key: Some("postgres_gin_opclass"),
    default: "jsonb_path_ops",
    allowed: "jsonb_path_ops, jsonb_ops, none",
    doc: "Operator class of the GIN index on data (none: no GIN index) for tables stogger creates.",
    kind: Kind::Choice {
        options: &["jsonb_path_ops", "jsonb_ops", "none"],
        default: "jsonb_path_ops",
        get: |s| s.gin_opclass.as_str(),
        set: |s, v| s.gin_opclass = GinOpclass::parse(v).unwrap_or(GinOpclass::JsonbPathOps),
    },
};

/// Every setting, in the order of the reference.
pub const SETTINGS: &[Setting] = &[
    DSN,
    TABLE,
    WRITE_MODE,
    QUEUE_CAPACITY,
    QUEUE_MAX_BYTES,
    BATCH_SIZE,
    FLUSH_INTERVAL_MS,
    SHUTDOWN_TIMEOUT_MS,
    CONNECT_TIMEOUT_MS,
    WRITE_TIMEOUT_MS,
    SPOOL_DIR,
    SPOOL_MAX_BYTES,
    APPLICATION_NAME,
    SYNC_POOL_SIZE,
    PREPARED_STATEMENTS,
    PARTITIONING,
    PARTITION_PREMAKE,
    RETENTION_DAYS,
    DEFAULT_PARTITION,
    PARTITION_MANAGER,
    MAINTENANCE_INTERVAL_MS,
    GIN_OPCLASS,
];

impl Setting {
    /// The allowed range of an integer setting (milliseconds for the
    /// `*_ms` ones); `None` for the others.
    pub fn integer_range(&self) -> Option<RangeInclusive<u64>> {
        match self.kind {
            Kind::Integer { min, max, .. } => Some(min..=max),
            _ => None,
        }
    }

    /// The names a choice setting allows; `None` for the others.
    pub fn choices(&self) -> Option<&'static [&'static str]> {
        match self.kind {
            Kind::Choice { options, .. } => Some(options),
            _ => None,
        }
    }

    /// Checks a text value (`Ok` for settings that are not text); the error
    /// says what is wrong, never quoting a connection string.
    pub fn check_text(&self, value: &str) -> Result<(), String> {
        match self.kind {
            Kind::Text { check, .. } => check(value),
            _ => Ok(()),
        }
    }

    fn error(&self, message: impl Into<String>) -> SettingsError {
        SettingsError::new(self.name, message)
    }

    /// Checks the value `settings` holds.
    fn validate(&self, settings: &PgSettings) -> Result<(), SettingsError> {
        match self.kind {
            Kind::Text {
                required,
                check,
                get,
                ..
            } => match get(settings) {
                Some(v) => check(v).map_err(|m| self.error(m)),
                None if required => Err(self.error("missing (required)")),
                None => Ok(()),
            },
            Kind::Choice { options, get, .. } => {
                let v = get(settings);
                if options.contains(&v) {
                    Ok(())
                } else {
                    Err(self.error(format!("{v:?} is not one of {}", quoted(options))))
                }
            }
            Kind::Flag { .. } => Ok(()),
            Kind::Integer { min, max, get, .. } => {
                let n = get(settings);
                if (min..=max).contains(&n) {
                    Ok(())
                } else {
                    Err(self.error(format!("{n} is out of range (allowed: {min}..={max})")))
                }
            }
        }
    }

    fn set_default(&self, settings: &mut PgSettings) {
        match self.kind {
            Kind::Text { default, set, .. } => set(settings, default.map(str::to_string)),
            Kind::Choice { default, set, .. } => set(settings, default),
            Kind::Flag { default, set, .. } => set(settings, default),
            Kind::Integer { default, set, .. } => set(settings, default),
        }
    }

    fn json_value(&self, settings: &PgSettings) -> Value {
        match self.kind {
            Kind::Text { get, .. } => get(settings).map_or(Value::Null, Value::from),
            Kind::Choice { get, .. } => Value::from(get(settings)),
            Kind::Flag { get, .. } => Value::from(get(settings)),
            Kind::Integer { get, .. } => Value::from(get(settings)),
        }
    }

    /// Sets the value from JSON (`null` leaves the default), checking it.
    fn read_json(&self, settings: &mut PgSettings, value: &Value) -> Result<(), SettingsError> {
        if value.is_null() {
            return Ok(());
        }
        match self.kind {
            Kind::Text { set, check, .. } => {
                let Value::String(s) = value else {
                    return Err(self.error(format!("expected a string, got {}", type_name(value))));
                };
                check(s).map_err(|m| self.error(m))?;
                set(settings, Some(s.clone()));
            }
            Kind::Choice { options, set, .. } => {
                let Value::String(s) = value else {
                    return Err(self.error(format!("expected a string, got {}", type_name(value))));
                };
                if !options.contains(&s.as_str()) {
                    return Err(self.error(format!("{s:?} is not one of {}", quoted(options))));
                }
                set(settings, s);
            }
            Kind::Flag { set, .. } => {
                let Value::Bool(b) = value else {
                    return Err(self.error(format!("expected a boolean, got {}", type_name(value))));
                };
                set(settings, *b);
            }
            Kind::Integer { min, max, set, .. } => {
                let Value::Number(n) = value else {
                    return Err(
                        self.error(format!("expected an integer, got {}", type_name(value)))
                    );
                };
                match n.as_u64() {
                    Some(v) if (min..=max).contains(&v) => set(settings, v),
                    _ => {
                        return Err(
                            self.error(format!("{n} is out of range (allowed: {min}..={max})"))
                        )
                    }
                }
            }
        }
        Ok(())
    }
}

fn quoted(options: &[&str]) -> String {
    options
        .iter()
        .map(|o| format!("{o:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl PgSettings {
    /// Settings with every default and the given DSN.
    pub fn new(dsn: impl Into<Dsn>) -> PgSettings {
        let mut settings = PgSettings {
            dsn: Dsn::default(),
            table: String::new(),
            write_mode: WriteMode::Batch,
            queue_capacity: 0,
            queue_max_bytes: 0,
            batch_size: 0,
            flush_interval: Duration::ZERO,
            connect_timeout: Duration::ZERO,
            shutdown_timeout: Duration::ZERO,
            write_timeout: Duration::ZERO,
            spool_dir: None,
            spool_max_bytes: 0,
            application_name: None,
            sync_pool_size: 0,
            prepared_statements: false,
            partitioning: Partitioning::None,
            partition_premake: 0,
            retention_days: 0,
            default_partition: true,
            partition_manager: PartitionManager::Stogger,
            maintenance_interval: Duration::ZERO,
            gin_opclass: GinOpclass::JsonbPathOps,
        };
        for setting in SETTINGS {
            setting.set_default(&mut settings);
        }
        settings.dsn = dsn.into();
        settings
    }

    /// Checks every setting: an error names the first key whose value is
    /// not allowed, and says why.
    pub fn validate(&self) -> Result<(), SettingsError> {
        SETTINGS.iter().try_for_each(|s| s.validate(self))
    }

    /// The JSON object `stogger_pg_open` takes.
    pub fn to_json(&self) -> String {
        let map: Map<String, Value> = SETTINGS
            .iter()
            .map(|s| (s.name.to_string(), s.json_value(self)))
            .collect();
        Value::Object(map).to_string()
    }

    /// Reads the JSON object `stogger_pg_open` takes: missing keys keep
    /// their defaults, unknown keys are ignored (forward compatible), a bad
    /// value is an error naming the key (`config` when the text is not a
    /// JSON object).
    pub fn from_json(text: &str) -> Result<PgSettings, SettingsError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| SettingsError::new("config", format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(SettingsError::new("config", "expected a JSON object"));
        };
        let mut settings = PgSettings::new(Dsn::default());
        for setting in SETTINGS {
            match map.get(setting.name) {
                Some(v) => setting.read_json(&mut settings, v)?,
                None if matches!(setting.kind, Kind::Text { required: true, .. }) => {
                    return Err(setting.error("missing (required)"))
                }
                None => {}
            }
        }
        settings.validate()?;
        Ok(settings)
    }
}

/// Checks a table name: `table` or `schema.table` (split at the first
/// dot), each part 1 to [`MAX_IDENT_BYTES`] bytes, without NUL. The name is
/// taken literally (never parsed as SQL), so no other rule applies.
pub fn check_table_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the table name is empty".to_string());
    }
    match name.split_once('.') {
        None => check_name_part(name, "name", name),
        Some((schema, table)) => {
            if table.contains('.') {
                return Err(format!(
                    "table name {name:?} has more than one dot; use `table` or `schema.table`"
                ));
            }
            check_name_part(schema, "schema part", name)?;
            check_name_part(table, "table part", name)
        }
    }
}

fn check_name_part(part: &str, what: &str, whole: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("table name {whole:?}: the {what} is empty"));
    }
    if part.contains('\0') {
        return Err(format!(
            "table name {whole:?}: the {what} contains a NUL character"
        ));
    }
    if part.len() > MAX_IDENT_BYTES {
        return Err(format!(
            "table name {whole:?}: the {what} is {} bytes long; PostgreSQL identifiers are at \
             most {MAX_IDENT_BYTES} bytes",
            part.len()
        ));
    }
    Ok(())
}

/// A setting that is not allowed: `key` names it as in the JSON object
/// (`config` for the object as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The offending key.
    pub key: String,
    /// What is wrong with it (never contains the password).
    pub message: String,
}

impl SettingsError {
    /// An error for `key`.
    pub fn new(key: &str, message: impl Into<String>) -> SettingsError {
        SettingsError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid PostgreSQL configuration: {}: {}",
            self.key, self.message
        )
    }
}

impl std::error::Error for SettingsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_defaults_and_overrides() {
        let c = PgSettings::from_json(r#"{"dsn":"host=/tmp user=u dbname=d"}"#).unwrap();
        assert_eq!(c.table, "stogger_logs");
        assert_eq!(c.write_mode, WriteMode::Batch);
        assert_eq!(c.queue_capacity, 100_000);
        assert_eq!(c.batch_size, 5000);
        assert_eq!(c.flush_interval, Duration::from_millis(200));
        let c = PgSettings::from_json(
            r#"{"dsn":"host=/tmp user=u","table":"s.t","write_mode":"sync","queue_capacity":5,
                "batch_size":2,"flush_interval_ms":1,"connect_timeout_ms":250,"future_key":[1]}"#,
        )
        .unwrap();
        assert_eq!(c.table, "s.t");
        assert_eq!(c.write_mode, WriteMode::Sync);
        assert_eq!(c.queue_capacity, 5);
        assert_eq!(c.connect_timeout, Duration::from_millis(250));
    }

    #[test]
    fn json_errors_name_the_key() {
        let cases = [
            ("not json", "config"),
            ("[1]", "config"),
            ("{}", "dsn"),
            (r#"{"dsn": 5}"#, "dsn"),
            (r#"{"dsn": "  "}"#, "dsn"),
            (
                r#"{"dsn":"host=/tmp user=u","batch_size":"x"}"#,
                "batch_size",
            ),
            (
                r#"{"dsn":"host=/tmp user=u","queue_capacity":0}"#,
                "queue_capacity",
            ),
            (
                r#"{"dsn":"host=/tmp user=u","connect_timeout_ms":-1}"#,
                "connect_timeout_ms",
            ),
            (
                r#"{"dsn":"host=/tmp user=u","connect_timeout_ms":900000}"#,
                "connect_timeout_ms",
            ),
            (
                r#"{"dsn":"host=/tmp user=u","write_mode":"fast"}"#,
                "write_mode",
            ),
            (r#"{"dsn":"host=/tmp user=u","table":""}"#, "table"),
            (r#"{"dsn":"host=/tmp password='open"}"#, "dsn"),
        ];
        for (json, key) in cases {
            let e = PgSettings::from_json(json).unwrap_err();
            assert_eq!(e.key, key, "{json}: {e}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn json_round_trips() {
        let mut s = PgSettings::new("postgresql://u:pw@h/d");
        s.table = "audit.events".into();
        s.write_mode = WriteMode::Sync;
        s.queue_capacity = 7;
        s.shutdown_timeout = Duration::ZERO;
        s.application_name = Some("svc".into());
        s.sync_pool_size = 9;
        s.partitioning = Partitioning::Weekly;
        s.partition_premake = 0;
        s.retention_days = 30;
        s.default_partition = false;
        s.partition_manager = PartitionManager::External;
        s.maintenance_interval = Duration::from_secs(60);
        s.gin_opclass = GinOpclass::None;
        s.queue_max_bytes = 1 << 20;
        s.write_timeout = Duration::from_millis(250);
        s.spool_dir = Some("/var/spool/svc".into());
        s.spool_max_bytes = 1 << 30;
        assert_eq!(PgSettings::from_json(&s.to_json()), Ok(s));
        // The spool is off by default, and an empty directory means off.
        let c = PgSettings::from_json(r#"{"dsn":"host=/tmp","spool_dir":""}"#).unwrap();
        assert_eq!(c.spool_dir, None);
        assert_eq!(c.queue_max_bytes, 64 << 20);
        assert_eq!(c.spool_max_bytes, 1 << 30);
        assert_eq!(c.write_timeout, Duration::from_secs(30));
    }

    #[test]
    fn partition_settings_default_to_the_seed_table() {
        let s = PgSettings::from_json(r#"{"dsn":"host=/tmp user=u"}"#).unwrap();
        assert_eq!(s.partitioning, Partitioning::None);
        assert_eq!(s.partition_premake, 3);
        assert_eq!(s.retention_days, 0);
        assert!(s.default_partition);
        assert_eq!(s.partition_manager, PartitionManager::Stogger);
        assert_eq!(s.maintenance_interval, Duration::from_secs(3600));
        assert_eq!(s.gin_opclass, GinOpclass::JsonbPathOps);
        let cases = [
            (
                r#"{"dsn":"host=/tmp","partitioning":"yearly"}"#,
                "partitioning",
            ),
            (
                r#"{"dsn":"host=/tmp","default_partition":"yes"}"#,
                "default_partition",
            ),
            (
                r#"{"dsn":"host=/tmp","retention_days":40000}"#,
                "retention_days",
            ),
            (
                r#"{"dsn":"host=/tmp","maintenance_interval_ms":10}"#,
                "maintenance_interval_ms",
            ),
            (
                r#"{"dsn":"host=/tmp","gin_opclass":"btree"}"#,
                "gin_opclass",
            ),
            (
                r#"{"dsn":"host=/tmp","partition_manager":"partman"}"#,
                "partition_manager",
            ),
        ];
        for (json, key) in cases {
            assert_eq!(PgSettings::from_json(json).unwrap_err().key, key, "{json}");
        }
        for p in Partitioning::ALL {
            assert_eq!(Partitioning::parse(p.as_str()), Some(*p));
        }
    }

    #[test]
    fn every_setting_has_a_default_that_validates() {
        let s = PgSettings::new("host=/tmp");
        assert_eq!(s.validate(), Ok(()));
        let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[..i].contains(name), "{name} twice");
        }
        for setting in SETTINGS {
            // The words agree with the numbers they describe.
            if let Kind::Integer {
                min, max, default, ..
            } = setting.kind
            {
                assert!(setting.allowed.contains(&format!("from {min} to {max}")));
                assert_eq!(setting.default, default.to_string(), "{}", setting.name);
            }
            if let Some(key) = setting.config_key {
                assert_eq!(key, format!("postgres_{}", setting.name));
            }
            if let Some(options) = setting.choices() {
                assert_eq!(setting.allowed, options.join(", "), "{}", setting.name);
                assert!(options.contains(&setting.default), "{}", setting.name);
            }
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let s = PgSettings::new("postgresql://u:hunter2@h/d");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("u:***@h"),
            "{shown}"
        );
    }

    #[test]
    fn rust_built_settings_are_checked_like_json() {
        let mut s = PgSettings::new("host=/tmp");
        s.connect_timeout = Duration::from_millis(900_000);
        let e = s.validate().unwrap_err();
        assert_eq!(e.key, "connect_timeout_ms");
        assert!(e.message.contains("1..=600000"), "{e}");
        let mut s = PgSettings::new("host=/tmp");
        s.table = "a.b.c".into();
        assert_eq!(s.validate().unwrap_err().key, "table");
    }

    #[test]
    fn table_names_are_checked() {
        for bad in ["", ".t", "s.", "a.b.c", "nul\0name", &"x".repeat(64)] {
            assert!(check_table_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_table_name(&"x".repeat(63)).is_ok());
        assert!(check_table_name("x\"; DROP TABLE t; --").is_ok());
        assert!(check_table_name(&"x".repeat(64))
            .unwrap_err()
            .contains("63 bytes"));
    }
}
