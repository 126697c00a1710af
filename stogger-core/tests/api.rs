//! The public API as a service uses it, observed through the capture API:
//! scopes, instrumented functions, span context, critical, error chains.

use stogger_core::testing::capture;
use stogger_core::{log_scope, Level, Value};

#[test]
fn capture_sees_typed_fields_in_order() {
    let cap = capture();
    tracing::info!(
        user_id = 123,
        username = "alice",
        ratio = 0.5,
        ok = true,
        "user-login"
    );
    assert!(cap.has(
        "user-login",
        &[("user_id", 123.into()), ("username", "alice".into())]
    ));
    assert!(!cap.has("user-login", &[("user_id", 124.into())]));
    assert_eq!(cap.count("user-login"), 1);
    let events = cap.events();
    let keys: Vec<&str> = events[0].fields().iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, ["user_id", "username", "ratio", "ok"]);
    assert_eq!(events[0].fields()[2].1, Value::F64(0.5));
    assert_eq!(events[0].level(), Level::Info);
    assert!(events[0].code_location().line.is_some() && events[0].pid() == std::process::id());
}

#[test]
fn capture_is_per_thread() {
    let cap = capture();
    std::thread::spawn(|| tracing::info!("other-thread"))
        .join()
        .unwrap();
    tracing::info!("this-thread");
    assert_eq!(cap.count("other-thread"), 0);
    assert_eq!(cap.count("this-thread"), 1);
}

#[test]
fn scope_fields_reach_events_and_scope_end() {
    let cap = capture();
    {
        let mut scope = log_scope("order-processing");
        scope.add("order_id", 12345);
        tracing::info!(amount = 99.99, "order-charged");
    }
    tracing::info!("after-scope");
    assert!(cap.has(
        "order-charged",
        &[
            ("scope", "order-processing".into()),
            ("order_id", 12345.into())
        ]
    ));
    let end = cap
        .events()
        .into_iter()
        .find(|e| e.name() == "scope-end")
        .expect("scope-end logged");
    assert_eq!(end.level(), Level::Debug);
    assert_eq!(end.scope(), Some("order-processing"));
    assert!(matches!(end.get("duration_ms"), Some(Value::F64(ms)) if *ms >= 0.0));
    assert_eq!(end.get("order_id"), Some(&Value::I64(12345)));
    let after = cap
        .events()
        .into_iter()
        .find(|e| e.name() == "after-scope")
        .unwrap();
    assert_eq!(
        after.scope(),
        None,
        "events after the scope do not carry it"
    );
}

#[derive(Debug)]
struct Outer(std::io::Error);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment failed")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn scope_failed_on_error_carries_the_chain() {
    let cap = capture();
    let scope = log_scope("checkout");
    let result: Result<(), Outer> = Err(Outer(std::io::Error::other("card declined")));
    assert!(scope.finish(result).is_err());
    let failed = cap
        .events()
        .into_iter()
        .find(|e| e.name() == "scope-failed")
        .expect("scope-failed");
    assert_eq!(failed.level(), Level::Warning);
    // Python stogger's fields and message, plus the causes.
    assert_eq!(failed.get("exc_type"), Some(&Value::from("Outer")));
    assert_eq!(failed.get("exc_msg"), Some(&Value::from("payment failed")));
    assert_eq!(
        failed.get("exc_causes").map(Value::to_json),
        Some(serde_json::json!(["card declined"]))
    );
    assert_eq!(
        failed.template(),
        Some("Scope '{scope}' failed: {exc_type}: {exc_msg}")
    );
    assert_eq!(cap.count("scope-end"), 0);
}

#[test]
fn scope_failed_on_panic() {
    let cap = capture();
    let result = std::panic::catch_unwind(|| {
        let _scope = log_scope("doomed");
        panic!("boom");
    });
    assert!(result.is_err());
    assert!(cap.has(
        "scope-failed",
        &[("scope", "doomed".into()), ("exc_type", "panic".into())]
    ));
}

#[test]
fn scope_run_sees_err_ok_and_panics() {
    let cap = capture();
    let parsed: Result<u32, std::num::ParseIntError> =
        log_scope("parse").with("input", "12x").run(|| {
            tracing::info!("parsing");
            "12x".parse()
        });
    assert!(parsed.is_err());
    assert!(cap.has(
        "parsing",
        &[("scope", "parse".into()), ("input", "12x".into())]
    ));
    assert!(cap.has(
        "scope-failed",
        &[
            ("input", "12x".into()),
            ("exc_type", "ParseIntError".into()),
            ("exc_msg", "invalid digit found in string".into())
        ]
    ));
    let ok: Result<u32, String> = log_scope("ok").run(|| Ok(1));
    assert_eq!(ok, Ok(1));
    assert!(cap.has("scope-end", &[("scope", "ok".into())]));
    let panicked = std::panic::catch_unwind(|| {
        log_scope("kaboom").run(|| -> Result<(), String> { panic!("kaboom {}", 1) })
    });
    assert!(panicked.is_err(), "the panic goes on");
    assert!(cap.has(
        "scope-failed",
        &[
            ("scope", "kaboom".into()),
            ("exc_type", "panic".into()),
            ("exc_msg", "kaboom 1".into())
        ]
    ));
}

#[tracing::instrument]
fn process_payment(order_id: u64) {
    tracing::info!("charging");
}

#[test]
fn instrumented_function_sets_func_and_span_fields() {
    let cap = capture();
    process_payment(7);
    let ev = cap
        .events()
        .into_iter()
        .find(|e| e.name() == "charging")
        .unwrap();
    assert_eq!(ev.func(), Some("api::process_payment"));
    assert_eq!(ev.get("order_id"), Some(&Value::U64(7)));
}

#[test]
fn critical_macro_marks_level() {
    let cap = capture();
    stogger_core::critical!(disk = "/var", "disk-full");
    let ev = cap
        .events()
        .into_iter()
        .find(|e| e.name() == "disk-full")
        .unwrap();
    assert_eq!(ev.level(), Level::Critical);
    assert!(ev.visible_fields().iter().all(|(k, _)| *k != "_critical"));
}

#[test]
fn error_values_keep_their_source_chain() {
    let cap = capture();
    let err = Outer(std::io::Error::other("disk on fire"));
    tracing::error!(
        error = &err as &(dyn std::error::Error + 'static),
        "write-failed"
    );
    assert!(cap.has(
        "write-failed",
        &[(
            "error",
            Value::Error(vec!["payment failed".into(), "disk on fire".into()])
        )]
    ));
}

#[test]
fn debug_events_are_captured_even_below_the_configured_level() {
    let cap = capture();
    tracing::debug!(step = 1, "detail");
    assert_eq!(cap.count("detail"), 1);
}

/// Each thread reuses the buffers of its previous event; nothing of one
/// event may show in the next.
#[test]
fn consecutive_events_share_nothing() {
    let cap = capture();
    tracing::info!(
        note = "a rather long first value",
        detail = ?vec![1, 2, 3],
        "first-event"
    );
    tracing::info!(count = 2);
    tracing::info!(note = "x", "third");
    let events = cap.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].name(), "first-event");
    assert_eq!(
        events[0].fields()[0].1,
        Value::Str("a rather long first value".into())
    );
    assert_eq!(events[0].fields()[1].1, Value::Debug("[1, 2, 3]".into()));
    assert_eq!(
        events[1].name(),
        "",
        "an event without a message has no name"
    );
    assert_eq!(events[1].fields(), vec![("count".into(), Value::I64(2))]);
    assert_eq!(events[2].name(), "third");
    assert_eq!(
        events[2].fields(),
        vec![("note".into(), Value::Str("x".into()))]
    );
}

/// A value whose `Debug` logs an event of its own while the outer event is
/// being collected: both events arrive whole.
#[test]
fn an_event_logged_while_collecting_another_arrives_whole() {
    struct Chatty;
    impl std::fmt::Debug for Chatty {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            tracing::info!(inner_field = "from debug", "inner-event");
            f.write_str("chatty")
        }
    }
    let cap = capture();
    tracing::info!(before = "b", value = ?Chatty, after = 3, "outer-event");
    assert!(cap.has("inner-event", &[("inner_field", "from debug".into())]));
    let events = cap.events();
    let outer = events.iter().find(|e| e.name() == "outer-event").unwrap();
    assert_eq!(
        outer.fields(),
        vec![
            ("before".into(), Value::Str("b".into())),
            ("value".into(), Value::Debug("chatty".into())),
            ("after".into(), Value::I64(3)),
        ]
    );
}

#[test]
fn events_built_at_run_time_keep_what_they_are_given() {
    use stogger_core::{CodeLocation, Event};
    let mut code = CodeLocation::default();
    code.file = Some("src/orders.rs".into());
    code.line = Some(42);
    let at = time::macros::datetime!(2026-06-01 17:19:01.123456 UTC);
    let e = Event::new(Level::Warning, "order-held")
        .with_span_field("request_id", "outer")
        .with_span_field("tenant", "acme")
        .with("request_id", "own")
        .with_timestamp(at)
        .with_scope("checkout")
        .with_func("shop::orders::hold")
        .with_pid(4242)
        .with_code_location(code)
        .with_target("shop::orders");
    assert_eq!(e.span_fields().len(), 2);
    assert_eq!(e.get("request_id"), Some(&Value::from("own")));
    assert_eq!(e.get("tenant"), Some(&Value::from("acme")));
    assert_eq!(
        e.visible_fields(),
        [
            ("request_id", &Value::from("own")),
            ("tenant", &Value::from("acme"))
        ]
    );
    assert_eq!(e.timestamp(), at);
    assert_eq!(
        (e.scope(), e.func(), e.pid(), e.target()),
        (
            Some("checkout"),
            Some("shop::orders::hold"),
            4242,
            "shop::orders"
        )
    );
    assert_eq!(e.code_location().line, Some(42));
    let json = e.json_line();
    assert!(
        json.contains(r#""scope":"checkout","func":"shop::orders::hold","request_id":"own","tenant":"acme","pid":4242,"code_file":"src/orders.rs","code_lineno":42}"#),
        "{json}"
    );
}
