//! Many writers, one table, through a real pgbouncer in transaction pooling
//! mode with fewer server connections than clients: every statement of the
//! writer (batch and sync mode, table creation, partition maintenance), of
//! `check`, `apply_schema`, `migrate` and `LogReader` works there, where a
//! client's consecutive transactions run on whatever server connection is
//! free.

mod common;

use std::time::Duration;

use common::*;
use stogger_postgres::{
    apply_schema, check, migrate, IndexStatus, LogReader, Partitioning, QueryParam, WriteMode,
    Writer,
};
use stogger_tests::pgbouncer::bouncer_or_fail;
use time::OffsetDateTime;

#[test]
fn writers_doctor_and_reader_work_through_transaction_pooling() {
    let pg = cluster("pgbouncer");
    let bouncer = bouncer_or_fail(&pg, &[("stogger", "secret")], 2);
    let dsn = bouncer.dsn("stogger", "secret", "stogger");
    let mut c = config(&dsn, "logs");
    c.partitioning = Partitioning::Daily;
    c.maintenance_interval = Duration::from_secs(1);

    // Six batch writers and two sync writers, started together, sharing
    // two server connections.
    let mut sinks = Vec::new();
    let writers: Vec<Writer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|k| {
                let (sink, got) = recorder();
                sinks.push(got);
                let mut c = c.clone();
                if k >= 6 {
                    c.write_mode = WriteMode::Sync;
                }
                s.spawn(move || Writer::open(&c, Some(sink)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("open thread").expect("open").writer)
            .collect()
    });
    for round in 0..15 {
        for (k, w) in writers.iter().enumerate() {
            let rows: Vec<OwnedRow> = (0..20)
                .map(|i| {
                    let mut r = OwnedRow::new(
                        "bounced",
                        format!("{{\"writer\": {k}, \"round\": {round}, \"i\": {i}}}"),
                    );
                    r.ts = now_micros();
                    r
                })
                .collect();
            write_all(w, &rows);
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    for w in writers {
        let stats = w.close(FLUSH);
        assert_eq!(
            (stats.delivered, stats.undelivered, stats.dropped_rejected),
            (300, 0, 0),
            "{stats:?}"
        );
    }
    for got in &sinks {
        assert!(got.lock().unwrap().is_empty(), "{}", dump(got));
    }
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM logs WHERE event = 'bounced'"
        ),
        "2400"
    );
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FILTER (WHERE data->>'result' = 'ok'), count(*) FROM logs \
             WHERE event = 'stogger-partition-maintenance'"
        )
        .split('|')
        .map(|n| n.parse::<u32>().unwrap() > 0)
        .collect::<Vec<_>>(),
        [true, true]
    );
    // pgbouncer kept its bound: never more than two server connections.
    let servers = sql(
        &pg,
        "stogger",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'stogger' AND usename = 'stogger'",
    );
    assert!(servers.parse::<u32>().unwrap() <= 2, "{servers}");

    // The doctor's check through the pool (its row count under SET LOCAL).
    let report = check(&c);
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.row_count.map(|n| n >= 2400), Some(true));
    assert!(report.partitions.is_some() && report.maintenance.is_some());

    // Reading back, and the plan, with bound parameters.
    let reader = LogReader::connect(&c).expect("reader");
    let sql_text = format!(
        "SELECT id, \"timestamp\", level, event, func, scope, data FROM {} \
         WHERE event = $1 AND data @> $2::jsonb AND \"timestamp\" >= $3 ORDER BY id LIMIT $4",
        reader.quoted_table()
    );
    let params = [
        QueryParam::Text("bounced".into()),
        QueryParam::Json(serde_json::json!({"writer": 3, "round": 7})),
        QueryParam::Time(OffsetDateTime::now_utc() - time::Duration::hours(1)),
        QueryParam::Int(100),
    ];
    for _ in 0..5 {
        let rows = reader.fetch(&sql_text, &params).expect("fetch");
        assert_eq!(rows.len(), 20);
    }
    let plan = reader.explain(&sql_text, &params).expect("explain");
    assert!(plan.iter().any(|l| l.contains("logs_p")), "{plan:?}");
    assert!(reader.max_id().expect("max id") >= 2400);

    // An index built concurrently through the pool, partition by partition.
    sql(&pg, "stogger", "DROP INDEX idx_logs_event");
    let applied = apply_schema(&c);
    assert!(applied.problems.is_empty(), "{applied:#?}");
    let report = check(&c);
    assert!(
        report.indexes.iter().all(|i| i.status == IndexStatus::Ok),
        "{:#?}",
        report.indexes
    );

    // A migration through the pool.
    let plain = config(&dsn, "plain");
    let w = open(&plain, None).writer;
    write_all(&w, &seq_rows("old", 0..100));
    w.close(FLUSH);
    let mut target = plain.clone();
    target.partitioning = Partitioning::Monthly;
    let report = migrate(&target);
    assert!(report.problems.is_empty(), "{report:#?}");
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM plain WHERE event = 'old'"
        ),
        "100"
    );
    assert!(
        !bouncer.log().contains("prepared statement"),
        "{}",
        bouncer.log()
    );
}
