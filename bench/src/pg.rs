//! The PostgreSQL scenarios: stogger's batch and sync modes against raw
//! tokio-postgres (one binary COPY; one prepared INSERT per row) into an
//! identical table made with the plugin's own DDL, and the one-off cost of
//! the GIN index on `data`.

use crate::{log_event, queue_for, stogger, Opts, Res, EVENT};
use bytes::{BufMut, BytesMut};
use futures_util::pin_mut;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::{Instant, SystemTime};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls};

/// Columns stogger writes, in its COPY order.
pub(crate) const COLUMNS: &str = "(\"timestamp\", level, event, func, scope, data)";

/// JSON text sent as binary `jsonb` (version byte 1, then the text): what a
/// careful hand-written COPY does instead of building `serde_json::Value`s.
#[derive(Debug)]
pub(crate) struct Jsonb<'a>(pub(crate) &'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// The `data` object of one raw row: the keys and values stogger stores for
/// [`log_event`] (five fields, pid, code location).
pub(crate) fn raw_data(buf: &mut String, i: u64, pid: u32) {
    buf.clear();
    let _ = write!(
        buf,
        "{{\"user_id\":{},\"amount\":{:?},\"username\":\"alice\",\"active\":{},\
         \"order_id\":{},\"pid\":{pid},\"code_file\":\"bench/src/main.rs\",\
         \"code_lineno\":55,\"code_module\":\"stogger_bench\"}}",
        i as i64,
        i as f64 * 0.25,
        i & 1 == 0,
        i + 1_000_000
    );
}

pub(crate) fn quoted(table: &str) -> String {
    format!("\"{}\"", table.replace('"', "\"\""))
}

/// The runtime of the raw baselines: tokio's default multi-threaded one
/// (what `#[tokio::main]` gives), so the connection task runs beside the
/// code producing rows, as stogger's writer runs beside its callers.
pub(crate) fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The runtime of the raw sync baselines: a current-thread runtime on the
/// thread that makes the calls, so the connection's I/O runs on the thread
/// that waits for the answer, as with the blocking `postgres` crate (which
/// does exactly this) and as in stogger's sync mode.
fn caller_runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) async fn connect(dsn: &str) -> Res<Client> {
    let (client, conn) = tokio_postgres::connect(dsn, NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The DDL the plugin runs for `table`, from the loaded plugin itself.
pub(crate) fn plugin_ddl(table: &str) -> Res<String> {
    let cfg = stogger_core::Config::default();
    Ok(stogger_core::plugin::schema_sql(&cfg, table)?)
}

/// Rows of [`EVENT`] in the table and their mean `data` size (as text);
/// drops the table.
async fn count_and_drop(client: &Client, table: &str) -> Res<(i64, f64)> {
    let q = quoted(table);
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), coalesce(avg(length(data::text)), 0)::float8 \
                 FROM {q} WHERE event = $1"
            ),
            &[&EVENT],
        )
        .await?;
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {q}"))
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// The INSERT statements (autocommit: transactions) that wrote `table`:
/// the rows of one statement share its transaction id (`xmin`).
async fn statements_of(client: &Client, table: &str) -> Res<i64> {
    let row = client
        .query_one(
            &format!("SELECT count(DISTINCT xmin::text) FROM {}", quoted(table)),
            &[],
        )
        .await?;
    Ok(row.try_get(0)?)
}

fn check_count(rows: i64, n: u64, table: &str) -> Res<()> {
    if rows != n as i64 {
        return Err(format!("{table} holds {rows} rows of {EVENT}, expected {n}").into());
    }
    Ok(())
}

fn stogger_pg(o: &Opts, mode: &'static str, capacity: u64) -> Res<stogger_core::LoggingGuard> {
    let (dsn, table, batch) = (o.dsn.clone(), o.table.clone(), o.batch_size);
    let prepared = o.prepared;
    stogger(move |b| {
        let b = queue_for(b, capacity)
            .set("enable_postgres", true)
            .set("postgres_dsn", dsn)
            .set("postgres_table", table)
            .set("postgres_write_mode", mode)
            .set("postgres_prepared_statements", prepared)
            .set("postgres_shutdown_timeout_ms", 600_000i64);
        match batch {
            Some(size) => b.set("postgres_batch_size", size as i64),
            None => b,
        }
    })
}

/// Drops `table` and creates it anew with `ddl`; returns its quoted name.
async fn fresh_table(client: &Client, table: &str, ddl: &str) -> Res<String> {
    let q = quoted(table);
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {q}"))
        .await?;
    client.batch_execute(ddl).await?;
    Ok(q)
}

fn drop_table(rt: &tokio::runtime::Runtime, o: &Opts) -> Res<()> {
    rt.block_on(async {
        let client = connect(&o.dsn).await?;
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", quoted(&o.table)))
            .await?;
        Ok(())
    })
}

/// stogger, batch mode: N events, timed until all are committed (flush).
pub fn batch_ours(o: &Opts) -> Res<Value> {
    let rt = runtime()?;
    drop_table(&rt, o)?;
    // Room for every event: this scenario measures throughput, not drops.
    let guard = stogger_pg(o, "batch", o.n.max(100_000) + 1_000)?;
    let start = Instant::now();
    for i in 0..o.n {
        log_event(i);
    }
    let caller = start.elapsed().as_secs_f64();
    guard.flush();
    let secs = start.elapsed().as_secs_f64();
    let mut result = verified_run(&rt, o, guard, secs)?;
    result["caller_secs"] = json!(caller);
    Ok(result)
}

/// Raw tokio-postgres: one binary COPY of the same N rows, in one
/// transaction, into the plugin's table and indexes.
pub fn copy_raw(o: &Opts) -> Res<Value> {
    raw_run(&runtime()?, o, async |client, q| {
        let types = column_types(client, q).await?;
        match o.batch_size {
            // Diagnostic: one autocommitted COPY per batch, as stogger commits.
            Some(batch) => {
                let start = Instant::now();
                let mut from = 0;
                while from < o.n {
                    let to = (from + batch.max(1)).min(o.n);
                    raw_copy_range(client, q, &types, from..to).await?;
                    from = to;
                }
                Ok(start.elapsed().as_secs_f64())
            }
            None => raw_copy(client, q, &types, o.n).await,
        }
    })
}

/// One raw tokio-postgres run on `rt`: a fresh table made with the plugin's
/// DDL, `write` (given the client and the quoted table; it returns the
/// seconds it took), then the rows counted by SQL and the table dropped.
fn raw_run(
    rt: &tokio::runtime::Runtime,
    o: &Opts,
    write: impl AsyncFnOnce(&Client, &str) -> Res<f64>,
) -> Res<Value> {
    let ddl = plugin_ddl(&o.table)?;
    rt.block_on(async {
        let client = connect(&o.dsn).await?;
        let q = fresh_table(&client, &o.table, &ddl).await?;
        let secs = write(&client, &q).await?;
        let (rows, avg) = count_and_drop(&client, &o.table).await?;
        check_count(rows, o.n, &o.table)?;
        Ok(json!({
            "secs": secs,
            "events_per_s": o.n as f64 / secs,
            "avg_data_chars": avg,
        }))
    })
}

/// Generates and COPYs `n` rows; returns the seconds until COPY finished
/// (autocommit: committed).
async fn raw_copy(client: &Client, quoted_table: &str, types: &[Type], n: u64) -> Res<f64> {
    let start = Instant::now();
    raw_copy_range(client, quoted_table, types, 0..n).await?;
    Ok(start.elapsed().as_secs_f64())
}

/// One COPY of rows `range` (autocommit); `types` are the table's
/// [`column_types`].
pub(crate) async fn raw_copy_range(
    client: &Client,
    quoted_table: &str,
    types: &[Type],
    range: std::ops::Range<u64>,
) -> Res<()> {
    let sink = client
        .copy_in(&format!(
            "COPY {quoted_table} {COLUMNS} FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, types);
    pin_mut!(writer);
    let pid = std::process::id();
    let mut data = String::with_capacity(256);
    let none: Option<&str> = None;
    for i in range {
        raw_data(&mut data, i, pid);
        let ts = SystemTime::now();
        writer
            .as_mut()
            .write(&[&ts, &"info", &EVENT, &none, &none, &Jsonb(&data)])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// stogger, sync mode: N events, each committed before the call returns.
pub fn sync_ours(o: &Opts) -> Res<Value> {
    let rt = runtime()?;
    drop_table(&rt, o)?;
    let guard = stogger_pg(o, "sync", 100_000)?;
    let start = Instant::now();
    for i in 0..o.n {
        log_event(i);
    }
    let secs = start.elapsed().as_secs_f64();
    verified_run(&rt, o, guard, secs)
}

/// Ends a stogger run that took `secs`: shuts logging down, checks by SQL
/// that every row arrived (and drops the table), and reports the figures.
fn verified_run(
    rt: &tokio::runtime::Runtime,
    o: &Opts,
    guard: stogger_core::LoggingGuard,
    secs: f64,
) -> Res<Value> {
    let (failures, avg) = verified_rows(rt, o, guard)?;
    Ok(json!({
        "secs": secs,
        "events_per_s": o.n as f64 / secs,
        "delivery_failures": failures,
        "avg_data_chars": avg,
    }))
}

/// Shuts logging down and checks by SQL that every row arrived (dropping
/// the table); returns the delivery failures stogger counted and the mean
/// `data` length.
fn verified_rows(
    rt: &tokio::runtime::Runtime,
    o: &Opts,
    guard: stogger_core::LoggingGuard,
) -> Res<(u64, f64)> {
    let failures = stogger_core::delivery_failures();
    drop(guard);
    let (rows, avg) = rt.block_on(async {
        let client = connect(&o.dsn).await?;
        count_and_drop(&client, &o.table).await
    })?;
    check_count(rows, o.n, &o.table)?;
    Ok((failures, avg))
}

/// Raw tokio-postgres: one prepared INSERT per row, autocommit, one
/// connection, on a current-thread runtime on the calling thread (see
/// [`caller_runtime`]).
pub fn insert_raw(o: &Opts) -> Res<Value> {
    raw_run(&caller_runtime()?, o, async |client, q| {
        let insert = prepared_insert(client, q).await?;
        let start = Instant::now();
        for i in 0..o.n {
            insert_one(client, &insert, i).await?;
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

/// The INSERT of one row into `quoted_table`, prepared: the server types
/// its parameters from the table's columns.
async fn prepared_insert(client: &Client, quoted_table: &str) -> Res<tokio_postgres::Statement> {
    Ok(client
        .prepare(&format!(
            "INSERT INTO {quoted_table} {COLUMNS} VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .await?)
}

/// The types of [`COLUMNS`] in `quoted_table`, as the plugin's DDL made
/// them (so the raw baselines cannot drift from the plugin's table).
pub(crate) async fn column_types(client: &Client, quoted_table: &str) -> Res<Vec<Type>> {
    Ok(prepared_insert(client, quoted_table)
        .await?
        .params()
        .to_vec())
}

/// One autocommit INSERT of raw row `i` with the prepared `insert`.
async fn insert_one(client: &Client, insert: &tokio_postgres::Statement, i: u64) -> Res<()> {
    let mut data = String::with_capacity(256);
    raw_data(&mut data, i, std::process::id());
    let none: Option<&str> = None;
    let ts = SystemTime::now();
    client
        .execute(insert, &[&ts, &"info", &EVENT, &none, &none, &Jsonb(&data)])
        .await?;
    Ok(())
}

/// Events `0..n` split over `threads` callers: thread `t` gets its range.
fn share(n: u64, threads: u64, t: u64) -> std::ops::Range<u64> {
    (n * t / threads)..(n * (t + 1) / threads)
}

/// Wall time, events/s and the callers' latency percentiles of a run in
/// which `samples` (ns per call, all threads) took `secs`.
fn concurrent_figures(n: u64, threads: u64, secs: f64, mut samples: Vec<u64>) -> Value {
    samples.sort_unstable();
    json!({
        "threads": threads,
        "secs": secs,
        "events_per_s": n as f64 / secs,
        "p50_ns": crate::percentile(&samples, 50.0),
        "p99_ns": crate::percentile(&samples, 99.0),
        "p999_ns": crate::percentile(&samples, 99.9),
    })
}

/// stogger, sync mode, `--threads` callers at once (`--pool-size`
/// connections, else the default): events/s over all of them and each
/// call's latency.
pub fn sync_concurrent_ours(o: &Opts) -> Res<Value> {
    let rt = runtime()?;
    drop_table(&rt, o)?;
    let (pool, prepared) = (o.pool_size, o.prepared);
    let (dsn, table) = (o.dsn.clone(), o.table.clone());
    let guard = stogger(move |b| {
        let b = b
            .set("enable_postgres", true)
            .set("postgres_dsn", dsn)
            .set("postgres_table", table)
            .set("postgres_write_mode", "sync")
            .set("postgres_prepared_statements", prepared)
            .set("postgres_shutdown_timeout_ms", 600_000i64);
        match pool {
            Some(size) => b.set("postgres_sync_pool_size", size as i64),
            None => b,
        }
    })?;
    let threads = o.threads.max(1);
    let start_line = std::sync::Barrier::new(threads as usize + 1);
    let (samples, secs) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start_line = &start_line;
                s.spawn(move || {
                    let range = share(o.n, threads, t);
                    let mut mine = Vec::with_capacity((range.end - range.start) as usize);
                    start_line.wait();
                    for i in range {
                        let c = Instant::now();
                        log_event(i);
                        mine.push(c.elapsed().as_nanos() as u64);
                    }
                    mine
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        let samples: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        (samples, start.elapsed().as_secs_f64())
    });
    let mut out = concurrent_figures(o.n, threads, secs, samples);
    // Sync mode commits before each call returns: the table is complete.
    let statements = rt.block_on(async {
        let client = connect(&o.dsn).await?;
        statements_of(&client, &o.table).await
    })?;
    out["rows_per_statement"] = json!(o.n as f64 / statements.max(1) as f64);
    let (failures, avg) = verified_rows(&rt, o, guard)?;
    out["delivery_failures"] = json!(failures);
    out["avg_data_chars"] = json!(avg);
    out["pool_size"] = json!(pool);
    Ok(out)
}

/// Raw tokio-postgres, `--threads` callers at once, each with its own
/// connection and prepared INSERT on a current-thread runtime of its own
/// (what a careful user writes: the blocking `postgres` crate, per thread).
pub fn sync_concurrent_raw(o: &Opts) -> Res<Value> {
    let ddl = plugin_ddl(&o.table)?;
    let q = quoted(&o.table);
    caller_runtime()?.block_on(async {
        let client = connect(&o.dsn).await?;
        fresh_table(&client, &o.table, &ddl).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let threads = o.threads.max(1);
    let start_line = std::sync::Barrier::new(threads as usize + 1);
    let (samples, secs) = std::thread::scope(|s| -> Res<(Vec<u64>, f64)> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (start_line, q, dsn) = (&start_line, &q, &o.dsn);
                s.spawn(move || -> Result<Vec<u64>, String> {
                    let rt = caller_runtime().map_err(|e| e.to_string())?;
                    let prepared = rt.block_on(async {
                        let client = connect(dsn).await?;
                        let insert = prepared_insert(&client, q).await?;
                        Ok::<_, Box<dyn std::error::Error>>((client, insert))
                    });
                    // Every thread passes the start line, even one that failed.
                    start_line.wait();
                    let (client, insert) = prepared.map_err(|e| e.to_string())?;
                    let range = share(o.n, threads, t);
                    let mut mine = Vec::with_capacity((range.end - range.start) as usize);
                    for i in range {
                        let c = Instant::now();
                        rt.block_on(insert_one(&client, &insert, i))
                            .map_err(|e| e.to_string())?;
                        mine.push(c.elapsed().as_nanos() as u64);
                    }
                    Ok(mine)
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        let mut samples = Vec::new();
        for h in handles {
            samples.extend(h.join().map_err(|_| "a caller panicked")??);
        }
        Ok((samples, start.elapsed().as_secs_f64()))
    })?;
    let out = concurrent_figures(o.n, threads, secs, samples);
    caller_runtime()?.block_on(async {
        let client = connect(&o.dsn).await?;
        let (rows, _) = count_and_drop(&client, &o.table).await?;
        check_count(rows, o.n, &o.table)
    })?;
    Ok(out)
}

/// How much the GIN index on `data` costs COPY: raw COPY of N rows into the
/// plugin's table (GIN `jsonb_path_ops`), the same with the default
/// `jsonb_ops`, and without a GIN index; runs interleaved, medians.
pub fn gin_cost(o: &Opts) -> Res<Value> {
    let rt = runtime()?;
    let table = "bench_gin";
    let ddl = plugin_ddl(table)?;
    if !ddl.contains("jsonb_path_ops") {
        return Err(format!("the plugin's DDL has no jsonb_path_ops GIN index:\n{ddl}").into());
    }
    let variants: [(&str, String); 3] = [
        ("gin_jsonb_path_ops", ddl.clone()),
        ("gin_jsonb_ops", ddl.replace(" jsonb_path_ops", "")),
        (
            "no_gin",
            ddl.lines()
                .filter(|l| !l.contains("USING GIN"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    rt.block_on(async {
        let client = connect(&o.dsn).await?;
        let q = quoted(table);
        for _ in 0..o.runs.max(1) {
            for (k, (_, ddl)) in variants.iter().enumerate() {
                fresh_table(&client, table, ddl).await?;
                let types = column_types(&client, &q).await?;
                let secs = raw_copy(&client, &q, &types, o.n).await?;
                rates[k].push(o.n as f64 / secs);
            }
        }
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {q}"))
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut out = serde_json::Map::new();
    let mut medians = Vec::new();
    for (k, (name, _)) in variants.iter().enumerate() {
        let m = median(&mut rates[k]);
        medians.push(m);
        out.insert((*name).into(), json!({"rows_per_s": m, "runs": rates[k]}));
    }
    out.insert("n".into(), json!(o.n));
    out.insert(
        "no_gin_over_path_ops".into(),
        json!(medians[2] / medians[0]),
    );
    out.insert(
        "path_ops_over_jsonb_ops".into(),
        json!(medians[0] / medians[1]),
    );
    Ok(Value::Object(out))
}

/// The calling thread's cost of one event with only the PostgreSQL target
/// on (batch mode), call by call, while the writer drains concurrently.
pub fn caller_ours(o: &Opts) -> Res<Value> {
    caller_ours_with(o, false)
}

/// [`caller_ours`] after the filter was changed at run time (see
/// [`crate::change_filters`]): the per-call cost must not grow.
pub fn caller_ours_after_set_filter(o: &Opts) -> Res<Value> {
    caller_ours_with(o, true)
}

fn caller_ours_with(o: &Opts, set_filter: bool) -> Res<Value> {
    let rt = runtime()?;
    drop_table(&rt, o)?;
    let guard = stogger_pg(o, "batch", o.n.max(100_000) + 1_000)?;
    if set_filter {
        crate::change_filters("info")?;
    }
    let mut out = crate::time_calls(o.n);
    guard.flush();
    let (failures, _) = verified_rows(&rt, o, guard)?;
    if let Value::Object(m) = &mut out {
        m.insert("delivery_failures".into(), json!(failures));
    }
    Ok(out)
}

/// The calling thread's cost of one event while the database is
/// black-holed from the start (`--dsn` points at a listener that accepts
/// and never answers), in write mode `mode`:
///
/// - `batch` (`caller_under_outage`): the writer is stuck connecting, the
///   queue fills and then drops; the caller must not notice.
/// - `sync` (`caller_under_outage_sync`): the first connection fails after
///   `postgres_connect_timeout_ms` (1 s here) and opens the breaker; from
///   then on every call returns at once (the fail-fast bound).
pub fn caller_under_outage(o: &Opts, mode: &'static str) -> Res<Value> {
    let (dsn, table) = (o.dsn.clone(), o.table.clone());
    let guard = stogger(move |b| {
        b.set("enable_postgres", true)
            .set("postgres_dsn", dsn)
            .set("postgres_table", table)
            .set("postgres_write_mode", mode)
            .set("postgres_connect_timeout_ms", 1_000i64)
            .set("postgres_shutdown_timeout_ms", 0i64)
    })?;
    let mut out = crate::time_calls(o.n);
    let refused = stogger_core::delivery_failures();
    drop(guard);
    if let Value::Object(m) = &mut out {
        m.insert("refused_writes".into(), json!(refused));
    }
    Ok(out)
}
