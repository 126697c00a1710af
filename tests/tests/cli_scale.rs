//! The `stogger` command at scale: `schema --partitioned`, `doctor`'s
//! partitions section and index check, `schema --apply`, `schema migrate`,
//! `query --explain` on a partitioned table, and every command run as
//! separate processes through pgbouncer in transaction pooling mode.

mod cli_support;

use cli_support::{doctor_json, status, Setup, PASSWORD};
use std::process::Stdio;
use stogger_tests::pgbouncer::bouncer_or_fail;
use stogger_tests::service;

fn ok(s: &Setup, args: &[&str]) -> service::Outcome {
    let out = s.run(args);
    assert_eq!(
        out.code,
        Some(0),
        "stogger {args:?}:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

fn partitioned(name: &str) -> Setup {
    let mut s = Setup::new(name);
    s.set("STOGGER_POSTGRES_PARTITIONING", "daily");
    s.set("STOGGER_LOG_TO_CONSOLE", "false");
    s
}

#[test]
fn schema_partitioned_prints_ddl_postgresql_accepts() {
    let s = Setup::new("cli-schema-parts");
    let out = ok(&s, &["schema", "--partitioned"]);
    assert!(
        out.stdout
            .contains("PRIMARY KEY (id, \"timestamp\")\n) PARTITION BY RANGE (\"timestamp\");"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("PARTITION OF \"stogger_logs\" DEFAULT;"));
    s.psql_script(&out.stdout);
    assert_eq!(
        s.sql("SELECT relkind FROM pg_class WHERE relname = 'stogger_logs'"),
        "p"
    );
    // The plain DDL is unchanged without the flag.
    let plain = ok(&s, &["schema"]);
    assert!(
        plain.stdout.contains("id BIGSERIAL PRIMARY KEY,"),
        "{}",
        plain.stdout
    );
}

#[test]
fn doctor_reports_partitions_and_a_missing_index_that_apply_builds() {
    let s = partitioned("cli-doctor-parts");
    ok(&s, &["emit", "order-placed", "order_id=1"]);
    let doc = doctor_json(&ok(&s, &["doctor", "--json"]));
    assert_eq!(status(&doc, "database"), "ok", "{doc:#}");
    let parts = &doc["sections"]["partitions"];
    assert_eq!(parts["partitions"]["count"], 4, "{parts:#}");
    assert_eq!(parts["partitions"]["covers_now"], true);
    assert!(parts["detail"]
        .as_str()
        .unwrap()
        .contains("4 partitions (daily)"));

    s.sql("DROP INDEX idx_stogger_logs_data");
    // A service starting again does not rebuild it.
    ok(&s, &["emit", "order-shipped", "order_id=1"]);
    let out = s.run(&["doctor"]);
    assert_eq!(
        out.code,
        Some(0),
        "a missing index is a warning: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("missing idx_stogger_logs_data (data)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("stogger schema --apply"),
        "{}",
        out.stdout
    );
    let doc = doctor_json(&s.run(&["doctor", "--json"]));
    assert_eq!(status(&doc, "database"), "warning");

    let applied = ok(&s, &["schema", "--apply"]);
    assert!(
        applied.stdout.contains("CREATE INDEX CONCURRENTLY"),
        "{}",
        applied.stdout
    );
    let doc = doctor_json(&ok(&s, &["doctor", "--json"]));
    assert_eq!(status(&doc, "database"), "ok", "{doc:#}");
    assert_eq!(
        ok(&s, &["schema", "--apply"]).stdout.trim(),
        "table stogger_logs: nothing missing"
    );
}

#[test]
fn query_explain_shows_the_partitions_a_time_filter_keeps() {
    let s = partitioned("cli-explain");
    ok(&s, &["emit", "user-login", "user_id=123"]);
    s.sql(
        "CREATE TABLE stogger_logs_lastweek PARTITION OF stogger_logs \
         FOR VALUES FROM (now() - interval '7 days') TO (now() - interval '6 days')",
    );
    let recent = ok(
        &s,
        &[
            "query",
            "--since",
            "1h",
            "--field",
            "user_id=123",
            "--explain",
        ],
    );
    assert!(
        recent.stdout.contains("stogger_logs_p"),
        "{}",
        recent.stdout
    );
    assert!(
        !recent.stdout.contains("stogger_logs_lastweek"),
        "{}",
        recent.stdout
    );
    let all = ok(&s, &["query", "--explain"]);
    assert!(
        all.stdout.contains("stogger_logs_lastweek"),
        "{}",
        all.stdout
    );
    // And the rows themselves.
    let rows = ok(
        &s,
        &["query", "--since", "1h", "--field", "user_id=123", "--json"],
    );
    assert_eq!(rows.stdout.lines().count(), 1, "{}", rows.stdout);
}

#[test]
fn schema_migrate_turns_the_plain_table_into_a_partitioned_one() {
    let mut s = Setup::new("cli-migrate");
    s.set("STOGGER_LOG_TO_CONSOLE", "false");
    ok(&s, &["emit", "before", "n=1"]);
    ok(&s, &["emit", "before", "n=2"]);
    // Refused while postgres_partitioning is none.
    let out = s.run(&["schema", "migrate"]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stderr.contains("postgres_partitioning is none"),
        "{}",
        out.stderr
    );
    s.set("STOGGER_POSTGRES_PARTITIONING", "weekly");
    let doc = doctor_json(&s.run(&["doctor", "--json"]));
    assert_eq!(status(&doc, "partitions"), "warning", "{doc:#}");
    let out = ok(&s, &["schema", "migrate"]);
    assert!(
        out.stdout
            .contains("the old table is now partition stogger_logs_legacy"),
        "{}",
        out.stdout
    );
    ok(&s, &["emit", "after", "n=3"]);
    assert_eq!(
        s.sql("SELECT string_agg(event, ',' ORDER BY id) FROM stogger_logs WHERE event <> 'stogger-partition-maintenance'"),
        "before,before,after"
    );
    let doc = doctor_json(&ok(&s, &["doctor", "--json"]));
    assert_eq!(status(&doc, "partitions"), "ok", "{doc:#}");
    let out = s.run(&["schema", "migrate", "--json"]);
    assert_eq!(out.code, Some(1));
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert!(report["problems"][0]
        .as_str()
        .unwrap()
        .contains("already partitioned"));
}

#[test]
fn emit_doctor_and_query_work_as_processes_through_pgbouncer() {
    let mut s = partitioned("cli-bouncer");
    let bouncer = bouncer_or_fail(&s.pg, &[("stogger", PASSWORD)], 2);
    s.set(
        "STOGGER_POSTGRES_DSN",
        &bouncer.dsn("stogger", "%PASSWORD%", "stogger"),
    );
    s.set("STOGGER_POSTGRES_PASSWORD", PASSWORD);
    s.set("STOGGER_POSTGRES_MAINTENANCE_INTERVAL_MS", "1000");
    // Twelve processes share two server connections: on a loaded 2-core
    // machine one emit's row can wait past the default 5 s close deadline
    // (seen once); this test is about pgbouncer, not about that deadline.
    s.set("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "60000");
    // A DBA creates the table through the pool (and so the first partitions).
    let applied = ok(&s, &["schema", "--apply"]);
    assert!(
        applied.stdout.starts_with("created table stogger_logs"),
        "{}",
        applied.stdout
    );
    // Twelve services at once, each a process of its own (each numbers its
    // prepared statements from zero), two server connections.
    let children: Vec<_> = (0..12)
        .map(|k| {
            let env: Vec<(&str, &str)> = s
                .env
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            service::command(
                &cli_support::stogger(),
                &["emit", "bounced", &format!("k={k}"), "--level", "warning"],
                s.dir.path(),
                &env,
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn emit")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("emit");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            bouncer.log()
        );
    }
    let rows = ok(
        &s,
        &["query", "--event", "bounced", "--json", "--limit", "100"],
    );
    assert_eq!(rows.stdout.lines().count(), 12, "{}", rows.stdout);
    let doc = doctor_json(&ok(&s, &["doctor", "--json"]));
    assert_eq!(status(&doc, "database"), "ok", "{doc:#}");
    assert_eq!(status(&doc, "partitions"), "ok", "{doc:#}");
    ok(
        &s,
        &["query", "--level", "warning", "--since", "10m", "--explain"],
    );
}
