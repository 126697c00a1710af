//! `stogger emit`: one event through every configured target, typed values
//! landing in PostgreSQL's `data` with their JSON types, and a non-zero exit
//! when an enabled target does not take the event.

mod cli_support;

use cli_support::Setup;

#[test]
fn typed_values_land_in_data_with_json_types_and_in_the_file() {
    let s = Setup::new("cli-emit");
    let out = s.run(&[
        "emit",
        "order-paid",
        "order_id=12346",
        "amount=99.99",
        "paid=true",
        "customer=alice",
        "zip=007",
        "tags=[\"new\",\"vip\"]",
        "card={\"brand\":\"visa\",\"last4\":\"4242\"}",
        "code=\"123\"",
        "--level",
        "warning",
        "--message",
        "Order {order_id} paid by {customer}",
    ]);
    assert_eq!(
        out.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    // The console line is on stderr.
    assert!(out.stderr.contains("order-paid"), "{}", out.stderr);
    assert!(
        out.stderr.contains("Order 12346 paid by alice"),
        "{}",
        out.stderr
    );

    let types = s.sql(
        "SELECT level, jsonb_typeof(data->'order_id'), jsonb_typeof(data->'amount'), \
         jsonb_typeof(data->'paid'), jsonb_typeof(data->'customer'), jsonb_typeof(data->'zip'), \
         jsonb_typeof(data->'tags'), jsonb_typeof(data->'card'), jsonb_typeof(data->'code'), \
         data->>'_replace_msg' FROM stogger_logs WHERE event = 'order-paid'",
    );
    assert_eq!(
        types,
        "warning|number|number|boolean|string|string|array|object|string|Order {order_id} paid by {customer}"
    );
    let values = s.sql(
        "SELECT data->>'order_id', data->>'amount', data->>'zip', data->'tags'->>1, \
         data->'card'->>'last4', data->>'code' FROM stogger_logs WHERE event = 'order-paid'",
    );
    assert_eq!(values, "12346|99.99|007|vip|4242|123");

    let file = std::fs::read_to_string(s.dir.path().join("logs/clitest.log")).unwrap();
    assert!(file.contains("order-paid"), "{file}");
    assert!(file.contains("Order 12346 paid by alice"), "{file}");
}

#[test]
fn a_database_that_is_down_makes_emit_fail() {
    let mut s = Setup::new("cli-emit-down");
    s.set("STOGGER_POSTGRES_CONNECT_TIMEOUT_MS", "1000");
    s.set("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "1000");
    let ok = s.run(&["emit", "before-outage", "n=1"]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    s.pg.stop_server().unwrap();
    let out = s.run(&["emit", "during-outage", "n=2"]);
    assert_eq!(out.code, Some(1), "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains("did not reach every enabled target"),
        "{}",
        out.stderr
    );
    // The other targets still got it.
    let file = std::fs::read_to_string(s.dir.path().join("logs/clitest.log")).unwrap();
    assert!(file.contains("during-outage"), "{file}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let s = Setup::new("cli-emit-usage");
    let out = s.run(&["emit", "x", "--level", "loud"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("loud"), "{}", out.stderr);
    let out = s.run(&["emit", "x", "not-a-pair"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("KEY=VALUE"), "{}", out.stderr);
    // Nothing was written for either.
    assert_eq!(
        s.pg.psql(
            "stogger",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'stogger_logs'"
        )
        .unwrap(),
        "0"
    );
}
