//! Failures a service meets: nothing listening, a socket directory that
//! does not exist, a restart in the middle of writing, a wrong password,
//! a missing privilege. The writer warns (without the password), keeps
//! rows, and delivers them once when it can.

mod common;

use std::time::Duration;

use common::*;
use stogger_postgres::{OpenStatus, Writer};

/// Open must come back with status 1 (not hang, not fail) when nothing
/// answers; the generous connect timeout shows it does not wait for it.
#[test]
fn unreachable_at_open_returns_retrying_with_the_reason() {
    for (dsn, expect) in [
        (
            "postgresql://stogger:hunter2@127.0.0.1:1/logs",
            "Connection refused",
        ),
        (
            "postgresql://stogger:@/logs?host=/nonexistent/stogger-socket-dir",
            "No such file or directory",
        ),
        (
            "host=127.0.0.1 port=1 user=stogger password=hunter2 dbname=logs",
            "Connection refused",
        ),
    ] {
        let mut c = config(dsn, "stogger_logs");
        c.connect_timeout = Duration::from_secs(120);
        let (sink, warnings) = recorder();
        let opened = Writer::open(&c, Some(sink)).unwrap();
        let OpenStatus::Retrying(reason) = &opened.status else {
            panic!("{dsn}: {:?}", opened.status)
        };
        assert!(reason.contains(expect), "{dsn}: {reason}");
        assert!(!reason.contains("hunter2"), "{reason}");
        let row = OwnedRow::new("kept", "{}");
        assert_eq!(
            opened.writer.write(&[row.as_ref()]),
            1,
            "rows are queued meanwhile"
        );
        let stats = opened.writer.close(Duration::from_millis(300));
        assert_eq!(stats.undelivered, 1, "{stats:?}");
        assert!(!format!("{stats:?}").contains("hunter2"));
        assert!(!dump(&warnings).contains("hunter2"));
    }
}

#[test]
fn server_restart_mid_stream_loses_and_duplicates_nothing() {
    let mut pg = cluster("pgrestart");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let mut c = config(&dsn, "restart");
    c.batch_size = 200;
    c.flush_interval = Duration::from_millis(5);
    let (sink, warnings) = recorder();
    let w = open(&c, Some(sink)).writer;
    let rows = seq_rows("restart", 0..30_000);
    // Write while the server goes away and comes back, twice.
    write_all(&w, &rows[..8_000]);
    pg.stop_server().unwrap();
    write_all(&w, &rows[8_000..14_000]);
    pg.start_server().unwrap();
    write_all(&w, &rows[14_000..20_000]);
    pg.stop_server().unwrap();
    pg.start_server().unwrap();
    write_all(&w, &rows[20_000..]);
    assert!(w.flush(FLUSH), "{:?}\n{}", w.stats(), dump(&warnings));
    let stats = w.close(FLUSH);
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*), count(DISTINCT data->>'seq') FROM restart"
        ),
        "30000|30000",
        "{stats:?}\n{}",
        dump(&warnings)
    );
    assert_eq!(stats.delivered + stats.uncertain, 30_000, "{stats:?}");
    assert_eq!(stats.undelivered, 0);
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert!(
        !of_kind(&warnings, "connect").is_empty(),
        "{}",
        dump(&warnings)
    );
}

#[test]
fn wrong_password_warns_without_the_password() {
    let pg = cluster("pgpass");
    let secret = "Wr0ng-Pa55word-xyz";
    let dsn = pg.tcp_dsn("stogger", secret, "stogger");
    let (sink, warnings) = recorder();
    let mut c = config(&dsn, "stogger_logs");
    c.connect_timeout = Duration::from_secs(5);
    let opened = open(&c, Some(sink));
    let OpenStatus::Retrying(reason) = &opened.status else {
        panic!("{:?}", opened.status)
    };
    assert!(
        reason.contains("password authentication failed"),
        "{reason}"
    );
    assert!(reason.contains("stogger:***@127.0.0.1"), "{reason}");
    assert!(!reason.contains(secret), "{reason}");
    let w = opened.writer;
    let row = OwnedRow::new("e", "{}");
    w.write(&[row.as_ref()]);
    // Let the background retries produce their warnings (the first retry is
    // 100 ms later); poll with a bound, then look at everything.
    for _ in 0..100 {
        if !of_kind(&warnings, "connect").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = format!("{:?} {:?}", w.stats(), w.last_error());
    let report = w.close(Duration::from_millis(100));
    let all = format!("{}\n{stats}\n{report:?}", dump(&warnings));
    assert!(all.contains("password authentication failed"), "{all}");
    assert!(!all.contains(secret), "{all}");
    // The right password works over the same TCP path.
    let good = open(
        &config(&pg.tcp_dsn("stogger", "secret", "stogger"), "stogger_logs"),
        None,
    );
    assert_eq!(good.status, OpenStatus::Connected);
}

#[test]
fn missing_insert_privilege_warns_and_recovers_when_granted() {
    let pg = cluster("pgpriv");
    // The table belongs to the superuser; the writer may only read it.
    let ddl = stogger_postgres::schema_sql("stogger_logs").unwrap();
    sql(&pg, "stogger", &ddl);
    sql(&pg, "stogger", "GRANT SELECT ON stogger_logs TO stogger");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let opened = open(&config(&dsn, "stogger_logs"), Some(sink));
    let OpenStatus::Retrying(reason) = &opened.status else {
        panic!("{:?}", opened.status)
    };
    assert!(reason.contains("no INSERT privilege"), "{reason}");
    let w = opened.writer;
    write_all(&w, &seq_rows("after-grant", 0..50));
    sql(
        &pg,
        "stogger",
        "GRANT INSERT ON stogger_logs TO stogger; GRANT USAGE ON SEQUENCE stogger_logs_id_seq TO stogger",
    );
    assert!(w.flush(FLUSH), "{:?}\n{}", w.stats(), dump(&warnings));
    assert_eq!(
        sql(&pg, "stogger", "SELECT count(*) FROM stogger_logs"),
        "50"
    );

    // Revoked at run time: the server's message is reported, rows are kept.
    sql(&pg, "stogger", "REVOKE INSERT ON stogger_logs FROM stogger");
    write_all(&w, &seq_rows("while-revoked", 0..5));
    assert!(
        !w.flush(Duration::from_millis(500)),
        "nothing can be written now"
    );
    for _ in 0..100 {
        if !of_kind(&warnings, "write").is_empty() || !of_kind(&warnings, "connect").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let all = dump(&warnings);
    assert!(
        all.contains("permission denied") || all.contains("no INSERT privilege"),
        "{all}"
    );
    sql(&pg, "stogger", "GRANT INSERT ON stogger_logs TO stogger");
    assert!(w.flush(FLUSH), "{:?}\n{}", w.stats(), dump(&warnings));
    assert_eq!(
        sql(&pg, "stogger", "SELECT count(*) FROM stogger_logs"),
        "55"
    );
    w.close(FLUSH);
}

#[test]
fn sync_mode_commits_before_returning_and_fails_boundedly() {
    let mut pg = cluster("pgsync");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let mut c = config(&dsn, "synced");
    c.write_mode = stogger_postgres::WriteMode::Sync;
    c.connect_timeout = Duration::from_secs(5);
    let (sink, warnings) = recorder();
    let opened = open(&c, Some(sink));
    assert_eq!(opened.status, OpenStatus::Connected);
    let w = opened.writer;
    let rows = seq_rows("sync", 0..500);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(w.write(&[r.as_ref()]), 1);
        if i == 249 {
            // Committed already, without any flush.
            assert_eq!(sql(&pg, "stogger", "SELECT count(*) FROM synced"), "250");
        }
    }
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*), count(DISTINCT data->>'seq') FROM synced"
        ),
        "500|500"
    );
    // A rejected row is dropped alone; the call reports what was written.
    let bad = OwnedRow::new("bad", "not json");
    let good = OwnedRow::new("good", "{}");
    assert_eq!(w.write(&[bad.as_ref(), good.as_ref()]), 1);
    // Server gone: one reconnect attempt, then the row is dropped, and
    // the next calls fail fast without trying.
    pg.stop_server().unwrap();
    assert_eq!(w.write(&[good.as_ref()]), -2);
    assert!(!w.stats().connected);
    let stats = w.stats();
    assert_eq!(
        (
            stats.delivered,
            stats.dropped_rejected,
            stats.dropped_unavailable
        ),
        (501, 1, 1)
    );
    assert!(
        !of_kind(&warnings, "connect").is_empty(),
        "{}",
        dump(&warnings)
    );
    // Back again: the background probe reconnects (its backoff is at most
    // 2 s), then writes go through again.
    pg.start_server().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !w.stats().connected {
        assert!(
            std::time::Instant::now() < deadline,
            "no reconnect\n{}",
            dump(&warnings)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(w.write(&[good.as_ref()]), 1);
    assert_eq!(sql(&pg, "stogger", "SELECT count(*) FROM synced"), "502");
    let stats = w.close(FLUSH);
    assert_eq!(stats.undelivered, 0);
}
