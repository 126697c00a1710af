//! `stogger_core::exception(&e)` and `stack_info = true`, through a real
//! pipeline into a real log file (one test: logging is process-global).

mod fixtures;

use fixtures::PaymentError;
use stogger_core::testing::capture;
use stogger_core::{Stogger, Value};

#[inline(never)]
fn checkout_fails() {
    let err = PaymentError::caused_by("gateway reset");
    tracing::error!(
        order_id = 7,
        exception = stogger_core::exception(&err),
        "checkout-failed"
    );
}

#[inline(never)]
fn slow_path() {
    tracing::warn!(stack_info = true, "slow-path");
}

#[test]
fn exceptions_and_stacks_reach_the_file_as_blocks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let guard = Stogger::builder()
        .logdir(dir.path())
        .syslog_identifier("errors-test")
        .log_to_console(false)
        .set("systemd", "off")
        .set("capture_backtrace", true)
        .init()
        .expect("init");
    let cap = capture();
    checkout_fails();
    slow_path();
    drop(guard);

    let events = cap.events();
    let failed = events
        .iter()
        .find(|e| e.name() == "checkout-failed")
        .expect("checkout-failed");
    let class = std::any::type_name::<PaymentError>();
    assert_eq!(failed.get("exception_class"), Some(&Value::from(class)));
    assert_eq!(
        failed.get("exception_msg"),
        Some(&Value::from("payment declined"))
    );
    assert_eq!(
        failed.get("exception_causes").map(Value::to_json),
        Some(serde_json::json!(["gateway reset"]))
    );
    assert!(failed.get("exception").is_none(), "the field expands");
    let Some(Value::Str(traceback)) = failed.get("exception_traceback") else {
        panic!("no traceback in {failed:?}");
    };
    let mut lines = traceback.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{class}: payment declined").as_str())
    );
    assert_eq!(lines.next(), Some("caused by: gateway reset"));
    assert_eq!(lines.next(), Some("stack backtrace:"));
    // The backtrace starts at the caller, not in stogger or tracing.
    let first_frame = lines.next().unwrap_or_default();
    assert!(
        first_frame.contains("errors::checkout_fails"),
        "{traceback}"
    );

    let slow = events
        .iter()
        .find(|e| e.name() == "slow-path")
        .expect("slow-path");
    assert!(slow.get("stack_info").is_none(), "stack_info is consumed");
    let Some(Value::Str(stack)) = slow.get("stack") else {
        panic!("no stack in {slow:?}");
    };
    assert!(
        stack
            .lines()
            .nth(1)
            .unwrap_or_default()
            .contains("errors::slow_path"),
        "{stack}"
    );

    let file = std::fs::read_to_string(dir.path().join("errors-test.log")).expect("log file");
    let at = file.find(" E checkout-failed").expect("checkout line");
    let block: Vec<&str> = file[at..].lines().skip(1).take(3).collect();
    assert_eq!(
        block,
        [
            format!("exception: {class}: payment declined").as_str(),
            "exception: caused by: gateway reset",
            "exception: stack backtrace:"
        ],
        "{file}"
    );
    let at = file.find(" W slow-path").expect("slow-path line");
    let next = file[at..].lines().nth(1).unwrap_or_default();
    assert_eq!(next, "stack: stack backtrace:", "{file}");
}
