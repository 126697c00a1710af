//! The PostgreSQL writer's settings from a [`Config`]: built in one place,
//! for the target and for tools that connect the way it does.

use super::Config;
use std::time::Duration;
pub use stogger_pg_proto::dsn::Dsn;
use stogger_pg_proto::dsn::{substitute_password, PASSWORD_PLACEHOLDER};
pub use stogger_pg_proto::PgSettings;

impl Config {
    /// The settings the PostgreSQL writer is started with: the `postgres_*`
    /// keys, `syslog_identifier` as the connection's application name, and
    /// `postgres_dsn` trimmed, with `%PASSWORD%` replaced by `password`
    /// (percent-encoded in a URL, quoted in `key=value` form). `None` when
    /// `postgres_dsn` is not set.
    ///
    /// The target and the `stogger` tools (doctor, query) all call this, so
    /// they connect alike. Every value was checked against the writer's
    /// limits when the configuration was loaded (an out-of-range value is
    /// an error of [`crate::init_logging`]).
    pub fn postgres_settings(&self, password: &str) -> Option<PgSettings> {
        let dsn = self
            .postgres_dsn
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())?;
        let dsn = if dsn.contains(PASSWORD_PLACEHOLDER) {
            substitute_password(dsn, password)
        } else {
            dsn.to_string()
        };
        Some(PgSettings {
            dsn: Dsn::from(dsn),
            table: self.postgres_table.clone(),
            write_mode: self.postgres_write_mode,
            queue_capacity: self.postgres_queue_capacity,
            queue_max_bytes: self.postgres_queue_max_bytes,
            batch_size: self.postgres_batch_size,
            flush_interval: Duration::from_millis(self.postgres_flush_interval_ms),
            connect_timeout: Duration::from_millis(self.postgres_connect_timeout_ms),
            shutdown_timeout: Duration::from_millis(self.postgres_shutdown_timeout_ms),
            write_timeout: Duration::from_millis(self.postgres_write_timeout_ms),
            spool_dir: self
                .postgres_spool_dir
                .as_ref()
                .map(|d| d.to_string_lossy().into_owned()),
            spool_max_bytes: self.postgres_spool_max_bytes,
            application_name: Some(self.syslog_identifier.clone()),
            sync_pool_size: self.postgres_sync_pool_size,
            prepared_statements: self.postgres_prepared_statements,
            partitioning: self.postgres_partitioning,
            partition_premake: self.postgres_partition_premake,
            retention_days: self.postgres_retention_days,
            default_partition: self.postgres_default_partition,
            partition_manager: self.postgres_partition_manager,
            maintenance_interval: Duration::from_millis(self.postgres_maintenance_interval_ms),
            gin_opclass: self.postgres_gin_opclass,
        })
    }
}

/// Milliseconds of a duration, as the `*_ms` keys hold them.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
