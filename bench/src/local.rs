//! The scenarios without a database (or with one that is down): the file
//! target against tracing-subscriber's fmt layer, the caller's cost with
//! tracing-appender's non-blocking writer (the baseline of
//! `caller_overhead`), a filtered-out `debug!` (under a level, and under
//! five directives against `EnvFilter`), and memory during an outage.

use crate::{log_event, stogger, time_calls, vm_hwm, Opts, Res};
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

fn lines_in(path: &Path) -> Res<(u64, u64)> {
    let bytes = std::fs::read(path)?;
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    Ok((lines, bytes.len() as u64))
}

fn fresh_file(dir: &str, name: &str) -> Res<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = Path::new(dir).join(name);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    Ok(path)
}

/// stogger's file target alone: N events, timed until the last line is
/// written (the close's fsync is not timed: the baseline does none).
pub fn file_ours(o: &Opts) -> Res<Value> {
    let path = fresh_file(&o.dir, "bench-ours.log")?;
    let dir = o.dir.clone();
    let guard = stogger(move |b| {
        b.set("log_to_file", true)
            .set("logdir", dir)
            .set("syslog_identifier", "bench-ours")
    })?;
    let start = Instant::now();
    for i in 0..o.n {
        log_event(i);
    }
    guard.flush();
    let secs = start.elapsed().as_secs_f64();
    drop(guard);
    verified_file(&path, o.n, secs)
}

/// Ends a file run that took `secs`: checks the file holds one line per
/// event, removes it, and reports the figures.
fn verified_file(path: &Path, n: u64, secs: f64) -> Res<Value> {
    let (lines, bytes) = lines_in(path)?;
    if lines != n {
        return Err(format!("{} has {lines} lines, expected {n}", path.display()).into());
    }
    let _ = std::fs::remove_file(path);
    Ok(json!({
        "secs": secs,
        "events_per_s": n as f64 / secs,
        "bytes_per_line": bytes as f64 / lines as f64,
    }))
}

/// tracing-subscriber's fmt layer (no ANSI) writing the same events to a
/// file in the same directory, one `write` per event like stogger's target.
pub fn file_fmt(o: &Opts) -> Res<Value> {
    let path = fresh_file(&o.dir, "bench-fmt.log")?;
    let file = Arc::new(OpenOptions::new().create(true).append(true).open(&path)?);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(file),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    let start = Instant::now();
    for i in 0..o.n {
        log_event(i);
    }
    let secs = start.elapsed().as_secs_f64();
    verified_file(&path, o.n, secs)
}

/// The baseline of `caller_overhead`: fmt layer formatting on the caller's
/// thread into `tracing_appender::non_blocking` (default: lossy, 128k lines),
/// whose worker writes the file.
pub fn caller_appender(o: &Opts) -> Res<Value> {
    let path = fresh_file(&o.dir, "bench-appender.log")?;
    let file = File::create(&path)?;
    let (writer, worker) = tracing_appender::non_blocking(file);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    let mut out = time_calls(o.n);
    drop(worker); // flushes what the channel still holds
    let (lines, _) = lines_in(&path)?;
    let _ = std::fs::remove_file(&path);
    if let Value::Object(m) = &mut out {
        m.insert("lines_written".into(), json!(lines));
    }
    Ok(out)
}

/// Nanoseconds per call of a filtered-out `debug!` (arguments behind
/// `black_box`), and of the bare loop for reference.
fn disabled_loop(n: u64) -> Value {
    let start = Instant::now();
    for i in 0..n {
        let i = black_box(i);
        tracing::debug!(
            user_id = black_box(i),
            username = black_box("alice"),
            "bench-debug"
        );
    }
    let ns = start.elapsed().as_nanos() as f64 / n.max(1) as f64;
    let start = Instant::now();
    for i in 0..n {
        black_box(i);
    }
    let empty = start.elapsed().as_nanos() as f64 / n.max(1) as f64;
    json!({
        "ns_per_call": ns,
        "empty_loop_ns": empty,
        "events_per_s": 1e9 / ns,
    })
}

/// stogger at level info with its file target on (in `--dir`; the loop
/// writes nothing to it): with no output at all stogger would want nothing
/// and tracing would skip every callsite on its global max level. With
/// `set_filter`, after 1000 filter changes ([`crate::change_filters`]).
pub fn disabled_ours(o: &Opts, set_filter: bool) -> Res<Value> {
    let _guard = stogger_with_file(o, "bench-disabled", None)?;
    if set_filter {
        crate::change_filters("info")?;
    }
    Ok(disabled_loop(o.n))
}

/// Five directives, one of them at debug (so tracing's max level is debug
/// and the disabled event's callsite is asked, not skipped on the level);
/// the bench's own target falls to the default, info.
pub const FIVE_DIRECTIVES: &str = "info,hyper=warn,rustls=warn,tokio=error,my_service::db=debug";

/// stogger (file target on, as in [`disabled_ours`]) with [`FIVE_DIRECTIVES`]
/// as its `log_filter`.
pub fn directives_ours(o: &Opts) -> Res<Value> {
    let _guard = stogger_with_file(o, "bench-directives", Some(FIVE_DIRECTIVES))?;
    Ok(disabled_loop(o.n))
}

/// stogger with its file target on in `--dir` (and `log_filter`, if given).
fn stogger_with_file(
    o: &Opts,
    identifier: &'static str,
    log_filter: Option<&'static str>,
) -> Res<stogger_core::LoggingGuard> {
    let dir = o.dir.clone();
    stogger(move |b| {
        let b = b
            .set("log_to_file", true)
            .set("logdir", dir)
            .set("syslog_identifier", identifier);
        match log_filter {
            Some(filter) => b.set("log_filter", filter),
            None => b,
        }
    })
}

/// tracing-subscriber's `EnvFilter` with the same directives, as the
/// per-layer filter of a fmt layer (stogger's filter is per-layer too).
pub fn directives_envfilter(o: &Opts) -> Res<Value> {
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_new(FIVE_DIRECTIVES)?;
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_filter(filter),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(disabled_loop(o.n))
}

/// tracing-subscriber: `LevelFilter::INFO` in front of a fmt layer.
pub fn disabled_fmt(o: &Opts) -> Res<Value> {
    let subscriber = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(disabled_loop(o.n))
}

/// Queue capacity of the outage scenarios (stogger's default).
const OUTAGE_CAPACITY: u64 = 100_000;
/// Queue byte bound of the outage scenarios (stogger's default, 64 MiB).
const OUTAGE_MAX_BYTES: u64 = 64 << 20;

/// [`log_event`] with one more field, `blob`, of `blob.len()` bytes.
#[inline(never)]
fn log_big_event(i: u64, blob: &str) {
    bench_event!(i, blob);
}

/// N events with the database down (`--dsn` points at a closed port),
/// each with a `blob` field of `blob` bytes (0: none): the peak RSS growth
/// against an independent figure, the bytes of the rows the queue holds
/// when full, computed from the rows themselves (`level`, `event` and
/// `data` text, as the queue counts them) and the queue's two bounds —
/// not calibrated from this run's memory. Also the growth after the queue
/// is full (every further event is dropped), which a bounded queue keeps
/// near zero. The plugin's drop count is in the close note on stderr.
pub fn outage_ours(o: &Opts, blob: usize) -> Res<Value> {
    let (dsn, table) = (o.dsn.clone(), o.table.clone());
    let guard = stogger(move |b| {
        b.set("enable_postgres", true)
            .set("postgres_dsn", dsn)
            .set("postgres_table", table)
            .set("postgres_queue_capacity", OUTAGE_CAPACITY as i64)
            .set("postgres_queue_max_bytes", OUTAGE_MAX_BYTES as i64)
            .set("postgres_connect_timeout_ms", 1_000i64)
            .set("postgres_shutdown_timeout_ms", 0i64)
    })?;
    let blob_text = "b".repeat(blob);
    let log = |i: u64| {
        if blob == 0 {
            log_event(i);
        } else {
            log_big_event(i, &blob_text);
        }
    };
    // The bytes of one queued row: level + event + data (no func, scope).
    let mut data = String::new();
    crate::pg::raw_data(&mut data, 1_000_000, std::process::id());
    let extra = if blob == 0 {
        0
    } else {
        blob + ",\"blob\":\"\"".len()
    };
    let row_bytes = ("info".len() + crate::EVENT.len() + data.len() + extra) as u64;
    let fit = OUTAGE_CAPACITY.min(OUTAGE_MAX_BYTES / row_bytes).min(o.n);
    let queued_bytes = fit * row_bytes;
    let before = vm_hwm();
    let start = Instant::now();
    // The file target is off (`log_to_file = false`): no setup note takes
    // a queue slot, so the queue is full after exactly `fit` events.
    for i in 0..fit {
        log(i);
    }
    let at_full = vm_hwm();
    for i in fit..o.n {
        log(i);
    }
    let secs = start.elapsed().as_secs_f64();
    let after = vm_hwm();
    let refused = stogger_core::delivery_failures();
    drop(guard);
    Ok(json!({
        "capacity": OUTAGE_CAPACITY,
        "max_bytes": OUTAGE_MAX_BYTES,
        "row_bytes": row_bytes,
        "queued_rows": fit,
        "queued_bytes": queued_bytes,
        "hwm_before": before,
        "hwm_full": at_full,
        "hwm_after": after,
        "growth_after_full_bytes": after.saturating_sub(at_full),
        "growth_bytes": after.saturating_sub(before),
        "refused_writes": refused,
        "secs": secs,
        "events_per_s": o.n as f64 / secs,
    }))
}
