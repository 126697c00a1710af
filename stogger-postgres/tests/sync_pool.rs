//! Sync mode's pool and breaker against a real server: concurrent callers
//! see their row committed when the call returns, a full pool makes
//! callers wait boundedly, a server restart with callers queued in the
//! pool, and a black-holed database: after the first failure callers
//! return at once, and rows reported "not delivered" never appear.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::*;
use stogger_postgres::{OpenStatus, Writer};
use stogger_tests::proxy::{Mode, TcpProxy};

#[test]
fn eight_concurrent_callers_find_their_row_committed_when_the_call_returns() {
    let pg = cluster("pgpool8");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let c = sync_config(&dsn, "pool_eight", 4, Duration::from_secs(10));
    let opened = open(&c, Some(sink));
    assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));
    let w = opened.writer;
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 60;
    let start = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (w, start, dsn) = (&w, &start, &dsn);
            s.spawn(move || {
                let reader = Reader::new(dsn);
                let rows = seq_rows("pool", t * PER_THREAD..(t + 1) * PER_THREAD);
                start.wait();
                for (i, row) in rows.iter().enumerate() {
                    assert_eq!(w.write(&[row.as_ref()]), 1, "thread {t} row {i}");
                    // Right after the call, from another connection.
                    assert_eq!(
                        reader.count_seq("pool_eight", t * PER_THREAD + i as u64),
                        1,
                        "row {} not visible right after its call returned",
                        t * PER_THREAD + i as u64
                    );
                }
            });
        }
    });
    let total = THREADS * PER_THREAD;
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*), count(DISTINCT data->>'seq') FROM pool_eight"
        ),
        format!("{total}|{total}")
    );
    // The callers really ran side by side: more than one connection.
    let backends: u64 = sql(
        &pg,
        "stogger",
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'stogger' \
         AND application_name = 'stogger'",
    )
    .parse()
    .unwrap();
    assert!(
        (2..=5).contains(&backends),
        "expected up to 4 pooled connections (+ none else), found {backends}"
    );
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(stats.delivered, total);
    assert_eq!(
        (
            stats.dropped_rejected,
            stats.dropped_unavailable,
            stats.uncertain
        ),
        (0, 0, 0)
    );
}

/// Runs `callers` threads that each write row `i` once, all at the same
/// moment; returns (result, seconds the call took) per caller.
fn concurrent_calls(w: &Writer, rows: &[OwnedRow], callers: usize) -> Vec<(i64, f64)> {
    let start = Barrier::new(callers);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|i| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let t = Instant::now();
                    let r = w.write(&one(rows, i));
                    (r, t.elapsed().as_secs_f64())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn a_full_pool_makes_callers_wait_their_turn_and_never_beyond_the_bound() {
    let pg = cluster("pgpoolfull");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    // One connection, eight callers; the bound is 3 s.
    let bound = Duration::from_secs(3);
    let c = sync_config(&dsn, "pool_full", 1, bound);
    let w = open(&c, Some(sink)).writer;
    let rows = seq_rows("full", 0..16);

    // The table is locked for 1 s: the first caller's INSERT waits for it,
    // the other seven wait for the one connection, then all get through.
    let locker = lock_table_for(&pg, "pool_full", Duration::from_secs(1));
    let got = concurrent_calls(&w, &rows[..8], 8);
    locker.join().unwrap();
    assert!(
        got.iter().all(|(r, _)| *r == 1),
        "{got:?}\n{}",
        dump(&warnings)
    );
    let slowest = got.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    assert!(slowest >= 0.5, "the callers did wait for the lock: {got:?}");
    assert!(slowest < bound.as_secs_f64() + 2.0, "{got:?}");
    assert_eq!(sql(&pg, "stogger", "SELECT count(*) FROM pool_full"), "8");

    // Locked for longer than the bound: the first caller's INSERT runs out
    // of time (uncertain: it may still commit when the lock goes), the
    // waiting callers give up then too, with their rows never sent.
    let locker = lock_table_for(&pg, "pool_full", Duration::from_secs(6));
    let got = concurrent_calls(&w, &rows[8..], 8);
    for (r, secs) in &got {
        assert!(
            *secs < bound.as_secs_f64() + 2.0,
            "a caller waited {secs:.2} s, beyond the bound: {got:?}"
        );
        assert!(*r == NOT_DELIVERED || *r == UNCERTAIN, "{got:?}");
    }
    assert_eq!(
        got.iter().filter(|(r, _)| *r == UNCERTAIN).count(),
        1,
        "only the caller holding the connection had sent its row: {got:?}"
    );
    locker.join().unwrap();
    // The rows reported as not delivered never appear; at most the one
    // uncertain row does.
    std::thread::sleep(Duration::from_millis(500));
    let reader = Reader::new(&dsn);
    for (i, (r, _)) in got.iter().enumerate() {
        if *r == NOT_DELIVERED {
            assert_eq!(
                reader.count_seq("pool_full", 8 + i as u64),
                0,
                "row {}",
                8 + i
            );
        }
    }
    let stats = w.close(Duration::from_secs(10));
    assert_eq!((stats.uncertain, stats.dropped_unavailable), (1, 7));
}

#[test]
fn a_server_restart_with_callers_waiting_in_the_pool_is_survived() {
    let mut pg = cluster("pgpoolrestart");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let bound = Duration::from_secs(3);
    let c = sync_config(&dsn, "pool_restart", 1, bound);
    let w = open(&c, Some(sink)).writer;
    let rows = seq_rows("restart", 0..200);
    assert_eq!(w.write(&one(&rows, 0)), 1);

    // Eight callers queue behind a locked table; the server stops under them.
    let locker = lock_table_for(&pg, "pool_restart", Duration::from_secs(30));
    let results = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for i in 1..=8 {
            let (w, rows, results) = (&w, &rows, results.clone());
            s.spawn(move || {
                let t = Instant::now();
                let r = w.write(&one(rows, i));
                results
                    .lock()
                    .unwrap()
                    .push((i, r, t.elapsed().as_secs_f64()));
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        pg.stop_server().expect("stop");
    });
    let _ = locker.join();
    let results = results.lock().unwrap().clone();
    for (_, r, secs) in &results {
        // A fast shutdown may end the lock holder's backend first: an
        // INSERT waiting on the lock can then still commit before its own
        // backend is ended. Its callers are told 1, and their rows must be
        // stored (checked below); the others fail, within the bound.
        assert!(
            *r < 0 || *r == 1,
            "a caller gets a failure or, when its INSERT won the shutdown race, 1: {results:?}"
        );
        assert!(*secs < bound.as_secs_f64() + 2.0, "{results:?}");
    }
    pg.start_server().expect("start");

    // The probe reconnects; writes succeed again without a new writer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = 9;
    loop {
        let r = w.write(&one(&rows, next));
        next += 1;
        if r == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no write succeeded after the restart\n{}",
            dump(&warnings)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in next..next + 20 {
        assert_eq!(w.write(&one(&rows, i)), 1, "{}", dump(&warnings));
    }
    // Nothing twice; no row reported not delivered was stored.
    let reader = Reader::new(&dsn);
    for (i, r, _) in &results {
        let n = reader.count_seq("pool_restart", *i as u64);
        match *r {
            NOT_DELIVERED => assert_eq!(n, 0, "row {i}"),
            1 => assert_eq!(n, 1, "row {i} was reported written"),
            _ => assert!(n <= 1, "row {i} stored {n} times"),
        }
    }
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) - count(DISTINCT data->>'seq') FROM pool_restart"
        ),
        "0"
    );
    assert!(
        !of_kind(&warnings, "reconnect").is_empty(),
        "{}",
        dump(&warnings)
    );
}

/// The documented bound of a sync call while the breaker is open is
/// "without I/O or waiting"; this is the generous liveness bound the test
/// holds it to (the time limit a caller would otherwise pay is 3 s).
const FAIL_FAST_LIVENESS: Duration = Duration::from_millis(500);

/// One sync call: (seq, result, start, end).
type Call = (u64, i64, Instant, Instant);

/// Eight threads log one row each 2 ms through `w`; after 0.5 s the proxy
/// black-holes the database for 6 s, then forwards again; logging goes on
/// until writes succeed again, and half a second more. Every call, by end.
fn log_through_a_black_hole(w: &Writer, proxy: &TcpProxy, mid_outage: impl FnOnce()) -> Vec<Call> {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 100_000;
    let calls = Mutex::new(Vec::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (calls, stop) = (&calls, &stop);
            s.spawn(move || {
                let mut mine = Vec::new();
                for seq in t * PER_THREAD..(t + 1) * PER_THREAD {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let row = seq_rows("hole", seq..seq + 1);
                    let started = Instant::now();
                    let r = w.write(&[row[0].as_ref()]);
                    mine.push((seq, r, started, Instant::now()));
                    // A service logs now and then, not in a tight loop.
                    std::thread::sleep(Duration::from_millis(2));
                }
                calls.lock().unwrap().extend(mine);
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        proxy.set_mode(Mode::BlackHole);
        std::thread::sleep(Duration::from_secs(5));
        mid_outage();
        std::thread::sleep(Duration::from_secs(1));
        proxy.set_mode(Mode::Forward);
        // Until writes succeed again (the probe's attempt in the black hole
        // runs out first), then a little more.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let ok = w.stats().connected;
            if ok || Instant::now() > deadline {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let mut calls = calls.into_inner().unwrap();
    calls.sort_by_key(|c| c.3);
    calls
}

/// Asserts that there are at least 100 `durations` (seconds) of `what`
/// and that their p99.9 is below `bound`.
fn assert_p999_below(mut durations: Vec<f64>, bound: Duration, what: &str) {
    let n = durations.len();
    assert!(n >= 100, "expected many {what}, got {n}");
    durations.sort_by(f64::total_cmp);
    let p999 = durations[((n - 1) as f64 * 0.999).round() as usize];
    assert!(
        p999 < bound.as_secs_f64(),
        "p99.9 of {n} {what} took {p999:.3} s (max {:.3} s)",
        durations[n - 1]
    );
}

/// The `seq` of every row in `table` (read from another connection; the
/// `stogger-events-dropped` row that reports uncertain rows left out),
/// after checking that none is there twice and every call told "written"
/// (1) has its row there.
fn stored_once(pg: &stogger_tests::pg::Cluster, table: &str, calls: &[Call]) -> HashSet<i64> {
    let reader = Reader::new(&pg.socket_dsn("stogger", "stogger"));
    let stored: Vec<i64> = reader.rt.block_on(async {
        reader
            .client
            .query(
                &format!("SELECT (data->>'seq')::bigint FROM {table} WHERE data ? 'seq'"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .collect()
    });
    let set: HashSet<i64> = stored.iter().copied().collect();
    assert_eq!(stored.len(), set.len(), "a row was stored twice");
    for c in calls.iter().filter(|c| c.1 == 1) {
        assert!(set.contains(&(c.0 as i64)), "written row {} missing", c.0);
    }
    set
}

/// A writer in sync mode (pool 4, 3 s time limits) on a proxy in front of
/// `pg`, connected; `spool`: its spool directory.
fn open_behind_a_proxy(
    pg: &stogger_tests::pg::Cluster,
    table: &str,
    spool: Option<&std::path::Path>,
) -> (Writer, TcpProxy, Warnings) {
    let proxy = TcpProxy::start(("127.0.0.1", pg.port()), Mode::Forward).expect("proxy");
    let dsn = format!(
        "postgresql://stogger:secret@127.0.0.1:{}/stogger?sslmode=disable",
        proxy.port()
    );
    let (sink, warnings) = recorder();
    let mut c = sync_config(&dsn, table, 4, Duration::from_secs(3));
    c.spool_dir = spool.map(|d| d.display().to_string());
    let opened = open(&c, Some(sink));
    assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));
    (opened.writer, proxy, warnings)
}

#[test]
fn with_the_database_black_holed_callers_fail_fast_and_undelivered_rows_never_appear() {
    let pg = cluster("pgpoolhole");
    let (w, proxy, warnings) = open_behind_a_proxy(&pg, "pool_hole", None);
    let calls = log_through_a_black_hole(&w, &proxy, || {});
    let first_failure = calls
        .iter()
        .find(|c| c.1 != 1)
        .map(|c| c.3)
        .expect("some call failed while the database was black-holed");
    let after: Vec<f64> = calls
        .iter()
        .filter(|c| c.2 >= first_failure && c.1 != 1)
        .map(|c| (c.3 - c.2).as_secs_f64())
        .collect();
    assert_p999_below(
        after,
        FAIL_FAST_LIVENESS,
        "failed calls after the first failure",
    );
    // Recovered: the last calls were written.
    assert!(
        calls.iter().rev().take(8).any(|c| c.1 == 1),
        "writes did not resume\n{}",
        dump(&warnings)
    );
    // Let anything still in flight settle, then look: no row reported
    // "not delivered" is in the table; no row is there twice.
    std::thread::sleep(Duration::from_secs(1));
    let stored_set = stored_once(&pg, "pool_hole", &calls);
    let undelivered: Vec<u64> = calls
        .iter()
        .filter(|c| c.1 == NOT_DELIVERED)
        .map(|c| c.0)
        .collect();
    assert!(!undelivered.is_empty());
    for seq in &undelivered {
        assert!(
            !stored_set.contains(&(*seq as i64)),
            "row {seq} was reported not delivered but is in the table"
        );
    }
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(stats.dropped_unavailable, undelivered.len() as u64);
    assert!(stats.reconnects >= 1);
}

/// The documented bound of a sync call that hands its rows to the spool
/// is `SPOOL_WAIT` (1 s) for them to be on disk; this generous liveness
/// bound holds the p99.9 well below the 3 s time limit a call would pay
/// without the breaker.
const SPOOL_LIVENESS: Duration = Duration::from_millis(1_250);

#[test]
fn with_a_spool_calls_in_a_black_holed_outage_are_spooled_fast_and_arrive_once() {
    let pg = cluster("pgpoolspool");
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let (w, proxy, warnings) = open_behind_a_proxy(&pg, "pool_spool", Some(&spool));
    let mut spooled_mid_outage = 0;
    let calls = log_through_a_black_hole(&w, &proxy, || {
        spooled_mid_outage = w.stats().spooled;
    });
    assert!(
        spooled_mid_outage > 100,
        "rows went to the spool during the outage: {spooled_mid_outage}\n{}",
        dump(&warnings)
    );
    // Nothing was dropped: a call is written (or spooled), or, for the few
    // in flight when the path went black, uncertain.
    let odd: Vec<&Call> = calls
        .iter()
        .filter(|c| c.1 != 1 && c.1 != UNCERTAIN)
        .collect();
    assert!(
        odd.is_empty(),
        "calls neither written nor spooled: {odd:?}\n{}",
        dump(&warnings)
    );
    // Calls started in the outage's last two seconds (the path is black
    // from 0.5 s to 6.5 s; the breaker is open after the 3 s time limit),
    // however long they took.
    let black_from = calls[0].2 + Duration::from_millis(500);
    let window = black_from + Duration::from_secs(4)..black_from + Duration::from_secs(6);
    let during: Vec<f64> = calls
        .iter()
        .filter(|c| window.contains(&c.2))
        .map(|c| (c.3 - c.2).as_secs_f64())
        .collect();
    assert_p999_below(during, SPOOL_LIVENESS, "calls in the outage");
    // Everything written or spooled arrives once, the spool empties.
    assert!(w.flush(Duration::from_secs(30)), "{}", dump(&warnings));
    stored_once(&pg, "pool_spool", &calls);
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(
        (
            stats.dropped_unavailable,
            stats.dropped_queue_full,
            stats.spooled,
            stats.undelivered
        ),
        (0, 0, 0, 0)
    );
}
