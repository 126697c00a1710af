//! The table the writer creates: columns, types, indexes, quoting of
//! hostile names, schema-qualified names, the spool's progress table
//! beside it, and what `check` reports.

mod common;

use common::*;
use stogger_postgres::{
    apply_schema, check, IndexStatus, OpenStatus, PartitionManager, Partitioning, TableName,
};

#[test]
fn creates_the_seed_schema_and_stores_rows_faithfully() {
    let pg = cluster("pgschema");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let (sink, warnings) = recorder();
    let opened = open(&config(&dsn, "stogger_logs"), Some(sink));
    assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));

    let cols = sql(
        &pg,
        "stogger",
        "SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || \
         coalesce(column_default, '-') FROM information_schema.columns \
         WHERE table_name = 'stogger_logs' ORDER BY ordinal_position",
    );
    let cols: Vec<&str> = cols.lines().collect();
    assert_eq!(cols.len(), 7, "{cols:?}");
    assert!(cols[0].starts_with("id bigint NO nextval("), "{cols:?}");
    assert_eq!(cols[1], "timestamp timestamp with time zone NO -");
    assert_eq!(cols[2], "level text NO -");
    assert_eq!(cols[3], "event text NO -");
    assert_eq!(cols[4], "func text YES -");
    assert_eq!(cols[5], "scope text YES -");
    assert_eq!(cols[6], "data jsonb NO '{}'::jsonb");

    let idx = sql(
        &pg,
        "stogger",
        "SELECT indexname || ': ' || indexdef FROM pg_indexes \
         WHERE tablename = 'stogger_logs' ORDER BY indexname",
    );
    let idx: Vec<&str> = idx.lines().collect();
    assert_eq!(idx.len(), 5, "{idx:?}"); // four + the primary key
    assert!(
        idx[0].starts_with("idx_stogger_logs_data: ")
            && idx[0].contains("USING gin (data jsonb_path_ops)"),
        "{idx:?}"
    );
    assert!(
        idx[1].starts_with("idx_stogger_logs_event: ") && idx[1].contains("btree (event)"),
        "{idx:?}"
    );
    assert!(
        idx[2].starts_with("idx_stogger_logs_level: ") && idx[2].contains("btree (level)"),
        "{idx:?}"
    );
    assert!(
        idx[3].starts_with("idx_stogger_logs_timestamp: ")
            && idx[3].contains("btree (\"timestamp\" DESC)"),
        "{idx:?}"
    );

    // One row with every column set, one with NULLs and a NUL in the event.
    let mut full = OwnedRow::new("user-login", r#"{"user_id": 123, "username": "alice"}"#);
    full.ts = 1_700_000_000_123_456;
    full.level = "warning".into();
    full.func = Some("app::login".into());
    full.scope = Some("order-processing".into());
    let nul = OwnedRow::new("has\0nul", "{}");
    let w = opened.writer;
    assert_eq!(w.write(&[full.as_ref(), nul.as_ref()]), 2);
    assert!(w.flush(FLUSH), "{:?}", w.stats());
    let got = sql(
        &pg,
        "stogger",
        "SELECT (extract(epoch FROM \"timestamp\") * 1000000)::bigint, level, event, \
         coalesce(func, 'NULL'), coalesce(scope, 'NULL'), data->>'user_id' FROM stogger_logs ORDER BY id",
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(
        lines[0],
        "1700000000123456|warning|user-login|app::login|order-processing|123"
    );
    assert_eq!(lines[1], "1700000000000000|info|has\u{FFFD}nul|NULL|NULL|");
    // The seed's JSONB containment query finds it.
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM stogger_logs WHERE data @> '{\"user_id\": 123}'"
        ),
        "1"
    );
    let stats = w.close(FLUSH);
    assert_eq!((stats.delivered, stats.undelivered), (2, 0));

    // The doctor's view of the same table.
    let report = check(&config(&dsn, "stogger_logs"));
    assert!(report.ok(), "{report:#?}");
    assert!(report.connected && report.table_present == Some(true));
    assert!(report
        .server_version
        .as_deref()
        .is_some_and(|v| v.starts_with(char::is_numeric)));
    assert_eq!(report.columns.len(), 7);
    assert!(report.columns.iter().all(|c| c.ok));
    // The primary key and the four indexes, compared by definition.
    assert_eq!(report.indexes.len(), 5, "{:#?}", report.indexes);
    assert!(report.indexes.iter().all(|i| i.status == IndexStatus::Ok));
    assert_eq!(
        (report.can_insert, report.can_select),
        (Some(true), Some(true))
    );
    assert_eq!(report.row_count, Some(2));
    assert_eq!(
        report.newest.as_deref(),
        Some("2023-11-14T22:13:20.123456Z")
    );
}

#[test]
fn hostile_and_qualified_names_are_quoted_never_executed() {
    let pg = cluster("pghostile");
    let dsn = pg.socket_dsn("stogger", "stogger");
    sql(
        &pg,
        "stogger",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO stogger",
    );
    sql(&pg, "stogger", "CREATE SCHEMA audit AUTHORIZATION stogger");
    let hostile = "x\"; DROP TABLE t; --";
    for name in [hostile, "audit.Events", "Mixed Case", &"l".repeat(63)] {
        let opened = open(&config(&dsn, name), None);
        assert_eq!(opened.status, OpenStatus::Connected, "{name}");
        let w = opened.writer;
        let row = OwnedRow::new("e", "{}");
        assert_eq!(w.write(&[row.as_ref()]), 1);
        assert!(w.flush(FLUSH), "{name}: {:?}", w.stats());
        w.close(FLUSH);
        let t = TableName::parse(name).unwrap();
        assert_eq!(
            sql(
                &pg,
                "stogger",
                &format!("SELECT count(*) FROM {}", t.quoted())
            ),
            "1",
            "{name}"
        );
        // Its four indexes exist under the computed (sanitised) names.
        let schema = t.schema().unwrap_or("public");
        for suffix in ["timestamp", "level", "event", "data"] {
            let iname = t.index_name(suffix);
            assert!(iname.len() <= 63);
            let found = sql(
                &pg,
                "stogger",
                &format!(
                    "SELECT count(*) FROM pg_indexes WHERE schemaname = '{}' AND indexname = '{}'",
                    schema.replace('\'', "''"),
                    iname.replace('\'', "''")
                ),
            );
            assert_eq!(found, "1", "{name}: index {iname}");
        }
    }
    // The injected statement never ran.
    assert_eq!(sql(&pg, "stogger", "SELECT count(*) FROM t"), "1");
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'Events' AND schemaname = 'audit'"
        ),
        "1"
    );

    // Refused names never reach the server: a clear configuration error.
    for bad in ["a.b.c", "", &"x".repeat(64)] {
        let e = stogger_postgres::Writer::open(&config(&dsn, bad), None)
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(e.to_string().contains("table"), "{e}");
    }
}

#[test]
fn check_reports_what_is_wrong() {
    let pg = cluster("pgcheck");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let report = check(&config(&dsn, "missing_table"));
    assert!(report.connected);
    assert_eq!(report.table_present, Some(false));
    assert!(
        report.problems.iter().any(|p| p.contains("does not exist")),
        "{report:#?}"
    );

    // A table with a wrong column type and one index missing.
    sql(
        &pg,
        "stogger",
        "CREATE TABLE odd (id bigserial primary key, \"timestamp\" timestamptz not null, \
         level text not null, event text not null, func text, scope text, data json not null); \
         CREATE INDEX idx_odd_level ON odd (level)",
    );
    let report = check(&config(&dsn, "odd"));
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p == "column data is json, expected jsonb"),
        "{report:#?}"
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p == "index idx_odd_timestamp (timestamp) is missing"),
        "{report:#?}"
    );
    let ok: Vec<&str> = report
        .indexes
        .iter()
        .filter(|i| i.status == IndexStatus::Ok)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(ok, ["odd_pkey", "idx_odd_level"]);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["table_present"], true);

    // Unreachable: not connected, the reason is a problem.
    let report = check(&config(
        "postgresql://stogger:hunter2@127.0.0.1:1/stogger",
        "stogger_logs",
    ));
    assert!(!report.connected);
    assert!(report.problems[0].contains("cannot connect"), "{report:#?}");
    assert!(!serde_json::to_string(&report).unwrap().contains("hunter2"));
}

/// The spool's progress table comes with the table the writer creates,
/// plain or partitioned, and is added beside a table that lacks it (made
/// by an older version): by the writer, also when the partitions are
/// managed elsewhere, and by `apply_schema`.
#[test]
fn the_spool_progress_table_comes_with_the_table_in_both_layouts() {
    let pg = cluster("pgprogress");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let kind = |t: &str| {
        sql(
            &pg,
            "stogger",
            &format!(
                "SELECT coalesce((SELECT relkind::text FROM pg_class \
                 WHERE oid = to_regclass('{t}')), 'missing')"
            ),
        )
    };
    let opened_ok = |c: &stogger_postgres::PgSettings| {
        let (sink, warnings) = recorder();
        let opened = open(c, Some(sink));
        assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));
        assert!(
            of_kind(&warnings, "schema").is_empty(),
            "{}",
            dump(&warnings)
        );
        drop(opened.writer);
    };

    opened_ok(&config(&dsn, "plain_logs"));
    assert_eq!(kind("plain_logs"), "r");
    assert_eq!(kind("plain_logs_spool_progress"), "r");

    let mut daily = config(&dsn, "daily_logs");
    daily.partitioning = Partitioning::Daily;
    opened_ok(&daily);
    assert_eq!(kind("daily_logs"), "p");
    assert_eq!(kind("daily_logs_spool_progress"), "r");

    // A partitioned table made without it, partitions managed elsewhere:
    // the writer runs no DDL on the table, but adds its own small table.
    sql(&pg, "stogger", "DROP TABLE daily_logs_spool_progress");
    let mut external = daily.clone();
    external.partition_manager = PartitionManager::External;
    opened_ok(&external);
    assert_eq!(kind("daily_logs_spool_progress"), "r");

    // An administrator's `stogger schema --apply` adds it too.
    sql(&pg, "stogger", "DROP TABLE plain_logs_spool_progress");
    let applied = apply_schema(&config(&dsn, "plain_logs"));
    assert!(applied.problems.is_empty(), "{applied:?}");
    assert!(!applied.created_table);
    assert!(
        applied.statements[0]
            .starts_with("CREATE TABLE IF NOT EXISTS \"plain_logs_spool_progress\""),
        "{applied:?}"
    );
    assert_eq!(kind("plain_logs_spool_progress"), "r");
    // Nothing is missing any more.
    assert!(apply_schema(&config(&dsn, "plain_logs"))
        .statements
        .is_empty());
}
