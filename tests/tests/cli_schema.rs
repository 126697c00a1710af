//! `stogger schema`: the plugin's DDL for the configured table, accepted by
//! PostgreSQL as it is, for any table name.

mod cli_support;

use cli_support::{doctor_json, Setup};

#[test]
fn schema_output_creates_the_table_doctor_expects_even_for_a_hostile_name() {
    let mut s = Setup::new("cli-schema");
    let hostile = "audit\"; DROP TABLE victim; --";
    s.sql("CREATE TABLE victim (x int); ALTER TABLE victim OWNER TO stogger");
    s.set("STOGGER_POSTGRES_TABLE", hostile);
    let ddl = s.create_table_with_schema_command();
    assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS "), "{ddl}");
    assert_eq!(
        ddl.matches("CREATE INDEX IF NOT EXISTS").count(),
        4,
        "{ddl}"
    );
    // Exactly that table exists, and nothing was dropped.
    assert_eq!(
        s.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'audit\"; DROP TABLE victim; --'"),
        "1"
    );
    assert_eq!(s.sql("SELECT count(*) FROM victim"), "0");
    // Running it twice is harmless (IF NOT EXISTS).
    s.create_table_with_schema_command();

    let out = s.run(&["doctor", "--json"]);
    let doc = doctor_json(&out);
    assert_eq!(out.code, Some(0), "{doc:#}");
    let db = &doc["sections"]["database"];
    assert_eq!(db["status"], "ok", "{db:#}");
    assert_eq!(db["table_present"], true);
}

#[test]
fn a_name_postgres_cannot_hold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(64);
    let out = stogger_tests::service::run(
        &cli_support::stogger(),
        &["schema"],
        dir.path(),
        &[("STOGGER_POSTGRES_TABLE", long.as_str())],
    );
    assert_ne!(out.code, Some(0), "{}", out.stdout);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("63"), "{}", out.stderr);
}
