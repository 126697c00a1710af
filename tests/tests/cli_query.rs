//! `stogger query`: filters (level, event, scope, func, since, typed
//! `--field` through the GIN index), `--json`, `--limit`, `--follow`.

mod cli_support;

use cli_support::{stogger, Setup};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn emit(s: &Setup, args: &[&str]) {
    let mut all = vec!["emit"];
    all.extend_from_slice(args);
    let out = s.run(&all);
    assert_eq!(out.code, Some(0), "emit {args:?}: {}", out.stderr);
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn query(s: &Setup, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["query", "--json"];
    all.extend_from_slice(args);
    let out = s.run(&all);
    assert_eq!(out.code, Some(0), "query {args:?}: {}", out.stderr);
    json_lines(&out.stdout)
}

fn events(rows: &[serde_json::Value]) -> Vec<&str> {
    rows.iter().map(|r| r["event"].as_str().unwrap()).collect()
}

#[test]
fn filters_limit_and_json_lines() {
    let s = Setup::new("cli-query");
    emit(&s, &["user-login", "user_id=123", "username=alice"]);
    emit(&s, &["payment-started", "order_id=12345", "amount=99.99"]);
    emit(
        &s,
        &["payment-failed", "order_id=12346", "--level", "error"],
    );
    emit(
        &s,
        &[
            "order-on-hold",
            "order_id=12346",
            "reason=declined",
            "--level",
            "warning",
        ],
    );
    emit(&s, &["order-note", "order_id=\"12346\""]);
    s.sql(
        "INSERT INTO stogger_logs (\"timestamp\", level, event, func, scope, data) VALUES \
         (now() - interval '3 days', 'info', 'old-event', 'shop::orders::process_payment', \
          'order-processing', '{\"order_id\": 1}')",
    );

    // Newest last; the hand-made old row sorts first by time.
    let all = query(&s, &[]);
    assert_eq!(
        events(&all),
        [
            "old-event",
            "user-login",
            "payment-started",
            "payment-failed",
            "order-on-hold",
            "order-note"
        ]
    );
    let first = all[1].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).take(5).collect();
    assert_eq!(keys, ["timestamp", "level", "event", "func", "scope"]);
    assert_eq!(all[1]["user_id"], 123);
    assert_eq!(all[1]["username"], "alice");
    assert_eq!(all[2]["amount"], 99.99);
    assert!(all[1]["timestamp"].as_str().unwrap().ends_with('Z'));

    // --limit keeps the newest N, still printed oldest first.
    assert_eq!(
        events(&query(&s, &["--limit", "2"])),
        ["order-on-hold", "order-note"]
    );
    // --level is a minimum.
    assert_eq!(
        events(&query(&s, &["--level", "warning"])),
        ["payment-failed", "order-on-hold"]
    );
    // --field is typed: a number matches numbers only, "quoted" text only text.
    assert_eq!(
        events(&query(&s, &["--field", "order_id=12346"])),
        ["payment-failed", "order-on-hold"]
    );
    assert_eq!(
        events(&query(&s, &["--field", "order_id=\"12346\""])),
        ["order-note"]
    );
    assert_eq!(
        events(&query(
            &s,
            &["--field", "order_id=12346", "--field", "reason=declined"]
        )),
        ["order-on-hold"]
    );
    assert_eq!(
        events(&query(&s, &["--event", "user-login"])),
        ["user-login"]
    );
    assert_eq!(
        events(&query(&s, &["--scope", "order-processing"])),
        ["old-event"]
    );
    assert_eq!(
        events(&query(&s, &["--func", "process_payment"])),
        ["old-event"]
    );
    assert_eq!(
        events(&query(&s, &["--func", "shop::orders::process_payment"])),
        ["old-event"]
    );
    assert!(query(&s, &["--func", "payment"]).is_empty());
    // --since: a duration ago, or a timestamp.
    assert_eq!(query(&s, &["--since", "1h"]).len(), 5);
    assert_eq!(query(&s, &["--since", "2000-01-01T00:00:00Z"]).len(), 6);
    assert!(query(&s, &["--since", "2999-01-01"]).is_empty());

    // Text lines look like console lines (no colours into a pipe).
    let out = s.run(&["query", "--event", "user-login"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = out.stdout.lines().next().unwrap();
    assert!(line.contains(" I "), "{line}");
    assert!(line.contains("user-login"), "{line}");
    assert!(line.contains("user_id=123"), "{line}");
    assert!(line.contains("username='alice'"), "{line}");
    assert!(!line.contains('\u{1b}'), "{line:?}");
}

#[test]
fn the_gin_index_serves_the_field_filter() {
    let s = Setup::new("cli-query-gin");
    emit(&s, &["seed", "order_id=1"]);
    // The exact predicate `stogger query --field` sends, as a prepared
    // statement with a jsonb parameter: the planner must be able to use the
    // plugin's GIN index for it.
    let plan = s.sql(
        "SET enable_seqscan = off; \
         PREPARE q(jsonb) AS SELECT id FROM \"stogger_logs\" WHERE data @> $1::jsonb; \
         EXPLAIN EXECUTE q('{\"order_id\": 12346}')",
    );
    assert!(plan.contains("idx_stogger_logs_data"), "{plan}");
}

#[test]
fn follow_prints_new_rows_as_they_arrive() {
    let s = Setup::new("cli-query-follow");
    emit(&s, &["before-follow"]);
    let mut cmd = Command::new(stogger());
    cmd.args(["query", "--follow", "--json"])
        .current_dir(s.dir.path())
        .env("STOGGER_SYSTEMD", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in &s.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line for {what} from stogger query --follow"))
    };
    let first: serde_json::Value = serde_json::from_str(&next("the existing row")).unwrap();
    assert_eq!(first["event"], "before-follow");
    emit(&s, &["while-following", "n=2"]);
    let second: serde_json::Value = serde_json::from_str(&next("the new row")).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(second["event"], "while-following");
    assert_eq!(second["n"], 2);
}
