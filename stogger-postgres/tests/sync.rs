//! Sync mode's callers: a caller inside a tokio runtime (where the write
//! cannot `block_on` on its own thread) and several threads writing at
//! once (with a pool of one connection, they take turns on it).

mod common;

use std::time::Duration;

use common::*;
use stogger_postgres::{OpenStatus, WriteMode, Writer};

fn sync_config(dsn: &str, table: &str) -> stogger_postgres::PgSettings {
    let mut c = config(dsn, table);
    c.write_mode = WriteMode::Sync;
    c
}

#[test]
fn sync_caller_inside_a_tokio_runtime_neither_panics_nor_deadlocks() {
    let pg = cluster("pgsyncrt");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let rows = seq_rows("in-rt", 0..60);
    // A multi-threaded runtime and a current-thread one: open, write,
    // close, all from inside.
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (table, rt, part) in [
        ("sync_rt_multi", &multi, &rows[..30]),
        ("sync_rt_current", &current, &rows[30..]),
    ] {
        let (sink, warnings) = recorder();
        let c = sync_config(&dsn, table);
        let written = rt.block_on(async {
            let opened = open(&c, Some(sink));
            assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));
            let w = opened.writer;
            let mut n = 0;
            for r in part {
                n += w.write(&[r.as_ref()]);
            }
            // Several rows in one call, too.
            let two: Vec<_> = part[..2].iter().map(OwnedRow::as_ref).collect();
            n += w.write(&two);
            let stats = w.close(Duration::from_secs(10));
            assert_eq!(stats.undelivered, 0);
            n
        });
        assert_eq!(written, part.len() as i64 + 2, "{}", dump(&warnings));
        assert_eq!(
            sql(
                &pg,
                "stogger",
                &format!("SELECT count(*), count(DISTINCT data->>'seq') FROM {table}")
            ),
            format!("{}|{}", part.len() + 2, part.len()),
            "{}",
            dump(&warnings)
        );
    }
    // And a writer opened outside but dropped inside a runtime.
    let c = sync_config(&dsn, "sync_rt_drop");
    let w = open(&c, None).writer;
    assert_eq!(w.write(&[rows[0].as_ref()]), 1);
    current.block_on(async move {
        assert_eq!(w.write(&[rows[1].as_ref()]), 1);
        drop(w);
    });
    assert_eq!(
        sql(&pg, "stogger", "SELECT count(*) FROM sync_rt_drop"),
        "2"
    );
}

/// `threads` threads write rows `label` 0, 1, ... (`per_thread` each)
/// through `w`, alternating calls of one row and of three; each call
/// reports all its rows written.
fn write_on_threads(w: &Writer, label: &str, threads: u64, per_thread: u64) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let rows = seq_rows(label, t * per_thread..(t + 1) * per_thread);
                let mut i = 0;
                while i < rows.len() {
                    let k = if i % 2 == 0 { 1 } else { 3.min(rows.len() - i) };
                    let call: Vec<_> = rows[i..i + k].iter().map(OwnedRow::as_ref).collect();
                    assert_eq!(w.write(&call), k as i64);
                    i += k;
                }
            });
        }
    });
}

#[test]
fn concurrent_sync_callers_write_every_row_exactly_once() {
    let pg = cluster("pgsyncmt");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let mut c = sync_config(&dsn, "sync_threads");
    c.sync_pool_size = 1;
    let opened = open(&c, Some(sink));
    assert_eq!(opened.status, OpenStatus::Connected);
    let w = opened.writer;
    const THREADS: u64 = 6;
    const PER_THREAD: u64 = 150;
    write_on_threads(&w, "threads", THREADS, PER_THREAD);
    let total = THREADS * PER_THREAD;
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*), count(DISTINCT data->>'seq'), min((data->>'seq')::int), \
             max((data->>'seq')::int) FROM sync_threads"
        ),
        format!("{total}|{total}|0|{}", total - 1),
        "{}",
        dump(&warnings)
    );
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(stats.delivered, total);
    assert_eq!((stats.dropped_rejected, stats.dropped_unavailable), (0, 0));
}

/// The server's log lines that executed an INSERT into `table`, as
/// (prepared, unnamed) counts (`log_statement = 'all'` logs `execute s3:
/// INSERT ...` for a prepared statement, `execute <unnamed>: ...` else).
fn inserts_logged(pg: &stogger_tests::pg::Cluster, table: &str) -> (usize, usize) {
    let log = pg.server_log();
    let inserts = log
        .lines()
        .filter(|l| l.contains("execute ") && l.contains(&format!("INSERT INTO \"{table}\"")));
    inserts.fold((0, 0), |(prepared, unnamed), l| {
        if l.contains("execute <unnamed>") {
            (prepared, unnamed + 1)
        } else {
            (prepared + 1, unnamed)
        }
    })
}

#[test]
fn with_prepared_statements_the_inserts_are_prepared_and_a_recreated_table_is_written_to() {
    let pg = cluster("pgsyncprep");
    // Every statement of the writer's sessions goes to the server's log.
    sql(
        &pg,
        "stogger",
        "ALTER ROLE stogger SET log_statement = 'all'",
    );
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let mut c = sync_config(&dsn, "sync_prep");
    c.prepared_statements = true;
    let opened = open(&c, Some(sink));
    assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));
    let w = opened.writer;
    const THREADS: u64 = 3;
    const PER_THREAD: u64 = 100;
    write_on_threads(&w, "prep", THREADS, PER_THREAD);
    let total = THREADS * PER_THREAD;
    let count = "SELECT count(*), count(DISTINCT data->>'seq') FROM sync_prep";
    assert_eq!(sql(&pg, "stogger", count), format!("{total}|{total}"));
    let (prepared, unnamed) = inserts_logged(&pg, "sync_prep");
    assert_eq!(unnamed, 0, "no unnamed INSERT with prepared statements");
    assert!(
        prepared >= 50,
        "the INSERTs (of one and of three rows) ran as prepared statements: {prepared}"
    );
    // The table dropped under the writer: created again, prepared again.
    sql(&pg, "stogger", "DROP TABLE sync_prep");
    for row in seq_rows("prep", 1000..1010) {
        assert_eq!(w.write(&[row.as_ref()]), 1, "{}", dump(&warnings));
    }
    assert_eq!(sql(&pg, "stogger", count), "10|10");
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(stats.delivered, total + 10);
    assert_eq!(
        (
            stats.dropped_rejected,
            stats.dropped_unavailable,
            stats.uncertain
        ),
        (0, 0, 0)
    );
}
