//! The benchmarks at scale, in `cargo xtask bench` (see BENCHMARKS.md and
//! docs/scaling.md):
//!
//! - `pg_sustained`: two tables preloaded server-side (plain; partitioned
//!   by day), then per run, interleaved: stogger into the plain table,
//!   stogger into the partitioned one (ours), one raw binary COPY into the
//!   partitioned one (baseline). Target: ours ≥ 60,000 events/s and ≥ 0.9×
//!   the COPY.
//! - `query_latency`: the seed's five queries and `stogger query --field`
//!   on the same two tables, each query's median.
//! - `pg_many_writers`: 20 writer processes through pgbouncer (transaction
//!   pooling, 4 server connections) against the same 20 connected directly:
//!   events/s and the most server connections used.

use crate::bench::{median, run_args, Ctx};
use crate::run::{cargo, heading, step};
use serde_json::{json, Value};
use stogger_tests::pg::{target_dir, Cluster};
use stogger_tests::pgbouncer::Bouncer;

/// The scenarios of this module.
pub const NAMES: [&str; 3] = ["pg_sustained", "query_latency", "pg_many_writers"];

/// Server connections pgbouncer may open (per database and user).
const POOL_SIZE: u32 = 4;
/// Writer processes of pg_many_writers.
const WRITERS: u64 = 20;
const PLAIN: &str = "bench_scale_plain";
const DAILY: &str = "bench_scale_daily";

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// Runs the scale scenarios `only` selects (all when None).
pub fn run(
    ctx: &Ctx,
    quick: bool,
    runs: u32,
    only: Option<&[String]>,
    pg: &Cluster,
    dsn: &str,
) -> Result<Vec<Value>, String> {
    let want = |name: &str| only.is_none_or(|o| o.iter().any(|n| n == name));
    let preload_rows: u64 = if quick { 200_000 } else { 5_000_000 };
    let mut out = Vec::new();
    if want("pg_sustained") || want("query_latency") {
        for (table, layout) in [(PLAIN, "plain"), (DAILY, "daily")] {
            heading(&format!(
                "preload {table}: {preload_rows} rows ({layout}), server-side"
            ));
            let (v, _) = ctx.run(&args(&[
                "preload",
                "--dsn",
                dsn,
                "--table",
                table,
                "--layout",
                layout,
                "--rows",
                &preload_rows.to_string(),
            ]))?;
            println!(
                "    {table}: {} rows in {:.0} s, {:.0} MiB",
                preload_rows,
                num(&v, "secs"),
                num(&v, "table_bytes") / 1048576.0
            );
        }
    }
    if want("pg_sustained") {
        out.push(sustained(ctx, quick, runs, dsn, preload_rows)?);
    }
    if want("query_latency") {
        out.push(query_latency(ctx, quick, dsn)?);
    }
    if want("pg_many_writers") {
        out.push(many_writers(ctx, quick, runs, pg)?);
    }
    Ok(out)
}

fn sustained(
    ctx: &Ctx,
    quick: bool,
    runs: u32,
    dsn: &str,
    preloaded: u64,
) -> Result<Value, String> {
    let n: u64 = if quick { 50_000 } else { 1_000_000 };
    heading(&format!(
        "pg_sustained: {n} more rows after {preloaded} ({runs} runs: plain, partitioned, raw COPY)"
    ));
    let side = |side: &str, table: &str| {
        ctx.run(&run_args("pg_sustained", side, n, dsn, table))
            .map(|(v, _)| v)
    };
    let (mut plain, mut ours, mut base, mut pairs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let p = side("plain", PLAIN)?;
        let o = side("ours", DAILY)?;
        let b = side("baseline", DAILY)?;
        let (pe, oe, be) = (
            num(&p, "events_per_s"),
            num(&o, "events_per_s"),
            num(&b, "events_per_s"),
        );
        println!(
            "    run {}: plain {pe:.0}  partitioned {oe:.0}  raw COPY {be:.0} events/s   pair ratio {:.2}",
            run + 1,
            oe / be
        );
        pairs.push(oe / be);
        plain.push(p);
        ours.push(o);
        base.push(b);
    }
    let med = |v: &[Value]| median(v.iter().map(|x| num(x, "events_per_s")).collect());
    let (o, b, p) = (med(&ours), med(&base), med(&plain));
    let ratio = median(pairs.clone());
    Ok(json!({
        "name": "pg_sustained",
        "ours": finite(o),
        "baseline": finite(b),
        "unit": "events/s",
        "ratio": finite(ratio),
        "ratio_of_medians": finite(o / b),
        "pair_ratios": pairs,
        "runs": runs,
        "n": n,
        "preloaded_rows": preloaded,
        "target": "ours >= 60000 events/s and ratio >= 0.9",
        "met": o >= 60_000.0 && ratio >= 0.9,
        "ours_events_per_s": finite(o),
        "baseline_events_per_s": finite(b),
        "plain_events_per_s": finite(p),
        "partitioned_over_plain": finite(o / p),
        "ours_is": "stogger (batch, daily partitions) into the daily-partitioned table",
        "baseline_is": "raw tokio-postgres: one binary COPY of the same rows into the same partitioned table",
        "plain_is": "stogger (batch) into the plain table with the same preload",
        "ours_runs": ours,
        "baseline_runs": base,
        "plain_runs": plain,
    }))
}

fn query_latency(ctx: &Ctx, quick: bool, dsn: &str) -> Result<Value, String> {
    step(
        "release build of the stogger command (query_latency runs `stogger query`)",
        cargo().args(["build", "--release", "-p", "stogger-cli"]),
    )?;
    let cli = target_dir().join("release").join("stogger");
    let runs = if quick { 3 } else { 5 };
    heading(&format!(
        "query_latency: the seed's queries and `stogger query --field`, plain vs partitioned ({runs} runs)"
    ));
    let (v, _) = ctx.run(&args(&[
        "query-latency",
        "--dsn",
        dsn,
        "--tables",
        &format!("{PLAIN},{DAILY}"),
        "--stogger",
        &cli.display().to_string(),
        "--runs",
        &runs.to_string(),
    ]))?;
    let mut per_query = serde_json::Map::new();
    let (mut sum_plain, mut sum_part) = (0.0, 0.0);
    if let Value::Object(m) = &v {
        for (name, entry) in m {
            let (Some(p), Some(d)) = (entry.get(PLAIN), entry.get(DAILY)) else {
                continue;
            };
            let (pm, dm) = (num(p, "median_ms"), num(d, "median_ms"));
            sum_plain += pm;
            sum_part += dm;
            println!("    {name:<22} plain {pm:>9.1} ms   partitioned {dm:>9.1} ms");
            per_query.insert(
                name.clone(),
                json!({"plain_ms": finite(pm), "partitioned_ms": finite(dm),
                       "plain_over_partitioned": finite(pm / dm),
                       "rows": d.get("rows")}),
            );
        }
    }
    Ok(json!({
        "name": "query_latency",
        "ours": finite(sum_part),
        "baseline": finite(sum_plain),
        "unit": "ms, sum of medians",
        "ratio": finite(sum_plain / sum_part),
        "runs": runs,
        "preloaded_rows": v.get("preloaded_rows"),
        "target": "reported: each query's median (no target)",
        "met": true,
        "ours_is": "the daily-partitioned table",
        "baseline_is": "the plain table with the same rows",
        "queries": per_query,
        "raw": v,
    }))
}

fn many_writers(ctx: &Ctx, quick: bool, runs: u32, pg: &Cluster) -> Result<Value, String> {
    let per_writer: u64 = if quick { 2_500 } else { 50_000 };
    let n = per_writer * WRITERS;
    let bouncer = Bouncer::start(pg, &[("bench", "bench")], POOL_SIZE)?;
    let through = bouncer.dsn("bench", "bench", "bench");
    let direct = pg.tcp_dsn("bench", "bench", "bench");
    let monitor = pg.socket_dsn("bench", "bench");
    heading(&format!(
        "pg_many_writers: {WRITERS} processes, {n} events, through pgbouncer (pool {POOL_SIZE}) vs direct ({runs} runs)"
    ));
    let side = |side: &str, dsn: &str, run: u32| {
        let table = format!("bench_writers_{side}_{run}");
        let mut a = run_args("pg_many_writers", side, n, dsn, &table);
        a.extend(args(&[
            "--monitor-dsn",
            &monitor,
            "--writers",
            &WRITERS.to_string(),
        ]));
        ctx.run(&a).map(|(v, _)| v)
    };
    let (mut ours, mut base, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let o = side("ours", &through, run)?;
        let b = side("baseline", &direct, run)?;
        let (oe, be) = (num(&o, "events_per_s"), num(&b, "events_per_s"));
        println!(
            "    run {}: pgbouncer {oe:.0} events/s ({} server connections)  direct {be:.0} events/s ({} server connections)   pair ratio {:.2}",
            run + 1,
            num(&o, "max_server_connections"),
            num(&b, "max_server_connections"),
            oe / be
        );
        pairs.push(oe / be);
        ours.push(o);
        base.push(b);
    }
    drop(bouncer);
    let med = |v: &[Value], k: &str| median(v.iter().map(|x| num(x, k)).collect());
    let (o, b) = (med(&ours, "events_per_s"), med(&base, "events_per_s"));
    let conns_ours = ours
        .iter()
        .map(|v| num(v, "max_server_connections"))
        .fold(0.0, f64::max);
    Ok(json!({
        "name": "pg_many_writers",
        "ours": finite(o),
        "baseline": finite(b),
        "unit": "events/s",
        "ratio": finite(median(pairs.clone())),
        "pair_ratios": pairs,
        "runs": runs,
        "n": n,
        "writers": WRITERS,
        "pool_size": POOL_SIZE,
        "max_server_connections": {"ours": conns_ours, "baseline": med(&base, "max_server_connections")},
        "target": format!("through pgbouncer: at most {POOL_SIZE} server connections"),
        "met": conns_ours <= f64::from(POOL_SIZE),
        "ours_events_per_s": finite(o),
        "baseline_events_per_s": finite(b),
        "ours_is": "20 stogger processes (batch, daily partitions) through pgbouncer 1.18, transaction pooling",
        "baseline_is": "the same 20 processes connected to PostgreSQL directly (TCP)",
        "ours_runs": ours,
        "baseline_runs": base,
    }))
}
