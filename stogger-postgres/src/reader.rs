//! Reading the log table back (what `stogger query` does): a blocking
//! connection made exactly like the writer's (the same DSN forms, TLS
//! modes and connect timeout; the password redacted from every message),
//! for `SELECT`s over the table's columns.
//!
//! Each query is one unnamed statement with typed parameters (parse, bind
//! and execute in one round trip), so it works through pgbouncer in
//! transaction pooling mode, and the server plans it with the parameters'
//! values: a time condition prunes the partitions it excludes.

use std::fmt;

use serde_json::Value as Json;
use stogger_pg_proto::PgSettings;
use time::OffsetDateTime;
use tokio::runtime::Runtime;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::conn;
use crate::conn_settings::ConnSettings;
use crate::schema::TableName;

/// A bind parameter of a query (`$1`, `$2`, ... in the SQL text).
#[derive(Debug, Clone, PartialEq)]
pub enum QueryParam {
    /// `text`.
    Text(String),
    /// `text[]`.
    TextArray(Vec<String>),
    /// `timestamptz`.
    Time(OffsetDateTime),
    /// `jsonb`.
    Json(Json),
    /// `bigint`.
    Int(i64),
}

impl QueryParam {
    fn as_sql(&self) -> (&(dyn ToSql + Sync), Type) {
        match self {
            QueryParam::Text(s) => (s, Type::TEXT),
            QueryParam::TextArray(v) => (v, Type::TEXT_ARRAY),
            QueryParam::Time(t) => (t, Type::TIMESTAMPTZ),
            QueryParam::Json(j) => (j, Type::JSONB),
            QueryParam::Int(n) => (n, Type::INT8),
        }
    }
}

/// One row of the log table, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    /// `id`: insertion order.
    pub id: i64,
    /// `timestamp`: the event's time.
    pub timestamp: OffsetDateTime,
    /// `level`.
    pub level: String,
    /// `event`: the event name.
    pub event: String,
    /// `func`, None for SQL NULL.
    pub func: Option<String>,
    /// `scope`, None for SQL NULL.
    pub scope: Option<String>,
    /// `data`: every other field.
    pub data: Json,
}

/// A read connection to the configured log table.
pub struct LogReader {
    runtime: Runtime,
    client: Client,
    settings: ConnSettings,
    table: TableName,
}

impl fmt::Debug for LogReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader")
            .field("connection", &self.settings)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl LogReader {
    /// Connects with `settings` (its DSN, TLS mode, `connect_timeout` and
    /// `application_name`) to read its table. Errors are one line each,
    /// without the password.
    pub fn connect(settings: &PgSettings) -> Result<LogReader, String> {
        let table = TableName::parse(&settings.table).map_err(|e| e.to_string())?;
        let settings = ConnSettings::parse(settings).map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let client = runtime.block_on(conn::connect(&settings))?;
        Ok(LogReader {
            runtime,
            client,
            settings,
            table,
        })
    }

    /// The table's name, quoted for SQL (`"stogger_logs"`, `"audit"."Logs"`).
    pub fn quoted_table(&self) -> String {
        self.table.quoted()
    }

    fn describe(&self, e: &tokio_postgres::Error) -> String {
        self.settings.redactor.apply(&conn::describe(e))
    }

    /// Runs `sql`, a `SELECT` whose result columns are the table's seven,
    /// in table order (`id, "timestamp", level, event, func, scope, data`),
    /// with `params` bound to `$1`, `$2`, ...
    pub fn fetch(&self, sql: &str, params: &[QueryParam]) -> Result<Vec<StoredRow>, String> {
        let typed: Vec<(&(dyn ToSql + Sync), Type)> =
            params.iter().map(QueryParam::as_sql).collect();
        let rows = self
            .runtime
            .block_on(self.client.query_typed(sql, &typed))
            .map_err(|e| {
                format!(
                    "query on {} failed: {}",
                    self.table.quoted(),
                    self.describe(&e)
                )
            })?;
        rows.iter().map(|r| self.stored_row(r)).collect()
    }

    /// The server's plan of `sql` with `params` (`EXPLAIN`, one line per
    /// element): planned with the parameters' values, as [`LogReader::fetch`]
    /// runs it, so it shows the partitions a time condition leaves.
    pub fn explain(&self, sql: &str, params: &[QueryParam]) -> Result<Vec<String>, String> {
        let typed: Vec<(&(dyn ToSql + Sync), Type)> =
            params.iter().map(QueryParam::as_sql).collect();
        let rows = self
            .runtime
            .block_on(self.client.query_typed(&format!("EXPLAIN {sql}"), &typed))
            .map_err(|e| format!("EXPLAIN failed: {}", self.describe(&e)))?;
        rows.iter()
            .map(|r| r.try_get::<_, String>(0).map_err(|e| self.describe(&e)))
            .collect()
    }

    fn stored_row(&self, r: &Row) -> Result<StoredRow, String> {
        let column_error = |e: tokio_postgres::Error| self.describe(&e);
        Ok(StoredRow {
            id: r.try_get(0).map_err(column_error)?,
            timestamp: r.try_get(1).map_err(column_error)?,
            level: r.try_get(2).map_err(column_error)?,
            event: r.try_get(3).map_err(column_error)?,
            func: r.try_get(4).map_err(column_error)?,
            scope: r.try_get(5).map_err(column_error)?,
            data: r.try_get(6).map_err(column_error)?,
        })
    }

    /// The highest `id` in the table (0 when it is empty).
    pub fn max_id(&self) -> Result<i64, String> {
        let sql = format!(
            "SELECT COALESCE(max(id), 0)::bigint FROM {}",
            self.table.quoted()
        );
        let rows = self
            .runtime
            .block_on(self.client.query_typed(&sql, &[]))
            .map_err(|e| self.describe(&e))?;
        match rows.first() {
            Some(row) => row.try_get(0).map_err(|e| self.describe(&e)),
            None => Ok(0),
        }
    }
}
