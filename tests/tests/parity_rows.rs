//! The call macros, exceptions and scopes of a real service (a port of a
//! Python stogger service) as PostgreSQL rows and JSON log lines.
//!
//! Needs the plugin built: `cargo build -p stogger-postgres`.

mod postgres_support;

use postgres_support::*;
use std::path::PathBuf;

/// The parity service copied into the sandbox (no plugin beside it).
fn parity_service(sb: &Sandbox) -> PathBuf {
    let copy = sb.dir.path().join("bin").join("stogger-parity-service");
    std::fs::copy(env!("CARGO_BIN_EXE_stogger-parity-service"), &copy).expect("copy the service");
    copy
}

#[test]
fn decorated_functions_become_rows_and_json_lines() {
    let pg = cluster("parity");
    let sb = Sandbox::new();
    let exe = parity_service(&sb);
    let dsn = pg.socket_dsn("stogger", "stogger");
    let plugins = sb.plugins.to_string_lossy().into_owned();
    let out = run(
        &exe,
        &["calls"],
        sb.dir.path(),
        &[
            ("STOGGER_ENABLE_POSTGRES", "true"),
            ("STOGGER_POSTGRES_DSN", &dsn),
            ("STOGGER_PLUGIN_DIR", &plugins),
            ("STOGGER_LOG_FORMAT", "json"),
            ("STOGGER_VERBOSE", "true"),
        ],
    );
    out.assert_success();
    assert!(!out.stderr.contains("stogger: postgres"), "{}", out.stderr);

    // `failed` rows with the error's type in data, by the function column.
    let failed = lines(&sql(
        &pg,
        "SELECT level, func, data->>'exc_type', data->>'exc_msg', data->'exc_causes', \
                data->>'order_id', data ? 'card', jsonb_typeof(data->'duration_ms') \
         FROM stogger_logs WHERE event = 'failed' ORDER BY id",
    ));
    assert_eq!(
        failed,
        [
            "warning|stogger_parity_service::charge|PaymentError|payment declined|[\"gateway reset\"]|2|f|number",
            "error|stogger_parity_service::checksum|panic|no items|||f|number",
        ],
        "{}",
        out.stderr
    );
    let ops = lines(&sql(
        &pg,
        "SELECT level, data->>'order_id', data->'amount', data->'result' \
         FROM stogger_logs WHERE event = 'operation'",
    ));
    assert_eq!(ops, ["debug|1|20.0|20.0"]);
    let returned = lines(&sql(
        &pg,
        "SELECT func, data->'result' FROM stogger_logs WHERE event = 'returned' ORDER BY id",
    ));
    assert_eq!(
        returned,
        [
            "stogger_parity_service::checksum|6",
            "stogger_parity_service::Warehouse::ship|\"label-77\"",
        ]
    );
    let called = lines(&sql(
        &pg,
        "SELECT func, data - 'pid' - 'code_file' - 'code_lineno' - 'code_module' \
         FROM stogger_logs WHERE event = 'called'",
    ));
    assert_eq!(
        called,
        ["stogger_parity_service::Warehouse::reserve|{\"count\": 3}"]
    );
    let scopes = lines(&sql(
        &pg,
        "SELECT event, scope, data->>'exc_type', data->>'_replace_msg' \
         FROM stogger_logs WHERE event LIKE 'scope-%' ORDER BY id",
    ));
    assert_eq!(
        scopes,
        [
            "scope-end|order-processing||",
            "scope-failed|order-processing|PaymentError|Scope '{scope}' failed: {exc_type}: {exc_msg}",
        ]
    );
    let exception = lines(&sql(
        &pg,
        "SELECT data->>'exception_class', data->>'exception_msg', \
                replace(data->>'exception_traceback', E'\\n', ' / ') \
         FROM stogger_logs WHERE event = 'payment-exception'",
    ));
    assert_eq!(
        exception,
        ["stogger_parity_service::PaymentError|payment declined|\
          stogger_parity_service::PaymentError: payment declined / caused by: card expired"]
    );

    // The same events in the JSON log file.
    let json: Vec<serde_json::Value> = log_file(sb.dir.path())
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let failed: Vec<&serde_json::Value> = json.iter().filter(|l| l["event"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{json:#?}");
    assert_eq!(failed[0]["func"], "stogger_parity_service::charge");
    assert_eq!(failed[0]["exc_type"], "PaymentError");
    assert_eq!(
        failed[0]["exc_causes"],
        serde_json::json!(["gateway reset"])
    );
    assert_eq!(failed[0]["amount"], 250.0);
    assert!(failed[0].get("card").is_none(), "excluded");
    assert_eq!(failed[1]["exc_msg"], "no items");
    let scope_failed = json
        .iter()
        .find(|l| l["event"] == "scope-failed")
        .expect("scope-failed line");
    assert_eq!(
        scope_failed["message"],
        "Scope 'order-processing' failed: PaymentError: payment declined"
    );
    assert!(
        json.iter().any(|l| l["event"] == "panic"),
        "the panic hook logged it too"
    );
}
