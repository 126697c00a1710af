//! The configuration as the CLI sees it: loaded exactly like the library
//! (`stogger_core::config`), and each key's effective value in words.

use crate::dsn;
use std::path::Path;
use stogger_core::config::{
    Config, LogFormat, Rotation, SystemdMode, TimestampPrecision, WriteMode,
};

/// The effective value of `key` as text, the way it would be written in a
/// config file; `None` for a key this function does not know (a test keeps
/// it in step with [`stogger_core::config::KEYS`]). The DSN is shown with
/// its password redacted.
pub fn value_of(cfg: &Config, key: &str) -> Option<String> {
    let path = |p: &Path| p.display().to_string();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "(none)".to_string());
    Some(match key {
        "verbose" => cfg.verbose.to_string(),
        "log_filter" => opt(cfg.log_filter.clone()),
        "console_filter" => opt(cfg.console_filter.clone()),
        "file_filter" => opt(cfg.file_filter.clone()),
        "journal_filter" => opt(cfg.journal_filter.clone()),
        "postgres_filter" => opt(cfg.postgres_filter.clone()),
        "reload_on_sighup" => cfg.reload_on_sighup.to_string(),
        "logdir" => path(&cfg.logdir),
        "log_to_console" => cfg.log_to_console.to_string(),
        "log_to_file" => cfg.log_to_file.to_string(),
        "syslog_identifier" => cfg.syslog_identifier.clone(),
        "show_caller_info" => cfg.show_caller_info.to_string(),
        "log_format" => match cfg.log_format {
            LogFormat::Simple => "simple",
            LogFormat::Json => "json",
        }
        .to_string(),
        "systemd" => systemd_name(cfg.systemd).to_string(),
        "systemd_facility" => cfg.systemd_facility.clone(),
        "journal_socket" => path(&cfg.journal_socket),
        "enable_postgres" => cfg.enable_postgres.to_string(),
        "postgres_dsn" => opt(cfg.postgres_dsn.as_deref().map(dsn::redact)),
        "postgres_table" => cfg.postgres_table.clone(),
        "postgres_plugin" => opt(cfg.postgres_plugin.as_deref().map(path)),
        "postgres_write_mode" => match cfg.postgres_write_mode {
            WriteMode::Batch => "batch",
            WriteMode::Sync => "sync",
        }
        .to_string(),
        "postgres_queue_capacity" => cfg.postgres_queue_capacity.to_string(),
        "postgres_queue_max_bytes" => cfg.postgres_queue_max_bytes.to_string(),
        "postgres_write_timeout_ms" => cfg.postgres_write_timeout_ms.to_string(),
        "postgres_spool_dir" => opt(cfg.postgres_spool_dir.as_deref().map(path)),
        "postgres_spool_max_bytes" => cfg.postgres_spool_max_bytes.to_string(),
        "postgres_batch_size" => cfg.postgres_batch_size.to_string(),
        "postgres_flush_interval_ms" => cfg.postgres_flush_interval_ms.to_string(),
        "postgres_shutdown_timeout_ms" => cfg.postgres_shutdown_timeout_ms.to_string(),
        "postgres_connect_timeout_ms" => cfg.postgres_connect_timeout_ms.to_string(),
        "postgres_sync_pool_size" => cfg.postgres_sync_pool_size.to_string(),
        "postgres_prepared_statements" => cfg.postgres_prepared_statements.to_string(),
        "postgres_partitioning" => cfg.postgres_partitioning.to_string(),
        "postgres_partition_premake" => cfg.postgres_partition_premake.to_string(),
        "postgres_retention_days" => cfg.postgres_retention_days.to_string(),
        "postgres_default_partition" => cfg.postgres_default_partition.to_string(),
        "postgres_partition_manager" => cfg.postgres_partition_manager.to_string(),
        "postgres_maintenance_interval_ms" => cfg.postgres_maintenance_interval_ms.to_string(),
        "postgres_gin_opclass" => cfg.postgres_gin_opclass.to_string(),
        "panic_flush_timeout_ms" => cfg.panic_flush_timeout_ms.to_string(),
        "log_rotation" => match cfg.log_rotation {
            Rotation::None => "none",
            Rotation::Size => "size",
        }
        .to_string(),
        "log_max_bytes" => cfg.log_max_bytes.to_string(),
        "log_backup_count" => cfg.log_backup_count.to_string(),
        "log_file_mode" => format!("{:04o}", cfg.log_file_mode),
        "translation_dir" => opt(cfg.translation_dir.as_deref().map(path)),
        "language" => opt(cfg.language.clone()),
        "log_cmd_output" => cfg.log_cmd_output.to_string(),
        "capture_backtrace" => cfg.capture_backtrace.to_string(),
        "format.timestamp_precision" => match cfg.format.timestamp_precision {
            TimestampPrecision::Iso => "iso",
            TimestampPrecision::IsoSeconds => "iso_seconds",
            TimestampPrecision::IsoNoZ => "iso_no_z",
            TimestampPrecision::Relative => "relative",
        }
        .to_string(),
        "format.min_level" => cfg.format.min_level.as_str().to_string(),
        "console_min_level" => opt(cfg.console_min_level.map(|l| l.as_str().to_string())),
        "file_min_level" => opt(cfg.file_min_level.map(|l| l.as_str().to_string())),
        "journal_min_level" => opt(cfg.journal_min_level.map(|l| l.as_str().to_string())),
        "postgres_min_level" => opt(cfg.postgres_min_level.map(|l| l.as_str().to_string())),
        "format.show_code_info" => cfg.format.show_code_info.to_string(),
        "format.pad_event_width" => cfg.format.pad_event_width.to_string(),
        _ => return None,
    })
}

/// The config spelling of a journal mode.
pub fn systemd_name(mode: SystemdMode) -> &'static str {
    match mode {
        SystemdMode::Auto => "auto",
        SystemdMode::Required => "required",
        SystemdMode::Off => "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stogger_core::config::KEYS;

    #[test]
    fn every_key_has_a_displayed_value() {
        let cfg = Config::default();
        for key in KEYS {
            assert!(
                value_of(&cfg, key.name).is_some(),
                "doctor cannot show `{}`",
                key.name
            );
        }
    }

    #[test]
    fn dsn_is_shown_without_its_password() {
        let cfg = Config {
            postgres_dsn: Some("postgresql://app:hunter22@db/logs".into()),
            ..Config::default()
        };
        let shown = value_of(&cfg, "postgres_dsn").unwrap();
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("db/logs"), "{shown}");
    }
}
