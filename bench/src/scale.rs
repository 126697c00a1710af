//! The scenarios at scale: a table preloaded server-side with millions of
//! rows, then stogger's sustained rate into it (plain, and partitioned by
//! day) against raw binary COPY into the same partitioned table; the seed's
//! queries plain against partitioned; and many writer processes through
//! pgbouncer against the same processes connected directly.
//!
//! The preload (`preload`) spreads its rows evenly over the five days before
//! today (UTC), so in the daily-partitioned table they fill five past
//! partitions and today's, where the measured rows go, starts empty; the
//! plain table holds the same rows in one heap and one set of indexes. Each
//! measured run deletes what it added (today's partitions truncated, the
//! plain table's new rows deleted and vacuumed), before and after, so every
//! run starts from the preload alone.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio_postgres::Client;

use crate::pg::{column_types, connect, plugin_ddl, quoted, raw_copy_range, runtime};
use crate::{log_event, queue_for, stogger, Opts, Res, EVENT};

const DAY: i64 = 86_400;
/// Days the preload spans, ending at today's midnight (UTC).
const PRELOAD_DAYS: i64 = 5;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What a preloaded table says about itself (its table comment).
#[derive(Debug, Clone, PartialEq)]
struct Preload {
    layout: String,
    rows: u64,
    /// The preload's rows are all before this (seconds since the epoch).
    end: i64,
}

fn marker(p: &Preload) -> String {
    format!(
        "stogger-bench preload layout={} rows={} end={}",
        p.layout, p.rows, p.end
    )
}

async fn preload_of(client: &Client, table: &str) -> Res<Option<Preload>> {
    let row = client
        .query_one(
            "SELECT obj_description(to_regclass($1), 'pg_class')",
            &[&quoted(table)],
        )
        .await?;
    let Some(text) = row.try_get::<_, Option<String>>(0)? else {
        return Ok(None);
    };
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
    };
    Ok(match (field("layout"), field("rows"), field("end")) {
        (Some(layout), Some(rows), Some(end)) => Some(Preload {
            layout,
            rows: rows.parse()?,
            end: end.parse()?,
        }),
        _ => None,
    })
}

/// Removes every row at or after the preload's end: today's partitions
/// are truncated, other rows deleted (and a plain table vacuumed, so its
/// freed pages are reused like a table at steady state).
async fn reset(client: &Client, table: &str, p: &Preload) -> Res<()> {
    let q = quoted(table);
    let parts = client
        .query(
            "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass($1) \
               AND pg_get_expr(c.relpartbound, c.oid) LIKE 'FOR VALUES FROM (''%' \
               AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz \
                   >= to_timestamp($2::float8)",
            &[&q, &(p.end as f64)],
        )
        .await?;
    for part in parts {
        let name: String = part.try_get(0)?;
        client.batch_execute(&format!("TRUNCATE {name}")).await?;
    }
    client
        .execute(
            &format!("DELETE FROM {q} WHERE \"timestamp\" >= to_timestamp($1::float8)"),
            &[&(p.end as f64)],
        )
        .await?;
    if p.layout == "plain" {
        client.batch_execute(&format!("VACUUM {q}")).await?;
    }
    Ok(())
}

/// stogger configured for the bench's PostgreSQL runs.
fn stogger_into(
    o: &Opts,
    partitioning: &'static str,
    capacity: u64,
) -> Res<stogger_core::LoggingGuard> {
    let (dsn, table) = (o.dsn.clone(), o.table.clone());
    stogger(move |b| {
        queue_for(b, capacity)
            .set("enable_postgres", true)
            .set("postgres_dsn", dsn)
            .set("postgres_table", table)
            .set("postgres_partitioning", partitioning)
            .set("postgres_shutdown_timeout_ms", 600_000i64)
            .set("postgres_connect_timeout_ms", 30_000i64)
    })
}

/// `preload --layout plain|daily --rows N`: makes the table (stogger's own
/// DDL: the plugin's for plain, stogger's writer for daily) and fills it
/// server-side (`INSERT ... SELECT generate_series`) unless it already
/// holds that preload; then VACUUM ANALYZE.
pub fn preload(o: &Opts, layout: &str, rows: u64) -> Res<Value> {
    let rt = runtime()?;
    let today = now_secs().div_euclid(DAY) * DAY;
    let wanted = Preload {
        layout: layout.to_string(),
        rows,
        end: today,
    };
    let q = quoted(&o.table);
    let existing = rt.block_on(async {
        let client = connect(&o.dsn).await?;
        let found = preload_of(&client, &o.table).await?;
        if found.as_ref() == Some(&wanted) {
            reset(&client, &o.table, &wanted).await?;
            return Ok::<_, Box<dyn std::error::Error>>(true);
        }
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {q} CASCADE"))
            .await?;
        Ok(false)
    })?;
    if existing {
        return Ok(json!({"preloaded_rows": rows, "layout": layout, "reused": true}));
    }
    let start = Instant::now();
    match layout {
        "plain" => {
            let ddl = plugin_ddl(&o.table)?;
            rt.block_on(async {
                connect(&o.dsn).await?.batch_execute(&ddl).await?;
                Ok::<_, Box<dyn std::error::Error>>(())
            })?;
        }
        "daily" => {
            // The partitioned table as stogger's writer makes it.
            let guard = stogger_into(o, "daily", 1000)?;
            tracing::info!("bench-setup");
            drop(guard);
        }
        other => return Err(format!("unknown layout {other}").into()),
    }
    rt.block_on(async {
        let client = connect(&o.dsn).await?;
        client.batch_execute(&format!("TRUNCATE {q}")).await?;
        if layout == "daily" {
            for d in 1..=PRELOAD_DAYS {
                let lo = today - d * DAY;
                let name = quoted(&format!("{}_pre{}", o.table, PRELOAD_DAYS - d));
                client
                    .batch_execute(&format!(
                        "CREATE TABLE {name} PARTITION OF {q} FOR VALUES \
                         FROM (to_timestamp({lo})) TO (to_timestamp({hi}))",
                        hi = lo + DAY
                    ))
                    .await?;
            }
        }
        let span = PRELOAD_DAYS * DAY;
        let first = today - span;
        let chunk = 500_000u64;
        let mut lo = 0u64;
        while lo < rows {
            let hi = (lo + chunk).min(rows) - 1;
            client
                .batch_execute(&format!(
                    "INSERT INTO {q} (\"timestamp\", level, event, func, scope, data) \
                     SELECT to_timestamp({first} + i * {span}::float8 / {rows}), \
                       CASE WHEN i % 100 = 0 THEN 'error' WHEN i % 25 = 0 THEN 'warning' \
                            WHEN i % 7 = 0 THEN 'debug' ELSE 'info' END, \
                       'event-' || (i % 50), \
                       CASE WHEN i % 1000 = 0 THEN 'my_service::payments::process_payment' \
                            WHEN i % 2 = 0 THEN 'my_service::mod' || (i % 20) || '::handler' END, \
                       CASE WHEN i % 200 = 0 THEN 'order-processing' END, \
                       jsonb_build_object('user_id', i % 100000, 'order_id', i + 1000000, \
                         'amount', (i % 1000) * 0.25, 'username', 'user' || (i % 1000), \
                         'active', i % 2 = 0, 'pid', 4242, 'code_file', 'src/main.rs', \
                         'code_lineno', 55, 'code_module', 'my_service') \
                     FROM generate_series({lo}, {hi}) AS i"
                ))
                .await?;
            eprintln!("    preload {}: {} of {rows} rows", o.table, hi + 1);
            lo = hi + 1;
        }
        client.batch_execute(&format!("VACUUM ANALYZE {q}")).await?;
        client
            .batch_execute(&format!("COMMENT ON TABLE {q} IS '{}'", marker(&wanted)))
            .await?;
        let bytes: i64 = client
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c)), 0)::bigint FROM \
                 (SELECT to_regclass($1) AS c UNION ALL \
                  SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass($1)) s",
                &[&q],
            )
            .await?
            .try_get(0)?;
        Ok(json!({
            "preloaded_rows": rows,
            "layout": layout,
            "reused": false,
            "secs": start.elapsed().as_secs_f64(),
            "table_bytes": bytes,
        }))
    })
}

/// `run pg_sustained <ours|plain|baseline>`: the next `n` rows into the
/// preloaded table: stogger into the daily-partitioned table (`ours`),
/// stogger into the plain one (`plain`), or one raw binary COPY into the
/// partitioned one (`baseline`). Timed from the first row until every row
/// is committed; the table is reset before and after.
pub fn sustained(o: &Opts, side: &str) -> Res<Value> {
    let rt = runtime()?;
    let p = rt.block_on(async {
        let client = connect(&o.dsn).await?;
        let p = preload_of(&client, &o.table)
            .await?
            .ok_or_else(|| format!("{} is not preloaded (run `preload` first)", o.table))?;
        reset(&client, &o.table, &p).await?;
        Ok::<_, Box<dyn std::error::Error>>(p)
    })?;
    let mut failures = 0;
    let secs = match side {
        "ours" | "plain" => {
            let partitioning = if p.layout == "plain" { "none" } else { "daily" };
            let guard = stogger_into(o, partitioning, o.n + 1000)?;
            let start = Instant::now();
            for i in 0..o.n {
                log_event(i);
            }
            guard.flush();
            let secs = start.elapsed().as_secs_f64();
            failures = stogger_core::delivery_failures();
            drop(guard);
            secs
        }
        "baseline" => rt.block_on(async {
            let client = connect(&o.dsn).await?;
            let q = quoted(&o.table);
            let types = column_types(&client, &q).await?;
            let start = Instant::now();
            raw_copy_range(&client, &q, &types, 0..o.n).await?;
            Ok::<_, Box<dyn std::error::Error>>(start.elapsed().as_secs_f64())
        })?,
        other => return Err(format!("no side {other}").into()),
    };
    let added = rt.block_on(async {
        let client = connect(&o.dsn).await?;
        let n: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {} WHERE event = $1 AND \"timestamp\" >= to_timestamp($2::float8)",
                    quoted(&o.table)
                ),
                &[&EVENT, &(p.end as f64)],
            )
            .await?
            .try_get(0)?;
        reset(&client, &o.table, &p).await?;
        Ok::<_, Box<dyn std::error::Error>>(n)
    })?;
    if added != o.n as i64 {
        return Err(format!("{} got {added} rows, expected {}", o.table, o.n).into());
    }
    Ok(json!({
        "secs": secs,
        "events_per_s": o.n as f64 / secs,
        "preloaded_rows": p.rows,
        "layout": p.layout,
        "delivery_failures": failures,
    }))
}

/// The seed's five queries (docs/postgres.md), with `{t}` for the table.
const QUERIES: [(&str, &str); 5] = [
    (
        "recent_errors",
        "SELECT timestamp, event, data FROM {t} WHERE level = 'error' ORDER BY timestamp DESC LIMIT 50",
    ),
    (
        "by_function",
        "SELECT timestamp, event, data FROM {t} WHERE func = 'my_service::payments::process_payment'",
    ),
    (
        "jsonb_field",
        "SELECT timestamp, event, data->>'user_id' AS user_id FROM {t} WHERE data->>'user_id' = '123'",
    ),
    (
        "counts_24h",
        "SELECT event, count(*) FROM {t} WHERE timestamp > now() - interval '24 hours' \
         GROUP BY event ORDER BY count(*) DESC",
    ),
    (
        "by_scope",
        "SELECT timestamp, level, event FROM {t} WHERE scope = 'order-processing' ORDER BY timestamp DESC",
    ),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `query-latency --tables PLAIN,DAILY --stogger PATH --runs R`: each of
/// the seed's queries and `stogger query --field user_id=123` (the command
/// itself, process start included) on both preloaded tables; the median
/// of `runs` after one warm-up run.
pub fn query_latency(o: &Opts, tables: &[String], cli: &str) -> Res<Value> {
    let rt = runtime()?;
    let mut out = serde_json::Map::new();
    let mut preloaded = 0;
    for (name, sql) in QUERIES {
        let mut entry = serde_json::Map::new();
        for table in tables {
            let ms = rt.block_on(async {
                let client = connect(&o.dsn).await?;
                let p = preload_of(&client, table)
                    .await?
                    .ok_or_else(|| format!("{table} is not preloaded"))?;
                preloaded = p.rows;
                let text = sql.replace("{t}", &quoted(table));
                let mut times = Vec::new();
                let mut rows = 0;
                for run in 0..=o.runs.max(1) {
                    let start = Instant::now();
                    rows = client.query(&text, &[]).await?.len();
                    if run > 0 {
                        times.push(start.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                Ok::<_, Box<dyn std::error::Error>>(json!({"median_ms": median(times.clone()), "runs_ms": times, "rows": rows, "layout": p.layout}))
            })?;
            entry.insert(table.clone(), ms);
        }
        out.insert(name.into(), Value::Object(entry));
    }
    let mut entry = serde_json::Map::new();
    for table in tables {
        let partitioning = if table.ends_with("plain") {
            "none"
        } else {
            "daily"
        };
        let mut times = Vec::new();
        let mut lines = 0;
        for run in 0..=o.runs.max(1) {
            let start = Instant::now();
            let result = Command::new(cli)
                .args(["query", "--field", "user_id=123", "--limit", "50", "--json"])
                .env("STOGGER_ENABLE_POSTGRES", "true")
                .env("STOGGER_POSTGRES_DSN", &o.dsn)
                .env("STOGGER_POSTGRES_TABLE", table)
                .env("STOGGER_POSTGRES_PARTITIONING", partitioning)
                .env("STOGGER_SYSTEMD", "off")
                .stdin(Stdio::null())
                .output()?;
            if !result.status.success() {
                return Err(format!(
                    "stogger query failed: {}",
                    String::from_utf8_lossy(&result.stderr)
                )
                .into());
            }
            lines = result.stdout.iter().filter(|b| **b == b'\n').count();
            if run > 0 {
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        entry.insert(
            table.clone(),
            json!({"median_ms": median(times.clone()), "runs_ms": times, "rows": lines}),
        );
    }
    out.insert("stogger_query_field".into(), Value::Object(entry));
    out.insert("preloaded_rows".into(), json!(preloaded));
    Ok(Value::Object(out))
}

/// `writer --n N`: one of many writer processes: stogger (batch mode,
/// daily partitions) logs `n` events and flushes; prints when it started
/// and finished (microseconds since the epoch).
pub fn writer(o: &Opts) -> Res<Value> {
    let guard = stogger_into(o, "daily", o.n + 1000)?;
    let start = now_micros();
    for i in 0..o.n {
        log_event(i);
    }
    guard.flush();
    let end = now_micros();
    let failures = stogger_core::delivery_failures();
    drop(guard);
    Ok(json!({"start_us": start, "end_us": end, "delivery_failures": failures}))
}

/// `run pg_many_writers <ours|baseline> --writers W --monitor-dsn M`: `W`
/// writer processes (each `n / W` events) at once, through `--dsn`
/// (pgbouncer for `ours`, the server for `baseline`), into one
/// daily-partitioned table; events/s from the first start to the last
/// finish, and the most server connections seen (sampled every 20 ms on
/// the server, through `--monitor-dsn`).
pub fn many_writers(o: &Opts, writers: u64, monitor_dsn: &str) -> Res<Value> {
    let rt = runtime()?;
    let per = (o.n / writers.max(1)).max(1);
    let total = per * writers;
    let q = quoted(&o.table);
    // The table exists before the writers start (as it does in production).
    {
        let guard = stogger_into(o, "daily", 1000)?;
        tracing::info!("bench-setup");
        drop(guard);
    }
    rt.block_on(async {
        connect(monitor_dsn)
            .await?
            .batch_execute(&format!("TRUNCATE {q}"))
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (stop, peak, dsn) = (stop.clone(), peak.clone(), monitor_dsn.to_string());
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(client) = connect(&dsn).await else {
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    let row = client
                        .query_one(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                             AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                            &[],
                        )
                        .await;
                    if let Ok(n) = row.and_then(|r| r.try_get::<_, i64>(0)) {
                        peak.fetch_max(n, Ordering::Relaxed);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            });
        })
    };
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..writers)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "writer",
                    "--n",
                    &per.to_string(),
                    "--dsn",
                    &o.dsn,
                    "--table",
                    &o.table,
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut spans = Vec::new();
    let mut failures = 0u64;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(
                format!("a writer failed: {}", String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        let v: Value = serde_json::from_slice(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or("")
                .as_bytes(),
        )?;
        let (s, e) = (
            v["start_us"].as_i64().unwrap_or(0),
            v["end_us"].as_i64().unwrap_or(0),
        );
        spans.push((s, e));
        failures += v["delivery_failures"].as_u64().unwrap_or(0);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let first = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let last = spans.iter().map(|s| s.1).max().unwrap_or(0);
    let secs = (last - first) as f64 / 1e6;
    let rows = rt.block_on(async {
        let client = connect(monitor_dsn).await?;
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {q} WHERE event = $1"),
                &[&EVENT],
            )
            .await?
            .try_get(0)?;
        client
            .batch_execute(&format!("DROP TABLE {q} CASCADE"))
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(n)
    })?;
    if rows != total as i64 {
        return Err(format!("{rows} rows arrived, expected {total}").into());
    }
    Ok(json!({
        "secs": secs,
        "events_per_s": total as f64 / secs,
        "writers": writers,
        "events": total,
        "max_server_connections": peak.load(Ordering::Relaxed),
        "delivery_failures": failures,
    }))
}
