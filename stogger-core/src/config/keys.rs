//! The configuration keys: their names, environment variables, allowed
//! values and defaults ([`KEYS`]), and how a value is turned into a field of
//! [`Config`].
//!
//! Every source is reduced to a [`toml::Value`] before it is applied: file
//! and code values as they are, environment values as TOML strings. So one
//! parser per key serves every source, and every source accepts the same
//! spellings.

use super::{
    Config, Dsn, GinOpclass, LogFormat, PartitionManager, Partitioning, Rotation, SystemdMode,
    TimestampPrecision, WriteMode,
};
use crate::event::Level;
use std::path::PathBuf;
use stogger_pg_proto::settings as pg;
use toml::Value;

/// Description of one configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key as written in the file (`format.min_level` for the `[format]` table).
    pub name: &'static str,
    /// The environment variable that sets it (`STOGGER_MIN_LEVEL`).
    pub env: &'static str,
    /// What values are allowed, in words (`none, size`; `true or false ...`).
    pub allowed: &'static str,
    /// The default, in words.
    pub default: &'static str,
    /// What the key does, in one line.
    pub description: &'static str,
}

impl KeyInfo {
    /// The key without its table prefix (`min_level` for `format.min_level`).
    pub fn short_name(&self) -> &'static str {
        self.table_and_short().1
    }

    /// The table the key lives in within a config file (`Some("format")`),
    /// or `None` for a top-level key.
    pub fn table(&self) -> Option<&'static str> {
        self.table_and_short().0
    }

    fn table_and_short(&self) -> (Option<&'static str>, &'static str) {
        match self.name.split_once('.') {
            Some((table, short)) => (Some(table), short),
            None => (None, self.name),
        }
    }
}

/// A key of the PostgreSQL writer: everything but its variable comes
/// from the contract's definition of the setting ([`pg::SETTINGS`]).
const fn pg_key(env: &'static str, setting: &pg::Setting) -> KeyInfo {
    KeyInfo {
        name: match setting.config_key {
            Some(name) => name,
            None => "",
        },
        env,
        allowed: setting.allowed,
        default: setting.default,
        description: setting.doc,
    }
}

const BOOL: &str = "true or false (also the strings 1/0, yes/no, true/false in any case)";

const FILTER: &str = crate::filter::SYNTAX;

/// The keys holding filter directives.
pub(crate) const FILTER_KEYS: [&str; 5] = [
    "log_filter",
    "console_filter",
    "file_filter",
    "journal_filter",
    "postgres_filter",
];

const fn key(
    name: &'static str,
    env: &'static str,
    allowed: &'static str,
    default: &'static str,
    description: &'static str,
) -> KeyInfo {
    KeyInfo {
        name,
        env,
        allowed,
        default,
        description,
    }
}

/// Every key stogger knows, in the order of the configuration reference.
pub const KEYS: &[KeyInfo] = &[
    key(
        "verbose",
        "STOGGER_VERBOSE",
        BOOL,
        "false",
        "Log debug events too (the default level of the filters, with format.min_level).",
    ),
    key(
        "log_filter",
        "STOGGER_LOG_FILTER",
        FILTER,
        "none: RUST_LOG when set, else verbose / format.min_level",
        "Which events stogger takes, by target and level (RUST_LOG syntax).",
    ),
    key(
        "logdir",
        "STOGGER_LOGDIR",
        "a non-empty path (relative paths are relative to the working directory of the process)",
        "logs",
        "Directory of the log file `{logdir}/{syslog_identifier}.log`.",
    ),
    key(
        "log_to_console",
        "STOGGER_LOG_TO_CONSOLE",
        BOOL,
        "true",
        "Write a line per event to stderr.",
    ),
    key(
        "log_to_file",
        "STOGGER_LOG_TO_FILE",
        BOOL,
        "true",
        "Write every event to `{logdir}/{syslog_identifier}.log`.",
    ),
    key(
        "syslog_identifier",
        "STOGGER_SYSLOG_IDENTIFIER",
        "a non-empty name without `/`",
        "the executable's file name",
        "Name of the service: log file name and journal SYSLOG_IDENTIFIER.",
    ),
    key(
        "show_caller_info",
        "STOGGER_SHOW_CALLER_INFO",
        BOOL,
        "false",
        "Add `func='<module>::<function>'` to the key=value body.",
    ),
    key(
        "log_format",
        "STOGGER_LOG_FORMAT",
        "simple, json",
        "simple",
        "Format of the log file: the console line, or one JSON object per line.",
    ),
    key(
        "systemd",
        "STOGGER_SYSTEMD",
        "auto, required, off",
        "auto",
        "Journal target: use it when the socket exists, require it, or never.",
    ),
    key(
        "systemd_facility",
        "STOGGER_SYSTEMD_FACILITY",
        "a syslog facility name: LOG_KERN, LOG_USER, LOG_MAIL, LOG_DAEMON, LOG_AUTH, \
         LOG_SYSLOG, LOG_LPR, LOG_NEWS, LOG_UUCP, LOG_CRON, LOG_AUTHPRIV, LOG_FTP, \
         LOG_LOCAL0 to LOG_LOCAL7 (any case, `LOG_` optional); or a number: a facility \
         code 0-11 or 16-23 (LOG_LOCAL0 is 16), or Python's shifted syslog.LOG_* \
         constant 24-184 (LOG_LOCAL0 is 128)",
        "LOG_LOCAL0",
        "syslog facility sent to the journal as SYSLOG_FACILITY.",
    ),
    key(
        "journal_socket",
        "STOGGER_JOURNAL_SOCKET",
        "a non-empty path",
        "/run/systemd/journal/socket",
        "Path of the journal's native socket.",
    ),
    key(
        "enable_postgres",
        "STOGGER_ENABLE_POSTGRES",
        BOOL,
        "false",
        "Register the PostgreSQL target.",
    ),
    pg_key("STOGGER_POSTGRES_DSN", &pg::DSN),
    pg_key("STOGGER_POSTGRES_TABLE", &pg::TABLE),
    key(
        "postgres_plugin",
        "STOGGER_POSTGRES_PLUGIN",
        "a path to the PostgreSQL plugin library; empty for none",
        "none (search the usual places)",
        "Explicit path of libstogger_postgres.so.",
    ),
    pg_key("STOGGER_POSTGRES_WRITE_MODE", &pg::WRITE_MODE),
    pg_key("STOGGER_POSTGRES_QUEUE_CAPACITY", &pg::QUEUE_CAPACITY),
    pg_key("STOGGER_POSTGRES_QUEUE_MAX_BYTES", &pg::QUEUE_MAX_BYTES),
    pg_key("STOGGER_POSTGRES_BATCH_SIZE", &pg::BATCH_SIZE),
    pg_key("STOGGER_POSTGRES_FLUSH_INTERVAL_MS", &pg::FLUSH_INTERVAL_MS),
    pg_key("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", &pg::SHUTDOWN_TIMEOUT_MS),
    key(
        "panic_flush_timeout_ms",
        "STOGGER_PANIC_FLUSH_TIMEOUT_MS",
        "an integer >= 0 (milliseconds)",
        "100",
        "How long logging a panic waits for slow targets (rows not written by then stay queued).",
    ),
    pg_key("STOGGER_POSTGRES_CONNECT_TIMEOUT_MS", &pg::CONNECT_TIMEOUT_MS),
    pg_key("STOGGER_POSTGRES_WRITE_TIMEOUT_MS", &pg::WRITE_TIMEOUT_MS),
    pg_key("STOGGER_POSTGRES_SPOOL_DIR", &pg::SPOOL_DIR),
    pg_key("STOGGER_POSTGRES_SPOOL_MAX_BYTES", &pg::SPOOL_MAX_BYTES),
    pg_key("STOGGER_POSTGRES_SYNC_POOL_SIZE", &pg::SYNC_POOL_SIZE),
    pg_key(
        "STOGGER_POSTGRES_PREPARED_STATEMENTS",
        &pg::PREPARED_STATEMENTS,
    ),
    pg_key("STOGGER_POSTGRES_PARTITIONING", &pg::PARTITIONING),
    pg_key("STOGGER_POSTGRES_PARTITION_PREMAKE", &pg::PARTITION_PREMAKE),
    pg_key("STOGGER_POSTGRES_RETENTION_DAYS", &pg::RETENTION_DAYS),
    pg_key("STOGGER_POSTGRES_DEFAULT_PARTITION", &pg::DEFAULT_PARTITION),
    pg_key("STOGGER_POSTGRES_PARTITION_MANAGER", &pg::PARTITION_MANAGER),
    pg_key(
        "STOGGER_POSTGRES_MAINTENANCE_INTERVAL_MS",
        &pg::MAINTENANCE_INTERVAL_MS,
    ),
    pg_key("STOGGER_POSTGRES_GIN_OPCLASS", &pg::GIN_OPCLASS),
    key(
        "log_rotation",
        "STOGGER_LOG_ROTATION",
        "none, size",
        "none",
        "File rotation: never, or when the next write would pass log_max_bytes.",
    ),
    key(
        "log_max_bytes",
        "STOGGER_LOG_MAX_BYTES",
        "a size >= 1 in bytes: an integer, or a string with a unit B, KB, MB, GB, TB \
         (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. \"10MiB\"",
        "10000000 (10 MB)",
        "Size limit of the log file with log_rotation = \"size\".",
    ),
    key(
        "log_backup_count",
        "STOGGER_LOG_BACKUP_COUNT",
        "an integer from 0 to 4294967295",
        "5",
        "Rotated files kept (`.1` is the newest); 0 disables rotation.",
    ),
    key(
        "log_file_mode",
        "STOGGER_LOG_FILE_MODE",
        "an octal permission string of 3 or 4 digits that lets the owner write, at most \"0777\" \
         (e.g. \"0640\", \"0600\")",
        "0640",
        "Permissions of a log file stogger creates (the umask still applies); existing files keep theirs.",
    ),
    key(
        "translation_dir",
        "STOGGER_TRANSLATION_DIR",
        "a path; empty for none",
        "none",
        "Directory of `{language}.toml` files: event id or `_msg_key` -> message template.",
    ),
    key(
        "language",
        "STOGGER_LANGUAGE",
        "a language name (the file name without `.toml`, no `/`); empty for the default",
        "en",
        "Which translation file of translation_dir console, file and journal show.",
    ),
    key(
        "log_cmd_output",
        "STOGGER_LOG_CMD_OUTPUT",
        BOOL,
        "false",
        "Also write every `cmd_output_line` to `{logdir}/build-output.log` (init_command_logging).",
    ),
    key(
        "capture_backtrace",
        "STOGGER_CAPTURE_BACKTRACE",
        BOOL,
        "false",
        "stogger_core::exception(&e) adds a backtrace of the log call to exception_traceback.",
    ),
    key(
        "console_min_level",
        "STOGGER_CONSOLE_MIN_LEVEL",
        "trace, debug, info, warning (or warn), error, critical; empty: the global level",
        "the global level",
        "Least severe level the console takes (overrides verbose and format.min_level for it).",
    ),
    key(
        "file_min_level",
        "STOGGER_FILE_MIN_LEVEL",
        "trace, debug, info, warning (or warn), error, critical; empty: the global level",
        "the global level",
        "Least severe level the file takes (overrides verbose and format.min_level for it).",
    ),
    key(
        "journal_min_level",
        "STOGGER_JOURNAL_MIN_LEVEL",
        "trace, debug, info, warning (or warn), error, critical; empty: the global level",
        "the global level",
        "Least severe level the journal takes (overrides verbose and format.min_level for it).",
    ),
    key(
        "postgres_min_level",
        "STOGGER_POSTGRES_MIN_LEVEL",
        "trace, debug, info, warning (or warn), error, critical; empty: the global level",
        "the global level",
        "Least severe level the PostgreSQL target takes (overrides verbose and format.min_level for it).",
    ),
    key(
        "console_filter",
        "STOGGER_CONSOLE_FILTER",
        FILTER,
        "none: console_min_level, else the global filter",
        "The console's own filter (RUST_LOG syntax).",
    ),
    key(
        "file_filter",
        "STOGGER_FILE_FILTER",
        FILTER,
        "none: file_min_level, else the global filter",
        "The log file's own filter (RUST_LOG syntax).",
    ),
    key(
        "journal_filter",
        "STOGGER_JOURNAL_FILTER",
        FILTER,
        "none: journal_min_level, else the global filter",
        "The journal's own filter (RUST_LOG syntax).",
    ),
    key(
        "postgres_filter",
        "STOGGER_POSTGRES_FILTER",
        FILTER,
        "none: postgres_min_level, else the global filter",
        "The PostgreSQL target's own filter (RUST_LOG syntax).",
    ),
    key(
        "reload_on_sighup",
        "STOGGER_RELOAD_ON_SIGHUP",
        BOOL,
        "false",
        "On SIGHUP, read the configuration again and apply its filters (other changes need a restart).",
    ),
    key(
        "format.timestamp_precision",
        "STOGGER_TIMESTAMP_PRECISION",
        "iso, iso_seconds, iso_no_z, relative",
        "iso_seconds",
        "Timestamp form on console and file lines.",
    ),
    key(
        "format.min_level",
        "STOGGER_MIN_LEVEL",
        "trace, debug, info, warning (or warn), error, critical",
        "info",
        "Least severe level logged when verbose is off.",
    ),
    key(
        "format.show_code_info",
        "STOGGER_SHOW_CODE_INFO",
        BOOL,
        "false",
        "Append the code location (`file:line`) to console and file lines.",
    ),
    key(
        "format.pad_event_width",
        "STOGGER_PAD_EVENT_WIDTH",
        "an integer from 0 to 200",
        "30",
        "Width the event name is padded to.",
    ),
];

/// The key named `name` (`verbose`, `format.min_level`).
pub(super) fn find(name: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|k| k.name == name)
}

/// The key an environment variable sets (`STOGGER_MIN_LEVEL`).
pub(super) fn find_env(var: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|k| k.env == var)
}

/// The known key nearest to an unknown one, if any is near enough to be a
/// likely typo. Both the full name and the name without its table are
/// compared, so `min_level` at the top level finds `format.min_level`.
pub(super) fn nearest(word: &str) -> Option<&'static KeyInfo> {
    let word = word.to_ascii_lowercase();
    let score = |candidate: &str| -> f64 {
        let mut s = strsim::jaro_winkler(&word, candidate);
        if word.len() >= 4 && (candidate.contains(word.as_str()) || word.contains(candidate)) {
            s = s.max(0.85);
        }
        s
    };
    KEYS.iter()
        .map(|k| (k, score(k.name).max(score(k.short_name()))))
        .filter(|(_, s)| *s >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

/// syslog facility names and their numbers (`LOG_LOCAL0` is 16).
const FACILITIES: &[(&str, u8)] = &[
    ("LOG_KERN", 0),
    ("LOG_USER", 1),
    ("LOG_MAIL", 2),
    ("LOG_DAEMON", 3),
    ("LOG_AUTH", 4),
    ("LOG_SYSLOG", 5),
    ("LOG_LPR", 6),
    ("LOG_NEWS", 7),
    ("LOG_UUCP", 8),
    ("LOG_CRON", 9),
    ("LOG_AUTHPRIV", 10),
    ("LOG_FTP", 11),
    ("LOG_LOCAL0", 16),
    ("LOG_LOCAL1", 17),
    ("LOG_LOCAL2", 18),
    ("LOG_LOCAL3", 19),
    ("LOG_LOCAL4", 20),
    ("LOG_LOCAL5", 21),
    ("LOG_LOCAL6", 22),
    ("LOG_LOCAL7", 23),
];

/// For a filter key, a function giving the first bad directive of a text
/// (`None` when the text is fine or the key holds no filter).
pub(crate) fn bad_directive_for(
    key: &str,
) -> impl Fn(&str) -> Option<crate::filter::directives::DirectiveError> {
    let is_filter = FILTER_KEYS.contains(&key);
    move |text| {
        if is_filter {
            crate::filter::directives::parse(text).err()
        } else {
            None
        }
    }
}

/// The syslog facility number of a facility name (`LOG_LOCAL0` → 16), as
/// journald expects it in `SYSLOG_FACILITY`. Any case; `LOG_` is optional.
pub fn syslog_facility_code(name: &str) -> Option<u8> {
    facility(name).map(|(_, code)| code)
}

fn facility(name: &str) -> Option<(&'static str, u8)> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("LOG_") {
        upper
    } else {
        format!("LOG_{upper}")
    };
    FACILITIES.iter().find(|(n, _)| *n == full).copied()
}

/// The facility a number names: a journald facility code (0-23, what
/// `SYSLOG_FACILITY` holds), or, from 24 up, one of Python's `syslog.LOG_*`
/// constants, which are the code shifted left by 3 (`syslog.LOG_LOCAL0` is
/// 128): a Python stogger config may hold either.
fn facility_number(n: i64) -> Option<(&'static str, u8)> {
    let code = match n {
        0..=23 => n,
        24..=184 if n % 8 == 0 => n / 8,
        _ => return None,
    };
    FACILITIES
        .iter()
        .find(|(_, c)| i64::from(*c) == code)
        .copied()
}

/// A value its key does not allow; the key's `allowed` text says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

type Parsed<T> = Result<T, Invalid>;

/// A string value, trimmed, for the kinds of keys where surrounding blanks
/// cannot be meant (booleans, numbers, names from a list).
fn word(v: &Value) -> Option<&str> {
    v.as_str().map(str::trim)
}

fn boolean(v: &Value) -> Parsed<bool> {
    match v {
        Value::Boolean(b) => Ok(*b),
        Value::Integer(1) => Ok(true),
        Value::Integer(0) => Ok(false),
        Value::String(_) => match word(v).map(str::to_ascii_lowercase).as_deref() {
            Some("1" | "true" | "yes") => Ok(true),
            Some("0" | "false" | "no") => Ok(false),
            _ => Err(Invalid),
        },
        _ => Err(Invalid),
    }
}

/// A non-negative integer within `min..=max`, from a TOML integer or a
/// decimal string.
fn integer(v: &Value, min: u64, max: u64) -> Parsed<u64> {
    let n = match v {
        Value::Integer(i) => u64::try_from(*i).map_err(|_| Invalid)?,
        Value::String(_) => {
            let s = word(v).ok_or(Invalid)?;
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Invalid);
            }
            s.parse::<u64>().map_err(|_| Invalid)?
        }
        _ => return Err(Invalid),
    };
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(Invalid)
    }
}

/// An integer within the range the PostgreSQL writer allows for `setting`
/// (so a value `init_logging()` accepts is never refused by the writer).
fn pg_integer(v: &Value, setting: &pg::Setting) -> Parsed<u64> {
    let range = setting.integer_range().ok_or(Invalid)?;
    integer(v, *range.start(), *range.end())
}

/// [`pg_integer`] for a count of rows.
fn pg_count(v: &Value, setting: &pg::Setting) -> Parsed<usize> {
    usize::try_from(pg_integer(v, setting)?).map_err(|_| Invalid)
}

/// [`pg_integer`] for a small count (partitions, days).
fn pg_u32(v: &Value, setting: &pg::Setting) -> Parsed<u32> {
    u32::try_from(pg_integer(v, setting)?).map_err(|_| Invalid)
}

/// A byte size (as [`size`]: `"64MiB"` or an integer) within the range
/// the PostgreSQL writer allows for `setting`.
fn pg_size(v: &Value, setting: &pg::Setting) -> Parsed<u64> {
    let range = setting.integer_range().ok_or(Invalid)?;
    let n = size(v)?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(Invalid)
    }
}

/// A text the PostgreSQL writer allows for `setting`.
fn pg_text(v: &Value, setting: &pg::Setting) -> Parsed<String> {
    let s = string(v)?;
    setting.check_text(s).map_err(|_| Invalid)?;
    Ok(s.to_string())
}

/// A byte size: an integer, or a decimal number followed by a unit.
fn size(v: &Value) -> Parsed<u64> {
    let n = match v {
        Value::Integer(_) => integer(v, 0, u64::MAX)?,
        Value::String(_) => parse_size(word(v).ok_or(Invalid)?)?,
        _ => return Err(Invalid),
    };
    if n >= 1 {
        Ok(n)
    } else {
        Err(Invalid)
    }
}

fn parse_size(s: &str) -> Parsed<u64> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(Invalid);
    }
    let n: u64 = digits.parse().map_err(|_| Invalid)?;
    let factor: u64 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(Invalid),
    };
    n.checked_mul(factor).ok_or(Invalid)
}

fn choice<T: Copy>(v: &Value, options: &[(&str, T)]) -> Parsed<T> {
    let s = word(v).ok_or(Invalid)?.to_ascii_lowercase();
    options
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, t)| *t)
        .ok_or(Invalid)
}

/// One of the contract's named values (`daily`, `external`, ...).
fn named<T: Copy>(v: &Value, all: &[T], name: fn(T) -> &'static str) -> Parsed<T> {
    let s = word(v).ok_or(Invalid)?.to_ascii_lowercase();
    all.iter().copied().find(|t| name(*t) == s).ok_or(Invalid)
}

fn string(v: &Value) -> Parsed<&str> {
    v.as_str().ok_or(Invalid)
}

fn non_empty(v: &Value) -> Parsed<&str> {
    match string(v)? {
        s if s.is_empty() || s.contains('\0') => Err(Invalid),
        s => Ok(s),
    }
}

fn level(v: &Value) -> Parsed<Level> {
    choice(
        v,
        &[
            ("trace", Level::Trace),
            ("debug", Level::Debug),
            ("info", Level::Info),
            ("warning", Level::Warning),
            ("warn", Level::Warning),
            ("error", Level::Error),
            ("critical", Level::Critical),
        ],
    )
}

/// A level, or the empty string for "not set".
fn optional_level(v: &Value) -> Parsed<Option<Level>> {
    match string(v)? {
        "" => Ok(None),
        _ => level(v).map(Some),
    }
}

/// Filter directives; the empty string means "not set".
fn filter(v: &Value) -> Parsed<Option<String>> {
    let text = optional(v)?;
    match text.as_deref().map(crate::filter::directives::parse) {
        Some(Err(_)) => Err(Invalid),
        _ => Ok(text.filter(|t| !t.trim().is_empty())),
    }
}

/// An optional string: the empty string means "not set".
fn optional(v: &Value) -> Parsed<Option<String>> {
    match string(v)? {
        "" => Ok(None),
        s if s.contains('\0') => Err(Invalid),
        s => Ok(Some(s.to_string())),
    }
}

fn identifier(v: &Value) -> Parsed<String> {
    let s = non_empty(v)?;
    if s.contains('/') || s == "." || s == ".." {
        return Err(Invalid);
    }
    Ok(s.to_string())
}

/// File permission bits written in octal (`"0640"`, `"600"`). Only a
/// string: a TOML integer `640` would be decimal, a silent surprise.
fn file_mode(v: &Value) -> Parsed<u32> {
    let s = word(v).ok_or(Invalid)?;
    let digits = match s.len() {
        3 => s,
        4 if s.starts_with('0') => &s[1..],
        _ => return Err(Invalid),
    };
    if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(Invalid);
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|_| Invalid)?;
    if mode & 0o200 == 0 {
        return Err(Invalid); // stogger could not append to its own file after a restart
    }
    Ok(mode)
}

/// Sets the key `name` in `cfg` from `value`. Returns `None` when `name` is
/// not a key, `Some(Err(Invalid))` when the value is not allowed; `cfg` is
/// unchanged then.
pub(crate) fn apply(cfg: &mut Config, name: &str, v: &Value) -> Option<Parsed<()>> {
    find(name)?;
    set(cfg, name, v)
}

/// The parser of every key; `None` for a name without one.
fn set(cfg: &mut Config, name: &str, v: &Value) -> Option<Parsed<()>> {
    let result = (|| -> Parsed<Option<()>> {
        match name {
            "verbose" => cfg.verbose = boolean(v)?,
            "log_filter" => cfg.log_filter = filter(v)?,
            "console_filter" => cfg.console_filter = filter(v)?,
            "file_filter" => cfg.file_filter = filter(v)?,
            "journal_filter" => cfg.journal_filter = filter(v)?,
            "postgres_filter" => cfg.postgres_filter = filter(v)?,
            "reload_on_sighup" => cfg.reload_on_sighup = boolean(v)?,
            "logdir" => cfg.logdir = PathBuf::from(non_empty(v)?),
            "log_to_console" => cfg.log_to_console = boolean(v)?,
            "log_to_file" => cfg.log_to_file = boolean(v)?,
            "syslog_identifier" => cfg.syslog_identifier = identifier(v)?,
            "show_caller_info" => cfg.show_caller_info = boolean(v)?,
            "log_format" => {
                cfg.log_format = choice(
                    v,
                    &[("simple", LogFormat::Simple), ("json", LogFormat::Json)],
                )?
            }
            "systemd" => {
                cfg.systemd = choice(
                    v,
                    &[
                        ("auto", SystemdMode::Auto),
                        ("required", SystemdMode::Required),
                        ("off", SystemdMode::Off),
                    ],
                )?
            }
            "systemd_facility" => {
                let (canonical, _) = match v {
                    Value::Integer(n) => facility_number(*n),
                    _ => {
                        let s = string(v)?;
                        match s.trim().parse::<i64>() {
                            Ok(n) => facility_number(n),
                            Err(_) => facility(s),
                        }
                    }
                }
                .ok_or(Invalid)?;
                cfg.systemd_facility = canonical.to_string();
            }
            "journal_socket" => cfg.journal_socket = PathBuf::from(non_empty(v)?),
            "enable_postgres" => cfg.enable_postgres = boolean(v)?,
            "postgres_dsn" => cfg.postgres_dsn = optional(v)?.map(Dsn::from),
            "postgres_table" => cfg.postgres_table = pg_text(v, &pg::TABLE)?,
            "postgres_plugin" => cfg.postgres_plugin = optional(v)?.map(PathBuf::from),
            "postgres_write_mode" => {
                cfg.postgres_write_mode =
                    choice(v, &WriteMode::ALL.map(|mode| (mode.as_str(), mode)))?
            }
            "postgres_queue_capacity" => {
                cfg.postgres_queue_capacity = pg_count(v, &pg::QUEUE_CAPACITY)?
            }
            "postgres_queue_max_bytes" => {
                cfg.postgres_queue_max_bytes = pg_size(v, &pg::QUEUE_MAX_BYTES)?
            }
            "postgres_batch_size" => cfg.postgres_batch_size = pg_count(v, &pg::BATCH_SIZE)?,
            "postgres_flush_interval_ms" => {
                cfg.postgres_flush_interval_ms = pg_integer(v, &pg::FLUSH_INTERVAL_MS)?
            }
            "postgres_shutdown_timeout_ms" => {
                cfg.postgres_shutdown_timeout_ms = pg_integer(v, &pg::SHUTDOWN_TIMEOUT_MS)?
            }
            "postgres_sync_pool_size" => {
                cfg.postgres_sync_pool_size = pg_count(v, &pg::SYNC_POOL_SIZE)?
            }
            "postgres_connect_timeout_ms" => {
                cfg.postgres_connect_timeout_ms = pg_integer(v, &pg::CONNECT_TIMEOUT_MS)?
            }
            "postgres_write_timeout_ms" => {
                cfg.postgres_write_timeout_ms = pg_integer(v, &pg::WRITE_TIMEOUT_MS)?
            }
            "postgres_spool_dir" => {
                cfg.postgres_spool_dir = optional(v)?.map(PathBuf::from);
            }
            "postgres_spool_max_bytes" => {
                cfg.postgres_spool_max_bytes = pg_size(v, &pg::SPOOL_MAX_BYTES)?
            }
            "postgres_partitioning" => {
                cfg.postgres_partitioning = named(v, Partitioning::ALL, Partitioning::as_str)?
            }
            "postgres_partition_premake" => {
                cfg.postgres_partition_premake = pg_u32(v, &pg::PARTITION_PREMAKE)?
            }
            "postgres_retention_days" => {
                cfg.postgres_retention_days = pg_u32(v, &pg::RETENTION_DAYS)?
            }
            "postgres_default_partition" => cfg.postgres_default_partition = boolean(v)?,
            "postgres_prepared_statements" => cfg.postgres_prepared_statements = boolean(v)?,
            "postgres_partition_manager" => {
                cfg.postgres_partition_manager =
                    named(v, PartitionManager::ALL, PartitionManager::as_str)?
            }
            "postgres_maintenance_interval_ms" => {
                cfg.postgres_maintenance_interval_ms = pg_integer(v, &pg::MAINTENANCE_INTERVAL_MS)?
            }
            "postgres_gin_opclass" => {
                cfg.postgres_gin_opclass = named(v, GinOpclass::ALL, GinOpclass::as_str)?
            }
            "panic_flush_timeout_ms" => cfg.panic_flush_timeout_ms = integer(v, 0, u64::MAX)?,
            "log_rotation" => {
                cfg.log_rotation = choice(v, &[("none", Rotation::None), ("size", Rotation::Size)])?
            }
            "log_max_bytes" => cfg.log_max_bytes = size(v)?,
            "log_backup_count" => {
                cfg.log_backup_count =
                    u32::try_from(integer(v, 0, u64::from(u32::MAX))?).map_err(|_| Invalid)?
            }
            "log_file_mode" => cfg.log_file_mode = file_mode(v)?,
            "translation_dir" => cfg.translation_dir = optional(v)?.map(PathBuf::from),
            "language" => {
                cfg.language = optional(v)?;
                if cfg.language.as_deref().is_some_and(|l| l.contains('/')) {
                    return Err(Invalid);
                }
            }
            "log_cmd_output" => cfg.log_cmd_output = boolean(v)?,
            "capture_backtrace" => cfg.capture_backtrace = boolean(v)?,
            "format.timestamp_precision" => {
                cfg.format.timestamp_precision = choice(
                    v,
                    &[
                        ("iso", TimestampPrecision::Iso),
                        ("iso_seconds", TimestampPrecision::IsoSeconds),
                        ("iso_no_z", TimestampPrecision::IsoNoZ),
                        ("relative", TimestampPrecision::Relative),
                    ],
                )?
            }
            "format.min_level" => cfg.format.min_level = level(v)?,
            "console_min_level" => cfg.console_min_level = optional_level(v)?,
            "file_min_level" => cfg.file_min_level = optional_level(v)?,
            "journal_min_level" => cfg.journal_min_level = optional_level(v)?,
            "postgres_min_level" => cfg.postgres_min_level = optional_level(v)?,
            "format.show_code_info" => cfg.format.show_code_info = boolean(v)?,
            "format.pad_event_width" => {
                cfg.format.pad_event_width =
                    usize::try_from(integer(v, 0, 200)?).map_err(|_| Invalid)?
            }
            _ => return Ok(None),
        }
        Ok(Some(()))
    })();
    result.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_parser_and_a_unique_env_var() {
        for k in KEYS {
            let mut cfg = Config::default();
            // A value of the wrong type is rejected by every key's parser,
            // never reported as "not a key".
            assert_eq!(
                apply(&mut cfg, k.name, &Value::Array(Vec::new())),
                Some(Err(Invalid)),
                "{}",
                k.name
            );
            assert_eq!(
                k.env,
                format!("STOGGER_{}", k.short_name().to_ascii_uppercase()),
                "{}",
                k.name
            );
            assert_eq!(KEYS.iter().filter(|o| o.env == k.env).count(), 1);
            assert_eq!(KEYS.iter().filter(|o| o.name == k.name).count(), 1);
        }
        assert_eq!(
            apply(&mut Config::default(), "nope", &Value::Boolean(true)),
            None
        );
    }

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("10 MiB"), Ok(10 << 20));
        assert_eq!(parse_size("3kib"), Ok(3072));
        assert_eq!(parse_size("42"), Ok(42));
        assert_eq!(parse_size("42b"), Ok(42));
        assert_eq!(parse_size("lots"), Err(Invalid));
        assert_eq!(parse_size("1.5MB"), Err(Invalid));
        assert_eq!(parse_size("99999999999TiB"), Err(Invalid));
    }

    #[test]
    fn file_modes_are_octal_strings_that_let_the_owner_write() {
        let s = |t: &str| Value::String(t.to_string());
        assert_eq!(file_mode(&s("0640")), Ok(0o640));
        assert_eq!(file_mode(&s("600")), Ok(0o600));
        assert_eq!(file_mode(&s(" 0644 ")), Ok(0o644));
        for bad in ["0400", "0999", "rw-r-----", "1640", "06400", "64", ""] {
            assert_eq!(file_mode(&s(bad)), Err(Invalid), "{bad}");
        }
        assert_eq!(file_mode(&Value::Integer(640)), Err(Invalid));
    }

    #[test]
    fn facility_names() {
        assert_eq!(syslog_facility_code("LOG_LOCAL0"), Some(16));
        assert_eq!(syslog_facility_code("local7"), Some(23));
        assert_eq!(syslog_facility_code("log_daemon"), Some(3));
        assert_eq!(syslog_facility_code("LOCAL8"), None);
    }

    #[test]
    fn facility_numbers_are_codes_or_pythons_shifted_constants() {
        let set = |v: Value| {
            let mut cfg = Config::default();
            apply(&mut cfg, "systemd_facility", &v).map(|r| r.map(|()| cfg.systemd_facility))
        };
        let ok = |s: &str| Some(Ok(s.to_string()));
        assert_eq!(set(Value::Integer(16)), ok("LOG_LOCAL0"));
        assert_eq!(set(Value::Integer(3)), ok("LOG_DAEMON"));
        assert_eq!(set(Value::Integer(0)), ok("LOG_KERN"));
        // Python's syslog.LOG_LOCAL0 and syslog.LOG_DAEMON.
        assert_eq!(set(Value::Integer(128)), ok("LOG_LOCAL0"));
        assert_eq!(set(Value::Integer(24)), ok("LOG_DAEMON"));
        assert_eq!(set(Value::String("23".into())), ok("LOG_LOCAL7"));
        for bad in [12, 15, 25, 185, 192, -1] {
            assert_eq!(set(Value::Integer(bad)), Some(Err(Invalid)), "{bad}");
        }
    }
}
