//! The configuration keys: their names, environment variables, allowed
//! values and defaults ([`KEYS`]), and how a value is turned into a field of
//! [`Config`].
//!
//! Every source is reduced to a [`toml::Value`] before it is applied: file
//! and code values as they are, environment values as TOML strings. So one
//! parser per key serves every source, and every source accepts the same
//! spellings.

use super::{Config, Dsn, LogFormat, Rotation, SystemdMode, TimestampPrecision, WriteMode};
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
        "Log debug events too.",
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
         LOG_LOCAL0 to LOG_LOCAL7 (any case, `LOG_` optional)",
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
    pg_key("STOGGER_POSTGRES_BATCH_SIZE", &pg::BATCH_SIZE),
    pg_key("STOGGER_POSTGRES_FLUSH_INTERVAL_MS", &pg::FLUSH_INTERVAL_MS),
    pg_key("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", &pg::SHUTDOWN_TIMEOUT_MS),
    pg_key("STOGGER_POSTGRES_CONNECT_TIMEOUT_MS", &pg::CONNECT_TIMEOUT_MS),
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
        "10485760 (10 MiB)",
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
        "translation_dir",
        "STOGGER_TRANSLATION_DIR",
        "a path; empty for none",
        "none",
        "Accepted for parity with the original; not used yet.",
    ),
    key(
        "language",
        "STOGGER_LANGUAGE",
        "a string; empty for none",
        "none",
        "Accepted for parity with the original; not used yet.",
    ),
    key(
        "log_cmd_output",
        "STOGGER_LOG_CMD_OUTPUT",
        BOOL,
        "true",
        "Show `cmd_output_line` sections.",
    ),
    key(
        "console_min_level",
        "STOGGER_CONSOLE_MIN_LEVEL",
        "debug, info, warning (or warn), error, critical; empty: the global level",
        "the global level",
        "Least severe level the console takes (overrides verbose and format.min_level for it).",
    ),
    key(
        "file_min_level",
        "STOGGER_FILE_MIN_LEVEL",
        "debug, info, warning (or warn), error, critical; empty: the global level",
        "the global level",
        "Least severe level the file takes (overrides verbose and format.min_level for it).",
    ),
    key(
        "journal_min_level",
        "STOGGER_JOURNAL_MIN_LEVEL",
        "debug, info, warning (or warn), error, critical; empty: the global level",
        "the global level",
        "Least severe level the journal takes (overrides verbose and format.min_level for it).",
    ),
    key(
        "postgres_min_level",
        "STOGGER_POSTGRES_MIN_LEVEL",
        "debug, info, warning (or warn), error, critical; empty: the global level",
        "the global level",
        "Least severe level the PostgreSQL target takes (overrides verbose and format.min_level for it).",
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
        "debug, info, warning (or warn), error, critical",
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
pub fn find(name: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|k| k.name == name)
}

/// The key an environment variable sets (`STOGGER_MIN_LEVEL`).
pub fn find_env(var: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|k| k.env == var)
}

/// The known key nearest to an unknown one, if any is near enough to be a
/// likely typo. Both the full name and the name without its table are
/// compared, so `min_level` at the top level finds `format.min_level`.
pub fn nearest(word: &str) -> Option<&'static KeyInfo> {
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
                let (canonical, _) = facility(string(v)?).ok_or(Invalid)?;
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
            "postgres_batch_size" => cfg.postgres_batch_size = pg_count(v, &pg::BATCH_SIZE)?,
            "postgres_flush_interval_ms" => {
                cfg.postgres_flush_interval_ms = pg_integer(v, &pg::FLUSH_INTERVAL_MS)?
            }
            "postgres_shutdown_timeout_ms" => {
                cfg.postgres_shutdown_timeout_ms = pg_integer(v, &pg::SHUTDOWN_TIMEOUT_MS)?
            }
            "postgres_connect_timeout_ms" => {
                cfg.postgres_connect_timeout_ms = pg_integer(v, &pg::CONNECT_TIMEOUT_MS)?
            }
            "log_rotation" => {
                cfg.log_rotation = choice(v, &[("none", Rotation::None), ("size", Rotation::Size)])?
            }
            "log_max_bytes" => cfg.log_max_bytes = size(v)?,
            "log_backup_count" => {
                cfg.log_backup_count =
                    u32::try_from(integer(v, 0, u64::from(u32::MAX))?).map_err(|_| Invalid)?
            }
            "translation_dir" => cfg.translation_dir = optional(v)?.map(PathBuf::from),
            "language" => cfg.language = optional(v)?,
            "log_cmd_output" => cfg.log_cmd_output = boolean(v)?,
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
    fn facility_names() {
        assert_eq!(syslog_facility_code("LOG_LOCAL0"), Some(16));
        assert_eq!(syslog_facility_code("local7"), Some(23));
        assert_eq!(syslog_facility_code("log_daemon"), Some(3));
        assert_eq!(syslog_facility_code("LOCAL8"), None);
    }
}
