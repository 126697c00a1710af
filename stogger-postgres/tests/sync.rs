//! Sync mode's callers: a caller inside a tokio runtime (where the write
//! cannot `block_on` on its own thread) and several threads writing at
//! once (with a pool of one connection, they take turns on it).

mod common;

use std::time::Duration;

use common::*;
use stogger_postgres::{OpenStatus, WriteMode};

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
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let w = &w;
            s.spawn(move || {
                let rows = seq_rows("threads", t * PER_THREAD..(t + 1) * PER_THREAD);
                // Alternate single rows and calls of three.
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
