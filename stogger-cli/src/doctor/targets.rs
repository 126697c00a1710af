//! The console, file, journal and PostgreSQL target sections.

use super::is_socket;
use super::report::{Section, Status};
use crate::dsn;
use crate::settings::systemd_name;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use stogger_core::config::{Config, LogFormat, Rotation, SystemdMode, WriteMode};
use stogger_core::output::console::color_enabled;

/// `JOURNAL_STREAM` (`device:inode`) names this process's stderr.
fn stderr_is_journal_stream() -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let value = std::env::var("JOURNAL_STREAM").ok()?;
    let (dev, ino) = value.split_once(':')?;
    let meta = std::fs::metadata("/proc/self/fd/2").ok()?;
    Some(dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino()))
}

fn journal_in_use(cfg: &Config) -> bool {
    cfg.systemd != SystemdMode::Off && is_socket(&cfg.journal_socket)
}

/// Console: on or off, stderr a terminal, colours.
pub fn console(cfg: &Config) -> Section {
    if !cfg.log_to_console {
        return Section::new("console", Status::Off, "log_to_console = false")
            .hint("set log_to_console = true to see events on stderr");
    }
    let tty = std::io::stderr().is_terminal();
    let color = color_enabled();
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .map(serde_json::Value::String)
            .unwrap_or(serde_json::Value::Null)
    };
    let facts = |s: Section| {
        s.fact("stderr_tty", tty)
            .fact("colors", color)
            .fact("NO_COLOR", env("NO_COLOR"))
            .fact("CLICOLOR_FORCE", env("CLICOLOR_FORCE"))
            .fact("TERM", env("TERM"))
    };
    if journal_in_use(cfg) && stderr_is_journal_stream() == Some(true) {
        return facts(Section::new(
            "console",
            Status::Off,
            "stderr is the journal stream (JOURNAL_STREAM): console lines are suppressed, the \
             journal target has the events",
        ));
    }
    let detail = format!(
        "stderr is {}a terminal; colours {}",
        if tty { "" } else { "not " },
        if color { "on" } else { "off" }
    );
    facts(Section::new("console", Status::Ok, detail))
}

/// The nearest existing directory at or above `dir`.
fn existing_ancestor(dir: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.ancestors().find(|p| p.is_dir()).map(Path::to_path_buf)
}

/// Creates and removes a temporary file in `dir`.
fn probe_writable(dir: &Path) -> Result<(), std::io::Error> {
    let probe = dir.join(format!(".stogger-doctor-{}.tmp", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// `357 B`, `1.2 MiB`.
pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

/// The permission bits of `path`, when it exists.
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// Warns when the log file, or the files stogger will create, can be read
/// by every user of the machine (logs carry user ids, addresses, tokens).
fn permissions(mut section: Section, path: &Path, mode: Option<u32>, configured: u32) -> Section {
    let world_readable = |m: u32| m & 0o004 != 0;
    if mode.is_some_and(world_readable) {
        section.raise(Status::Warning);
        section = section.note(format!(
            "{} is readable by every user (mode {:04o})",
            path.display(),
            mode.unwrap_or_default()
        ));
        if section.hint.is_none() {
            section = section.hint(format!(
                "run `chmod o-r {}` (stogger never changes the mode of an existing file; \
                 files it creates get log_file_mode, {:04o})",
                path.display(),
                configured
            ));
        }
    }
    if world_readable(configured) {
        section.raise(Status::Warning);
        section = section.note(format!(
            "log_file_mode = \"{configured:04o}\" makes new log files readable by every user"
        ));
        if section.hint.is_none() {
            section = section.hint("set log_file_mode = \"0640\" (the default) or stricter");
        }
    }
    section
}

/// File: the directory, writability, the current size, rotation.
pub fn file(cfg: &Config, identifier_is_default: bool) -> Section {
    if !cfg.log_to_file {
        return Section::new("file", Status::Off, "log_to_file = false")
            .hint("set log_to_file = true to keep a log file in logdir");
    }
    let path = cfg.logdir.join(format!("{}.log", cfg.syslog_identifier));
    let path = std::path::absolute(&path).unwrap_or(path);
    let rotation = match (cfg.log_rotation, cfg.log_backup_count) {
        (Rotation::None, _) => "off (log_rotation = none)".to_string(),
        (Rotation::Size, 0) => "off (log_backup_count = 0)".to_string(),
        (Rotation::Size, n) => format!(
            "at {} ({} bytes), {n} backups",
            human_bytes(cfg.log_max_bytes),
            cfg.log_max_bytes
        ),
    };
    let format = match cfg.log_format {
        LogFormat::Simple => "simple",
        LogFormat::Json => "json",
    };
    let size = std::fs::metadata(&path).ok().map(|m| m.len());
    let mut section = match existing_ancestor(&cfg.logdir) {
        None => Section::new(
            "file",
            Status::Error,
            format!("no existing directory at or above {}", cfg.logdir.display()),
        )
        .hint("set logdir to a directory the service can create or write"),
        Some(dir) => {
            let exists = cfg.logdir.is_dir();
            match probe_writable(&dir) {
                Ok(()) => {
                    let where_ = if exists {
                        "directory writable".to_string()
                    } else {
                        format!(
                            "directory does not exist yet; it will be created in {} (writable)",
                            dir.display()
                        )
                    };
                    let size_text = match size {
                        Some(n) => human_bytes(n),
                        None => "not created yet".to_string(),
                    };
                    Section::new(
                        "file",
                        Status::Ok,
                        format!(
                            "{}: {size_text}; {where_}; rotation {rotation}",
                            path.display()
                        ),
                    )
                }
                Err(e) => Section::new(
                    "file",
                    Status::Error,
                    format!("cannot write in {}: {e}", dir.display()),
                )
                .hint(format!(
                    "make {} writable for the service's user, or set logdir to a directory it \
                     can write",
                    dir.display()
                )),
            }
        }
    };
    if identifier_is_default && section.hint.is_none() {
        section = section.hint(format!(
            "syslog_identifier is not set, so the file is named after the executable: `{}` \
             here, your service's own name when it runs; set syslog_identifier to check the \
             service's file",
            cfg.syslog_identifier
        ));
    }
    let mode = file_mode(&path);
    if let Some(mode) = mode {
        section = section.fact("mode", format!("{mode:04o}"));
    }
    section = permissions(section, &path, mode, cfg.log_file_mode);
    let backups = (1..=cfg.log_backup_count.min(1000))
        .filter(|n| {
            let mut p = path.as_os_str().to_os_string();
            p.push(format!(".{n}"));
            Path::new(&p).exists()
        })
        .count();
    section
        .fact("path", path.display().to_string())
        .fact("size_bytes", size)
        .fact("format", format)
        .fact("rotation", rotation)
        .fact("backups_present", backups)
}

/// Journal: mode, socket, `JOURNAL_STREAM`.
pub fn journal(cfg: &Config) -> Section {
    let socket = cfg.journal_socket.display().to_string();
    let present = is_socket(&cfg.journal_socket);
    let stream = std::env::var("JOURNAL_STREAM").ok();
    let section = match (cfg.systemd, present) {
        (SystemdMode::Off, _) => Section::new("journal", Status::Off, "systemd = off")
            .hint("set systemd = \"auto\" to use the journal where it exists"),
        (SystemdMode::Auto, false) => Section::new(
            "journal",
            Status::Off,
            format!("no journal socket at {socket} (systemd = auto: the journal is skipped)"),
        ),
        (SystemdMode::Required, false) => Section::new(
            "journal",
            Status::Error,
            format!("systemd = required but there is no journal socket at {socket}"),
        )
        .hint(
            "run under systemd (or point journal_socket at the journal's socket), or set \
             systemd = \"auto\"",
        ),
        (_, true) => Section::new(
            "journal",
            Status::Ok,
            format!("journal socket {socket} present; events go to the journal"),
        ),
    };
    let section = match &stream {
        Some(v) => section.note(format!(
            "JOURNAL_STREAM={v} (systemd connected stdout/stderr to the journal)"
        )),
        None => section,
    };
    section
        .fact("mode", systemd_name(cfg.systemd))
        .fact("socket", socket)
        .fact("socket_present", present)
        .fact(
            "JOURNAL_STREAM",
            stream
                .map(serde_json::Value::String)
                .unwrap_or(serde_json::Value::Null),
        )
        .fact(
            "stderr_is_journal",
            stderr_is_journal_stream().unwrap_or(false),
        )
}

/// PostgreSQL target: enabled, DSN present, password available.
pub fn postgres(cfg: &Config) -> Section {
    if !cfg.enable_postgres {
        return Section::new("postgres", Status::Off, "enable_postgres = false")
            .hint("set enable_postgres = true and postgres_dsn to log into PostgreSQL");
    }
    let mode = match cfg.postgres_write_mode {
        WriteMode::Batch => "batch",
        WriteMode::Sync => "sync",
    };
    let Some(raw) = cfg.postgres_dsn.as_deref().filter(|d| !d.trim().is_empty()) else {
        return Section::new(
            "postgres",
            Status::Error,
            "enable_postgres = true but postgres_dsn is missing",
        )
        .hint(
            "set postgres_dsn (e.g. postgresql://stogger:%PASSWORD%@db.example.com:5432/logs, \
             or postgresql://stogger:@/logs?host=/var/run/postgresql for socket auth)",
        )
        .fact("dsn", serde_json::Value::Null);
    };
    let redacted = dsn::redact(raw);
    let section = |status, detail: String| {
        Section::new("postgres", status, detail)
            .fact("dsn", redacted.clone())
            .fact("table", cfg.postgres_table.clone())
            .fact("write_mode", mode)
    };
    if raw.contains(dsn::PLACEHOLDER) && std::env::var_os(dsn::PASSWORD_VAR).is_none() {
        return section(
            Status::Error,
            format!(
                "postgres_dsn contains {} but {} is not set",
                dsn::PLACEHOLDER,
                dsn::PASSWORD_VAR
            ),
        )
        .hint(format!(
            "set {} in the service's environment (systemd: Environment=\"{}=...\")",
            dsn::PASSWORD_VAR,
            dsn::PASSWORD_VAR
        ));
    }
    section(
        Status::Ok,
        format!(
            "enabled: {redacted}, table {}, write mode {mode}",
            cfg.postgres_table
        ),
    )
}
