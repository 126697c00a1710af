//! `migrate` on a real server: a plain table of a million rows becomes a
//! partitioned one while a writer keeps writing, and no row is lost.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use stogger_postgres::{check, migrate, Partitioning};

const PRELOAD: u64 = 1_000_000;

#[test]
fn a_million_row_plain_table_becomes_partitioned_while_a_writer_writes() {
    let pg = cluster("pgmigrate");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let plain = config(&dsn, "logs");
    let w = open(&plain, None).writer;
    write_all(&w, &seq_rows("before", 0..10));
    assert_eq!(w.close(FLUSH).delivered, 10);
    // A million rows over the last 20 days, made by the server.
    sql(
        &pg,
        "stogger",
        &format!(
            "INSERT INTO logs (\"timestamp\", level, event, data) \
             SELECT now() - (i % 1728000) * interval '1 second', 'info', 'preload', \
                    jsonb_build_object('i', i, 'user_id', i % 1000) \
             FROM generate_series(1, {PRELOAD}) i"
        ),
    );

    let mut c = plain.clone();
    c.partitioning = Partitioning::Daily;
    c.maintenance_interval = Duration::from_secs(1);
    let (sink, warnings) = recorder();
    let w = Arc::new(open(&c, Some(sink)).writer);
    // The writer says that the table is not partitioned yet, and writes.
    assert!(
        of_kind(&warnings, "schema")
            .iter()
            .any(|m| m.contains("stogger schema migrate")),
        "{}",
        dump(&warnings)
    );
    let feeder = Feeder::start(w.clone(), 50, Duration::from_millis(5));
    std::thread::sleep(Duration::from_millis(500));
    let report = migrate(&c);
    std::thread::sleep(Duration::from_millis(1500));
    let sent = feeder.stop();
    assert!(
        report.problems.is_empty(),
        "{report:#?}\n{}",
        dump(&warnings)
    );
    assert_eq!(report.legacy_partition.as_deref(), Some("logs_legacy"));
    assert_all_delivered(&w, sent, &warnings);

    // Every row is there, once.
    assert_eq!(
        sql(&pg, "stogger", "SELECT count(*), count(DISTINCT id) FROM logs WHERE event <> 'stogger-partition-maintenance'"),
        format!("{n}|{n}", n = PRELOAD + 10 + sent)
    );
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT relkind FROM pg_class WHERE oid = 'logs'::regclass"
        ),
        "p"
    );
    // New rows get ids after the old ones: the sequence went along.
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT pg_get_serial_sequence('logs', 'id') IS NOT NULL, \
             (SELECT max(id) FROM logs WHERE event = 'preload') < (SELECT max(id) FROM logs WHERE event = 'live')"
        ),
        "t|t"
    );
    let doctor = check(&c);
    assert!(doctor.ok(), "{doctor:#?}");
    let parts = doctor.partitions.as_ref().expect("partitioned");
    assert!(parts.list.iter().any(|p| p.name == "logs_legacy"));
    assert_eq!(parts.oldest.as_deref(), Some("-infinity"));
    // Migrating again is refused: nothing to do.
    let again = migrate(&c);
    assert!(
        again
            .problems
            .iter()
            .any(|p| p.contains("already partitioned")),
        "{again:#?}"
    );
    Arc::try_unwrap(w).ok().expect("one writer").close(FLUSH);
    assert!(
        of_kind(&warnings, "maintenance").is_empty(),
        "{}",
        dump(&warnings)
    );
}
