//! The diagnosis behind `stogger doctor`: can we connect, what server is it,
//! is the table there with the expected columns and indexes, may we insert,
//! how many rows and how fresh. Read-only: nothing is created.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_postgres::Client;

use stogger_pg_proto::dsn::redact;
use stogger_pg_proto::PgSettings;

use crate::conn;
use crate::conn_settings::ConnSettings;
use crate::schema::{TableName, COLUMNS, INDEXES};

/// One expected column and what the table has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnCheck {
    /// Column name.
    pub name: String,
    /// Expected type (`format_type` spelling).
    pub expected: String,
    /// Actual type, None when the column is missing.
    pub actual: Option<String>,
    /// Whether it matches.
    pub ok: bool,
}

/// One expected index and whether it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexCheck {
    /// The index name.
    pub name: String,
    /// Whether an index of that name exists on the table.
    pub present: bool,
    /// Its definition (`pg_get_indexdef`), when present.
    pub definition: Option<String>,
}

/// Everything `check` found. Fields are None when the step was not reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The DSN, password masked.
    pub dsn: String,
    /// The table name as configured.
    pub table: String,
    /// Whether a connection was made.
    pub connected: bool,
    /// How long connecting took.
    pub connect_ms: Option<u64>,
    /// `server_version`.
    pub server_version: Option<String>,
    /// The user we are connected as.
    pub user: Option<String>,
    /// Whether the connection is encrypted (from `pg_stat_ssl`).
    pub tls: Option<bool>,
    /// Whether the table exists.
    pub table_present: Option<bool>,
    /// Expected columns vs. actual.
    pub columns: Vec<ColumnCheck>,
    /// The four indexes.
    pub indexes: Vec<IndexCheck>,
    /// `has_table_privilege(table, 'INSERT')`.
    pub can_insert: Option<bool>,
    /// `has_table_privilege(table, 'SELECT')`.
    pub can_select: Option<bool>,
    /// Number of rows (exact, or the planner's estimate when counting took
    /// too long: see `row_count_estimated`).
    pub row_count: Option<i64>,
    /// Whether `row_count` is an estimate.
    pub row_count_estimated: bool,
    /// Time of the newest row (RFC 3339).
    pub newest: Option<String>,
    /// Events services reported as dropped (queue or spool full) in the
    /// last 24 hours, from the `stogger-events-dropped` rows the writer
    /// inserts.
    pub dropped_last_24h: Option<i64>,
    /// Events whose COMMIT's outcome could not be known (counted as
    /// uncertain, not sent again) in the last 24 hours, from the same rows.
    pub uncertain_last_24h: Option<i64>,
    /// Everything wrong, in words (empty when all is well).
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs the check on a private thread (`stogger-pg-check`) with its own
/// runtime, so it can be called from anywhere, inside a runtime or not.
/// Every step is bounded by `config.connect_timeout`.
pub fn check(config: &PgSettings) -> CheckReport {
    let cfg = config.clone();
    let fallback = base_report(config);
    let handle = std::thread::Builder::new()
        .name("stogger-pg-check".to_string())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(check_async(&cfg)),
                Err(e) => {
                    let mut r = base_report(&cfg);
                    r.problems.push(format!("cannot start a runtime: {e}"));
                    r
                }
            }
        });
    match handle.map(|h| h.join()) {
        Ok(Ok(r)) => r,
        _ => {
            let mut r = fallback;
            r.problems.push("the check thread failed".to_string());
            r
        }
    }
}

fn base_report(config: &PgSettings) -> CheckReport {
    CheckReport {
        dsn: redact(&config.dsn),
        table: config.table.clone(),
        connected: false,
        connect_ms: None,
        server_version: None,
        user: None,
        tls: None,
        table_present: None,
        columns: Vec::new(),
        indexes: Vec::new(),
        can_insert: None,
        can_select: None,
        row_count: None,
        row_count_estimated: false,
        newest: None,
        dropped_last_24h: None,
        uncertain_last_24h: None,
        problems: Vec::new(),
    }
}

/// The check, for callers that already run tokio.
pub async fn check_async(config: &PgSettings) -> CheckReport {
    let mut r = base_report(config);
    let settings = match ConnSettings::parse(config) {
        Ok(s) => s,
        Err(e) => {
            r.problems.push(e.to_string());
            return r;
        }
    };
    let table = match TableName::parse(&config.table) {
        Ok(t) => t,
        Err(e) => {
            r.problems.push(format!("table: {e}"));
            return r;
        }
    };
    let start = Instant::now();
    let client = match conn::connect(&settings).await {
        Ok(c) => c,
        Err(m) => {
            r.problems.push(m);
            return r;
        }
    };
    r.connected = true;
    r.connect_ms = Some(start.elapsed().as_millis() as u64);
    let bound = settings.connect_timeout.max(Duration::from_secs(1));
    match tokio::time::timeout(bound * 4, inspect(&client, &table, bound, &mut r)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => r.problems.push(
            settings
                .redactor
                .apply(&format!("query failed: {}", conn::describe(&e))),
        ),
        Err(_) => r.problems.push(format!(
            "the server did not answer the checks within {} ms",
            (bound * 4).as_millis()
        )),
    }
    r
}

async fn inspect(
    client: &Client,
    t: &TableName,
    bound: Duration,
    r: &mut CheckReport,
) -> Result<(), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_user::text, \
             (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())",
            &[],
        )
        .await?;
    r.server_version = row.try_get(0).ok();
    r.user = row.try_get(1).ok();
    r.tls = row.try_get::<_, Option<bool>>(2).ok().flatten();
    let quoted = t.quoted();
    let present: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted])
        .await?
        .try_get(0)?;
    r.table_present = Some(present);
    if !present {
        r.problems.push(format!(
            "table {t} does not exist (the writer creates it when it connects with CREATE \
             privilege; `stogger schema` prints the DDL)"
        ));
        return Ok(());
    }
    let cols = client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            &[&quoted],
        )
        .await?;
    for (name, expected, _) in COLUMNS {
        let actual = cols
            .iter()
            .find(|c| c.try_get::<_, String>(0).ok().as_deref() == Some(name))
            .and_then(|c| c.try_get::<_, String>(1).ok());
        let ok = actual.as_deref() == Some(expected);
        if !ok {
            r.problems.push(match &actual {
                Some(a) => format!("column {name} is {a}, expected {expected}"),
                None => format!("column {name} ({expected}) is missing"),
            });
        }
        r.columns.push(ColumnCheck {
            name: name.to_string(),
            expected: expected.to_string(),
            actual,
            ok,
        });
    }
    let idx = client
        .query(
            "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass($1)",
            &[&quoted],
        )
        .await?;
    for (suffix, _) in INDEXES {
        let name = t.index_name(suffix);
        let definition = idx
            .iter()
            .find(|i| i.try_get::<_, String>(0).ok().as_deref() == Some(name.as_str()))
            .and_then(|i| i.try_get::<_, String>(1).ok());
        if definition.is_none() {
            r.problems.push(format!("index {name} is missing"));
        }
        r.indexes.push(IndexCheck {
            name,
            present: definition.is_some(),
            definition,
        });
    }
    let privs = client
        .query_one(
            "SELECT has_table_privilege($1, 'INSERT'), has_table_privilege($1, 'SELECT')",
            &[&quoted],
        )
        .await?;
    r.can_insert = privs.try_get(0).ok();
    r.can_select = privs.try_get(1).ok();
    if r.can_insert == Some(false) {
        r.problems.push(format!(
            "user {} has no INSERT privilege on {t}",
            r.user.as_deref().unwrap_or("?")
        ));
    }
    if r.can_select != Some(true) {
        return Ok(());
    }
    let newest = client
        .query_one(&format!("SELECT max(\"timestamp\") FROM {quoted}"), &[])
        .await?;
    r.newest = newest
        .try_get::<_, Option<time::OffsetDateTime>>(0)
        .ok()
        .flatten()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    // An exact count, unless it takes longer than the bound (a huge table):
    // then the planner's estimate.
    let est = client
        .query_one(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
            &[&quoted],
        )
        .await?;
    client
        .batch_execute(&format!("SET statement_timeout = {}", bound.as_millis()))
        .await?;
    match client
        .query_one(&format!("SELECT count(*) FROM {quoted}"), &[])
        .await
    {
        Ok(row) => r.row_count = row.try_get(0).ok(),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) => {
            r.row_count = est.try_get(0).ok();
            r.row_count_estimated = true;
        }
        Err(e) => return Err(e),
    }
    // Loss must be visible: the writer records what it dropped and what
    // it could not know (the gap rows).
    let sum = |key: &str| {
        format!(
            "coalesce(sum(CASE WHEN jsonb_typeof(data->'{key}') = 'number' \
             THEN (data->>'{key}')::numeric END), 0)::bigint"
        )
    };
    let gaps = client
        .query_one(
            &format!(
                "SELECT {}, {} FROM {quoted} WHERE event = 'stogger-events-dropped' \
                 AND \"timestamp\" > now() - interval '24 hours'",
                sum("dropped"),
                sum("uncertain")
            ),
            &[],
        )
        .await;
    if let Ok(row) = gaps {
        r.dropped_last_24h = row.try_get(0).ok();
        r.uncertain_last_24h = row.try_get(1).ok();
    }
    Ok(())
}
