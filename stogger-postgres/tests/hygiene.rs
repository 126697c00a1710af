//! Index hygiene on a real server: a dropped GIN index is not rebuilt by a
//! writer's restart, `check` reports it with the statement that fixes it,
//! and `apply_schema` builds it without blocking writers — on a plain table
//! and on a partitioned one (partition by partition, attached).

mod common;

use std::time::Duration;

use common::*;
use stogger_postgres::{apply_schema, check, GinOpclass, IndexStatus, Partitioning, PgSettings};

fn data_index(report: &stogger_postgres::CheckReport) -> &stogger_postgres::IndexCheck {
    report
        .indexes
        .iter()
        .find(|i| i.role.as_deref() == Some("data"))
        .unwrap_or_else(|| panic!("no data index entry: {:#?}", report.indexes))
}

fn restart_and_write(c: &PgSettings) {
    let w = open(c, None).writer;
    write_all(&w, &seq_rows("after-restart", 0..10));
    let stats = w.close(FLUSH);
    assert_eq!(stats.delivered, 10, "{stats:?}");
}

fn dropped_gin_round_trip(c: &PgSettings, pg: &stogger_tests::pg::Cluster, partitioned: bool) {
    let table = &c.table;
    restart_and_write(c);
    sql(pg, "stogger", &format!("DROP INDEX idx_{table}_data"));
    // A restart leaves the table's indexes alone.
    restart_and_write(c);
    let gins = format!(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gin' AND i.indrelid = '{table}'::regclass"
    );
    assert_eq!(
        sql(pg, "stogger", &gins),
        "0",
        "the writer rebuilt the GIN index"
    );

    let report = check(c);
    let gin = data_index(&report);
    assert_eq!(gin.status, IndexStatus::Missing, "{report:#?}");
    let fix = gin.fix.as_deref().unwrap_or_default();
    if partitioned {
        assert!(fix.contains("stogger schema --apply"), "{fix}");
    } else {
        assert_eq!(
            fix,
            format!(
                "CREATE INDEX CONCURRENTLY \"idx_{table}_data\" ON \"{table}\" USING GIN (data jsonb_path_ops);"
            )
        );
    }
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("(data) is missing")),
        "{report:#?}"
    );

    let applied = apply_schema(c);
    assert!(applied.problems.is_empty(), "{applied:#?}");
    assert!(
        applied
            .statements
            .iter()
            .any(|s| s.starts_with("CREATE INDEX CONCURRENTLY")),
        "{applied:#?}"
    );
    assert_eq!(sql(pg, "stogger", &gins), "1");
    let report = check(c);
    assert_eq!(data_index(&report).status, IndexStatus::Ok, "{report:#?}");
    assert!(report.ok(), "{report:#?}");
    // Nothing left to do: a second apply runs nothing.
    let again = apply_schema(c);
    assert!(
        again.statements.is_empty() && again.problems.is_empty(),
        "{again:#?}"
    );
}

#[test]
fn a_dropped_gin_index_is_reported_not_rebuilt_and_applied_concurrently() {
    let pg = cluster("pghygiene");
    let dsn = pg.socket_dsn("stogger", "stogger");
    dropped_gin_round_trip(&config(&dsn, "plain_logs"), &pg, false);

    let mut c = config(&dsn, "part_logs");
    c.partitioning = Partitioning::Daily;
    c.maintenance_interval = Duration::from_secs(3600);
    dropped_gin_round_trip(&c, &pg, true);
    // Every partition got its own index, attached to the parent's (valid).
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT bool_and(i.indisvalid), count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gin' AND i.indrelid IN \
             (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'part_logs'::regclass)"
        ),
        "t|5"
    );
}

#[test]
fn duplicates_and_other_opclasses_are_reported_with_their_fix() {
    let pg = cluster("pghygiene2");
    let dsn = pg.socket_dsn("stogger", "stogger");
    let c = config(&dsn, "logs");
    restart_and_write(&c);
    sql(
        &pg,
        "stogger",
        "CREATE INDEX level_again ON logs (level); CREATE INDEX by_user ON logs ((data->>'user_id'))",
    );
    let report = check(&c);
    let by = |name: &str| {
        report
            .indexes
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("{name}: {:#?}", report.indexes))
    };
    assert_eq!(by("level_again").status, IndexStatus::Duplicate);
    assert_eq!(
        by("level_again").fix.as_deref(),
        Some("DROP INDEX CONCURRENTLY \"level_again\";")
    );
    assert_eq!(by("by_user").status, IndexStatus::Unexpected);
    assert_eq!(by("idx_logs_level").status, IndexStatus::Ok);
    assert!(!report.ok(), "a duplicate is worth a warning");
    assert!(
        report.problems.iter().all(|p| !p.contains("by_user")),
        "{report:#?}"
    );

    // Configured for jsonb_ops: the path_ops index is not it.
    let mut ops = c.clone();
    ops.gin_opclass = GinOpclass::JsonbOps;
    let report = check(&ops);
    assert_eq!(
        by_name(&report, "idx_logs_data").status,
        IndexStatus::Unexpected
    );
    let missing = report
        .indexes
        .iter()
        .find(|i| i.status == IndexStatus::Missing)
        .expect("the jsonb_ops index is missing");
    assert_eq!(missing.expected.as_deref(), Some("gin (data)"));
    // apply builds it beside the other one (dropping is the DBA's call).
    let applied = apply_schema(&ops);
    assert!(applied.problems.is_empty(), "{applied:#?}");
    assert!(
        applied.statements[0].starts_with("CREATE INDEX CONCURRENTLY \"idx_logs_data_2\""),
        "{applied:#?}"
    );
    assert!(applied
        .remaining
        .iter()
        .any(|i| i.name == "idx_logs_data" && i.status == IndexStatus::Unexpected));
}

fn by_name<'a>(
    report: &'a stogger_postgres::CheckReport,
    name: &str,
) -> &'a stogger_postgres::IndexCheck {
    report
        .indexes
        .iter()
        .find(|i| i.name == name && i.definition.is_some())
        .unwrap_or_else(|| panic!("{name}: {:#?}", report.indexes))
}
