//! Batch mode against a real server: volume delivered exactly once, huge
//! values, rejected rows isolated, a full queue dropping the newest rows.

mod common;

use common::*;
use stogger_postgres::{OpenStatus, RowRef};

#[test]
fn twenty_thousand_rows_arrive_exactly_once() {
    let pg = cluster("pgbulk");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let mut c = config(&dsn, "bulk");
    c.batch_size = 700; // several batches, the last one partial
    let opened = open(&c, None);
    assert_eq!(opened.status, OpenStatus::Connected);
    let w = opened.writer;
    let rows = seq_rows("bulk-row", 0..20_000);
    write_all(&w, &rows);
    assert!(w.flush(FLUSH), "{:?}", w.stats());
    let stats = w.stats();
    assert_eq!(stats.delivered, 20_000);
    assert_eq!(stats.queued, 0);
    assert!(stats.batches >= 20_000 / 700, "{stats:?}");
    let got = sql(
        &pg,
        "stogger",
        "SELECT count(*), count(DISTINCT data->>'seq'), min((data->>'seq')::int), max((data->>'seq')::int) FROM bulk",
    );
    assert_eq!(got, "20000|20000|0|19999");
    let stats = w.close(FLUSH);
    assert_eq!(stats.undelivered, 0);
}

#[test]
fn two_megabyte_values_are_stored_whole() {
    let pg = cluster("pgbig");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let opened = open(&config(&dsn, "big"), None);
    let w = opened.writer;
    let blob: String = "0123456789abcdef".repeat(2 * 1024 * 1024 / 16);
    let mut rows: Vec<OwnedRow> = (0..3)
        .map(|i| OwnedRow::new("big-value", format!("{{\"i\": {i}, \"blob\": \"{blob}\"}}")))
        .collect();
    rows.extend(seq_rows("small", 0..10));
    write_all(&w, &rows);
    assert!(w.flush(FLUSH), "{:?}", w.stats());
    assert_eq!(
        sql(&pg, "stogger", "SELECT count(*), min(length(data->>'blob')), max(length(data->>'blob')) FROM big WHERE event = 'big-value'"),
        format!("3|{0}|{0}", blob.len())
    );
    assert_eq!(sql(&pg, "stogger", "SELECT count(*) FROM big"), "13");
    assert_eq!(w.close(FLUSH).dropped_rejected, 0);
}

#[test]
fn a_rejected_row_loses_only_itself() {
    let pg = cluster("pgreject");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let mut c = config(&dsn, "rej");
    c.flush_interval = std::time::Duration::from_secs(30); // one batch, sent by flush
    let (sink, warnings) = recorder();
    let w = open(&c, Some(sink)).writer;
    let mut rows = seq_rows("ok", 0..100);
    rows[37].data = "this is not json".into(); // sent raw on purpose
                                               // Too large for the btree index on event (incompressible, so TOAST
                                               // compression cannot shrink it under the index row limit).
    let mut x: u32 = 12345;
    rows[38].event = (0..10_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            char::from(b'a' + ((x >> 16) % 26) as u8)
        })
        .collect();
    write_all(&w, &rows);
    assert!(w.flush(FLUSH), "{:?}", w.stats());
    let stats = w.stats();
    assert_eq!(
        (stats.delivered, stats.dropped_rejected),
        (98, 2),
        "{stats:?}"
    );
    assert_eq!(stats.batches, 1);
    let got = sql(
        &pg,
        "stogger",
        "SELECT count(*), count(DISTINCT data->>'seq') FROM rej",
    );
    assert_eq!(got, "98|98");
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM rej WHERE (data->>'seq')::int IN (37, 38)"
        ),
        "0"
    );
    let rejected = of_kind(&warnings, "rejected");
    assert_eq!(
        rejected.len(),
        1,
        "one warning per batch: {}",
        dump(&warnings)
    );
    assert!(
        rejected[0].contains("dropped 2 row(s) of a batch of 100"),
        "{}",
        rejected[0]
    );
    assert!(rejected[0].contains("SQLSTATE"), "{}", rejected[0]);
    w.close(FLUSH);
}

#[test]
fn database_down_at_open_then_full_queue_drops_newest_and_says_so() {
    let mut pg = cluster("pgdown");
    let dsn = pg.socket_dsn("stogger", "stogger");
    pg.stop_server().unwrap();
    let mut c = config(&dsn, "late");
    c.queue_capacity = 10;
    let (sink, warnings) = recorder();
    let opened = open(&c, Some(sink));
    let OpenStatus::Retrying(reason) = &opened.status else {
        panic!("opened while the server is down: {:?}", opened.status)
    };
    assert!(reason.contains("cannot connect"), "{reason}");
    let w = opened.writer;
    let rows: Vec<OwnedRow> = (0..15)
        .map(|i| OwnedRow::new(format!("r{i}"), "{}"))
        .collect();
    let refs: Vec<RowRef<'_>> = rows.iter().map(OwnedRow::as_ref).collect();
    assert_eq!(w.write(&refs[..8]), 8);
    assert_eq!(w.write(&refs[8..]), 2, "only two more fit");
    let stats = w.stats();
    assert_eq!(
        (stats.queued, stats.dropped_queue_full, stats.connected),
        (10, 5, false)
    );
    let full = of_kind(&warnings, "queue-full");
    assert_eq!(full.len(), 1, "{}", dump(&warnings));
    assert!(full[0].contains("dropped 5 row(s)"), "{}", full[0]);

    pg.start_server().unwrap();
    assert!(w.flush(FLUSH), "{:?}", w.stats());
    let events = sql(
        &pg,
        "stogger",
        "SELECT string_agg(event, ',' ORDER BY id) FROM late WHERE event LIKE 'r%'",
    );
    assert_eq!(
        events, "r0,r1,r2,r3,r4,r5,r6,r7,r8,r9",
        "the oldest rows are kept"
    );
    // The loss is visible in the table itself.
    assert_eq!(
        sql(&pg, "stogger", "SELECT level, data->>'dropped', data->>'reason' FROM late WHERE event = 'stogger-events-dropped'"),
        "warning|5|queue-full"
    );
    let stats = w.close(FLUSH);
    assert_eq!(
        (stats.delivered, stats.undelivered, stats.dropped_queue_full),
        (10, 0, 5)
    );
}
