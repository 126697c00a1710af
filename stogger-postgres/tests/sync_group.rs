//! Sync mode's group commit against a real server. Callers that arrive
//! while the pooled connection is busy are written together in one
//! INSERT (rows of one statement share its transaction id, `xmin`):
//! each still finds its own row committed when its call returns; a row the
//! server refuses fails only its own caller; a table that refuses every
//! row fails the group at once, without trying its rows one by one; a group in flight when the
//! database goes away is uncertain as a whole and never sent again, and
//! the callers behind it give up boundedly and then fail fast; an
//! exhausted pool serves a crowd in groups of at most 64 rows.
//!
//! The choreography: a test session holds an `ACCESS EXCLUSIVE` lock on the
//! table, so the first caller's INSERT waits on the server while it holds
//! the one pooled connection; the callers started then queue; the lock is
//! released and the queue is written.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::*;
use stogger_postgres::{OpenStatus, Writer};
use stogger_tests::pg::Cluster;
use stogger_tests::proxy::{Mode, TcpProxy};

/// A session holding `ACCESS EXCLUSIVE` on `table` until [`Lock::release`].
struct Lock(Reader);

impl Lock {
    fn take(dsn: &str, table: &str) -> Lock {
        let r = Reader::new(dsn);
        r.exec(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        ));
        Lock(r)
    }

    fn release(self) {
        self.0.exec("COMMIT");
    }
}

/// Starts a caller writing `row` on its own thread (it will hold the one
/// connection, its INSERT waiting for the lock) and waits until its
/// INSERT waits on the server.
fn first_caller_blocked<'s>(
    s: &'s std::thread::Scope<'s, '_>,
    pg: &Cluster,
    table: &str,
    w: &'s Writer,
    row: &'s OwnedRow,
) -> std::thread::ScopedJoinHandle<'s, i64> {
    let h = s.spawn(move || w.write(&[row.as_ref()]));
    until_waiting_locks(pg, table, 1);
    h
}

/// The number of distinct transactions among the rows with these seqs.
fn transactions_of(rows: &[(i64, String)], seqs: impl Iterator<Item = u64>) -> usize {
    let by_seq: HashMap<i64, &String> = rows.iter().map(|(s, x)| (*s, x)).collect();
    seqs.filter_map(|s| by_seq.get(&(s as i64)).copied())
        .collect::<HashSet<_>>()
        .len()
}

/// Writes `rows` one per caller: the first caller's INSERT waits for a
/// lock on `table` while the others queue behind it, then `while_locked`
/// runs in the lock's transaction, and the lock is released. Each caller's
/// result, in the order of `rows`.
fn one_group_behind_a_lock(
    pg: &Cluster,
    dsn: &str,
    table: &str,
    w: &Writer,
    rows: &[OwnedRow],
    while_locked: impl FnOnce(&Reader),
) -> Vec<i64> {
    let lock = Lock::take(dsn, table);
    let ready = Barrier::new(rows.len());
    std::thread::scope(|s| {
        let first = first_caller_blocked(s, pg, table, w, &rows[0]);
        let handles: Vec<_> = (1..rows.len())
            .map(|i| {
                let ready = &ready;
                s.spawn(move || {
                    ready.wait();
                    w.write(&one(rows, i))
                })
            })
            .collect();
        ready.wait();
        // The calls queue behind the busy connection meanwhile.
        std::thread::sleep(Duration::from_millis(500));
        while_locked(&lock.0);
        lock.release();
        std::iter::once(first)
            .chain(handles)
            .map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn callers_queued_behind_a_busy_connection_share_one_insert_and_each_sees_its_own_row() {
    let pg = cluster("pggroup");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let opened = open(
        &sync_config(&dsn, "group_one", 1, Duration::from_secs(10)),
        Some(sink),
    );
    assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));
    let w = opened.writer;
    let rows = seq_rows("group", 0..8);
    const QUEUED: usize = 7;

    let lock = Lock::take(&dsn, "group_one");
    let ready = Barrier::new(QUEUED + 1);
    let (first, queued) = std::thread::scope(|s| {
        let first = first_caller_blocked(s, &pg, "group_one", &w, &rows[0]);
        let handles: Vec<_> = (1..=QUEUED)
            .map(|i| {
                let (w, rows, ready, dsn) = (&w, &rows, &ready, &dsn);
                s.spawn(move || {
                    let reader = Reader::new(dsn);
                    ready.wait();
                    let r = w.write(&one(rows, i));
                    // Right after the call, from another connection.
                    (r, reader.count_seq("group_one", i as u64))
                })
            })
            .collect();
        ready.wait();
        // The seven calls queue behind the busy connection meanwhile.
        std::thread::sleep(Duration::from_millis(500));
        lock.release();
        let first = first.join().unwrap();
        let queued: Vec<(i64, i64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (first, queued)
    });
    assert_eq!(first, 1, "{}", dump(&warnings));
    for (i, (r, visible)) in queued.iter().enumerate() {
        assert_eq!(*r, 1, "caller {} : {queued:?}\n{}", i + 1, dump(&warnings));
        assert_eq!(
            *visible,
            1,
            "row {} not visible when its call returned",
            i + 1
        );
    }
    let stored = Reader::new(&dsn).seqs_and_xmins("group_one");
    assert_eq!(stored.len(), 8);
    let groups = transactions_of(&stored, 1..=QUEUED as u64);
    assert!(
        groups < QUEUED,
        "the {QUEUED} queued calls were written in {groups} transactions: not grouped"
    );
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(stats.delivered, 8);
    assert_eq!(
        stats.batches,
        1 + groups as u64,
        "one INSERT for the first caller, one per group"
    );
}

#[test]
fn a_row_the_server_refuses_fails_only_its_own_caller_in_a_group() {
    let pg = cluster("pggroupbad");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let w = open(
        &sync_config(&dsn, "group_bad", 1, Duration::from_secs(10)),
        Some(sink),
    )
    .writer;
    // Two kinds of bad row: one a CHECK constraint refuses (SQLSTATE 23514,
    // the row's content), one a trigger refuses with its own error (P0001:
    // not a known table-wide class, so taken as caused by the row).
    sql(
        &pg,
        "stogger",
        "ALTER TABLE group_bad ADD CONSTRAINT no_poison CHECK (event <> 'poison'); \
         CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.event = 'trap' THEN RAISE EXCEPTION 'trapped row'; END IF; RETURN NEW; \
         END $$; \
         CREATE TRIGGER trap BEFORE INSERT ON group_bad FOR EACH ROW EXECUTE FUNCTION trap();",
    );
    let mut rows = seq_rows("fine", 0..9);
    const POISON: usize = 3;
    const TRAP: usize = 6;
    rows[POISON].event = "poison".into();
    rows[TRAP].event = "trap".into();

    let results = one_group_behind_a_lock(&pg, &dsn, "group_bad", &w, &rows, |_| {});
    for (i, r) in results.iter().enumerate() {
        // Rejected for their content: written 0 of 1.
        let expected = if i == POISON || i == TRAP { 0 } else { 1 };
        assert_eq!(*r, expected, "caller {i}: {results:?}\n{}", dump(&warnings));
    }
    let reader = Reader::new(&dsn);
    let stored: HashSet<i64> = reader
        .seqs_and_xmins("group_bad")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let expected: HashSet<i64> = (0..9)
        .filter(|i| *i != POISON as i64 && *i != TRAP as i64)
        .collect();
    assert_eq!(stored, expected);
    // The first refusal is said with the server's reason (the second one,
    // within the warning's rate limit, only counted).
    assert!(
        of_kind(&warnings, "rejected")
            .first()
            .is_some_and(|m| m.contains("no_poison") || m.contains("trapped row")),
        "{}",
        dump(&warnings)
    );
    // The connection is still good.
    let more = seq_rows("after", 100..101);
    assert_eq!(w.write(&[more[0].as_ref()]), 1, "{}", dump(&warnings));
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(
        (
            stats.delivered,
            stats.dropped_rejected,
            stats.dropped_unavailable
        ),
        (8, 2, 0)
    );
}

/// Transactions rolled back in database `stogger` (each refused autocommit
/// INSERT is one), as far as the statistics know yet.
fn rollbacks(pg: &Cluster) -> i64 {
    sql(
        pg,
        "stogger",
        "SELECT xact_rollback FROM pg_stat_database WHERE datname = 'stogger'",
    )
    .parse()
    .unwrap_or(-1)
}

#[test]
fn a_table_that_refuses_every_row_fails_the_group_without_trying_each_row() {
    let pg = cluster("pggroupblocked");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let w = open(
        &sync_config(&dsn, "group_blocked", 1, Duration::from_secs(10)),
        Some(sink),
    )
    .writer;
    let rows = seq_rows("blocked", 0..11);
    assert_eq!(w.write(&one(&rows, 0)), 1, "{}", dump(&warnings));
    let before = rollbacks(&pg);

    // The privilege goes away while the first caller's INSERT waits for the
    // lock and eight callers queue behind it.
    let results = one_group_behind_a_lock(&pg, &dsn, "group_blocked", &w, &rows[1..10], |lock| {
        lock.exec("REVOKE INSERT ON group_blocked FROM stogger")
    });
    assert!(
        results.iter().all(|r| *r == NOT_DELIVERED),
        "{results:?}\n{}",
        dump(&warnings)
    );
    assert!(
        dump(&warnings).contains("permission denied"),
        "{}",
        dump(&warnings)
    );
    assert!(
        of_kind(&warnings, "rejected").is_empty(),
        "a table-wide refusal is not the rows' fault: {}",
        dump(&warnings)
    );
    let reader = Reader::new(&dsn);
    assert_eq!(reader.seqs_and_xmins("group_blocked").len(), 1);

    // Privilege back: the same connection writes again.
    reader.exec("GRANT INSERT ON group_blocked TO stogger");
    assert_eq!(w.write(&one(&rows, 10)), 1, "{}", dump(&warnings));
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(
        (
            stats.delivered,
            stats.dropped_rejected,
            stats.dropped_unavailable,
            stats.uncertain
        ),
        (2, 0, 9, 0)
    );
    // The first caller's statement and the group's one were refused; eight
    // more would mean the group's rows were tried one by one. (A closed
    // backend has sent its statistics.)
    assert!(
        eventually(Duration::from_secs(10), || rollbacks(&pg) - before >= 2),
        "{}",
        rollbacks(&pg) - before
    );
    std::thread::sleep(Duration::from_millis(500));
    let refused = rollbacks(&pg) - before;
    assert!((2..=3).contains(&refused), "{refused} statements refused");
}

#[test]
fn a_group_in_flight_when_the_database_goes_away_is_uncertain_as_a_whole() {
    let pg = cluster("pggroupout");
    let socket = pg.socket_dsn("stogger", "stogger");
    let proxy = TcpProxy::start(("127.0.0.1", pg.port()), Mode::Forward).expect("proxy");
    let dsn = format!(
        "postgresql://stogger:secret@127.0.0.1:{}/stogger?sslmode=disable",
        proxy.port()
    );
    let (sink, warnings) = recorder();
    let bound = Duration::from_secs(5);
    let opened = open(&sync_config(&dsn, "group_out", 1, bound), Some(sink));
    assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));
    let w = opened.writer;
    let rows = seq_rows("out", 0..40);
    const GROUP: std::ops::RangeInclusive<usize> = 1..=7;
    const BEHIND: std::ops::RangeInclusive<usize> = 8..=10;

    // Lock A holds the first caller; lock B queues behind it on the server,
    // so that after A the group's INSERT waits for B.
    let lock_a = Lock::take(&socket, "group_out");
    let (lock_b_tx, lock_b_rx) = std::sync::mpsc::channel::<()>();
    let ready = Barrier::new(GROUP.count() + 1);
    let timed = |w: &Writer, i: usize| {
        let t = Instant::now();
        (w.write(&one(&rows, i)), t.elapsed())
    };
    let (group, behind, after) = std::thread::scope(|s| {
        let first = first_caller_blocked(s, &pg, "group_out", &w, &rows[0]);
        let socket = &socket;
        let lock_b = s.spawn(move || {
            let b = Lock::take(socket, "group_out");
            let _ = lock_b_rx.recv();
            b.release();
        });
        until_waiting_locks(&pg, "group_out", 2);
        let group: Vec<_> = GROUP
            .map(|i| {
                let (w, ready, timed) = (&w, &ready, &timed);
                s.spawn(move || {
                    ready.wait();
                    timed(w, i)
                })
            })
            .collect();
        ready.wait();
        std::thread::sleep(Duration::from_millis(500));
        lock_a.release();
        assert_eq!(first.join().unwrap(), 1, "{}", dump(&warnings));
        // B holds the table now; the group's INSERT waits for it.
        until_waiting_locks(&pg, "group_out", 1);
        proxy.set_mode(Mode::BlackHole);
        // Callers arriving behind the group wait for the connection.
        let behind: Vec<_> = BEHIND
            .map(|i| {
                let (w, timed) = (&w, &timed);
                s.spawn(move || timed(w, i))
            })
            .collect();
        let group: Vec<_> = group.into_iter().map(|h| h.join().unwrap()).collect();
        let behind: Vec<_> = behind.into_iter().map(|h| h.join().unwrap()).collect();
        // The breaker is open now: callers return at once.
        let after: Vec<_> = (20..30).map(|i| timed(&w, i)).collect();
        let _ = lock_b_tx.send(());
        lock_b.join().unwrap();
        (group, behind, after)
    });
    for (r, took) in &group {
        assert_eq!(*r, UNCERTAIN, "{group:?}\n{}", dump(&warnings));
        assert!(*took < bound * 3, "{group:?}");
    }
    for (r, took) in &behind {
        assert_eq!(*r, NOT_DELIVERED, "{behind:?}\n{}", dump(&warnings));
        assert!(*took < bound + Duration::from_secs(2), "{behind:?}");
    }
    for (r, took) in &after {
        assert_eq!(*r, NOT_DELIVERED, "{after:?}");
        assert!(*took < Duration::from_millis(500), "not fast: {after:?}");
    }

    // The path comes back; the probe reconnects; writes resume.
    proxy.set_mode(Mode::Forward);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = 30;
    while w.write(&one(&rows, next)) != 1 {
        assert!(
            Instant::now() < deadline,
            "writes did not resume\n{}",
            dump(&warnings)
        );
        next += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    // The old backend finished the group's INSERT when B let go, or not:
    // all of the group or none, once each; nothing reported not delivered.
    std::thread::sleep(Duration::from_millis(500));
    let reader = Reader::new(&socket);
    let stored: Vec<i64> = reader
        .seqs_and_xmins("group_out")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let set: HashSet<i64> = stored.iter().copied().collect();
    assert_eq!(
        set.len(),
        stored.len(),
        "a row was stored twice: {stored:?}"
    );
    let of_group = GROUP.filter(|i| set.contains(&(*i as i64))).count();
    assert!(
        of_group == 0 || of_group == GROUP.count(),
        "a group's INSERT is all or nothing: {of_group} of its rows stored"
    );
    for i in BEHIND.chain(20..30) {
        assert!(
            !set.contains(&(i as i64)),
            "row {i} reported not delivered is stored"
        );
    }
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(stats.uncertain, GROUP.count() as u64);
}

#[test]
fn an_exhausted_pool_serves_a_crowd_in_groups_of_at_most_64_rows() {
    let pg = cluster("pggroupcrowd");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let bound = Duration::from_secs(10);
    let w = open(&sync_config(&dsn, "group_crowd", 1, bound), Some(sink)).writer;
    const CROWD: usize = 150;
    let rows = seq_rows("crowd", 0..CROWD as u64 + 1);

    let lock = Lock::take(&dsn, "group_crowd");
    let ready = Barrier::new(CROWD + 1);
    let results: Vec<(i64, Duration)> = std::thread::scope(|s| {
        let first = first_caller_blocked(s, &pg, "group_crowd", &w, &rows[0]);
        let handles: Vec<_> = (1..=CROWD)
            .map(|i| {
                let (w, rows, ready) = (&w, &rows, &ready);
                s.spawn(move || {
                    ready.wait();
                    let t = Instant::now();
                    (w.write(&one(rows, i)), t.elapsed())
                })
            })
            .collect();
        ready.wait();
        std::thread::sleep(Duration::from_millis(500));
        lock.release();
        assert_eq!(first.join().unwrap(), 1);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (r, took) in &results {
        assert_eq!(*r, 1, "{}", dump(&warnings));
        assert!(*took < bound, "a caller waited {took:?}");
    }
    let stored = Reader::new(&dsn).seqs_and_xmins("group_crowd");
    assert_eq!(stored.len(), CROWD + 1);
    let mut per_transaction: HashMap<&String, usize> = HashMap::new();
    for (_, xmin) in &stored {
        *per_transaction.entry(xmin).or_default() += 1;
    }
    let largest = per_transaction.values().copied().max().unwrap_or(0);
    assert!(largest <= 64, "a statement of {largest} rows");
    assert!(
        per_transaction.len() < CROWD / 2,
        "{CROWD} queued calls in {} statements: hardly grouped",
        per_transaction.len()
    );
    let stats = w.close(Duration::from_secs(10));
    assert_eq!(stats.delivered, CROWD as u64 + 1);
    assert_eq!(stats.batches, per_transaction.len() as u64);
}
