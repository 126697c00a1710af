//! Capturing structured events in tests.
//!
//! ```
//! use stogger_core::testing;
//! let cap = testing::capture();
//! tracing::info!(user_id = 123, username = "alice", "user-login");
//! assert!(cap.has("user-login", &[("user_id", 123.into())]));
//! assert_eq!(cap.count("user-login"), 1);
//! ```
//!
//! A capture sees the events logged on the thread that started it (tests run
//! in parallel threads; each sees only its own). [`capture_all`] sees every
//! thread. While any capture is active, debug events are recorded too,
//! whatever the configured level.

use crate::event::{Event, Value};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type Buffer = Arc<Mutex<Vec<Event>>>;

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static GLOBAL: Mutex<Vec<Buffer>> = Mutex::new(Vec::new());

/// Held while the count of captures changes and tracing's interest cache
/// is rebuilt for it: a capture started while another's rebuild is still
/// under way (tracing sets its max level only at the end of a rebuild)
/// must not log before that rebuild is done.
static TRANSITIONS: Mutex<()> = Mutex::new(());

thread_local! {
    static LOCAL: RefCell<Vec<Buffer>> = const { RefCell::new(Vec::new()) };
}

/// Whether any capture is running. The filters read it when they are
/// replaced (see `filter::state`), never per event.
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed) > 0
}

/// Hands an event to the captures that see it: those of this thread and
/// those of every thread. The dispatcher calls it only while the filters
/// say a capture runs ([`Outputs::CAPTURES`](crate::target::Outputs)).
pub(crate) fn observe(event: &Event) {
    let push = |buf: &Buffer| {
        if let Ok(mut events) = buf.lock() {
            events.push(event.clone());
        }
    };
    LOCAL.with(|l| l.borrow().iter().for_each(push));
    if let Ok(global) = GLOBAL.lock() {
        global.iter().for_each(push);
    }
}

/// Recorded events; capturing stops when this is dropped.
pub struct Capture {
    buffer: Buffer,
    global: bool,
}

/// Starts capturing events logged on the current thread.
pub fn capture() -> Capture {
    start(false)
}

/// Starts capturing events logged on any thread.
pub fn capture_all() -> Capture {
    start(true)
}

fn start(global: bool) -> Capture {
    let _ = crate::ensure_layer_installed();
    let buffer: Buffer = Arc::new(Mutex::new(Vec::new()));
    if global {
        if let Ok(mut g) = GLOBAL.lock() {
            g.push(buffer.clone());
        }
    } else {
        LOCAL.with(|l| l.borrow_mut().push(buffer.clone()));
    }
    {
        let _settled = TRANSITIONS.lock().unwrap_or_else(|p| p.into_inner());
        if ACTIVE.fetch_add(1, Ordering::Relaxed) == 0 {
            crate::filter::state::captures_changed();
        }
    }
    Capture { buffer, global }
}

impl Capture {
    /// Every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.buffer.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Whether an event named `event` was recorded whose fields (own fields or
    /// span context) include every one of `fields`. Numbers compare by value
    /// across types (`123` matches an `i64` or `u64` 123).
    pub fn has(&self, event: &str, fields: &[(&str, Value)]) -> bool {
        self.events()
            .iter()
            .any(|e| e.name == event && fields.iter().all(|(k, v)| field_matches(e, k, v)))
    }

    /// How many events named `event` were recorded.
    pub fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| e.name == event).count()
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        if let Ok(mut e) = self.buffer.lock() {
            e.clear();
        }
    }
}

fn field_matches(event: &Event, key: &str, want: &Value) -> bool {
    let got = match key {
        "scope" => event.scope.clone().map(Value::Str),
        "func" => event.func.clone().map(Value::Str),
        "level" => Some(Value::Str(event.level.as_str().to_string())),
        _ => event.get(key).cloned(),
    };
    match got {
        Some(got) => got == *want || got.to_json() == want.to_json(),
        None => false,
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.global {
            if let Ok(mut g) = GLOBAL.lock() {
                g.retain(|b| !Arc::ptr_eq(b, &self.buffer));
            }
        } else {
            LOCAL.with(|l| l.borrow_mut().retain(|b| !Arc::ptr_eq(b, &self.buffer)));
        }
        let _settled = TRANSITIONS.lock().unwrap_or_else(|p| p.into_inner());
        if ACTIVE.fetch_sub(1, Ordering::Relaxed) == 1 {
            crate::filter::state::captures_changed();
        }
    }
}
