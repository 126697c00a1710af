//! Time partitions managed by the writer, on a real server: partitions made
//! ahead of time, rows outside every partition (DEFAULT partition on and
//! off), retention dropping an expired partition while a writer runs, two
//! services maintaining one table, and the seed's queries on a partitioned
//! table.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use stogger_postgres::{check, Partitioning, PgSettings, Writer};
use time::OffsetDateTime;

fn partitioned(dsn: &str, table: &str) -> PgSettings {
    let mut c = config(dsn, table);
    c.partitioning = Partitioning::Daily;
    c.partition_premake = 3;
    c.maintenance_interval = Duration::from_secs(1);
    c
}

/// `stogger_logs_pYYYYMMDD` for `days` after today (UTC).
fn day_partition(table: &str, days: i64) -> String {
    let d = (OffsetDateTime::now_utc() + time::Duration::days(days)).date();
    format!(
        "{table}_p{:04}{:02}{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

fn children(pg: &stogger_tests::pg::Cluster, table: &str) -> Vec<String> {
    let out = sql(
        pg,
        "stogger",
        &format!(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = '{table}'::regclass ORDER BY 1"
        ),
    );
    out.lines().map(str::to_string).collect()
}

fn row_at(event: &str, ts: i64) -> OwnedRow {
    let mut r = OwnedRow::new(event, "{\"k\": 1}");
    r.ts = ts;
    r
}

#[test]
fn partitions_are_made_ahead_and_rows_land_in_them() {
    let pg = cluster("pgparts");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let opened = open(&partitioned(&dsn, "logs"), Some(sink));
    let w = opened.writer;
    let rows: Vec<OwnedRow> = (0..10).map(|_| row_at("now-event", now_micros())).collect();
    write_all(&w, &rows);
    assert!(w.flush(FLUSH), "{:?}", w.stats());

    let mut expected: Vec<String> = (0..=3).map(|d| day_partition("logs", d)).collect();
    expected.push("logs_default".into());
    expected.sort();
    assert_eq!(children(&pg, "logs"), expected);
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT DISTINCT tableoid::regclass FROM logs WHERE event = 'now-event'"
        ),
        day_partition("logs", 0)
    );
    // The parent has the seed's columns, the key (id, timestamp) and the
    // four indexes; each partition got them too.
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'logs'::regclass AND contype = 'p'"
        ),
        "PRIMARY KEY (id, \"timestamp\")"
    );
    assert_eq!(
        sql(
            &pg,
            "stogger",
            &format!(
                "SELECT count(*) FROM pg_indexes WHERE tablename = '{}'",
                day_partition("logs", 2)
            )
        ),
        "5"
    );
    // The maintenance ran at start and recorded it in the table.
    assert!(
        eventually(Duration::from_secs(20), || {
            sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM logs WHERE event = 'stogger-partition-maintenance' AND data->>'result' = 'ok'"
        ) != "0"
        }),
        "no maintenance row; warnings: {}",
        dump(&warnings)
    );
    let report = check(&partitioned(&dsn, "logs"));
    assert!(report.ok(), "{report:#?}");
    let parts = report.partitions.as_ref().expect("partitions reported");
    assert_eq!(parts.count, 4);
    assert!(parts.covers_now && parts.default_partition.is_some());
    let m = report.maintenance.as_ref().expect("maintenance reported");
    assert_eq!(m.result, "ok");
    assert!(m.next_run.is_some() && !m.overdue, "{m:?}");
    let stats = w.close(FLUSH);
    assert_eq!((stats.delivered, stats.dropped_rejected), (10, 0));
    assert!(
        of_kind(&warnings, "maintenance").is_empty(),
        "{}",
        dump(&warnings)
    );
}

#[test]
fn rows_outside_every_partition_go_to_the_default_partition_or_alone_are_dropped() {
    let pg = cluster("pgdefault");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let far_future = 4_102_444_800_000_000; // 2100-01-01
    let far_past = 631_152_000_000_000; // 1990-01-01

    // Default partition on (the default): nothing is lost.
    let w = open(&partitioned(&dsn, "with_default"), None).writer;
    let rows = [
        row_at("future", far_future),
        row_at("past", far_past),
        row_at("now", now_micros()),
    ];
    write_all(&w, &rows);
    let stats = w.close(FLUSH);
    assert_eq!(
        (stats.delivered, stats.dropped_rejected),
        (3, 0),
        "{stats:?}"
    );
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT string_agg(event, ',' ORDER BY event) FROM with_default_default"
        ),
        "future,past"
    );

    // Default partition off: the batch is written without the two rows
    // no partition takes; they are counted and said why.
    let mut c = partitioned(&dsn, "no_default");
    c.default_partition = false;
    let (sink, warnings) = recorder();
    let w = open(&c, Some(sink)).writer;
    let mut rows: Vec<OwnedRow> = (0..20).map(|_| row_at("now", now_micros())).collect();
    rows.insert(7, row_at("future", far_future));
    rows.insert(15, row_at("past", far_past));
    write_all(&w, &rows);
    let stats = w.close(FLUSH);
    assert_eq!(
        (stats.delivered, stats.dropped_rejected),
        (20, 2),
        "{stats:?}"
    );
    assert_eq!(sql(&pg, "stogger", "SELECT count(*) FROM no_default"), "20");
    let rejected = of_kind(&warnings, "rejected").join("\n");
    assert!(
        rejected.contains("no partition of relation"),
        "{}",
        dump(&warnings)
    );
    assert!(children(&pg, "no_default")
        .iter()
        .all(|c| c != "no_default_default"));
}

#[test]
fn retention_drops_an_expired_partition_while_a_writer_runs() {
    let pg = cluster("pgretention");
    let dsn = pg.socket_dsn("stogger", "stogger");
    // The table and an old partition made by hand, with rows.
    let first = open(&partitioned(&dsn, "logs"), None).writer;
    first.close(FLUSH);
    sql(
        &pg,
        "stogger",
        "CREATE TABLE logs_old PARTITION OF logs FOR VALUES FROM ('2020-01-01') TO ('2020-01-02'); \
         INSERT INTO logs (\"timestamp\", level, event) \
           SELECT '2020-01-01 12:00+00', 'info', 'old' FROM generate_series(1, 100)",
    );
    assert_eq!(sql(&pg, "stogger", "SELECT count(*) FROM logs_old"), "100");

    let mut c = partitioned(&dsn, "logs");
    c.retention_days = 30;
    let (sink, warnings) = recorder();
    let w = Arc::new(open(&c, Some(sink)).writer);
    let feeder = Feeder::start(w.clone(), 20, Duration::from_millis(10));
    let gone = eventually(Duration::from_secs(30), || {
        !children(&pg, "logs").contains(&"logs_old".to_string())
    });
    std::thread::sleep(Duration::from_millis(300));
    let sent = feeder.stop();
    assert!(
        gone,
        "the expired partition is still there; {}",
        dump(&warnings)
    );
    assert_all_delivered(&w, sent, &warnings);
    // Every live row is there; the old ones went with their partition.
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM logs WHERE event = 'live'"
        ),
        sent.to_string()
    );
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM logs WHERE event = 'old'"
        ),
        "0"
    );
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM pg_class WHERE relname = 'logs_old'"
        ),
        "0"
    );
    let dropped = sql(
        &pg,
        "stogger",
        "SELECT count(*) FROM logs WHERE event = 'stogger-partition-maintenance' \
         AND data->'dropped' ? 'logs_old'",
    );
    assert_eq!(dropped, "1");
    assert!(
        of_kind(&warnings, "maintenance").is_empty(),
        "{}",
        dump(&warnings)
    );
}

#[test]
fn two_services_maintain_one_table_without_errors() {
    let pg = cluster("pgtwo");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let c = partitioned(&dsn, "shared");
    let (sink_a, warn_a) = recorder();
    let (sink_b, warn_b) = recorder();
    // Both start at once: one creates the table, the other finds it.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Writer::open(&c, Some(sink_a)));
        let b = s.spawn(|| Writer::open(&c, Some(sink_b)));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, b) = (a.expect("open a").writer, b.expect("open b").writer);
    let rows: Vec<OwnedRow> = (0..50).map(|_| row_at("shared", now_micros())).collect();
    for _ in 0..20 {
        write_all(&a, &rows);
        write_all(&b, &rows);
        std::thread::sleep(Duration::from_millis(200));
    }
    let (sa, sb) = (a.close(FLUSH), b.close(FLUSH));
    assert_eq!((sa.delivered, sb.delivered), (1000, 1000));
    let all = format!("{}\n{}", dump(&warn_a), dump(&warn_b));
    assert!(all.trim().is_empty(), "warnings: {all}");
    let runs = sql(
        &pg,
        "stogger",
        "SELECT count(*), count(*) FILTER (WHERE data->>'result' <> 'ok') FROM shared \
         WHERE event = 'stogger-partition-maintenance'",
    );
    let (total, failed) = runs.split_once('|').unwrap();
    assert!(total.parse::<u32>().unwrap() >= 2, "{runs}");
    assert_eq!(failed, "0");
    assert_eq!(children(&pg, "shared").len(), 5);
}

#[test]
fn the_seed_queries_answer_on_a_partitioned_table() {
    let pg = cluster("pgseedparts");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let w = open(&partitioned(&dsn, "stogger_logs"), None).writer;
    let now = now_micros();
    let mut rows = Vec::new();
    let mut error = row_at("payment-failed", now - 3_600_000_000 * 30);
    error.level = "error".into();
    error.func = Some("my_service::payments::process_payment".into());
    error.data = "{\"user_id\": 123, \"order_id\": 7}".into();
    rows.push(error);
    let mut scoped = row_at("order-step", now);
    scoped.scope = Some("order-processing".into());
    scoped.data = "{\"user_id\": 124}".into();
    rows.push(scoped);
    rows.push(row_at("user-login", now));
    write_all(&w, &rows);
    assert!(w.flush(FLUSH));
    let q = |s: &str| sql(&pg, "stogger", s);
    assert_eq!(
        q("SELECT event FROM stogger_logs WHERE level = 'error' ORDER BY timestamp DESC LIMIT 50"),
        "payment-failed"
    );
    assert_eq!(
        q("SELECT event FROM stogger_logs WHERE func = 'my_service::payments::process_payment'"),
        "payment-failed"
    );
    assert_eq!(
        q("SELECT event, data->>'user_id' FROM stogger_logs WHERE data->>'user_id' = '123'"),
        "payment-failed|123"
    );
    assert_eq!(
        q("SELECT event FROM stogger_logs WHERE data @> '{\"user_id\": 123}'"),
        "payment-failed"
    );
    assert_eq!(
        q("SELECT event, count(*) FROM stogger_logs WHERE timestamp > now() - interval '24 hours' \
           AND event <> 'stogger-partition-maintenance' GROUP BY event ORDER BY count(*) DESC, event"),
        "order-step|1\nuser-login|1"
    );
    assert_eq!(
        q("SELECT level, event FROM stogger_logs WHERE scope = 'order-processing' ORDER BY timestamp DESC"),
        "info|order-step"
    );
    // A time condition prunes the partitions before it: with a value (what
    // `stogger query --since` binds) at planning, with now() when the query
    // starts.
    q(
        "CREATE TABLE stogger_logs_lastweek PARTITION OF stogger_logs \
       FOR VALUES FROM (now() - interval '7 days') TO (now() - interval '6 days')",
    );
    let since = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let plan = q(&format!(
        "EXPLAIN SELECT * FROM stogger_logs WHERE timestamp >= '{}' ORDER BY timestamp DESC LIMIT 50",
        since.format(&time::format_description::well_known::Rfc3339).unwrap()
    ));
    assert!(plan.contains(&day_partition("stogger_logs", 0)), "{plan}");
    assert!(!plan.contains("stogger_logs_lastweek"), "{plan}");
    let all = q("EXPLAIN SELECT * FROM stogger_logs ORDER BY timestamp DESC LIMIT 50");
    assert!(all.contains("stogger_logs_lastweek"), "{all}");
    let plan = q(
        "EXPLAIN (ANALYZE, COSTS OFF) SELECT event, count(*) FROM stogger_logs \
                  WHERE timestamp > now() - interval '24 hours' GROUP BY event",
    );
    assert!(plan.contains("Subplans Removed: 1"), "{plan}");
    w.close(FLUSH);
}
