//! The diagnosis behind `stogger doctor`: can we connect, what server is it,
//! is the table there with the expected columns and indexes, may we insert,
//! how many rows and how fresh. Read-only: nothing is created.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_postgres::{Client, Row};

use stogger_pg_proto::dsn::redact;
use stogger_pg_proto::PgSettings;

use crate::catalog::{self, TableKind};
use crate::conn;
use crate::conn_settings::ConnSettings;
use crate::indexes::{self, IndexCheck};
use crate::maintenance;
use crate::period::epoch;
use crate::schema::{Layout, TableName, COLUMNS};

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

/// One partition: name, range (RFC 3339; `-infinity`/`infinity` for
/// MINVALUE/MAXVALUE, None for the DEFAULT partition), size and row estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionCheck {
    /// The partition's name.
    pub name: String,
    /// Lower bound (inclusive).
    pub from: Option<String>,
    /// Upper bound (exclusive).
    pub to: Option<String>,
    /// Table, indexes and TOAST, in bytes.
    pub bytes: i64,
    /// The planner's estimate of its rows; None before its first ANALYZE
    /// (or autovacuum's).
    pub rows_estimate: Option<i64>,
}

/// The partitions of a partitioned table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionsReport {
    /// Time partitions (the DEFAULT one not counted).
    pub count: usize,
    /// The lower bound of the oldest time partition.
    pub oldest: Option<String>,
    /// The upper bound of the newest time partition.
    pub newest: Option<String>,
    /// All partitions together, in bytes.
    pub total_bytes: i64,
    /// Whether a time partition covers the server's current time.
    pub covers_now: bool,
    /// The DEFAULT partition, when there is one.
    pub default_partition: Option<PartitionCheck>,
    /// Every time partition, oldest first.
    pub list: Vec<PartitionCheck>,
}

/// The last partition maintenance recorded in the table (a row with event
/// `stogger-partition-maintenance`, written by whichever service ran it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceRecord {
    /// When it ran (RFC 3339).
    pub at: String,
    /// `ok` or `error`.
    pub result: String,
    /// What failed, when it did.
    pub error: Option<String>,
    /// Partitions it created.
    pub created: Vec<String>,
    /// Partitions it dropped.
    pub dropped: Vec<String>,
    /// When that service runs it next (RFC 3339).
    pub next_run: Option<String>,
    /// Who ran it: `schedule` (a service's maintenance), `stogger schema
    /// --apply` or `stogger schema migrate`.
    pub by: Option<String>,
    /// The next run is more than five minutes late: is any service with
    /// `postgres_partition_manager = stogger` running?
    pub overdue: bool,
    /// The process that ran it.
    pub pid: Option<i64>,
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
    /// `plain` or `partitioned` (or the `relkind` of something else).
    pub table_kind: Option<String>,
    /// Expected columns vs. actual.
    pub columns: Vec<ColumnCheck>,
    /// The indexes: stogger's expected ones (as `postgres_gin_opclass`
    /// says) compared by definition, and every other index found.
    pub indexes: Vec<IndexCheck>,
    /// The partitions, for a partitioned table.
    pub partitions: Option<PartitionsReport>,
    /// The last partition maintenance recorded in the table.
    pub maintenance: Option<MaintenanceRecord>,
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
        table_kind: None,
        columns: Vec::new(),
        indexes: Vec::new(),
        partitions: None,
        maintenance: None,
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
    let layout = Layout::of(config);
    match tokio::time::timeout(bound * 4, inspect(&client, &table, &layout, bound, &mut r)).await {
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

/// One row of a statement without parameters (an unnamed statement: works
/// through pgbouncer's transaction pooling).
async fn one_row(client: &Client, sql: &str) -> Result<Option<Row>, tokio_postgres::Error> {
    Ok(client.query_typed(sql, &[]).await?.into_iter().next())
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A bound in seconds since the epoch as RFC 3339 (or `±infinity`).
fn bound_text(secs: f64) -> String {
    if secs == f64::NEG_INFINITY {
        return "-infinity".into();
    }
    if secs == f64::INFINITY {
        return "infinity".into();
    }
    time::OffsetDateTime::from_unix_timestamp(secs.floor() as i64)
        .map(rfc3339)
        .unwrap_or_else(|_| secs.to_string())
}

async fn inspect(
    client: &Client,
    t: &TableName,
    layout: &Layout,
    bound: Duration,
    r: &mut CheckReport,
) -> Result<(), tokio_postgres::Error> {
    if let Some(row) = one_row(
        client,
        "SELECT current_setting('server_version'), current_user::text, \
         (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())",
    )
    .await?
    {
        r.server_version = row.try_get(0).ok();
        r.user = row.try_get(1).ok();
        r.tls = row.try_get::<_, Option<bool>>(2).ok().flatten();
    }
    let quoted = t.quoted();
    let kind = catalog::table_kind(client, t).await?;
    r.table_present = Some(kind != TableKind::Missing);
    r.table_kind = match kind {
        TableKind::Missing => None,
        TableKind::Plain => Some("plain".into()),
        TableKind::Partitioned => Some("partitioned".into()),
        TableKind::Other(k) => Some(format!("relkind {k}")),
    };
    if kind == TableKind::Missing {
        r.problems.push(format!(
            "table {t} does not exist (the writer creates it when it connects with CREATE \
             privilege; `stogger schema` prints the DDL)"
        ));
        return Ok(());
    }
    let cols = catalog::columns(client, t).await?;
    for (name, expected, _) in COLUMNS {
        let actual = cols
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, ty)| ty.clone());
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
    let found = catalog::indexes(client, t).await?;
    r.indexes = indexes::compare(t, kind, layout, &found);
    for i in r.indexes.iter().filter(|i| i.status.is_problem()) {
        r.problems.push(format!(
            "index {} ({}) is {}",
            i.name,
            i.role.as_deref().unwrap_or("not stogger's"),
            serde_json::to_value(i.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
    }
    let privs = catalog::query_table(
        client,
        "SELECT has_table_privilege($1, 'INSERT'), has_table_privilege($1, 'SELECT')",
        t,
    )
    .await?;
    if let Some(p) = privs.first() {
        r.can_insert = p.try_get(0).ok();
        r.can_select = p.try_get(1).ok();
    }
    if r.can_insert == Some(false) {
        r.problems.push(format!(
            "user {} has no INSERT privilege on {t}",
            r.user.as_deref().unwrap_or("?")
        ));
    }
    if kind == TableKind::Partitioned {
        r.partitions = Some(partitions(client, t).await?);
    }
    if r.can_select != Some(true) {
        return Ok(());
    }
    if let Some(row) = one_row(client, &format!("SELECT max(\"timestamp\") FROM {quoted}")).await? {
        r.newest = row
            .try_get::<_, Option<time::OffsetDateTime>>(0)
            .ok()
            .flatten()
            .map(rfc3339);
    }
    count_rows(client, t, bound, r).await?;
    // Loss must be visible: the writer records what it dropped and what
    // it could not know (the gap rows).
    let sum = |key: &str| {
        format!(
            "coalesce(sum(CASE WHEN jsonb_typeof(data->'{key}') = 'number' \
             THEN (data->>'{key}')::numeric END), 0)::bigint"
        )
    };
    let gaps = one_row(
        client,
        &format!(
            "SELECT {}, {} FROM {quoted} WHERE event = 'stogger-events-dropped' \
             AND \"timestamp\" > now() - interval '24 hours'",
            sum("dropped"),
            sum("uncertain")
        ),
    )
    .await;
    if let Ok(Some(row)) = gaps {
        r.dropped_last_24h = row.try_get(0).ok();
        r.uncertain_last_24h = row.try_get(1).ok();
    }
    if kind == TableKind::Partitioned {
        r.maintenance = last_maintenance(client, t).await?;
    }
    Ok(())
}

/// An exact count, unless it takes longer than `bound` (a huge table): then
/// the planner's estimate (the partitions' for a partitioned table). The
/// time limit is `SET LOCAL` in a transaction of its own: a session `SET`
/// would stay behind on whatever server connection pgbouncer lent us.
async fn count_rows(
    client: &Client,
    t: &TableName,
    bound: Duration,
    r: &mut CheckReport,
) -> Result<(), tokio_postgres::Error> {
    let est = catalog::query_table(
        client,
        "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_class c \
         WHERE c.oid = to_regclass($1) \
            OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass($1))",
        t,
    )
    .await?;
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL statement_timeout = {}",
            bound.as_millis()
        ))
        .await?;
    let counted = one_row(client, &format!("SELECT count(*) FROM {}", t.quoted())).await;
    let _ = client.batch_execute("ROLLBACK").await;
    match counted {
        Ok(row) => r.row_count = row.and_then(|row| row.try_get(0).ok()),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) => {
            r.row_count = est.first().and_then(|row| row.try_get(0).ok());
            r.row_count_estimated = true;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

async fn partitions(
    client: &Client,
    t: &TableName,
) -> Result<PartitionsReport, tokio_postgres::Error> {
    let parts = catalog::partitions(client, t).await?;
    let now = one_row(client, "SELECT now()")
        .await?
        .and_then(|row| row.try_get::<_, time::OffsetDateTime>(0).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    let now = epoch(now);
    let check = |p: &catalog::PartitionInfo| PartitionCheck {
        name: p.table.table().to_string(),
        from: p.range.map(|(lo, _)| bound_text(lo)),
        to: p.range.map(|(_, hi)| bound_text(hi)),
        bytes: p.bytes,
        rows_estimate: (p.rows_estimate >= 0).then_some(p.rows_estimate),
    };
    let ranged: Vec<&catalog::PartitionInfo> = parts.iter().filter(|p| p.range.is_some()).collect();
    Ok(PartitionsReport {
        count: ranged.len(),
        oldest: ranged
            .iter()
            .filter_map(|p| p.range)
            .map(|(lo, _)| lo)
            .min_by(f64::total_cmp)
            .map(bound_text),
        newest: ranged
            .iter()
            .filter_map(|p| p.range)
            .map(|(_, hi)| hi)
            .max_by(f64::total_cmp)
            .map(bound_text),
        total_bytes: parts.iter().map(|p| p.bytes).sum(),
        covers_now: ranged
            .iter()
            .filter_map(|p| p.range)
            .any(|(lo, hi)| lo <= now && now < hi),
        default_partition: parts.iter().find(|p| p.is_default).map(check),
        list: ranged.into_iter().map(check).collect(),
    })
}

async fn last_maintenance(
    client: &Client,
    t: &TableName,
) -> Result<Option<MaintenanceRecord>, tokio_postgres::Error> {
    // The time condition lets the planner skip all but the last week's
    // partitions.
    let row = one_row(
        client,
        &format!(
            "SELECT \"timestamp\", data, now() FROM {} WHERE event = '{}' \
             AND \"timestamp\" > now() - interval '8 days' ORDER BY \"timestamp\" DESC LIMIT 1",
            t.quoted(),
            maintenance::EVENT
        ),
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let at: time::OffsetDateTime = row.try_get(0)?;
    let data: serde_json::Value = row.try_get(1)?;
    let now: time::OffsetDateTime = row.try_get(2)?;
    let text = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let list = |k: &str| -> Vec<String> {
        data.get(k)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let next_run = text("next_run");
    let overdue = next_run
        .as_deref()
        .and_then(|n| {
            time::OffsetDateTime::parse(n, &time::format_description::well_known::Rfc3339).ok()
        })
        .is_some_and(|n| now > n + time::Duration::minutes(5));
    Ok(Some(MaintenanceRecord {
        at: rfc3339(at),
        result: text("result").unwrap_or_else(|| "?".into()),
        error: text("error"),
        created: list("created"),
        dropped: list("dropped"),
        next_run,
        by: text("by"),
        overdue,
        pid: data.get("pid").and_then(|v| v.as_i64()),
    }))
}
