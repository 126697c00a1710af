//! `cargo xtask bench [--quick]`: every performance figure stogger claims,
//! each as a ratio against a baseline measured in the same invocation.
//!
//! 1. Builds the runner (`stogger-bench`) and the plugin cdylib in release.
//! 2. Starts a throwaway PostgreSQL (the test harness: fsync, synchronous
//!    commit and full-page writes off — the same for both sides) and tunes
//!    it for bulk writes (see [`PG_TUNING`]).
//! 3. Runs every scenario `runs` times, interleaved (ours, baseline, ours,
//!    baseline, ...), each side in a fresh `stogger-bench run` process that
//!    prints one JSON line; takes the median of each side, and as the
//!    ratio the median of the per-run ratios (each run of ours against the
//!    baseline run right after it).
//! 4. Measures once what the GIN index on `data` costs COPY (`gin-cost`).
//! 5. Prints a table and writes `target/bench/results.json`, where `ratio`
//!    > 1 always means stogger did better than the baseline.

use crate::run::{cargo, heading, interrupted, step};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use stogger_tests::pg::{target_dir, Cluster};

/// Server settings on top of the harness's (`fsync=off`,
/// `synchronous_commit=off`, `full_page_writes=off`), applied with
/// `ALTER SYSTEM` and a restart: room for the tables in memory, no
/// checkpoint or autovacuum in the middle of a measurement.
const PG_TUNING: [(&str, &str); 4] = [
    ("shared_buffers", "256MB"),
    ("max_wal_size", "4GB"),
    ("checkpoint_timeout", "30min"),
    ("autovacuum", "off"),
];

/// What the ratio compares.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    /// Throughput: ratio = ours / baseline.
    Higher,
    /// Time or memory: ratio = baseline / ours.
    Lower,
}

/// Which database a scenario needs.
#[derive(Clone, Copy, PartialEq)]
enum Db {
    None,
    Live,
    /// Nothing listens: ours only, its baseline a computed figure.
    Down,
    /// Ours against a listener that accepts and never answers; the
    /// baseline against the live database.
    BlackHole,
    /// Ours against the same listener, and no baseline run: the target
    /// is an absolute bound.
    BlackHoleOnly,
}

impl Db {
    /// Whether the scenario has a baseline side to run.
    fn has_baseline_run(self) -> bool {
        !matches!(self, Db::Down | Db::BlackHoleOnly)
    }
}

/// The headline figure of a scenario: its key in the runner's JSON, its
/// unit, and which way is better.
#[derive(Clone, Copy)]
struct Metric {
    key: &'static str,
    unit: &'static str,
    better: Better,
}

impl Metric {
    const fn new(key: &'static str, unit: &'static str, better: Better) -> Metric {
        Metric { key, unit, better }
    }

    /// ours against baseline, oriented so that > 1 means ours did better.
    fn ratio(self, ours: f64, baseline: f64) -> f64 {
        match self.better {
            Better::Higher => ours / baseline,
            Better::Lower => baseline / ours,
        }
    }
}

const EVENTS_PER_S: Metric = Metric::new("events_per_s", "events/s", Better::Higher);
const P50_NS: Metric = Metric::new("p50_ns", "ns/call p50", Better::Lower);
const P999_NS: Metric = Metric::new("p999_ns", "ns/call p99.9", Better::Lower);
const NS_PER_CALL: Metric = Metric::new("ns_per_call", "ns/call", Better::Lower);
const GROWTH_MIB: Metric = Metric::new("growth_mib", "MiB peak RSS growth", Better::Lower);

/// What a scenario must reach.
#[derive(Clone, Copy)]
enum Target {
    /// The ratio is at least `min`; `why` (may be empty) says what that
    /// means in the scenario's terms.
    Ratio { min: f64, why: &'static str },
    /// Ours is at most `max`, in the metric's unit; `text` states it.
    OursAtMost { max: f64, text: &'static str },
}

impl Target {
    const fn ratio(min: f64) -> Target {
        Target::Ratio { min, why: "" }
    }

    fn met(self, ours: f64, ratio: f64) -> bool {
        match self {
            Target::Ratio { min, .. } => ratio >= min,
            Target::OursAtMost { max, .. } => ours <= max,
        }
    }

    /// The target as the results state it (`ratio >= 0.9`).
    fn text(self) -> String {
        match self {
            Target::Ratio { min, why: "" } => format!("ratio >= {min:?}"),
            Target::Ratio { min, why } => format!("ratio >= {min:?} ({why})"),
            Target::OursAtMost { text, .. } => text.to_string(),
        }
    }
}

struct Scenario {
    name: &'static str,
    n_full: u64,
    n_quick: u64,
    db: Db,
    metric: Metric,
    baseline: &'static str,
    target: Target,
}

const SCENARIOS: [Scenario; 13] = [
    Scenario {
        name: "pg_batch_vs_copy",
        n_full: 100_000,
        n_quick: 20_000,
        db: Db::Live,
        metric: EVENTS_PER_S,
        baseline: "raw tokio-postgres: one BinaryCopyInWriter COPY of the same rows, same table DDL and indexes",
        target: Target::ratio(0.9),
    },
    Scenario {
        name: "pg_sync_vs_insert",
        n_full: 20_000,
        n_quick: 5_000,
        db: Db::Live,
        metric: EVENTS_PER_S,
        baseline: "raw tokio-postgres: one prepared INSERT per row, autocommit, one connection, on a current-thread runtime on the calling thread (as the blocking postgres crate)",
        target: Target::ratio(0.9),
    },
    Scenario {
        name: "pg_sync_concurrent",
        n_full: 40_000,
        n_quick: 8_000,
        db: Db::Live,
        metric: EVENTS_PER_S,
        baseline: "8 threads, each its own connection and prepared INSERT on a current-thread runtime of its own; ours: 8 threads logging in sync mode (default pool)",
        target: Target::ratio(0.9),
    },
    Scenario {
        name: "file_vs_tracing_fmt",
        n_full: 200_000,
        n_quick: 50_000,
        db: Db::None,
        metric: EVENTS_PER_S,
        baseline: "tracing-subscriber fmt layer (no ANSI) writing an Arc<File> in the same directory",
        target: Target::ratio(1.0),
    },
    Scenario {
        name: "caller_overhead",
        n_full: 100_000,
        n_quick: 50_000,
        db: Db::Live,
        metric: P50_NS,
        baseline: "tracing-subscriber fmt layer into tracing_appender::non_blocking (file)",
        target: Target::OursAtMost {
            max: 1000.0,
            text: "ours p50 <= 1000 ns",
        },
    },
    Scenario {
        name: "caller_overhead_after_set_filter",
        n_full: 100_000,
        n_quick: 50_000,
        db: Db::Live,
        metric: P50_NS,
        baseline: "as caller_overhead; ours after 1000 set_filter calls",
        target: Target::OursAtMost {
            max: 1000.0,
            text: "ours p50 <= 1000 ns",
        },
    },
    Scenario {
        name: "disabled_debug",
        n_full: 50_000_000,
        n_quick: 10_000_000,
        db: Db::None,
        metric: NS_PER_CALL,
        baseline: "tracing-subscriber: LevelFilter::INFO in front of a fmt layer",
        target: Target::OursAtMost {
            max: 10.0,
            text: "ours <= 10 ns",
        },
    },
    Scenario {
        name: "disabled_debug_after_set_filter",
        n_full: 50_000_000,
        n_quick: 10_000_000,
        db: Db::None,
        metric: NS_PER_CALL,
        baseline: "as disabled_debug; ours after 1000 set_filter calls",
        target: Target::OursAtMost {
            max: 10.0,
            text: "ours <= 10 ns",
        },
    },
    Scenario {
        name: "filter_directives_vs_envfilter",
        n_full: 50_000_000,
        n_quick: 10_000_000,
        db: Db::None,
        metric: NS_PER_CALL,
        baseline: "tracing-subscriber EnvFilter with the same five directives, per-layer filter of a fmt layer",
        target: Target::ratio(1.0),
    },
    Scenario {
        name: "outage_memory",
        n_full: 1_000_000,
        n_quick: 300_000,
        db: Db::Down,
        metric: GROWTH_MIB,
        baseline: "the bytes of the rows a full queue holds, computed: min(postgres_queue_capacity, postgres_queue_max_bytes / row bytes) x row bytes (level + event + data text)",
        target: Target::Ratio {
            min: 0.5,
            why: "growth at most twice the rows' own bytes",
        },
    },
    Scenario {
        name: "outage_memory_64k",
        n_full: 20_000,
        n_quick: 5_000,
        db: Db::Down,
        metric: GROWTH_MIB,
        baseline: "as outage_memory, events with a 64 KiB field: the byte bound (64 MiB) decides",
        target: Target::Ratio {
            min: 0.8,
            why: "growth within the byte bound plus 25%",
        },
    },
    Scenario {
        name: "caller_under_outage",
        n_full: 200_000,
        n_quick: 50_000,
        db: Db::BlackHole,
        metric: P999_NS,
        baseline: "the same calls (batch mode) with the database up (caller_overhead's ours side)",
        target: Target::Ratio {
            min: 0.5,
            why: "p99.9 at most twice the live figure",
        },
    },
    Scenario {
        name: "caller_under_outage_sync",
        n_full: 200_000,
        n_quick: 50_000,
        db: Db::BlackHoleOnly,
        metric: P999_NS,
        baseline: "none: the documented fail-fast bound (sync mode, database black-holed from the start)",
        target: Target::OursAtMost {
            max: 1_000_000.0,
            text: "ours p99.9 <= 1 ms",
        },
    },
];

fn usage() -> String {
    "usage: cargo xtask bench [--quick] [--only SCENARIO[,SCENARIO...]] [--runs N]".to_string()
}

/// Runs `cargo xtask bench`.
pub fn bench(args: &[String]) -> Result<(), String> {
    crate::run::trap_ctrl_c();
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    let mut runs: Option<u32> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let v = it.next().ok_or_else(usage)?;
                only = Some(v.split(',').map(str::to_string).collect());
            }
            "--runs" => {
                let v = it.next().ok_or_else(usage)?;
                runs = Some(v.parse().map_err(|_| usage())?);
            }
            _ => return Err(format!("unknown option {a}\n{}", usage())),
        }
    }
    let runs = runs.unwrap_or(if quick { 3 } else { 7 }).max(1);
    if let Some(only) = &only {
        for name in only {
            if !SCENARIOS.iter().any(|s| s.name == name)
                && !crate::bench_scale::NAMES.contains(&name.as_str())
            {
                return Err(format!("no scenario {name}"));
            }
        }
    }
    let started = Instant::now();
    step(
        "release build of the runner and the plugin (stogger-bench, libstogger_postgres.so)",
        cargo().args([
            "build",
            "--release",
            "-p",
            "stogger-bench",
            "-p",
            "stogger-postgres",
        ]),
    )?;
    let build_secs = started.elapsed().as_secs_f64();
    let release = target_dir().join("release");
    let runner = release.join("stogger-bench");
    let out_dir = target_dir().join("bench");
    let scratch = out_dir.join(format!("tmp-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let ctx = Ctx {
        runner,
        plugin_dir: release,
        scratch: scratch.clone(),
    };
    let result = run_all(&ctx, quick, runs, only.as_deref(), build_secs, started);
    let _ = std::fs::remove_dir_all(&scratch);
    let results = result?;
    let path = out_dir.join("results.json");
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\nwrote {}", path.display());
    println!(
        "xtask bench: done in {:.0}s (release build {:.0}s)",
        started.elapsed().as_secs_f64(),
        build_secs
    );
    Ok(())
}

pub(crate) struct Ctx {
    runner: PathBuf,
    plugin_dir: PathBuf,
    scratch: PathBuf,
}

impl Ctx {
    /// Runs the runner with `args`; the JSON of its last stdout line and its stderr.
    pub(crate) fn run(&self, args: &[String]) -> Result<(Value, String), String> {
        if interrupted() {
            return Err("interrupted".into());
        }
        let out = Command::new(&self.runner)
            .args(args)
            .env("STOGGER_PLUGIN_DIR", &self.plugin_dir)
            .current_dir(&self.scratch)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.runner.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(format!(
                "stogger-bench {} failed ({}):\n{stdout}{stderr}",
                args.join(" "),
                out.status
            ));
        }
        let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
        let value = line
            .and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| {
                format!(
                    "stogger-bench {}: no JSON line in {stdout:?}",
                    args.join(" ")
                )
            })?;
        Ok((value, stderr))
    }
}

fn start_cluster() -> Result<Cluster, String> {
    heading("throwaway PostgreSQL for the benchmark");
    let mut pg = Cluster::start("bench")?;
    for (key, value) in PG_TUNING {
        pg.psql("postgres", &format!("ALTER SYSTEM SET {key} = '{value}'"))?;
    }
    pg.stop_server()?;
    pg.start_server()?;
    pg.create_user_and_db("bench", "bench")?;
    Ok(pg)
}

/// A DSN on which nothing listens (a port just released).
fn closed_port_dsn() -> Result<String, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    drop(l);
    Ok(format!("postgresql://bench@127.0.0.1:{port}/bench"))
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The number in front of `what` in a close note such as
/// `postgres: 12 events not delivered (12 dropped because the queue was full)`.
fn count_before(text: &str, what: &str) -> Option<u64> {
    let at = text.find(what)?;
    text[..at]
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

fn run_all(
    ctx: &Ctx,
    quick: bool,
    runs: u32,
    only: Option<&[String]>,
    build_secs: f64,
    started: Instant,
) -> Result<Value, String> {
    let pg = start_cluster()?;
    let dsn = pg.socket_dsn("bench", "bench");
    let down_dsn = closed_port_dsn()?;
    // Accepts connections and never answers (kept for the whole run).
    let hole = stogger_tests::proxy::TcpProxy::start(
        ("127.0.0.1", 1),
        stogger_tests::proxy::Mode::BlackHole,
    )
    .map_err(|e| format!("black-hole listener: {e}"))?;
    let hole_dsn = format!("postgresql://bench@127.0.0.1:{}/bench", hole.port());
    let version = pg.version()?;
    let mut scenarios = Vec::new();
    for sc in SCENARIOS.iter() {
        if only.is_some_and(|o| !o.iter().any(|n| n == sc.name)) {
            continue;
        }
        heading(&format!("{} ({runs} runs, interleaved)", sc.name));
        let dsns = Dsns {
            live: &dsn,
            down: &down_dsn,
            hole: &hole_dsn,
        };
        scenarios.push(run_scenario(ctx, sc, quick, runs, &dsns)?);
    }
    scenarios.extend(crate::bench_scale::run(ctx, quick, runs, only, &pg, &dsn)?);
    let gin = if only.is_none() {
        heading("gin-cost: raw COPY with and without the GIN index on data");
        let n = if quick { 20_000 } else { 100_000 };
        let (v, _) = ctx.run(&[
            "gin-cost".into(),
            "--dsn".into(),
            dsn.clone(),
            "--n".into(),
            n.to_string(),
            "--runs".into(),
            runs.to_string(),
        ])?;
        print_gin(&v);
        v
    } else {
        Value::Null
    };
    let batch = if only.is_none() {
        heading("batch-size: stogger and raw COPY, by rows per transaction");
        batch_size_diag(ctx, quick, runs, &dsn)?
    } else {
        Value::Null
    };
    let sync_threads = if only.is_none_or(|o| o.iter().any(|n| n == "pg_sync_concurrent")) {
        heading("sync-threads: stogger sync mode by callers and by pool size");
        sync_threads_diag(ctx, quick, runs, &dsn)?
    } else {
        Value::Null
    };
    drop(pg);
    print_table(&scenarios);
    let settings = json!({
        "mode": if quick { "quick" } else { "full" },
        "runs": runs,
        "order": "interleaved: ours, baseline, ours, baseline, ...; each side a fresh process; medians",
        "n": SCENARIOS.iter().map(|s| (s.name.to_string(), json!(if quick { s.n_quick } else { s.n_full }))).collect::<Map<_, _>>(),
        "postgres": {
            "harness": "fsync=off, synchronous_commit=off, full_page_writes=off (both sides alike)",
            "tuning": PG_TUNING.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<_, _>>(),
            "connection": "unix socket, both sides",
        },
        "stogger": {
            "targets": "console off, journal off, file off (log_to_file = false) unless the scenario is the file target",
            "postgres_batch_size": "5000 (default)",
            "postgres_queue_capacity": "n + 1000 (at least 101000) for throughput/caller scenarios; 100000 (default) for outage_memory, outage_memory_64k and the ours side of caller_under_outage",
            "postgres_queue_max_bytes": "64 MiB (default) everywhere",
            "plugin": "libstogger_postgres.so loaded at run time from target/release (STOGGER_PLUGIN_DIR)",
        },
        "raw_baselines_runtime": "COPY: tokio multi-threaded runtime (the #[tokio::main] default), one connection; sync INSERTs: a current-thread runtime on each calling thread, one connection per thread (as the blocking postgres crate)",
        "build_secs": build_secs,
        "total_secs": started.elapsed().as_secs_f64(),
    });
    Ok(json!({
        "machine": machine(&version),
        "settings": settings,
        "scenarios": scenarios,
        "gin_cost": gin,
        "batch_size": batch,
        "sync_threads": sync_threads,
    }))
}

/// What the rows per transaction cost: stogger in batch mode with
/// `postgres_batch_size` 1000, 2000, 5000 and 10000, raw COPY as one
/// transaction and in 1000-row transactions; interleaved, medians.
fn batch_size_diag(ctx: &Ctx, quick: bool, runs: u32, dsn: &str) -> Result<Value, String> {
    let n: u64 = if quick { 20_000 } else { 100_000 };
    let variants: [(&str, &str, Option<u32>); 6] = [
        ("stogger_batch_1000", "ours", Some(1000)),
        ("stogger_batch_2000", "ours", Some(2000)),
        ("stogger_batch_5000", "ours", Some(5000)),
        ("stogger_batch_10000", "ours", Some(10_000)),
        ("raw_one_copy", "baseline", None),
        ("raw_copy_per_1000", "baseline", Some(1000)),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for run in 0..runs {
        for (k, (name, side, batch)) in variants.iter().enumerate() {
            let table = format!("bench_bs_{k}_{run}");
            let mut args = run_args("pg_batch_vs_copy", side, n, dsn, &table);
            if let Some(b) = batch {
                args.extend(["--batch-size".to_string(), b.to_string()]);
            }
            let (v, _) = ctx.run(&args)?;
            let rate = num(&v, "events_per_s").unwrap_or(f64::NAN);
            println!("    run {}: {name:<20} {} rows/s", run + 1, fmt_num(rate));
            rates[k].push(rate);
        }
    }
    let mut out = Map::new();
    for (k, (name, _, _)) in variants.iter().enumerate() {
        out.insert(
            (*name).into(),
            json!({"rows_per_s": median(rates[k].clone()), "runs": rates[k]}),
        );
    }
    out.insert("n".into(), json!(n));
    Ok(Value::Object(out))
}

/// The runner's arguments for one side of a scenario over `n` events into
/// `table`.
pub(crate) fn run_args(scenario: &str, side: &str, n: u64, dsn: &str, table: &str) -> Vec<String> {
    let n = n.to_string();
    [
        "run", scenario, side, "--n", &n, "--dsn", dsn, "--table", table,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Sync mode under concurrency: stogger (default pool) with 1, 2, 4, 8 and
/// 16 callers, 8 callers with `postgres_sync_pool_size` 1, 2, 4, 8 (the
/// figures behind the default), and 1 and 8 callers with
/// `postgres_prepared_statements` (against the unnamed default); events/s,
/// p99 and rows per INSERT (how well callers were grouped), medians.
fn sync_threads_diag(ctx: &Ctx, quick: bool, runs: u32, dsn: &str) -> Result<Value, String> {
    let n: u64 = if quick { 8_000 } else { 40_000 };
    // (name, callers, pool size, prepared statements)
    let mut variants: Vec<(String, u64, Option<u64>, bool)> = [1, 2, 4, 8, 16]
        .iter()
        .map(|t| (format!("threads_{t}"), *t, None, false))
        .collect();
    variants.extend(
        [1, 2, 4, 8]
            .iter()
            .map(|p| (format!("threads_8_pool_{p}"), 8, Some(*p), false)),
    );
    variants.extend(
        [1, 8]
            .iter()
            .map(|t| (format!("threads_{t}_prepared"), *t, None, true)),
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut per_statement: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for run in 0..runs {
        for (k, (name, threads, pool, prepared)) in variants.iter().enumerate() {
            let table = format!("bench_st_{k}_{run}");
            let mut args = run_args("pg_sync_concurrent", "ours", n, dsn, &table);
            args.extend(["--threads".to_string(), threads.to_string()]);
            if let Some(p) = pool {
                args.extend(["--pool-size".to_string(), p.to_string()]);
            }
            args.extend(["--prepared".to_string(), prepared.to_string()]);
            let (v, _) = ctx.run(&args)?;
            let rate = num(&v, "events_per_s").unwrap_or(f64::NAN);
            let p99 = num(&v, "p99_ns").unwrap_or(f64::NAN);
            let per = num(&v, "rows_per_statement").unwrap_or(f64::NAN);
            println!(
                "    run {}: {name:<18} {} events/s, p99 {} us, {per:.1} rows/INSERT",
                run + 1,
                fmt_num(rate),
                fmt_num(p99 / 1000.0)
            );
            per_statement[k].push(per);
            rates[k].push(rate);
            p99s[k].push(p99);
        }
    }
    let mut out = Map::new();
    for (k, (name, threads, pool, prepared)) in variants.iter().enumerate() {
        out.insert(
            name.clone(),
            json!({
                "threads": threads,
                "pool_size": pool.map_or(json!("default"), |p| json!(p)),
                "prepared_statements": prepared,
                "events_per_s": median(rates[k].clone()),
                "p99_ns": median(p99s[k].clone()),
                "runs": rates[k],
                "p99_runs": p99s[k],
                "rows_per_statement": median(per_statement[k].clone()),
            }),
        );
    }
    out.insert("n".into(), json!(n));
    Ok(Value::Object(out))
}

/// The databases a scenario may point at.
struct Dsns<'a> {
    live: &'a str,
    down: &'a str,
    hole: &'a str,
}

fn run_scenario(
    ctx: &Ctx,
    sc: &Scenario,
    quick: bool,
    runs: u32,
    dsns: &Dsns<'_>,
) -> Result<Value, String> {
    let n = if quick { sc.n_quick } else { sc.n_full };
    let scratch = ctx.scratch.display().to_string();
    let args = |side: &str, run: u32| -> Vec<String> {
        let db = match (sc.db, side) {
            (Db::Down, _) => dsns.down,
            (Db::BlackHole, "ours") | (Db::BlackHoleOnly, _) => dsns.hole,
            _ => dsns.live,
        };
        let short = sc.name.split('_').next().unwrap_or("t");
        vec![
            "run".into(),
            sc.name.into(),
            side.into(),
            "--n".into(),
            n.to_string(),
            "--dsn".into(),
            db.into(),
            "--table".into(),
            format!("bench_{short}_{side}_{run}"),
            "--dir".into(),
            scratch.clone(),
        ]
    };
    let mut ours_runs = Vec::new();
    let mut base_runs = Vec::new();
    for run in 0..runs {
        let (mut v, stderr) = ctx.run(&args("ours", run))?;
        if sc.db == Db::Down {
            let dropped = count_before(&stderr, "dropped because the queue was full");
            let growth = num(&v, "growth_bytes").unwrap_or(f64::NAN) / 1048576.0;
            let queued = num(&v, "queued_bytes").unwrap_or(f64::NAN) / 1048576.0;
            if let Value::Object(m) = &mut v {
                m.insert("dropped_reported".into(), json!(dropped));
                m.insert("growth_mib".into(), json!(growth));
                m.insert("queued_mib".into(), json!(queued));
            }
        }
        println!("    run {}: ours     {}", run + 1, brief(sc, &v));
        ours_runs.push(v);
        if sc.db.has_baseline_run() {
            let (v, _) = ctx.run(&args("baseline", run))?;
            let pair = pair_ratio(sc, &ours_runs[ours_runs.len() - 1], &v);
            println!(
                "    run {}: baseline {}   pair ratio {}",
                run + 1,
                brief(sc, &v),
                pair.map_or("?".into(), |r| format!("{r:.2}"))
            );
            base_runs.push(v);
        }
    }
    let med = |runs: &[Value], key: &str| median(runs.iter().filter_map(|v| num(v, key)).collect());
    let ours = med(&ours_runs, sc.metric.key);
    let baseline = if sc.db == Db::Down {
        med(&ours_runs, "queued_mib")
    } else {
        med(&base_runs, sc.metric.key)
    };
    let ratio_of_medians = sc.metric.ratio(ours, baseline);
    // The headline ratio is the median of the per-run ratios: each run of
    // ours is paired with the baseline run right after it, so a slow spell
    // of the machine (minutes long on a shared VM) hits both sides of a
    // pair alike and cancels out, where the ratio of the two medians can
    // pair a fast median with a slow one.
    let pair_ratios: Vec<f64> = ours_runs
        .iter()
        .zip(&base_runs)
        .filter_map(|(o, b)| pair_ratio(sc, o, b))
        .collect();
    let ratio = if pair_ratios.is_empty() {
        ratio_of_medians
    } else {
        median(pair_ratios.clone())
    };
    let mut extra = Map::new();
    for key in [
        "p99_ns",
        "p999_ns",
        "mean_ns",
        "clock_ns",
        "caller_secs",
        "avg_data_chars",
        "bytes_per_line",
        "empty_loop_ns",
        "row_bytes",
        "queued_rows",
        "p50_ns",
        "refused_writes",
        "growth_after_full_bytes",
        "dropped_reported",
        "lines_written",
    ] {
        let o = med(&ours_runs, key);
        let b = med(&base_runs, key);
        if o.is_finite() || b.is_finite() {
            extra.insert(
                key.into(),
                json!({"ours": finite(o), "baseline": finite(b)}),
            );
        }
    }
    Ok(json!({
        "name": sc.name,
        "ours": ours,
        "baseline": baseline,
        "unit": sc.metric.unit,
        "ratio": ratio,
        "ratio_of_medians": finite(ratio_of_medians),
        "pair_ratios": pair_ratios,
        "runs": runs,
        "n": n,
        "target": sc.target.text(),
        "met": sc.target.met(ours, ratio),
        "ours_events_per_s": finite(med(&ours_runs, "events_per_s")),
        "baseline_events_per_s": finite(med(&base_runs, "events_per_s")),
        "baseline_is": sc.baseline,
        "medians": extra,
        "ours_runs": ours_runs,
        "baseline_runs": base_runs,
    }))
}

/// ours ÷ baseline of one run pair, oriented so that > 1 means ours did better.
fn pair_ratio(sc: &Scenario, ours: &Value, baseline: &Value) -> Option<f64> {
    let key = sc.metric.key;
    let r = sc.metric.ratio(num(ours, key)?, num(baseline, key)?);
    r.is_finite().then_some(r)
}

fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn brief(sc: &Scenario, v: &Value) -> String {
    let metric = num(v, sc.metric.key).map_or("?".into(), fmt_num);
    let eps = num(v, "events_per_s").map_or("?".into(), fmt_num);
    format!("{metric} {} ({eps} events/s)", sc.metric.unit)
}

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn print_table(scenarios: &[Value]) {
    println!();
    println!(
        "{:<32} {:>12} {:>12}  {:<20} {:>6}  {:<40} {:>4}  {:>12} {:>12}",
        "scenario", "ours", "baseline", "unit", "ratio", "target", "met", "ours ev/s", "base ev/s"
    );
    for s in scenarios {
        let f = |k: &str| s.get(k).and_then(Value::as_f64).map_or("-".into(), fmt_num);
        let t = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let met = if s.get("met").and_then(Value::as_bool) == Some(true) {
            "yes"
        } else {
            "NO"
        };
        println!(
            "{:<32} {:>12} {:>12}  {:<20} {:>6}  {:<40} {:>4}  {:>12} {:>12}",
            t("name"),
            f("ours"),
            f("baseline"),
            t("unit"),
            f("ratio"),
            t("target"),
            met,
            f("ours_events_per_s"),
            f("baseline_events_per_s"),
        );
    }
}

fn print_gin(v: &Value) {
    let rate = |k: &str| {
        v.get(k)
            .and_then(|x| x.get("rows_per_s"))
            .and_then(Value::as_f64)
            .map_or("-".into(), fmt_num)
    };
    println!(
        "    raw COPY rows/s: GIN jsonb_path_ops {}, GIN jsonb_ops {}, no GIN {}",
        rate("gin_jsonb_path_ops"),
        rate("gin_jsonb_ops"),
        rate("no_gin")
    );
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn machine(pg_version: &str) -> Value {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    let mem_kb = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok());
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "model_name": model,
        "memory_gib": mem_kb.map(|k| (k as f64 / 1048576.0 * 10.0).round() / 10.0),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "postgres_version": pg_version,
        "rustc": rustc,
        "target_dir_fs": fs_type(&target_dir()),
    })
}

/// The file system type of `path` (from /proc/mounts, longest mount prefix).
fn fs_type(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    read("/proc/mounts")
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mnt, ty) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mnt).then(|| (mnt.len(), ty.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, ty)| ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_note_counts_are_found() {
        let note = "stogger: postgres: 200001 events not delivered (1 still queued at the \
                    shutdown deadline, 200000 dropped because the queue was full)";
        assert_eq!(
            count_before(note, "dropped because the queue was full"),
            Some(200000)
        );
        assert_eq!(count_before(note, "absent"), None);
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
