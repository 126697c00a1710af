//! The PostgreSQL target's own filter, and the trace level in the `level`
//! column, against a real PostgreSQL.
//!
//! Needs the plugin built: `cargo build -p stogger-postgres`.

mod postgres_support;

use postgres_support::*;

/// `event|level` of the rows of `table`, oldest first.
fn rows(pg: &stogger_tests::pg::Cluster, table: &str) -> Vec<String> {
    lines(&sql(
        pg,
        &format!("SELECT event, level FROM {table} ORDER BY timestamp, id"),
    ))
}

#[test]
fn each_output_takes_what_its_own_filter_admits() {
    let pg = cluster("filters");
    let dsn = pg.socket_dsn("stogger", "stogger");

    // Everything down to trace in PostgreSQL, warnings only in the file.
    let sb = Sandbox::new();
    let out = sb.run_pg(
        &["levels"],
        &dsn,
        &[
            ("STOGGER_POSTGRES_TABLE", "trace_rows"),
            ("STOGGER_POSTGRES_FILTER", "trace"),
            ("STOGGER_FILE_FILTER", "warn"),
            ("STOGGER_LOG_TO_CONSOLE", "false"),
        ],
    );
    out.assert_success();
    assert_eq!(
        rows(&pg, "trace_rows"),
        [
            "trace-event|trace",
            "debug-event|debug",
            "info-event|info",
            "warning-event|warning",
            "critical-event|critical",
            "db-debug|debug",
            "db-warning|warning",
        ]
    );
    let file = log_file(sb.dir.path());
    let events: Vec<&str> = file
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(
        events,
        ["warning-event", "critical-event", "db-warning"],
        "{file}"
    );

    // Debug for the database module in the file, only warnings in PostgreSQL.
    let sb = Sandbox::new();
    let out = sb.run_pg(
        &["levels"],
        &dsn,
        &[
            ("STOGGER_POSTGRES_TABLE", "warn_rows"),
            ("STOGGER_POSTGRES_FILTER", "warn"),
            ("STOGGER_FILE_FILTER", "info,svc::db=debug"),
            ("STOGGER_LOG_TO_CONSOLE", "false"),
        ],
    );
    out.assert_success();
    assert_eq!(
        rows(&pg, "warn_rows"),
        [
            "warning-event|warning",
            "critical-event|critical",
            "db-warning|warning"
        ]
    );
    let file = log_file(sb.dir.path());
    assert!(file.contains(" D db-debug"), "{file}");
    assert!(!file.contains("debug-event"), "{file}");
    assert!(file.contains(" I info-event"), "{file}");
}
