//! The CLI's own connection to the log table (for `query`), made with the
//! plugin's connection code: the same DSN forms, TLS modes and timeouts as
//! the service's writer, and the password redacted from every message.

use crate::dsn;
use crate::query::{LogRow, Param};
use stogger_core::config::{Config, PgSettings};
use stogger_postgres::config::ConnSettings;
use stogger_postgres::schema::TableName;
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

/// The settings the service starts its writer with
/// ([`Config::postgres_settings`]): `%PASSWORD%` filled in from
/// `STOGGER_POSTGRES_PASSWORD`, and the connection named after the tool
/// (`application_name`). Errors name what is missing (the service would try
/// an empty password instead).
pub fn settings(cfg: &Config, application_name: &str) -> Result<PgSettings, String> {
    let password = std::env::var(dsn::PASSWORD_VAR).ok();
    let needs_password = cfg
        .postgres_dsn
        .as_deref()
        .is_some_and(|d| d.contains(dsn::PLACEHOLDER));
    if needs_password && password.is_none() {
        return Err(format!(
            "postgres_dsn contains {} but {} is not set",
            dsn::PLACEHOLDER,
            dsn::PASSWORD_VAR
        ));
    }
    let mut settings = cfg
        .postgres_settings(password.as_deref().unwrap_or(""))
        .ok_or_else(|| {
            "postgres_dsn is not set (in stogger.toml, or STOGGER_POSTGRES_DSN)".to_string()
        })?;
    settings.application_name = Some(application_name.to_string());
    Ok(settings)
}

/// A runtime for the CLI's blocking calls.
pub fn runtime() -> Result<Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// An open connection to the configured table.
pub struct Db {
    rt: Runtime,
    client: Client,
    settings: ConnSettings,
    /// The table, quoted by the plugin (`"stogger_logs"`, `"audit"."Logs"`).
    pub quoted_table: String,
}

impl Db {
    /// Connects with the configured DSN (password filled in, TLS as asked).
    pub fn open(cfg: &Config) -> Result<Db, String> {
        let settings = settings(cfg, "stogger-cli")?;
        let table = TableName::parse(&settings.table).map_err(|e| e.to_string())?;
        let settings = ConnSettings::parse(&settings).map_err(|e| e.to_string())?;
        let rt = runtime()?;
        let client = rt.block_on(stogger_postgres::conn::connect(&settings))?;
        Ok(Db {
            rt,
            client,
            settings,
            quoted_table: table.quoted(),
        })
    }

    fn describe(&self, e: &tokio_postgres::Error) -> String {
        self.settings
            .redactor
            .apply(&stogger_postgres::conn::describe(e))
    }

    /// Runs a query over the log table's columns.
    pub fn fetch(&self, sql: &str, params: &[Param]) -> Result<Vec<LogRow>, String> {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
        let rows = self
            .rt
            .block_on(self.client.query(sql, &refs))
            .map_err(|e| {
                format!(
                    "query on {} failed: {}",
                    self.quoted_table,
                    self.describe(&e)
                )
            })?;
        rows.iter()
            .map(|r| {
                Ok(LogRow {
                    id: r.try_get(0).map_err(|e| self.describe(&e))?,
                    timestamp: r.try_get(1).map_err(|e| self.describe(&e))?,
                    level: r.try_get(2).map_err(|e| self.describe(&e))?,
                    event: r.try_get(3).map_err(|e| self.describe(&e))?,
                    func: r.try_get(4).map_err(|e| self.describe(&e))?,
                    scope: r.try_get(5).map_err(|e| self.describe(&e))?,
                    data: r.try_get(6).map_err(|e| self.describe(&e))?,
                })
            })
            .collect()
    }

    /// The highest `id` in the table (0 when empty).
    pub fn max_id(&self) -> Result<i64, String> {
        let sql = format!(
            "SELECT COALESCE(max(id), 0)::bigint FROM {}",
            self.quoted_table
        );
        let row = self
            .rt
            .block_on(self.client.query_one(&sql, &[]))
            .map_err(|e| self.describe(&e))?;
        row.try_get(0).map_err(|e| self.describe(&e))
    }
}
