//! Delivery through outages, end to end with the service as a child
//! process: `init_logging()` does not wait for a black-holed database, the
//! disk spool carries events across runs (also when a run is killed with
//! SIGKILL while replaying, or a segment was cut short, and into a
//! partitioned table), and the memory
//! queue stays within its byte bound.
//!
//! Needs the plugin built: `cargo build -p stogger-postgres`.

mod postgres_support;

use postgres_support::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use stogger_tests::proxy::{Mode, TcpProxy};

/// Guards against a hung child, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn line_value(out: &Outcome, key: &str) -> u64 {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} line: {out:#?}"))
}

fn bulk_rows(pg: &stogger_tests::pg::Cluster) -> String {
    sql(
        pg,
        "SELECT count(*), count(DISTINCT data->>'i'), min((data->>'i')::int), \
                max((data->>'i')::int) FROM stogger_logs WHERE event = 'bulk-event'",
    )
}

#[test]
fn init_logging_does_not_wait_for_a_black_holed_database() {
    let pg = cluster("bhinit");
    let proxy = TcpProxy::start(("127.0.0.1", pg.port()), Mode::BlackHole).unwrap();
    let sb = Sandbox::new();
    let dsn = format!(
        "postgresql://stogger:secret@127.0.0.1:{}/stogger?sslmode=disable",
        proxy.port()
    );
    let started = Instant::now();
    let out = sb.run_pg(
        &["seed"],
        &dsn,
        &[
            // Connecting would wait a minute: nothing may wait for it.
            ("STOGGER_POSTGRES_CONNECT_TIMEOUT_MS", "60000"),
            ("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "300"),
        ],
    );
    out.assert_success();
    assert!(started.elapsed() < HANG_GUARD);
    // A liveness bound far below the connect timeout, not a speed figure.
    let init_ms = line_value(&out, "init-ms:");
    assert!(init_ms < 2_000, "init_logging took {init_ms} ms");
    assert!(out.stderr.contains("user-login"), "console works meanwhile");
}

/// The spool directory of a sandbox, and the environment for it.
fn spool_env(dir: &Path) -> String {
    dir.join("spool").display().to_string()
}

/// Logs `n` events with the database down; they end up in the spool.
fn spool_while_down(sb: &Sandbox, pg: &mut stogger_tests::pg::Cluster, n: u64) {
    spool_while_down_with(sb, pg, n, &[]);
}

/// [`spool_while_down`] with more environment (a write mode, say).
fn spool_while_down_with(
    sb: &Sandbox,
    pg: &mut stogger_tests::pg::Cluster,
    n: u64,
    extra: &[(&str, &str)],
) {
    pg.stop_server().unwrap();
    let spool = spool_env(sb.dir.path());
    let mut env = vec![
        ("STOGGER_POSTGRES_SPOOL_DIR", spool.as_str()),
        ("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "2000"),
        ("STOGGER_LOG_TO_CONSOLE", "false"),
    ];
    env.extend_from_slice(extra);
    let out = sb.run_pg(
        &["bulk", &n.to_string()],
        &pg.socket_dsn("stogger", "stogger"),
        &env,
    );
    out.assert_success();
    assert!(
        out.stderr
            .contains(&format!("{} event(s) wait in the spool", n + 1))
            || out.stderr.contains("event(s) wait in the spool"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("not delivered"), "{}", out.stderr);
    pg.start_server().unwrap();
}

/// Runs the service once more with the spool (no new events of its own
/// but its startup notes): it replays what the spool holds.
fn replay(sb: &Sandbox, pg: &stogger_tests::pg::Cluster, extra: &[(&str, &str)]) -> Outcome {
    let spool = spool_env(sb.dir.path());
    let mut env = vec![
        ("STOGGER_POSTGRES_SPOOL_DIR", spool.as_str()),
        ("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "60000"),
        ("STOGGER_LOG_TO_CONSOLE", "false"),
    ];
    env.extend_from_slice(extra);
    sb.run_pg(&["bulk", "0"], &pg.socket_dsn("stogger", "stogger"), &env)
}

#[test]
fn events_logged_while_the_database_is_down_arrive_once_with_the_next_run() {
    let mut pg = cluster("spool");
    let sb = Sandbox::new();
    spool_while_down(&sb, &mut pg, 50_000);
    let out = replay(&sb, &pg, &[]);
    out.assert_success();
    assert_eq!(bulk_rows(&pg), "50000|50000|0|49999", "{}", out.stderr);
    assert!(!out.stderr.contains("wait in the spool"), "{}", out.stderr);
    // Ten or more batches were replayed; the progress table keeps only the
    // spool's newest position.
    let progress = "SELECT count(*), count(DISTINCT spool_id) FROM stogger_logs_spool_progress";
    assert_eq!(sql(&pg, progress), "1|1");
    // A third run has nothing left to send.
    replay(&sb, &pg, &[]).assert_success();
    assert_eq!(bulk_rows(&pg), "50000|50000|0|49999");
    assert_eq!(sql(&pg, progress), "1|1");
}

/// Sync mode with a spool: a call that cannot reach the database puts its
/// event in the spool (on disk before the call returns) instead of
/// dropping it, and a later run in sync mode delivers them, once.
#[test]
fn sync_mode_events_logged_while_the_database_is_down_arrive_once_with_the_next_run() {
    let mut pg = cluster("syncspool");
    let sb = Sandbox::new();
    let sync = [("STOGGER_POSTGRES_WRITE_MODE", "sync")];
    spool_while_down_with(&sb, &mut pg, 5_000, &sync);
    let out = replay(&sb, &pg, &sync);
    out.assert_success();
    assert_eq!(bulk_rows(&pg), "5000|5000|0|4999", "{}", out.stderr);
    assert!(!out.stderr.contains("wait in the spool"), "{}", out.stderr);
    replay(&sb, &pg, &sync).assert_success();
    assert_eq!(bulk_rows(&pg), "5000|5000|0|4999");
}

/// The spool's exactly-once position lives in a table beside the log
/// table; a partitioned log table (created by the replaying run) gets it
/// too, and the replay lands in its time partitions, once.
#[test]
fn a_spool_replays_once_into_a_partitioned_table() {
    let mut pg = cluster("spoolpart");
    let sb = Sandbox::new();
    spool_while_down(&sb, &mut pg, 5_000);
    let daily = [("STOGGER_POSTGRES_PARTITIONING", "daily")];
    let out = replay(&sb, &pg, &daily);
    out.assert_success();
    assert_eq!(bulk_rows(&pg), "5000|5000|0|4999", "{}", out.stderr);
    assert_eq!(
        sql(
            &pg,
            "SELECT relkind FROM pg_class WHERE oid = 'stogger_logs'::regclass"
        ),
        "p"
    );
    assert_ne!(
        sql(&pg, "SELECT count(*) FROM stogger_logs_spool_progress"),
        "0"
    );
    replay(&sb, &pg, &daily).assert_success();
    assert_eq!(bulk_rows(&pg), "5000|5000|0|4999");
}

#[test]
fn a_run_killed_while_replaying_leaves_the_rest_to_the_next_without_duplicates() {
    let mut pg = cluster("spoolkill");
    let sb = Sandbox::new();
    spool_while_down(&sb, &mut pg, 50_000);
    // The second run replays in small batches, and is killed on the way.
    let spool = spool_env(sb.dir.path());
    let dsn = pg.socket_dsn("stogger", "stogger");
    let mut child = spawn(
        command(
            &sb.exe,
            &["interactive"],
            sb.dir.path(),
            &[
                ("STOGGER_ENABLE_POSTGRES", "true"),
                ("STOGGER_POSTGRES_DSN", &dsn),
                ("STOGGER_PLUGIN_DIR", sb.plugins.to_str().unwrap()),
                ("STOGGER_POSTGRES_SPOOL_DIR", &spool),
                ("STOGGER_POSTGRES_BATCH_SIZE", "20"),
                ("STOGGER_LOG_TO_CONSOLE", "false"),
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null()),
    );
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "ready" {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "service ended");
    }
    let started = Instant::now();
    let at_kill = loop {
        // The table appears when the second run connects.
        let n: u64 = pg
            .psql(
                "stogger",
                "SELECT count(*) FROM stogger_logs WHERE event = 'bulk-event'",
            )
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if n > 0 {
            break n;
        }
        assert!(started.elapsed() < HANG_GUARD, "no replay");
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(at_kill < 50_000, "the replay was over before the kill");
    let out = replay(&sb, &pg, &[]);
    out.assert_success();
    assert_eq!(bulk_rows(&pg), "50000|50000|0|49999", "{}", out.stderr);
}

#[test]
fn a_truncated_segment_is_reported_and_the_rows_before_it_delivered() {
    let mut pg = cluster("spooltorn");
    let sb = Sandbox::new();
    spool_while_down(&sb, &mut pg, 1_000);
    let doctor = || {
        let spool = spool_env(sb.dir.path());
        let dsn = pg.socket_dsn("stogger", "stogger");
        let out = stogger_tests::service::run(
            &stogger_tests::service::built_binary("stogger"),
            &["doctor", "--json"],
            sb.dir.path(),
            &[
                ("STOGGER_ENABLE_POSTGRES", "true"),
                ("STOGGER_POSTGRES_DSN", &dsn),
                ("STOGGER_POSTGRES_SPOOL_DIR", &spool),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
        v["sections"]["spool"].clone()
    };
    // stogger doctor shows what waits, and since when.
    let before = doctor();
    assert_eq!(before["events"], 1000, "{before:#}");
    assert_eq!(before["status"], "warning", "{before:#}");
    assert!(before["oldest"].is_string(), "{before:#}");
    assert!(before["bytes"].as_u64().unwrap() > 1000 * 20, "{before:#}");
    // Power loss in the middle of the last record.
    let spool = sb.dir.path().join("spool");
    let mut segments: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    let last = segments.last().expect("a segment");
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    assert!(doctor()["damaged_bytes"].as_u64().unwrap() > 0);
    let out = replay(&sb, &pg, &[]);
    out.assert_success();
    assert!(
        out.stderr.contains("is damaged") && out.stderr.contains("byte(s) lost"),
        "{}",
        out.stderr
    );
    let after = doctor();
    assert_eq!(after["events"], 0, "{after:#}");
    // The last event of the first run went last into the spool: the good
    // records before it all arrived, once.
    assert_eq!(bulk_rows(&pg), "999|999|0|998", "{}", out.stderr);
    let damaged: u64 = sql(
        &pg,
        "SELECT sum((data->>'spool_damaged_bytes')::bigint) FROM stogger_logs \
         WHERE event = 'stogger-events-dropped'",
    )
    .parse()
    .unwrap();
    assert!(damaged > 0);
}

#[test]
fn during_an_outage_with_big_events_memory_stays_within_the_queue_byte_bound() {
    let sb = Sandbox::new();
    // Nothing listens there: every event stays queued until the bound.
    let out = sb.run_pg(
        &["big-fields", "2000"],
        "postgresql://stogger@127.0.0.1:1/stogger",
        &[
            ("STOGGER_POSTGRES_QUEUE_MAX_BYTES", "16MiB"),
            ("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "0"),
            ("STOGGER_LOG_TO_CONSOLE", "false"),
            ("STOGGER_LOG_TO_FILE", "false"),
        ],
    );
    out.assert_success();
    let growth_kib = line_value(&out, "hwm-after:") - line_value(&out, "hwm-before:");
    // 2000 events of 64 KiB are 128 MiB; the queue may hold 16 MiB, plus
    // the overhead docs/postgres.md states (8 MiB).
    let bound_kib = 16 * 1024 + 8 * 1024;
    assert!(
        growth_kib <= bound_kib,
        "peak RSS grew by {growth_kib} KiB, bound {bound_kib} KiB\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("dropped because the queue was full"),
        "{}",
        out.stderr
    );
}
