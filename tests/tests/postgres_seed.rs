//! The seed document's five SQL queries ("Querying with SQL"), verbatim,
//! against the rows a real service wrote, plus which of them the GIN index
//! serves. The service connects over TCP with `%PASSWORD%` in the DSN.
//!
//! Needs the plugin built: `cargo build -p stogger-postgres`.

mod postgres_support;

use postgres_support::*;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn the_seeds_five_queries_return_the_logged_events() {
    let pg = cluster("seed");
    let sb = Sandbox::new();
    let dsn = pg.tcp_dsn("stogger", "%PASSWORD%", "stogger");
    let out = sb.run_pg(&["seed"], &dsn, &[("STOGGER_POSTGRES_PASSWORD", "secret")]);
    out.assert_success();
    assert!(!out.stderr.contains("stogger: postgres"), "{}", out.stderr);

    // Recent errors
    let errors = lines(&sql(
        &pg,
        "SELECT timestamp, event, data
         FROM stogger_logs
         WHERE level = 'error'
         ORDER BY timestamp DESC
         LIMIT 50;",
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("|payment-failed|"), "{errors:?}");
    assert!(
        errors[0].contains(r#""error": "payment declined: gateway reset""#),
        "{errors:?}"
    );

    // Events from a specific function: `func` is `<module path>::<function>`,
    // so the seed's bare name matches nothing; the full path or a suffix does.
    let by_bare_name = sql(
        &pg,
        "SELECT timestamp, event, data
         FROM stogger_logs
         WHERE func = 'process_payment';",
    );
    assert_eq!(by_bare_name, "");
    for query in [
        "SELECT event FROM stogger_logs WHERE func = 'stogger_pg_service::process_payment'",
        "SELECT event FROM stogger_logs WHERE func LIKE '%::process_payment'",
    ] {
        assert_eq!(
            sorted(lines(&sql(&pg, query))),
            ["payment-failed", "payment-started"],
            "{query}"
        );
    }

    // Structured field in JSONB
    let by_user = lines(&sql(
        &pg,
        "SELECT timestamp, event, data->>'user_id' AS user_id
         FROM stogger_logs
         WHERE data->>'user_id' = '123';",
    ));
    let by_user: Vec<String> = by_user
        .iter()
        .map(|l| l.split('|').skip(1).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(sorted(by_user), ["payment-failed|123", "user-login|123"]);
    // The containment form (served by the GIN index) finds the same rows,
    // because user_id is stored as a JSON number.
    assert_eq!(
        sorted(lines(&sql(
            &pg,
            "SELECT event FROM stogger_logs WHERE data @> '{\"user_id\": 123}'"
        ))),
        ["payment-failed", "user-login"]
    );

    // Event counts by type, last 24 hours
    let counts = lines(&sql(
        &pg,
        "SELECT event, count(*)
         FROM stogger_logs
         WHERE timestamp > now() - interval '24 hours'
         GROUP BY event
         ORDER BY count(*) DESC;",
    ));
    assert_eq!(counts[0], "user-login|2", "{counts:?}");
    assert_eq!(
        sorted(counts[1..].to_vec()),
        [
            "order-received|1",
            "order-shipped|1",
            "payment-failed|1",
            "payment-started|1"
        ]
    );

    // Logs within a scope
    let scoped = lines(&sql(
        &pg,
        "SELECT timestamp, level, event
         FROM stogger_logs
         WHERE scope = 'order-processing'
         ORDER BY timestamp DESC;",
    ));
    let scoped: Vec<String> = scoped
        .iter()
        .map(|l| l.split('|').skip(1).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(
        sorted(scoped),
        [
            "error|payment-failed",
            "info|order-received",
            "info|payment-started",
            "warning|order-shipped"
        ]
    );
}

#[test]
fn the_gin_index_serves_containment_but_not_text_extraction() {
    let pg = cluster("seed-index");
    let sb = Sandbox::new();
    let dsn = pg.socket_dsn("stogger", "stogger");
    let out = sb.run_pg(&["seed"], &dsn, &[]);
    out.assert_success();
    let plan = |predicate: &str| {
        sql(
            &pg,
            &format!(
                "SET enable_seqscan = off; \
                 EXPLAIN SELECT * FROM stogger_logs WHERE {predicate}"
            ),
        )
    };
    let containment = plan("data @> '{\"user_id\": 123}'");
    assert!(
        containment.contains("idx_stogger_logs_data"),
        "{containment}"
    );
    let extraction = plan("data->>'user_id' = '123'");
    assert!(
        !extraction.contains("idx_stogger_logs_data"),
        "{extraction}"
    );
}
