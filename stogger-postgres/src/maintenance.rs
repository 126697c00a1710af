//! Partition maintenance: the time partitions of a partitioned table made
//! ahead of time, and the expired ones dropped (retention).
//!
//! A writer with `postgres_partitioning` other than `none` and
//! `postgres_partition_manager = stogger` runs [`run_schedule`] beside its
//! write path, on its own short-lived connection: at start, then every
//! `postgres_maintenance_interval_ms` (sooner again after a failure).
//!
//! One run ([`run_once`]):
//! 1. In one transaction, `pg_try_advisory_xact_lock` on the table's key:
//!    of many services sharing the table, one does the work; the others
//!    skip this round. The lock ends with the transaction — pgbouncer's
//!    transaction pooling allows nothing longer.
//! 2. Every period from the current one to `postgres_partition_premake`
//!    ahead that no partition covers gets one: `CREATE TABLE ... (LIKE
//!    parent)`, the rows of that range moved out of the DEFAULT partition,
//!    then `ATTACH PARTITION`. Attaching needs only a SHARE UPDATE
//!    EXCLUSIVE lock on the parent, which writers' inserts do not conflict
//!    with (`CREATE TABLE ... PARTITION OF` would lock them out). The
//!    DEFAULT partition is locked (ACCESS EXCLUSIVE) while its rows move:
//!    writers wait only if they route a row there, only for the move.
//! 3. With `postgres_retention_days` > 0: rows older than the cutoff are
//!    deleted from the DEFAULT partition; then each partition whose whole
//!    range ends before the cutoff is detached and dropped, one per
//!    transaction. DETACH locks the parent exclusively: every statement
//!    runs under `lock_timeout` ([`LOCK_TIMEOUT`]), so a writer queued
//!    behind it waits at most that long plus the catalog change; a run
//!    that cannot get a lock fails and is retried.
//! 4. The result is written into the table itself as a row with event
//!    `stogger-partition-maintenance` (level `info`, `warning` when it
//!    failed; `data`: what was created, dropped and moved, the next run):
//!    `stogger doctor` shows the last one.

use std::time::Duration;

use serde_json::json;
use stogger_pg_proto::{PartitionManager, Partitioning, PgSettings};
use time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::catalog::{self, PartitionInfo, TableKind};
use crate::conn::{self, describe};
use crate::conn_settings::ConnSettings;
use crate::period::{epoch, Period};
use crate::schema::TableName;
use crate::tx;

/// How long a maintenance statement waits for a lock before the run gives up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// Bound for a whole run (moving many rows out of the DEFAULT partition is
/// the slow part).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);

/// The soonest retry after a failed run.
const RETRY: Duration = Duration::from_secs(60);

/// The event of the rows recording each run.
pub const EVENT: &str = "stogger-partition-maintenance";

/// What to maintain, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenancePlan {
    /// The partitioned table.
    pub table: TableName,
    /// The width of a partition.
    pub partitioning: Partitioning,
    /// Partitions kept ready after the current one.
    pub premake: u32,
    /// Partitions entirely older than this are dropped; 0 keeps everything.
    pub retention_days: u32,
    /// How often it runs.
    pub interval: Duration,
}

impl MaintenancePlan {
    /// The plan of a writer with `settings`: None when the table is not
    /// partitioned or its partitions are managed elsewhere.
    pub fn for_writer(settings: &PgSettings, table: &TableName) -> Option<MaintenancePlan> {
        (settings.partitioning != Partitioning::None
            && settings.partition_manager == PartitionManager::Stogger)
            .then(|| MaintenancePlan::of(settings, table))
    }

    /// The plan `settings` describe for `table`, whoever runs it.
    pub fn of(settings: &PgSettings, table: &TableName) -> MaintenancePlan {
        MaintenancePlan {
            table: table.clone(),
            partitioning: settings.partitioning,
            premake: settings.partition_premake,
            retention_days: settings.retention_days,
            interval: settings.maintenance_interval,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The work was done by this run (false: see `skipped`).
    pub ran: bool,
    /// Why nothing was done: another service held the lock, the table does
    /// not exist (yet) or is not partitioned.
    pub skipped: Option<String>,
    /// The table does not exist (yet).
    pub no_table: bool,
    /// Partitions created (names without schema: they live beside the table).
    pub created: Vec<String>,
    /// Partitions dropped (retention; names without schema).
    pub dropped: Vec<String>,
    /// Rows moved from the DEFAULT partition into new partitions.
    pub moved_from_default: u64,
    /// Expired rows deleted from the DEFAULT partition.
    pub deleted_from_default: u64,
    /// Partitions after the run (the DEFAULT one included).
    pub partitions: usize,
    /// What went wrong (described, not redacted).
    pub error: Option<String>,
}

fn skipped(why: &str) -> Outcome {
    Outcome {
        skipped: Some(why.to_string()),
        ..Outcome::default()
    }
}

/// Runs `work` in a transaction (under [`LOCK_TIMEOUT`] and
/// [`STATEMENT_TIMEOUT`]) that first takes the table's maintenance lock;
/// `Ok(None)` when another session holds it. Rolled back on error.
async fn locked<T, F>(
    client: &Client,
    t: &TableName,
    work: F,
) -> Result<Option<T>, tokio_postgres::Error>
where
    F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    let begin = format!(
        "BEGIN; SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
        LOCK_TIMEOUT.as_millis(),
        STATEMENT_TIMEOUT.as_millis()
    );
    tx::in_transaction(client, &begin, async {
        if !catalog::try_xact_lock(client, t).await? {
            return Ok(None);
        }
        work.await.map(Some)
    })
    .await
}

/// The number of rows a statement touched.
fn affected(msgs: &[SimpleQueryMessage]) -> u64 {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .sum()
}

async fn server_now(client: &Client) -> Result<OffsetDateTime, tokio_postgres::Error> {
    let rows = client.query_typed("SELECT now()", &[]).await?;
    match rows.first() {
        Some(r) => r.try_get(0),
        None => Ok(OffsetDateTime::now_utc()),
    }
}

const COLS: &str = "id, \"timestamp\", level, event, func, scope, data";

/// Creates the partition for `period`: a table like the parent, the
/// period's rows moved out of the DEFAULT partition (locked first, once),
/// then attached. Returns the rows moved.
async fn add_partition(
    client: &Client,
    t: &TableName,
    partitioning: Partitioning,
    period: &Period,
    default: Option<&TableName>,
    default_locked: &mut bool,
) -> Result<(String, u64), tokio_postgres::Error> {
    let part = t.partition(&period.suffix(partitioning));
    let mut script = String::new();
    if let Some(d) = default {
        if !*default_locked {
            script.push_str(&format!(
                "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE;\n",
                d.quoted()
            ));
            *default_locked = true;
        }
    }
    script.push_str(&format!(
        "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);\n",
        part.quoted(),
        t.quoted()
    ));
    client.batch_execute(&script).await?;
    let mut moved = 0;
    if let Some(d) = default {
        let msgs = client
            .simple_query(&format!(
                "WITH moved AS (DELETE FROM {d} WHERE \"timestamp\" >= {lo} AND \"timestamp\" < {hi} \
                 RETURNING {COLS}) INSERT INTO {p} ({COLS}) SELECT {COLS} FROM moved",
                d = d.quoted(),
                p = part.quoted(),
                lo = crate::period::literal(period.start),
                hi = crate::period::literal(period.end),
            ))
            .await?;
        moved = affected(&msgs);
    }
    client
        .batch_execute(&format!(
            "ALTER TABLE {} ATTACH PARTITION {} {}",
            t.quoted(),
            part.quoted(),
            period.bounds_sql()
        ))
        .await?;
    Ok((part.table().to_string(), moved))
}

/// The partitions (not the DEFAULT one) whose range ends at or before `cutoff`.
fn expired(parts: &[PartitionInfo], cutoff: f64) -> Vec<TableName> {
    parts
        .iter()
        .filter(|p| !p.is_default)
        .filter(|p| {
            p.range
                .is_some_and(|(_, hi)| hi.is_finite() && hi <= cutoff)
        })
        .map(|p| p.table.clone())
        .collect()
}

/// One maintenance run on `client` (see the module docs). Never panics;
/// a failure is in [`Outcome::error`], with what was done before it.
pub async fn run_once(client: &Client, plan: &MaintenancePlan) -> Outcome {
    let t = &plan.table;
    let mut out = Outcome::default();
    let mut cutoff = None;
    let mut expired_parts = Vec::new();
    let first = locked(client, t, async {
        match catalog::table_kind(client, t).await? {
            TableKind::Missing => return Ok(Some("the table does not exist (yet)")),
            TableKind::Partitioned => {}
            _ => {
                return Ok(Some(
                    "the table is not partitioned (`stogger schema migrate`)",
                ))
            }
        }
        let parts = catalog::partitions(client, t).await?;
        let now = server_now(client).await?;
        let default = parts.iter().find(|p| p.is_default).map(|p| p.table.clone());
        let mut default_locked = false;
        for period in Period::ahead(plan.partitioning, now, plan.premake) {
            let covered = parts
                .iter()
                .filter_map(|p| p.range)
                .any(|(lo, hi)| period.overlaps(lo, hi));
            if covered {
                continue;
            }
            let (name, moved) = add_partition(
                client,
                t,
                plan.partitioning,
                &period,
                default.as_ref(),
                &mut default_locked,
            )
            .await?;
            out.created.push(name);
            out.moved_from_default += moved;
        }
        if plan.retention_days > 0 {
            let limit = now - time::Duration::days(i64::from(plan.retention_days));
            cutoff = Some(limit);
            if let Some(d) = &default {
                let msgs = client
                    .simple_query(&format!(
                        "DELETE FROM {} WHERE \"timestamp\" < {}",
                        d.quoted(),
                        crate::period::literal(limit)
                    ))
                    .await?;
                out.deleted_from_default = affected(&msgs);
            }
            expired_parts = expired(&parts, epoch(limit));
        }
        out.partitions = parts.len() + out.created.len();
        Ok(None)
    })
    .await;
    match first {
        Ok(None) => return skipped("another service holds the maintenance lock"),
        Ok(Some(Some(why))) => {
            let mut o = skipped(why);
            o.no_table = why.contains("does not exist");
            return o;
        }
        Ok(Some(None)) => out.ran = true,
        Err(e) => {
            out.ran = true;
            out.error = Some(format!("creating partitions of {t}: {}", describe(&e)));
            out.created.clear();
            out.moved_from_default = 0;
            return out;
        }
    }
    if cutoff.is_some() {
        for part in expired_parts {
            let r = locked(client, t, async {
                client
                    .batch_execute(&format!(
                        "ALTER TABLE {} DETACH PARTITION {}; DROP TABLE {}",
                        t.quoted(),
                        part.quoted(),
                        part.quoted()
                    ))
                    .await
            })
            .await;
            match r {
                Ok(Some(())) => {
                    out.dropped.push(part.table().to_string());
                    out.partitions = out.partitions.saturating_sub(1);
                }
                Ok(None) => break,
                Err(e) => {
                    out.error = Some(format!(
                        "dropping expired partition {part}: {}",
                        describe(&e)
                    ));
                    break;
                }
            }
        }
    }
    out
}

/// Writes the run's result into the table (the schedule ignores a failure:
/// a table that takes no rows now is the write path's to report). `by`
/// says who made the partitions: `schedule` (a writer), or the `stogger
/// schema` command that created or migrated the table.
pub async fn record(
    client: &Client,
    plan: &MaintenancePlan,
    out: &Outcome,
    next_run: OffsetDateTime,
    by: &str,
) -> Result<(), tokio_postgres::Error> {
    let next = next_run
        .replace_nanosecond(0)
        .unwrap_or(next_run)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let data = json!({
        "result": if out.error.is_some() { "error" } else { "ok" },
        "error": out.error,
        "created": out.created,
        "dropped": out.dropped,
        "moved_from_default": out.moved_from_default,
        "deleted_from_default": out.deleted_from_default,
        "partitions": out.partitions,
        "partitioning": plan.partitioning.as_str(),
        "premake": plan.premake,
        "retention_days": plan.retention_days,
        "interval_ms": u64::try_from(plan.interval.as_millis()).unwrap_or(u64::MAX),
        "next_run": next,
        "by": by,
        "pid": std::process::id(),
    });
    let level = if out.error.is_some() {
        "warning"
    } else {
        "info"
    };
    let sql = format!(
        "INSERT INTO {} (\"timestamp\", level, event, data) VALUES (now(), $1, $2, $3)",
        plan.table.quoted()
    );
    let params: [(&(dyn ToSql + Sync), Type); 3] = [
        (&level, Type::TEXT),
        (&EVENT, Type::TEXT),
        (&data, Type::JSONB),
    ];
    client.execute_typed(&sql, &params).await.map(|_| ())
}

/// The writer's maintenance task: a run at start, then one every
/// `plan.interval` (after a failure, within a minute). Each run connects,
/// works and disconnects. `warn(kind, message)` reports failures (kind
/// `maintenance`); a database that cannot be reached is the write path's
/// to report, so it is not reported again here. Runs until its runtime
/// stops.
pub async fn run_schedule<W>(settings: ConnSettings, plan: MaintenancePlan, warn: W)
where
    W: Fn(&'static str, &str) + Send + Sync + 'static,
{
    let mut failing = false;
    // Waiting for the write path to create the table: soon at start, then
    // less and less often (a writer without CREATE never will).
    let mut missing = Duration::from_secs(2);
    loop {
        let delay = match conn::connect(&settings).await {
            Err(_) => plan.interval.min(RETRY),
            Ok(client) => {
                let out = run_once(&client, &plan).await;
                let delay = if out.no_table {
                    let wait = plan.interval.min(missing);
                    missing = (missing * 2).min(plan.interval);
                    wait
                } else if out.error.is_some() {
                    plan.interval.min(RETRY)
                } else {
                    plan.interval
                };
                if out.ran {
                    let next = OffsetDateTime::now_utc()
                        + time::Duration::try_from(delay).unwrap_or(time::Duration::HOUR);
                    let _ = record(&client, &plan, &out, next, "schedule").await;
                }
                match &out.error {
                    Some(e) => {
                        failing = true;
                        warn(
                            "maintenance",
                            &settings.redactor.apply(&format!(
                                "partition maintenance of {} failed: {e}; retrying in {} s",
                                plan.table,
                                delay.as_secs()
                            )),
                        );
                    }
                    None if failing && out.ran => {
                        failing = false;
                        warn(
                            "maintenance",
                            &format!("partition maintenance of {} succeeded again", plan.table),
                        );
                    }
                    None => {}
                }
                delay
            }
        };
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, range: Option<(f64, f64)>) -> PartitionInfo {
        PartitionInfo {
            table: TableName::parse(name).unwrap(),
            is_default: range.is_none(),
            range,
            bytes: 0,
            rows_estimate: 0,
        }
    }

    #[test]
    fn only_whole_ranges_before_the_cutoff_expire() {
        let parts = [
            part("t_old", Some((0.0, 100.0))),
            part("t_edge", Some((100.0, 200.0))),
            part("t_new", Some((200.0, 300.0))),
            part("t_legacy", Some((f64::NEG_INFINITY, 150.0))),
            part("t_open", Some((300.0, f64::INFINITY))),
            part("t_default", None),
        ];
        let names: Vec<String> = expired(&parts, 200.0)
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(names, ["t_old", "t_edge", "t_legacy"]);
    }

    #[test]
    fn only_stogger_managed_partitioned_tables_get_a_plan() {
        let t = TableName::parse("logs").unwrap();
        let mut s = PgSettings::new("host=/tmp");
        assert!(MaintenancePlan::for_writer(&s, &t).is_none());
        s.partitioning = Partitioning::Daily;
        assert!(MaintenancePlan::for_writer(&s, &t).is_some());
        s.partition_manager = PartitionManager::External;
        assert!(MaintenancePlan::for_writer(&s, &t).is_none());
    }
}
