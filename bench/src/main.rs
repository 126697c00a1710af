//! `stogger-bench`: the runner behind `cargo xtask bench`.
//!
//! Each invocation measures one side (`ours` or `baseline`) of one scenario
//! in a fresh process, so the global tracing dispatcher, the allocator and
//! the memory high-water mark belong to that measurement alone, and prints
//! one JSON line on stdout. `cargo xtask bench` starts the PostgreSQL
//! cluster, interleaves the runs (ours, baseline, ours, ...), takes medians
//! and writes `target/bench/results.json`.
//!
//! ```text
//! stogger-bench run <scenario> <ours|baseline> [--n N] [--dsn DSN] [--table T]
//!                   [--dir DIR] [--batch-size N] [--threads N] [--pool-size N]
//!                   [--prepared true|false]
//! stogger-bench gin-cost --dsn DSN [--n N] [--runs R]
//! stogger-bench preload --dsn DSN --table T --layout plain|daily --rows N
//! stogger-bench query-latency --dsn DSN --tables PLAIN,DAILY --stogger PATH [--runs R]
//! stogger-bench writer --dsn DSN --table T --n N
//! ```
//!
//! Scenarios: `pg_batch_vs_copy`, `pg_sync_vs_insert`, `pg_sync_concurrent`,
//! `file_vs_tracing_fmt`, `caller_overhead`,
//! `caller_overhead_after_set_filter`, `disabled_debug`,
//! `disabled_debug_after_set_filter`, `filter_directives_vs_envfilter`,
//! `outage_memory`, `outage_memory_64k` (ours only: the baseline is the
//! computed bytes of the queued rows), `caller_under_outage` (ours with
//! the database black-holed, baseline the same calls with it up),
//! `caller_under_outage_sync` (ours only, database black-holed: its
//! target is the fail-fast bound), `pg_sustained` (sides `ours`, `plain`,
//! `baseline` on a preloaded table), `pg_many_writers` (`--writers W
//! --monitor-dsn M`; ours through pgbouncer, baseline direct).
//!
//! stogger is configured in code (console off, journal off, file target off
//! with `log_to_file = false`); every `STOGGER_*` variable but
//! `STOGGER_PLUGIN_DIR` is removed first.

/// Logs the one event every scenario logs: five typed fields (int, float,
/// string, bool, another int), then any `extra` fields. Written once so the
/// scenarios that add a field log the same event otherwise.
macro_rules! bench_event {
    ($i:expr $(, $extra:ident)*) => {
        tracing::info!(
            user_id = $i as i64,
            amount = $i as f64 * 0.25,
            username = "alice",
            active = $i & 1 == 0,
            order_id = $i + 1_000_000,
            $($extra,)*
            "bench-event"
        )
    };
}

mod local;
mod pg;
mod scale;

use serde_json::{json, Value};
use std::error::Error;
use std::process::ExitCode;

/// Result type of the scenarios.
pub type Res<T> = Result<T, Box<dyn Error>>;

/// Name of every event the scenarios log (and count in the table).
pub const EVENT: &str = "bench-event";

/// Command-line options of `run` and `gin-cost`.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Events (or rows, or calls).
    pub n: u64,
    /// Connection string (socket DSN of the throwaway cluster).
    pub dsn: String,
    /// Table to create, fill and drop.
    pub table: String,
    /// Scratch directory for files.
    pub dir: String,
    /// stogger's `postgres_batch_size` (None: stogger's default).
    pub batch_size: Option<u64>,
    /// Runs (gin-cost, query-latency).
    pub runs: u32,
    /// Callers at once (pg_sync_concurrent).
    pub threads: u64,
    /// stogger's `postgres_sync_pool_size` (None: stogger's default).
    pub pool_size: Option<u64>,
    /// stogger's `postgres_prepared_statements` (sync scenarios).
    pub prepared: bool,
    /// Table layout to preload: `plain` or `daily`.
    pub layout: String,
    /// Rows to preload.
    pub rows: u64,
    /// The preloaded tables to query (query-latency).
    pub tables: Vec<String>,
    /// The `stogger` command (query-latency).
    pub cli: String,
    /// Writer processes (pg_many_writers).
    pub writers: u64,
    /// A direct DSN to watch the server with (pg_many_writers).
    pub monitor_dsn: String,
}

/// The one event every scenario logs: five typed fields (int, float,
/// string, bool, another int).
#[inline(never)]
pub fn log_event(i: u64) {
    bench_event!(i);
}

/// stogger with every target off; `configure` turns on what a scenario needs.
pub fn stogger(
    configure: impl FnOnce(stogger_core::Builder) -> stogger_core::Builder,
) -> Res<stogger_core::LoggingGuard> {
    let builder = stogger_core::Stogger::builder()
        .set("log_to_console", false)
        .set("systemd", "off")
        .set("log_to_file", false)
        .set("enable_postgres", false)
        .set("syslog_identifier", "stogger-bench");
    Ok(configure(builder).init()?)
}

/// A PostgreSQL queue that holds `rows` events: its byte bound (64 MiB by
/// default) must not bind before the row bound, since the scenarios queue
/// every event before they time the drain (1 KiB per row).
pub fn queue_for(builder: stogger_core::Builder, rows: u64) -> stogger_core::Builder {
    builder
        .set("postgres_queue_capacity", rows as i64)
        .set("postgres_queue_max_bytes", rows.saturating_mul(1024) as i64)
}

/// Changes stogger's filter at run time 1000 times (debug and back), ending
/// with `last`: what `set_filter` leaves behind must cost a log call
/// nothing (tracing-subscriber's reload layer costs 3-6x, its issue #1632).
pub fn change_filters(last: &str) -> Res<()> {
    for i in 0..1000 {
        stogger_core::set_filter(if i % 2 == 0 { "debug" } else { last })?;
    }
    stogger_core::set_filter(last)?;
    Ok(())
}

/// Times `n` calls of [`log_event`] one by one on this thread: p50, p99
/// (minus the clock's own cost, measured first), mean and events/s.
pub fn time_calls(n: u64) -> Value {
    let mut clock: Vec<u64> = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let t = std::time::Instant::now();
        clock.push(t.elapsed().as_nanos() as u64);
    }
    clock.sort_unstable();
    let clock_ns = percentile(&clock, 50.0);
    let mut samples: Vec<u64> = Vec::with_capacity(n as usize);
    let start = std::time::Instant::now();
    for i in 0..n {
        let t = std::time::Instant::now();
        log_event(i);
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    let mean = samples.iter().sum::<u64>() as f64 / samples.len().max(1) as f64;
    samples.sort_unstable();
    let (p50, p99, p999) = (
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        percentile(&samples, 99.9),
    );
    json!({
        "p50_ns": p50.saturating_sub(clock_ns),
        "p99_ns": p99.saturating_sub(clock_ns),
        "p999_ns": p999.saturating_sub(clock_ns),
        "raw_p50_ns": p50,
        "raw_p99_ns": p99,
        "mean_ns": mean - clock_ns as f64,
        "max_ns": samples.last().copied().unwrap_or(0),
        "clock_ns": clock_ns,
        "events_per_s": n as f64 / secs,
    })
}

/// `VmHWM` (peak resident set) of this process, in bytes.
pub fn vm_hwm() -> u64 {
    proc_status_kb("VmHWM:") * 1024
}

fn proc_status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The `p`-th percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn parse(args: &[String]) -> Res<Opts> {
    let mut o = Opts {
        n: 0,
        dsn: String::new(),
        table: "bench".into(),
        dir: ".".into(),
        batch_size: None,
        runs: 3,
        threads: 8,
        pool_size: None,
        prepared: false,
        layout: "plain".into(),
        rows: 0,
        tables: Vec::new(),
        cli: "stogger".into(),
        writers: 20,
        monitor_dsn: String::new(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--n" => o.n = value()?.parse()?,
            "--dsn" => o.dsn = value()?,
            "--table" => o.table = value()?,
            "--dir" => o.dir = value()?,
            "--batch-size" => o.batch_size = Some(value()?.parse()?),
            "--runs" => o.runs = value()?.parse()?,
            "--threads" => o.threads = value()?.parse()?,
            "--pool-size" => o.pool_size = Some(value()?.parse()?),
            "--prepared" => o.prepared = value()?.parse()?,
            "--layout" => o.layout = value()?,
            "--rows" => o.rows = value()?.parse()?,
            "--tables" => o.tables = value()?.split(',').map(str::to_string).collect(),
            "--stogger" => o.cli = value()?,
            "--writers" => o.writers = value()?.parse()?,
            "--monitor-dsn" => o.monitor_dsn = value()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(o)
}

fn run(args: &[String]) -> Res<Value> {
    match args {
        [cmd, scenario, side, rest @ ..] if cmd == "run" => {
            let o = parse(rest)?;
            let ours = match side.as_str() {
                "ours" | "plain" => true,
                "baseline" => false,
                s => return Err(format!("side must be ours, plain or baseline, not {s}").into()),
            };
            let mut out = match (scenario.as_str(), ours) {
                ("pg_batch_vs_copy", true) => pg::batch_ours(&o)?,
                ("pg_batch_vs_copy", false) => pg::copy_raw(&o)?,
                ("pg_sync_vs_insert", true) => pg::sync_ours(&o)?,
                ("pg_sync_vs_insert", false) => pg::insert_raw(&o)?,
                ("pg_sync_concurrent", true) => pg::sync_concurrent_ours(&o)?,
                ("pg_sync_concurrent", false) => pg::sync_concurrent_raw(&o)?,
                ("file_vs_tracing_fmt", true) => local::file_ours(&o)?,
                ("file_vs_tracing_fmt", false) => local::file_fmt(&o)?,
                ("caller_overhead", true) => pg::caller_ours(&o)?,
                ("caller_overhead_after_set_filter", true) => pg::caller_ours_after_set_filter(&o)?,
                ("caller_overhead" | "caller_overhead_after_set_filter", false) => {
                    local::caller_appender(&o)?
                }
                ("disabled_debug", true) => local::disabled_ours(&o, false)?,
                ("disabled_debug_after_set_filter", true) => local::disabled_ours(&o, true)?,
                ("disabled_debug" | "disabled_debug_after_set_filter", false) => {
                    local::disabled_fmt(&o)?
                }
                ("filter_directives_vs_envfilter", true) => local::directives_ours(&o)?,
                ("filter_directives_vs_envfilter", false) => local::directives_envfilter(&o)?,
                ("outage_memory", true) => local::outage_ours(&o, 0)?,
                ("outage_memory_64k", true) => local::outage_ours(&o, 64 * 1024)?,
                ("caller_under_outage", true) => pg::caller_under_outage(&o, "batch")?,
                // Its baseline: the same calls with the database up.
                ("caller_under_outage", false) => pg::caller_ours(&o)?,
                ("caller_under_outage_sync", true) => pg::caller_under_outage(&o, "sync")?,
                ("pg_sustained", _) => scale::sustained(&o, side)?,
                ("pg_many_writers", _) => scale::many_writers(&o, o.writers, &o.monitor_dsn)?,
                (s, _) => return Err(format!("no scenario {s} for side {side}").into()),
            };
            if let Value::Object(m) = &mut out {
                m.insert("scenario".into(), json!(scenario));
                m.insert("side".into(), json!(side));
                m.insert("n".into(), json!(o.n));
            }
            Ok(out)
        }
        [cmd, rest @ ..] if cmd == "gin-cost" => pg::gin_cost(&parse(rest)?),
        [cmd, rest @ ..] if cmd == "preload" => {
            let o = parse(rest)?;
            scale::preload(&o, &o.layout, o.rows)
        }
        [cmd, rest @ ..] if cmd == "query-latency" => {
            let o = parse(rest)?;
            scale::query_latency(&o, &o.tables, &o.cli)
        }
        [cmd, rest @ ..] if cmd == "writer" => scale::writer(&parse(rest)?),
        _ => Err(
            "usage: stogger-bench run <scenario> <ours|plain|baseline> [--n N] [--dsn DSN] \
                  [--table T] [--dir DIR] [--batch-size N] [--writers W] [--monitor-dsn DSN] \
                  | gin-cost --dsn DSN [--n N] [--runs R] \
                  | preload --dsn DSN --table T --layout plain|daily --rows N \
                  | query-latency --dsn DSN --tables A,B --stogger PATH [--runs R] \
                  | writer --dsn DSN --table T --n N"
                .into(),
        ),
    }
}

fn main() -> ExitCode {
    // Only what the scenario sets in code counts: no STOGGER_* from outside
    // (the plugin directory excepted). Single-threaded here.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if (k.starts_with("STOGGER_") && k != "STOGGER_PLUGIN_DIR") || k == "RUST_LOG" {
            std::env::remove_var(&key);
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stogger-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
