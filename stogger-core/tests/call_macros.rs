//! `#[log_call]`, `#[log_result]`, `#[log_operation]` and `#[log_scope]`
//! on plain, async and method functions, observed through the capture API.

mod fixtures;

use fixtures::PaymentError;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use stogger_core::testing::capture;
use stogger_core::{log_call, log_operation, log_result, Event, Level, Value};

/// Polls a future to completion on this thread (the capture is per thread).
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// A future that is pending once, so an async body really suspends.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[derive(Debug, Serialize)]
struct Order {
    id: u32,
    items: Vec<&'static str>,
}

/// Neither Debug nor Serialize: only loggable when left out.
struct Secret;

#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
struct OnlyDebug(u8);

#[log_call(exclude_args = [password])]
fn login(user: &str, password: Secret, attempt: u32) {
    let _ = (user, password, attempt);
}

#[log_call]
fn place(order: &Order, rush: bool, note: OnlyDebug, weight: f64) -> usize {
    let _ = (rush, note, weight);
    order.items.len()
}

fn only(events: &[Event], name: &str) -> Event {
    let found: Vec<&Event> = events.iter().filter(|e| e.name() == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` in {events:#?}");
    found[0].clone()
}

fn keys(e: &Event) -> Vec<&str> {
    e.fields().iter().map(|(k, _)| k.as_ref()).collect()
}

#[test]
fn log_call_logs_typed_arguments_before_the_body() {
    let cap = capture();
    login("alice", Secret, 3);
    let called = only(&cap.events(), "called");
    assert_eq!(called.level(), Level::Debug);
    assert_eq!(called.func(), Some(concat!(module_path!(), "::login")));
    assert_eq!(keys(&called), ["user", "attempt"], "password left out");
    assert_eq!(called.get("user"), Some(&Value::Str("alice".into())));
    assert_eq!(called.get("attempt"), Some(&Value::U64(3)));

    cap.clear();
    let order = Order {
        id: 7,
        items: vec!["tea", "cake"],
    };
    assert_eq!(place(&order, true, OnlyDebug(9), 1.5), 2);
    let called = only(&cap.events(), "called");
    assert_eq!(
        called.get("order").map(Value::to_json),
        Some(serde_json::json!({"id": 7, "items": ["tea", "cake"]}))
    );
    assert_eq!(called.get("rush"), Some(&Value::Bool(true)));
    assert_eq!(
        called.get("note"),
        Some(&Value::Debug("OnlyDebug(9)".into()))
    );
    assert_eq!(called.get("weight"), Some(&Value::F64(1.5)));
    assert_eq!(cap.count("returned"), 0, "log_call logs no result");
}

#[log_result]
fn charge(amount: u32) -> Result<u32, PaymentError> {
    if amount > 100 {
        return Err(PaymentError::caused_by("gateway reset"));
    }
    Ok(amount * 2)
}

#[log_result]
fn parse_boxed(s: &str) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    Ok(s.parse::<i64>()?)
}

#[log_result]
fn explode(n: u8) -> u8 {
    if n > 0 {
        panic!("boom {n}");
    }
    n
}

#[test]
fn log_result_logs_returned_or_failed_and_passes_the_outcome_on() {
    let cap = capture();
    assert_eq!(charge(21).ok(), Some(42));
    let returned = only(&cap.events(), "returned");
    assert_eq!(returned.level(), Level::Debug);
    assert_eq!(returned.get("result"), Some(&Value::U64(42)));
    assert!(matches!(returned.get("duration_ms"), Some(Value::F64(ms)) if *ms >= 0.0));
    assert!(
        returned.get("amount").is_none(),
        "log_result logs no arguments"
    );

    cap.clear();
    let err = charge(500).expect_err("declined");
    assert_eq!(
        err.to_string(),
        "payment declined",
        "the error goes on unchanged"
    );
    let failed = only(&cap.events(), "failed");
    assert_eq!(failed.level(), Level::Warning);
    assert_eq!(
        failed.get("exc_type"),
        Some(&Value::Str("PaymentError".into()))
    );
    assert_eq!(
        failed.get("exc_msg"),
        Some(&Value::Str("payment declined".into()))
    );
    assert_eq!(
        failed.get("exc_causes").map(Value::to_json),
        Some(serde_json::json!(["gateway reset"]))
    );
    assert!(matches!(failed.get("duration_ms"), Some(Value::F64(_))));
    assert_eq!(cap.count("returned"), 0);

    cap.clear();
    assert!(parse_boxed("x1").is_err());
    let failed = only(&cap.events(), "failed");
    assert_eq!(
        failed.get("exc_type"),
        Some(&Value::Str("Box<dyn Error + Send + Sync>".into()))
    );
    assert_eq!(
        failed.get("exc_msg"),
        Some(&Value::Str("invalid digit found in string".into()))
    );

    cap.clear();
    let panicked = std::panic::catch_unwind(|| explode(3));
    let payload = panicked.expect_err("the panic propagates");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("boom 3")
    );
    let failed = only(&cap.events(), "failed");
    assert_eq!(failed.level(), Level::Error);
    assert_eq!(failed.get("exc_type"), Some(&Value::Str("panic".into())));
    assert_eq!(failed.get("exc_msg"), Some(&Value::Str("boom 3".into())));
}

#[log_operation(include_args = [query])]
fn authenticate(query: String, password: Secret) -> bool {
    let _ = password;
    // The body consumes `query`: the event still has its value.
    query.len() > 3
}

#[test]
fn log_operation_logs_arguments_result_and_duration_in_one_event() {
    let cap = capture();
    assert!(authenticate("admin".to_string(), Secret));
    let op = only(&cap.events(), "operation");
    assert_eq!(op.level(), Level::Debug);
    assert_eq!(keys(&op), ["query", "result", "duration_ms"]);
    assert_eq!(op.get("query"), Some(&Value::Str("admin".into())));
    assert_eq!(op.get("result"), Some(&Value::Bool(true)));
    assert_eq!(op.func(), Some(concat!(module_path!(), "::authenticate")));
}

struct Inventory {
    stock: u32,
}

impl Inventory {
    #[log_operation(exclude_args = [reason])]
    fn take(&mut self, count: u32, reason: &str) -> Result<u32, String> {
        let _ = reason;
        if count > self.stock {
            return Err(format!("only {} left", self.stock));
        }
        self.stock -= count;
        Ok(self.stock)
    }

    #[log_result]
    async fn restock(&mut self, count: u32) -> Result<u32, std::num::TryFromIntError> {
        YieldOnce(false).await;
        self.stock += u32::try_from(u64::from(count))?;
        Ok(self.stock)
    }
}

#[test]
fn methods_leave_self_out_and_name_their_type() {
    let cap = capture();
    let mut inv = Inventory { stock: 5 };
    assert_eq!(inv.take(2, "sale"), Ok(3));
    let op = only(&cap.events(), "operation");
    assert_eq!(keys(&op), ["count", "result", "duration_ms"]);
    let func = op.func().unwrap_or_default();
    assert!(func.ends_with("Inventory::take"), "{func}");

    cap.clear();
    assert!(inv.take(9, "sale").is_err());
    let failed = only(&cap.events(), "failed");
    assert_eq!(failed.get("count"), Some(&Value::U64(9)));
    assert_eq!(failed.get("exc_type"), Some(&Value::Str("String".into())));
    assert_eq!(
        failed.get("exc_msg"),
        Some(&Value::Str("only 3 left".into()))
    );
    assert!(failed.get("exc_causes").is_none());

    cap.clear();
    assert_eq!(block_on(inv.restock(4)), Ok(7));
    let returned = only(&cap.events(), "returned");
    assert_eq!(returned.get("result"), Some(&Value::U64(7)));
    assert!(returned
        .func()
        .is_some_and(|f| f.ends_with("Inventory::restock")));
}

#[log_call(include_args = ["id"])]
async fn fetch(id: u64, token: Secret) -> Option<u64> {
    let _ = token;
    YieldOnce(false).await;
    Some(id)
}

#[log_operation]
async fn divide(a: i32, b: i32) -> Result<i32, String> {
    YieldOnce(false).await;
    if b == 0 {
        panic!("division by zero");
    }
    a.checked_div(b).ok_or_else(|| "overflow".to_string())
}

#[test]
fn async_functions_are_logged_when_they_complete() {
    let cap = capture();
    assert_eq!(block_on(fetch(7, Secret)), Some(7));
    let called = only(&cap.events(), "called");
    assert_eq!(keys(&called), ["id"]);

    cap.clear();
    assert_eq!(block_on(divide(9, 3)), Ok(3));
    let op = only(&cap.events(), "operation");
    assert_eq!(keys(&op), ["a", "b", "result", "duration_ms"]);
    assert_eq!(op.get("result"), Some(&Value::I64(3)));

    cap.clear();
    assert!(block_on(divide(i32::MIN, -1)).is_err());
    let failed = only(&cap.events(), "failed");
    assert_eq!(failed.get("a"), Some(&Value::I64(i64::from(i32::MIN))));
    assert_eq!(failed.get("exc_msg"), Some(&Value::Str("overflow".into())));

    cap.clear();
    let panicked = std::panic::catch_unwind(|| block_on(divide(1, 0)));
    assert!(panicked.is_err(), "the panic propagates out of the future");
    let failed = only(&cap.events(), "failed");
    assert_eq!(failed.level(), Level::Error);
    assert_eq!(
        failed.get("exc_msg"),
        Some(&Value::Str("division by zero".into()))
    );
}

#[stogger_core::log_scope("import", source = "orders.csv")]
fn import(rows: &[&str]) -> Result<usize, std::num::ParseIntError> {
    tracing::info!(rows = rows.len(), "import-started");
    let mut sum = 0;
    for r in rows {
        sum += r.parse::<usize>()?; // an early return the scope sees
    }
    Ok(sum)
}

#[stogger_core::log_scope("sync-job")]
async fn sync_job(fail: bool) -> Result<(), std::io::Error> {
    YieldOnce(false).await;
    tracing::info!("sync-step");
    if fail {
        return Err(std::io::Error::other("remote gone"));
    }
    Ok(())
}

#[test]
fn scope_attribute_sees_the_result() {
    let cap = capture();
    assert_eq!(import(&["1", "2"]), Ok(3));
    let events = cap.events();
    let started = only(&events, "import-started");
    assert_eq!(started.scope(), Some("import"));
    assert_eq!(
        started.get("source"),
        Some(&Value::Str("orders.csv".into()))
    );
    let end = only(&events, "scope-end");
    assert_eq!(end.get("source"), Some(&Value::Str("orders.csv".into())));

    cap.clear();
    assert!(import(&["1", "x"]).is_err());
    let events = cap.events();
    assert_eq!(cap.count("scope-end"), 0, "an early `?` is not a success");
    let failed = only(&events, "scope-failed");
    assert_eq!(failed.level(), Level::Warning);
    assert_eq!(
        failed.get("exc_type"),
        Some(&Value::Str("ParseIntError".into()))
    );
    assert_eq!(
        failed.get("exc_msg"),
        Some(&Value::Str("invalid digit found in string".into()))
    );
    assert_eq!(
        failed.template(),
        Some("Scope '{scope}' failed: {exc_type}: {exc_msg}")
    );

    cap.clear();
    assert!(block_on(sync_job(true)).is_err());
    let events = cap.events();
    assert_eq!(only(&events, "sync-step").scope(), Some("sync-job"));
    let failed = only(&events, "scope-failed");
    assert_eq!(
        failed.get("exc_msg"),
        Some(&Value::Str("remote gone".into()))
    );
    assert_eq!(failed.get("exc_type"), Some(&Value::Str("Error".into())));

    cap.clear();
    assert!(block_on(sync_job(false)).is_ok());
    assert_eq!(cap.count("scope-end"), 1);
    assert_eq!(cap.count("scope-failed"), 0);
}
