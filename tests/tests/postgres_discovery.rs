//! The two ways to get the PostgreSQL plugin, end to end, and what a service
//! says when it cannot use it: a real PostgreSQL (throwaway cluster), real
//! child processes.
//!
//! Needs the plugin built: `cargo build -p stogger-postgres`.

mod postgres_support;

use postgres_support::*;
use stogger_core::plugin::ABI_VERSION;
use stogger_tests::pg::Cluster;

/// The events of the `seed` scenario, sorted (`scope-end` is debug: verbose only).
fn seed_events(verbose: bool) -> Vec<String> {
    let mut events = vec![
        "order-received",
        "order-shipped",
        "payment-failed",
        "payment-started",
        "user-login",
        "user-login",
    ];
    if verbose {
        events.push("scope-end");
    }
    let mut events: Vec<String> = events.into_iter().map(String::from).collect();
    events.sort();
    events
}

/// Checks the columns and the JSON types of the `seed` scenario's rows.
fn assert_seed_rows(pg: &Cluster, verbose: bool) {
    let mut events = lines(&sql(pg, "SELECT event FROM stogger_logs"));
    events.sort();
    assert_eq!(
        events,
        seed_events(verbose),
        "the table holds exactly the events the service logged"
    );

    // A login: no function, no scope; numbers stay numbers, _replace_msg kept.
    let login = sql(
        pg,
        "SELECT level, func IS NULL, scope IS NULL, jsonb_typeof(data->'user_id'), \
                data->>'username', data->>'_replace_msg', jsonb_typeof(data->'pid'), \
                jsonb_typeof(data->'code_lineno'), \
                data->>'code_file' LIKE '%main.rs' \
         FROM stogger_logs WHERE event = 'user-login' AND data @> '{\"user_id\": 123}'",
    );
    assert_eq!(
        login,
        "info|t|t|number|alice|User {username} logged in|number|number|t"
    );

    // The failed payment: an error chain, span fields, func and scope columns.
    let failed = sql(
        pg,
        "SELECT level, func LIKE '%::process_payment', scope, data->>'error', \
                jsonb_typeof(data->'amount'), data->>'amount', data->'order_id' \
         FROM stogger_logs WHERE event = 'payment-failed'",
    );
    assert_eq!(
        failed,
        "error|t|order-processing|payment declined: gateway reset|number|99.99|12345"
    );

    let shipped = sql(
        pg,
        "SELECT level, jsonb_typeof(data->'delayed'), data->>'carrier' \
         FROM stogger_logs WHERE event = 'order-shipped'",
    );
    assert_eq!(shipped, "warning|boolean|ups");

    // Event time with microseconds, as timestamptz.
    let time = sql(
        pg,
        "SELECT pg_typeof(timestamp)::text, \
                bool_and(timestamp BETWEEN now() - interval '1 hour' AND now()), \
                bool_or(date_trunc('milliseconds', timestamp) <> timestamp) \
         FROM stogger_logs GROUP BY 1",
    );
    assert_eq!(time, "timestamp with time zone|t|t");
}

#[test]
fn static_feature_service_writes_rows_and_driver_logs_never_loop_back() {
    let pg = cluster("static");
    let dir = tempfile::tempdir().unwrap();
    let exe = static_service();
    let dsn = pg.socket_dsn("stogger", "stogger");
    // verbose + the `log` bridge (on by default): tokio-postgres's own debug
    // records must not come back as rows.
    let out = run(
        &exe,
        &["seed"],
        dir.path(),
        &[
            ("STOGGER_ENABLE_POSTGRES", "true"),
            ("STOGGER_POSTGRES_DSN", &dsn),
            ("STOGGER_VERBOSE", "true"),
        ],
    );
    out.assert_success();
    assert!(
        out.plugin_status().contains("linked in"),
        "static service: {out:#?}"
    );
    assert_seed_rows(&pg, true);
}

#[test]
fn dynamic_service_loads_the_plugin_from_stogger_plugin_dir() {
    let pg = cluster("dynamic");
    let sb = Sandbox::new();
    let dsn = pg.socket_dsn("stogger", "stogger");
    let out = sb.run_pg(&["seed"], &dsn, &[]);
    out.assert_success();
    let expected = format!(
        "loaded from {} (ABI {ABI_VERSION})",
        sb.plugins.join("libstogger_postgres.so").display()
    );
    assert_eq!(out.plugin_status(), expected, "{out:#?}");
    assert_seed_rows(&pg, false);
}

fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn absent_plugin_is_one_info_line_and_console_and_file_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dynamic_service(dir.path());
    // `reinit` calls init_logging twice: still one message per process.
    let out = run(
        &exe,
        &["reinit"],
        dir.path(),
        &[
            ("STOGGER_ENABLE_POSTGRES", "true"),
            (
                "STOGGER_POSTGRES_DSN",
                "postgresql://stogger:@/logs?host=/nonexistent",
            ),
        ],
    );
    out.assert_success();
    assert_eq!(
        occurrences(&out.stderr, "stogger-postgres-not-available"),
        1,
        "{}",
        out.stderr
    );
    let exe_dir_candidate = exe.with_file_name("libstogger_postgres.so");
    assert!(
        out.stderr
            .contains(&exe_dir_candidate.display().to_string()),
        "the message names the places searched: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("STOGGER_PLUGIN_DIR"),
        "the message says how to fix it: {}",
        out.stderr
    );
    assert!(out.plugin_status().starts_with("not found; searched: "));
    for event in ["first-config", "second-config"] {
        assert!(out.stderr.contains(event), "console: {}", out.stderr);
    }
    let file = log_file(dir.path());
    assert!(file.contains("second-config"), "file: {file}");
    assert!(
        file.contains("stogger-postgres-not-available"),
        "file: {file}"
    );
}

#[test]
fn wrong_abi_plugin_is_a_warning_naming_both_versions_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dynamic_service(dir.path());
    let plugins = wrong_abi_plugin(dir.path());
    let out = run(
        &exe,
        &["seed"],
        dir.path(),
        &[
            ("STOGGER_ENABLE_POSTGRES", "true"),
            (
                "STOGGER_POSTGRES_DSN",
                "postgresql://stogger:@/logs?host=/nonexistent",
            ),
            ("STOGGER_PLUGIN_DIR", plugins.to_str().unwrap()),
        ],
    );
    out.assert_success();
    let file = plugins.join("libstogger_postgres.so");
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("stogger-postgres-abi-mismatch"))
        .unwrap_or_else(|| panic!("no ABI warning: {}", out.stderr));
    assert!(warning.contains(&file.display().to_string()), "{warning}");
    assert!(
        warning.contains("version 999")
            && warning.contains(&format!("needs version {ABI_VERSION}")),
        "{warning}"
    );
    assert!(
        warning.contains("to fix:") && warning.contains("same stogger release"),
        "the warning says what to do: {warning}"
    );
    assert_eq!(occurrences(&out.stderr, "stogger-postgres-abi-mismatch"), 1);
    assert!(!out.stderr.contains("stogger-postgres-not-available"));
    assert!(out.stderr.contains("user-login"), "console still works");
    assert!(log_file(dir.path()).contains("user-login"), "the file too");
}

#[test]
fn missing_dsn_is_one_warning_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dynamic_service(dir.path());
    let plugins = plugin_dir(dir.path());
    let out = run(
        &exe,
        &["seed"],
        dir.path(),
        &[
            ("STOGGER_ENABLE_POSTGRES", "true"),
            ("STOGGER_PLUGIN_DIR", plugins.to_str().unwrap()),
        ],
    );
    out.assert_success();
    assert_eq!(
        occurrences(&out.stderr, "postgres-dsn-missing"),
        1,
        "{}",
        out.stderr
    );
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("postgres-dsn-missing"))
        .unwrap();
    assert!(warning.contains("postgres_dsn"), "{warning}");
    assert!(out.stderr.contains("payment-failed"), "console still works");
    assert!(log_file(dir.path()).contains("payment-failed"), "file too");
}
