//! What an administrator runs, never the writer: `stogger schema --apply`
//! ([`apply_schema`]: the table when missing, missing indexes built without
//! blocking writers) and `stogger schema migrate` ([`migrate`]: a plain
//! table turned into a partitioned one, without losing a row, while
//! services keep writing).
//!
//! ## How the migration works (and why this way)
//!
//! The old table becomes the first partition of the new one ("attach"),
//! instead of its rows being copied into a new table in batches ("copy"):
//! attaching touches no row, so it takes seconds whatever the size, needs
//! no second copy of the data on disk, and no rows written during a long
//! copy can be missed. The cost: the old rows stay in one big partition,
//! dropped as a whole by retention once its newest rows expire.
//!
//! 1. The indexes a partition needs are built on the old table with
//!    `CREATE INDEX CONCURRENTLY` (writers go on): the unique key
//!    `(id, "timestamp")` the partitioned primary key requires, and any
//!    of stogger's indexes it lacks. (Attaching would otherwise build
//!    them under a lock that stops writers.)
//! 2. A `CHECK ("timestamp" < cutoff)` constraint is added `NOT VALID`
//!    (a short exclusive lock) and validated (a scan under a lock writers
//!    do not conflict with); `cutoff` is the end of the period after the
//!    current one (later when rows are newer), so the old table can take
//!    new rows until then, and attaching it needs no scan.
//! 3. One short transaction, under `lock_timeout` and retried while
//!    writers hold their locks: the old table and its indexes are renamed
//!    (`<table>_legacy`), the partitioned table is created under the old
//!    name with the same `id` sequence (now owned by it, so dropping the
//!    old partition later keeps the sequence), its indexes and DEFAULT
//!    partition, the old table attached `FROM (MINVALUE) TO (cutoff)`, and
//!    the partitions from `cutoff` on created. Writers wait for this
//!    transaction only; their next statement finds the new table by name.
//!
//! A row a writer sends with a timestamp at or after `cutoff` between
//! steps 2 and 3 (a clock that far ahead) violates the constraint and is
//! rejected (counted by the writer as rejected).

use std::time::Duration;

use serde::Serialize;
use stogger_pg_proto::dsn::redact;
use stogger_pg_proto::{PartitionManager, Partitioning, PgSettings};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::catalog::{self, TableKind};
use crate::conn::{self, describe};
use crate::conn_settings::ConnSettings;
use crate::indexes::{self, IndexCheck, IndexStatus};
use crate::maintenance::{self, MaintenancePlan, Outcome};
use crate::period::{literal, Period};
use crate::schema::{self, quote_ident, IndexSpec, Layout, TableName};
use crate::table::{self, TablePlan};
use crate::tx;

/// What `apply_schema` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// The DSN, password masked.
    pub dsn: String,
    /// The table.
    pub table: String,
    /// The table did not exist and was created.
    pub created_table: bool,
    /// Every statement run, in order.
    pub statements: Vec<String>,
    /// What remains that apply does not change (duplicate, invalid or
    /// unexpected indexes: dropping is the DBA's decision), with its fix.
    pub remaining: Vec<IndexCheck>,
    /// What failed (the password redacted); empty when all went well.
    pub problems: Vec<String>,
}

/// What `migrate` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrateReport {
    /// The DSN, password masked.
    pub dsn: String,
    /// The table.
    pub table: String,
    /// The old table, now a partition.
    pub legacy_partition: Option<String>,
    /// The old table's range ends here (RFC 3339).
    pub cutoff: Option<String>,
    /// Every statement run, in order.
    pub statements: Vec<String>,
    /// Attempts of the final swap (it retries while writers hold locks).
    pub swap_attempts: u32,
    /// What failed (the password redacted); empty when it worked.
    pub problems: Vec<String>,
}

/// A report that gathers what went wrong.
trait Problems: Clone + Send + 'static {
    fn problems(&mut self) -> &mut Vec<String>;
}

impl Problems for ApplyReport {
    fn problems(&mut self) -> &mut Vec<String> {
        &mut self.problems
    }
}

impl Problems for MigrateReport {
    fn problems(&mut self) -> &mut Vec<String> {
        &mut self.problems
    }
}

/// Runs `work` on a private thread (`stogger-pg-admin`) with its own
/// current-thread runtime and a connection made as the writer makes it, so
/// that it can be called from anywhere; fills `report` and adds what went
/// wrong to its problems, redacted (a connection failure included).
fn run_admin<R, F>(settings: &PgSettings, report: R, work: F) -> R
where
    R: Problems,
    F: for<'a> FnOnce(
            &'a Client,
            TableName,
            MaintenancePlan,
            &'a mut R,
        ) -> futures_util::future::BoxFuture<'a, Result<(), String>>
        + Send
        + 'static,
{
    let config = settings.clone();
    let seed = report.clone();
    let handle = std::thread::Builder::new()
        .name("stogger-pg-admin".into())
        .spawn(move || -> Result<R, String> {
            let cs = ConnSettings::parse(&config).map_err(|e| e.to_string())?;
            let table = TableName::parse(&config.table).map_err(|e| e.to_string())?;
            let upkeep = MaintenancePlan::of(&config, &table);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime: {e}"))?;
            rt.block_on(async {
                let client = conn::connect(&cs).await?;
                let mut r = seed;
                if let Err(e) = work(&client, table, upkeep, &mut r).await {
                    r.problems().push(cs.redactor.apply(&e));
                }
                Ok(r)
            })
        });
    let outcome = match handle {
        Ok(h) => h
            .join()
            .unwrap_or_else(|_| Err("the admin thread panicked".to_string())),
        Err(e) => Err(format!("cannot start a thread: {e}")),
    };
    outcome.unwrap_or_else(|e| {
        let mut r = report;
        r.problems().push(e);
        r
    })
}

/// `stogger schema --apply`: creates the table (with everything a writer
/// would create) when it is missing; on an existing table builds each of
/// stogger's indexes that is missing (compared by definition) with
/// `CREATE INDEX CONCURRENTLY` — on a partitioned table partition by
/// partition, attached to an index on the parent — and the spool's
/// progress table when it is missing. Drops nothing.
pub fn apply_schema(settings: &PgSettings) -> ApplyReport {
    let base = ApplyReport {
        dsn: redact(&settings.dsn),
        table: settings.table.clone(),
        ..ApplyReport::default()
    };
    let layout = Layout::of(settings);
    // An administrator asked for it: the table is created even when its
    // partitions are managed elsewhere (then without time partitions).
    let external = settings.partition_manager == PartitionManager::External;
    let plan = TablePlan {
        manager: PartitionManager::Stogger,
        ..TablePlan::of(settings)
    };
    run_admin(settings, base, move |client, t, upkeep, r| {
        Box::pin(async move { apply_on(client, &t, &layout, &plan, external, &upkeep, r).await })
    })
}

async fn apply_on(
    client: &Client,
    t: &TableName,
    layout: &Layout,
    plan: &TablePlan,
    external: bool,
    upkeep: &MaintenancePlan,
    r: &mut ApplyReport,
) -> Result<(), String> {
    let kind = catalog::table_kind(client, t)
        .await
        .map_err(|e| describe(&e))?;
    if kind == TableKind::Missing {
        let now = time::OffsetDateTime::now_utc();
        let made: Vec<String> = if layout.partitioned() && !external {
            Period::ahead(layout.partitioning, now, plan.premake)
                .iter()
                .map(|p| {
                    t.partition(&p.suffix(layout.partitioning))
                        .table()
                        .to_string()
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut script = table::creation_script(t, plan, now);
        if external {
            // Only the parent, its indexes and DEFAULT partition.
            script = schema::ddl_statements(t, layout)
                .into_iter()
                .map(|s| s + ";\n")
                .collect();
        }
        if let Err(e) = client
            .batch_execute(&format!("BEGIN;\n{script}COMMIT;"))
            .await
        {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(describe(&e));
        }
        r.created_table = true;
        r.statements
            .extend(script.lines().map(str::to_string).filter(|l| !l.is_empty()));
        if !made.is_empty() {
            record_partitions(client, upkeep, made, "stogger schema --apply").await?;
        }
        return Ok(());
    }
    if let TableKind::Other(k) = kind {
        return Err(format!("{t} is not a table (relkind '{k}')"));
    }
    let found = catalog::indexes(client, t)
        .await
        .map_err(|e| describe(&e))?;
    let checks = indexes::compare(t, kind, layout, &found);
    for check in &checks {
        match check.status {
            IndexStatus::Ok => {}
            IndexStatus::Missing => {
                let Some(spec) = layout
                    .indexes()
                    .into_iter()
                    .find(|s| Some(s.suffix) == check.role.as_deref())
                else {
                    // The primary key: not something to add under writers.
                    r.remaining.push(check.clone());
                    continue;
                };
                let done = indexes::build(client, t, kind, &spec)
                    .await
                    .map_err(|e| format!("building the {} index: {}", spec.suffix, describe(&e)))?;
                r.statements.extend(done);
            }
            _ => r.remaining.push(check.clone()),
        }
    }
    // The spool's progress table, when the table was made without it (by
    // an older version, or by hand).
    let progress = t.progress_table();
    let missing = catalog::table_kind(client, &progress)
        .await
        .map_err(|e| describe(&e))?
        == TableKind::Missing;
    if missing {
        let sql = schema::create_progress_table_sql(t);
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| format!("creating {progress}: {}", describe(&e)))?;
        r.statements.extend(sql.lines().map(str::to_string));
    }
    Ok(())
}

/// Records the partitions an administrator's command made, as a
/// maintenance run (so that `stogger doctor` sees them made and when the
/// services' maintenance is due).
async fn record_partitions(
    client: &Client,
    plan: &MaintenancePlan,
    made: Vec<String>,
    by: &str,
) -> Result<(), String> {
    let out = Outcome {
        ran: true,
        partitions: made.len(),
        created: made,
        ..Outcome::default()
    };
    let next = time::OffsetDateTime::now_utc()
        + time::Duration::try_from(plan.interval).unwrap_or(time::Duration::HOUR);
    maintenance::record(client, plan, &out, next, by)
        .await
        .map_err(|e| {
            format!(
                "recording the new partitions in the table: {}",
                describe(&e)
            )
        })
}

/// How many times the final swap is tried while writers hold locks.
const SWAP_ATTEMPTS: u32 = 30;

/// The swap's lock timeout: writers queued behind it wait at most this
/// long plus the swap itself.
const SWAP_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// `stogger schema migrate`: turns the plain table into a partitioned one
/// as `settings.partitioning` says (see the module docs), while writers
/// keep writing. Refuses a table that is missing or already partitioned,
/// and `postgres_partitioning = none`.
pub fn migrate(settings: &PgSettings) -> MigrateReport {
    let mut base = MigrateReport {
        dsn: redact(&settings.dsn),
        table: settings.table.clone(),
        ..MigrateReport::default()
    };
    if settings.partitioning == Partitioning::None {
        base.problems.push(
            "postgres_partitioning is none: set it (hourly, daily, weekly or monthly) for the \
             migration and for every service writing to the table, so that they make the \
             partitions"
                .into(),
        );
        return base;
    }
    let layout = Layout::of(settings);
    let premake = settings.partition_premake;
    run_admin(settings, base, move |client, t, upkeep, r| {
        Box::pin(async move { migrate_on(client, &t, &layout, premake, &upkeep, r).await })
    })
}

async fn run(client: &Client, r: &mut MigrateReport, sql: String) -> Result<(), String> {
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| format!("{sql}: {}", describe(&e)))?;
    r.statements.push(sql);
    Ok(())
}

/// The name `name` with `tail` appended, within PostgreSQL's 63 bytes.
fn with_tail(name: &str, tail: &str) -> String {
    let mut base = name.to_string();
    while base.len() + tail.len() > schema::MAX_IDENT_BYTES {
        base.pop();
    }
    base + tail
}

async fn migrate_on(
    client: &Client,
    t: &TableName,
    layout: &Layout,
    premake: u32,
    upkeep: &MaintenancePlan,
    r: &mut MigrateReport,
) -> Result<(), String> {
    let p = layout.partitioning;
    match catalog::table_kind(client, t)
        .await
        .map_err(|e| describe(&e))?
    {
        TableKind::Plain => {}
        TableKind::Missing => return Err(format!("table {t} does not exist: nothing to migrate")),
        TableKind::Partitioned => {
            return Err(format!(
                "table {t} is already partitioned: nothing to migrate"
            ))
        }
        TableKind::Other(k) => return Err(format!("{t} is not a table (relkind '{k}')")),
    }
    // The cutoff: the end of the next period, or of the newest row's.
    let row = client
        .query_typed(
            &format!("SELECT now(), max(\"timestamp\") FROM {}", t.quoted()),
            &[],
        )
        .await
        .map_err(|e| describe(&e))?;
    let (now, newest): (time::OffsetDateTime, Option<time::OffsetDateTime>) = match row.first() {
        Some(row) => (
            row.try_get(0).map_err(|e| describe(&e))?,
            row.try_get(1).map_err(|e| describe(&e))?,
        ),
        None => return Err("the server returned no time".into()),
    };
    let next = Period::at(p, now)
        .and_then(|c| c.next(p))
        .ok_or("no period after now")?;
    let mut cutoff = next.end;
    if let Some(newest) = newest.filter(|n| *n >= cutoff) {
        let end = Period::at(p, newest)
            .ok_or("no period for the newest row")?
            .end;
        if end > now + time::Duration::days(31) {
            return Err(format!(
                "the newest row of {t} is from {newest}: the old table would have to cover \
                 everything until then. Move or delete the rows from the future first \
                 (SELECT count(*) FROM {q} WHERE \"timestamp\" >= now() + interval '31 days')",
                q = t.quoted()
            ));
        }
        cutoff = end;
    }
    r.cutoff = Some(literal(cutoff).trim_matches('\'').to_string());

    // 1. The indexes the old table needs as a partition, built concurrently.
    let key = IndexSpec::btree("id_timestamp", "(id, \"timestamp\")");
    let key_definition = key.definition();
    let found = catalog::indexes(client, t)
        .await
        .map_err(|e| describe(&e))?;
    let has_key = found
        .iter()
        .any(|i| i.valid && i.unique && i.definition == key_definition);
    if !has_key {
        for stale in found
            .iter()
            .filter(|i| !i.valid && i.definition == key_definition)
        {
            run(
                client,
                r,
                format!(
                    "DROP INDEX CONCURRENTLY {}",
                    t.sibling(stale.name.clone()).quoted()
                ),
            )
            .await?;
        }
        run(
            client,
            r,
            format!(
                "CREATE UNIQUE INDEX CONCURRENTLY {} ON {} {}",
                quote_ident(&t.index_name(key.suffix)),
                t.quoted(),
                key.ddl()
            ),
        )
        .await?;
    }
    for check in indexes::compare(t, TableKind::Plain, layout, &found) {
        if check.status != IndexStatus::Missing {
            continue;
        }
        if let Some(spec) = layout
            .indexes()
            .into_iter()
            .find(|s| Some(s.suffix) == check.role.as_deref())
        {
            let done = indexes::build(client, t, TableKind::Plain, &spec)
                .await
                .map_err(|e| describe(&e))?;
            r.statements.extend(done);
        }
    }

    // 2. The range constraint: added without a scan, validated without
    // blocking writers.
    let constraint = quote_ident(&with_tail(t.table(), "_migrate_range"));
    let mut added = false;
    for _ in 0..SWAP_ATTEMPTS {
        let sql = format!(
            "SET lock_timeout = {ms}; ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {constraint}, \
             ADD CONSTRAINT {constraint} CHECK (\"timestamp\" < {lit}) NOT VALID; RESET lock_timeout",
            ms = SWAP_LOCK_TIMEOUT.as_millis(),
            q = t.quoted(),
            lit = literal(cutoff)
        );
        match client.batch_execute(&sql).await {
            Ok(()) => {
                r.statements.push(sql);
                added = true;
                break;
            }
            Err(e) if is_lock_timeout(&e) => {
                let _ = client.batch_execute("RESET lock_timeout").await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                let _ = client.batch_execute("RESET lock_timeout").await;
                return Err(describe(&e));
            }
        }
    }
    if !added {
        return Err(
            "could not add the range constraint: writers held their locks throughout".into(),
        );
    }
    run(
        client,
        r,
        format!(
            "ALTER TABLE {} VALIDATE CONSTRAINT {constraint}",
            t.quoted()
        ),
    )
    .await?;

    // 3. The swap.
    let legacy = t.partition("legacy");
    for attempt in 1..=SWAP_ATTEMPTS {
        r.swap_attempts = attempt;
        match swap(client, t, &legacy, layout, premake, cutoff).await {
            Ok((statements, made)) => {
                r.statements.extend(statements);
                r.legacy_partition = Some(legacy.to_string());
                record_partitions(client, upkeep, made, "stogger schema migrate").await?;
                return Ok(());
            }
            Err(e) if is_lock_timeout(&e) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(format!(
                    "the swap failed (nothing changed): {}",
                    describe(&e)
                ))
            }
        }
    }
    Err(format!(
        "the swap could not get its locks in {SWAP_ATTEMPTS} attempts (writers or readers \
         held {t} throughout); nothing changed: try again"
    ))
}

fn is_lock_timeout(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE)
}

/// The swap transaction; rolled back on any error.
async fn swap(
    client: &Client,
    t: &TableName,
    legacy: &TableName,
    layout: &Layout,
    premake: u32,
    cutoff: time::OffsetDateTime,
) -> Result<(Vec<String>, Vec<String>), tokio_postgres::Error> {
    let begin = format!(
        "BEGIN; SET LOCAL lock_timeout = {}; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        SWAP_LOCK_TIMEOUT.as_millis(),
        t.quoted()
    );
    tx::in_transaction(client, &begin, async {
        let mut done = Vec::new();
        let mut made = Vec::new();
        if catalog::table_kind(client, t).await? != TableKind::Plain {
            // Someone migrated it meanwhile: leave it.
            return Ok((done, made));
        }
        let quoted = t.quoted();
        let seq: Option<String> = client
            .query_typed(
                "SELECT pg_get_serial_sequence($1, 'id')",
                &[(&quoted as &(dyn ToSql + Sync), Type::TEXT)],
            )
            .await?
            .first()
            .map(|row| row.try_get(0))
            .transpose()?
            .flatten();
        let old_indexes = catalog::indexes(client, t).await?;
        let mut script = format!(
            "ALTER TABLE {} RENAME TO {};\n",
            t.quoted(),
            quote_ident(legacy.table())
        );
        for index in &old_indexes {
            script.push_str(&format!(
                "ALTER INDEX {} RENAME TO {};\n",
                t.sibling(index.name.clone()).quoted(),
                quote_ident(&with_tail(&index.name, "_legacy"))
            ));
        }
        // The old primary key (id) gives way to (id, "timestamp"), which a
        // partition of the new table must have as a constraint: made from
        // the unique index built concurrently before (no scan, no build).
        let key_index = old_indexes
            .iter()
            .find(|i| {
                i.valid && i.unique && !i.primary && i.definition == "btree (id, \"timestamp\")"
            })
            .map(|i| i.name.clone());
        if let Some(pk) = old_indexes.iter().find(|i| i.primary) {
            script.push_str(&format!(
                "ALTER TABLE {} DROP CONSTRAINT {};\n",
                legacy.quoted(),
                quote_ident(&with_tail(&pk.name, "_legacy"))
            ));
        }
        if let Some(key) = key_index {
            script.push_str(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {};\n",
                legacy.quoted(),
                quote_ident(&with_tail(legacy.table(), "_pkey")),
                quote_ident(&with_tail(&key, "_legacy"))
            ));
        }
        let create = schema::create_table_sql(t, layout);
        match &seq {
            Some(seq) => {
                // The same sequence, now owned by the new table: retention
                // dropping the old partition must not drop it.
                script.push_str(&create.replacen(
                    "id BIGSERIAL NOT NULL",
                    &format!("id BIGINT NOT NULL DEFAULT nextval({})", quote_literal(seq)),
                    1,
                ));
                script.push_str(";\n");
                script.push_str(&format!("ALTER SEQUENCE {seq} OWNED BY {quoted}.id;\n"));
            }
            None => {
                script.push_str(&create);
                script.push_str(";\n");
                script.push_str(&format!(
                    "SELECT setval(pg_get_serial_sequence({lit}, 'id'), max(id)) FROM {};\n",
                    legacy.quoted(),
                    lit = quote_literal(&quoted)
                ));
            }
        }
        for index in layout.indexes() {
            script.push_str(&schema::create_index_sql(t, &index));
            script.push_str(";\n");
        }
        if layout.default_partition {
            script.push_str(&schema::create_default_partition_sql(t));
            script.push_str(";\n");
        }
        script.push_str(&format!(
            "ALTER TABLE {quoted} ATTACH PARTITION {} FOR VALUES FROM (MINVALUE) TO ({});\n",
            legacy.quoted(),
            literal(cutoff)
        ));
        let p = layout.partitioning;
        if let Some(first) = Period::at(p, cutoff) {
            let mut period = Some(first);
            for _ in 0..=premake {
                let Some(current) = period else { break };
                let part = t.partition(&current.suffix(p));
                script.push_str(&format!(
                    "CREATE TABLE {} PARTITION OF {quoted} {};\n",
                    part.quoted(),
                    current.bounds_sql()
                ));
                made.push(part.table().to_string());
                period = current.next(p);
            }
        }
        client.batch_execute(&script).await?;
        done.extend(script.lines().map(str::to_string));
        Ok((done, made))
    })
    .await
}

/// `text` as a SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
