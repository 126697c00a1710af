//! The table on the writer's path: created, with its indexes (and, when
//! partitioned, its DEFAULT partition and the first time partitions) and
//! the spool's progress table, when it is missing; checked, never changed,
//! when it exists (only a missing progress table is added: it is a small
//! plain table of stogger's own, in both layouts and with either partition
//! manager).
//!
//! An existing table's indexes are left as they are: building a missing
//! index takes a lock that blocks every writer for as long as the build
//! runs (minutes for a GIN index over millions of rows), and a DBA may have
//! dropped it on purpose. `stogger doctor` reports index differences and
//! `stogger schema --apply` builds what is missing without blocking
//! writers (`CREATE INDEX CONCURRENTLY`).

use std::time::Duration;

use stogger_pg_proto::{PartitionManager, PgSettings};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::catalog::{self, TableKind};
use crate::conn::describe;
use crate::period::Period;
use crate::schema::{self, Layout, TableName, COLUMNS};
use crate::tx;

/// What the writer may do to its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TablePlan {
    /// The shape of a table it creates.
    pub layout: Layout,
    /// With `external`, a partitioned table is never created nor changed.
    pub manager: PartitionManager,
    /// Time partitions made after the current one when the table is created.
    pub premake: u32,
    /// The longest the creation waits for a lock (another service creating
    /// the same table at the same moment).
    pub lock_timeout: Duration,
}

impl TablePlan {
    /// The plan `settings` describe.
    pub fn of(settings: &PgSettings) -> TablePlan {
        TablePlan {
            layout: Layout::of(settings),
            manager: settings.partition_manager,
            premake: settings.partition_premake,
            lock_timeout: settings.connect_timeout,
        }
    }

    /// Whether stogger may run DDL on the table (it never does for a
    /// partitioned table managed elsewhere).
    pub fn may_create(&self) -> bool {
        !(self.layout.partitioned() && self.manager == PartitionManager::External)
    }
}

/// What [`ensure_table`] found or did.
#[derive(Debug, Default)]
pub struct SchemaReport {
    /// The table was created now.
    pub created: bool,
    /// Problems that do not stop writing (an unexpected column type, a
    /// plain table where partitions were asked for).
    pub warnings: Vec<String>,
    /// Why the spool's progress table is missing and could not be created
    /// (only a spool needs it), if it is.
    pub progress_missing: Option<String>,
}

/// Creates the table when it is missing (in one transaction, under a lock
/// that makes services starting together create it once); otherwise checks
/// its columns. Errors are described (not yet redacted).
pub async fn ensure_table(
    client: &Client,
    t: &TableName,
    plan: &TablePlan,
) -> Result<SchemaReport, String> {
    let mut report = SchemaReport::default();
    let kind = catalog::table_kind(client, t)
        .await
        .map_err(|e| describe(&e))?;
    let kind = match kind {
        TableKind::Missing if !plan.may_create() => {
            return Err(format!(
                "table {t} does not exist, and with postgres_partition_manager = external \
                 stogger creates nothing: create it (`stogger schema` prints the DDL) and its \
                 partitions"
            ))
        }
        TableKind::Missing => {
            report.created = match create(client, t, plan).await {
                Ok(created) => created,
                // A writer of an older version created it at the same moment.
                Err(e) if is_duplicate(&e) => false,
                Err(e) => return Err(describe(&e)),
            };
            if report.created {
                return Ok(report);
            }
            // Another service created it meanwhile: check what it made.
            catalog::table_kind(client, t)
                .await
                .map_err(|e| describe(&e))?
        }
        other => other,
    };
    match kind {
        TableKind::Plain if plan.layout.partitioned() => report.warnings.push(format!(
            "table {t} is a plain table, but postgres_partitioning = {}: rows are written to it \
             as it is; `stogger schema migrate` turns it into a partitioned table",
            plan.layout.partitioning
        )),
        TableKind::Other(kind) => {
            return Err(format!(
                "{t} is not a table (pg_class.relkind = '{kind}'); point postgres_table at a table"
            ))
        }
        _ => {}
    }
    let cols = catalog::columns(client, t)
        .await
        .map_err(|e| describe(&e))?;
    for (name, ty, _) in COLUMNS.iter().skip(1) {
        match cols.iter().find(|(n, _)| n == name) {
            Some((_, actual)) if actual == ty => {}
            Some((_, actual)) => report.warnings.push(format!(
                "column {name} of {t} is {actual}, expected {ty}: writes will fail"
            )),
            None => report
                .warnings
                .push(format!("column {name} of {t} is missing: writes will fail")),
        }
    }
    report.progress_missing = ensure_progress_table(client, t).await;
    Ok(report)
}

/// Creates the spool's progress table of `t` when it is missing (a table
/// made by an older version, or by a DBA without it); says why it is
/// missing when it cannot be created. Its rows are written in the same
/// transaction as the spool's rows, so a missing one only stops the spool.
async fn ensure_progress_table(client: &Client, t: &TableName) -> Option<String> {
    let progress = t.progress_table();
    match catalog::table_kind(client, &progress).await {
        Ok(TableKind::Missing) => {}
        Ok(_) => return None,
        Err(e) => {
            return Some(format!(
                "table {progress} cannot be checked: {}",
                describe(&e)
            ))
        }
    }
    match client
        .batch_execute(&schema::create_progress_table_sql(t))
        .await
    {
        Ok(()) => None,
        // Another service created it at the same moment.
        Err(e) if is_duplicate(&e) => None,
        Err(e) => Some(format!(
            "table {progress} is missing and could not be created: {}",
            describe(&e)
        )),
    }
}

fn is_duplicate(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|d| matches!(d.code().code(), "23505" | "42P07" | "42710"))
}

/// The statements creating `t` as `plan` says, given the server's time:
/// the table, its indexes, the DEFAULT partition, and for a partitioned
/// table the current time partition and `premake` after it.
pub fn creation_script(t: &TableName, plan: &TablePlan, now: time::OffsetDateTime) -> String {
    let mut script = String::new();
    for s in schema::ddl_statements(t, &plan.layout) {
        script.push_str(&s);
        script.push_str(";\n");
    }
    if plan.layout.partitioned() && plan.manager == PartitionManager::Stogger {
        for p in Period::ahead(plan.layout.partitioning, now, plan.premake) {
            // A new table has no writers yet: PARTITION OF (which locks the
            // parent exclusively) is fine here; maintenance attaches instead.
            script.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} {};\n",
                t.partition(&p.suffix(plan.layout.partitioning)).quoted(),
                t.quoted(),
                p.bounds_sql()
            ));
        }
    }
    script
}

/// Creates the table in one transaction; false when another session had
/// created it first.
async fn create(
    client: &Client,
    t: &TableName,
    plan: &TablePlan,
) -> Result<bool, tokio_postgres::Error> {
    let begin = format!(
        "BEGIN; SET LOCAL lock_timeout = {}",
        plan.lock_timeout.as_millis().max(1)
    );
    let quoted = t.quoted();
    let name: [(&(dyn ToSql + Sync), Type); 1] = [(&quoted, Type::TEXT)];
    tx::in_transaction(client, &begin, async {
        // Services starting together: one creates, the others wait and find it.
        client
            .query_typed(
                "SELECT pg_advisory_xact_lock(hashtextextended('stogger-create:' || $1, 0))",
                &name,
            )
            .await?;
        if catalog::table_kind(client, t).await? != TableKind::Missing {
            return Ok(false);
        }
        let now: time::OffsetDateTime = client
            .query_typed("SELECT now()", &[])
            .await?
            .first()
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or_else(time::OffsetDateTime::now_utc);
        client.batch_execute(&creation_script(t, plan, now)).await?;
        Ok(true)
    })
    .await
}
