//! Errors as Python's `log.exception()` logs them: the error's type,
//! message and causes, and a backtrace when asked for.
//!
//! ```
//! # fn load() -> Result<(), std::io::Error> { Err(std::io::Error::other("disk on fire")) }
//! if let Err(e) = load() {
//!     tracing::error!(exception = stogger_core::exception(&e), "config-load-failed");
//! }
//! ```
//!
//! The event gets `exception_class` (the error's type, `std::io::error::Error`),
//! `exception_msg` (its `Display`), `exception_causes` (the messages of its
//! `source()` chain, when it has one) and `exception_traceback`, shown as a
//! block after the line on console and file:
//!
//! ```text
//! 2026-06-01T17:19:01Z E config-load-failed             exception_class='std::io::error::Error' exception_msg='disk on fire'
//! exception: std::io::error::Error: disk on fire
//! ```
//!
//! With `capture_backtrace = true` in the configuration the traceback also
//! holds a backtrace captured where [`exception`] was called. Any event can
//! carry the stack of its log call, as Python's `stack_info=True` does:
//! `tracing::warn!(stack_info = true, "slow-path")` adds a `stack` section.

use crate::event::{FieldName, Value};
use std::backtrace::{Backtrace, BacktraceStatus};
use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether [`exception`] captures a backtrace (config `capture_backtrace`).
static CAPTURE: AtomicBool = AtomicBool::new(false);

/// Sets whether [`exception`] captures a backtrace (from the configuration).
pub(crate) fn set_capture_backtrace(on: bool) {
    CAPTURE.store(on, Ordering::Relaxed);
}

/// The Rust form of `log.exception()`: a field value that expands into
/// `exception_class`, `exception_msg`, `exception_causes` and
/// `exception_traceback` (the field's own name is not used).
///
/// `exception_class` is the type the function was called with
/// ([`std::any::type_name`]): for a `Box<dyn Error>` pass `&*boxed`, and the
/// class is `dyn core::error::Error`, as the concrete type is gone.
///
/// The value is a boxed error, the one kind of value that `tracing` lets
/// stogger recognise again in its layer. Other layers see an error whose
/// `Display` is the message and whose `source()` is the error's.
pub fn exception<E: Error + ?Sized>(error: &E) -> Box<dyn Error + Send + Sync> {
    let backtrace = CAPTURE
        .load(Ordering::Relaxed)
        .then(|| trimmed(&Backtrace::force_capture()));
    Box::new(Exception {
        failure: Failure::of(error),
        class: std::any::type_name::<E>(),
        backtrace,
    })
}

/// What [`exception`] returns, found again by the layer.
#[derive(Debug)]
struct Exception {
    failure: Failure,
    class: &'static str,
    backtrace: Option<String>,
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.failure.msg)
    }
}

impl Error for Exception {}

/// A typed [`Value`] travelling through `tracing` as an error (see
/// [`value_field`]); the layer takes the value out again as it is.
#[derive(Debug)]
struct ValueField(Value);

impl fmt::Display for ValueField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Value::Json(j) => write!(f, "{j}"),
            other => write!(f, "{other}"),
        }
    }
}

impl Error for ValueField {}

/// A typed value (a number, a string, a JSON array) as a `tracing` field
/// value: `tracing` has no way to carry stogger's [`Value`], but it does
/// carry errors, which the layer can recognise again. stogger stores the
/// value with its type; other layers see an error whose `Display` is the
/// value's text.
#[doc(hidden)]
pub(crate) fn value_field(value: Value) -> Box<dyn Error + Send + Sync> {
    Box::new(ValueField(value))
}

/// Turns the values [`exception`] and [`value_field`] made back into fields;
/// false for any other error (the caller records it as an error chain).
pub(crate) fn collect(
    name: &'static str,
    value: &(dyn Error + 'static),
    out: &mut Vec<(FieldName, Value)>,
) -> bool {
    if let Some(ValueField(v)) = value.downcast_ref::<ValueField>() {
        out.push((Cow::Borrowed(name), v.clone()));
        return true;
    }
    let Some(e) = value.downcast_ref::<Exception>() else {
        return false;
    };
    let f = &e.failure;
    out.push((
        Cow::Borrowed("exception_class"),
        Value::Str(e.class.to_string()),
    ));
    out.push((Cow::Borrowed("exception_msg"), Value::Str(f.msg.clone())));
    if !f.causes.is_empty() {
        out.push((Cow::Borrowed("exception_causes"), f.causes_json()));
    }
    let mut traceback = f.chain_text(e.class);
    if let Some(bt) = &e.backtrace {
        traceback.push('\n');
        traceback.push_str(bt);
    }
    out.push((Cow::Borrowed("exception_traceback"), Value::Str(traceback)));
    true
}

/// The stack of the current call, for an event logged with `stack_info = true`.
pub(crate) fn stack() -> String {
    trimmed(&Backtrace::force_capture())
}

/// The backtrace of a panic, when `RUST_BACKTRACE` (or
/// `RUST_LIB_BACKTRACE`) asks for one: the hook runs on the panicking
/// thread, so this is the panic's stack.
pub(crate) fn panic_backtrace() -> Option<String> {
    let bt = Backtrace::capture();
    (bt.status() == BacktraceStatus::Captured).then(|| trimmed(&bt))
}

/// Symbols of the frames a backtrace starts with that belong to the
/// capture itself: the standard library (its backtrace and panic code),
/// stogger, and the `tracing` machinery between the log call and
/// stogger's layer. Only leading frames are left out.
const OWN_FRAMES: &[&str] = &[
    "__rustc::",
    "std::",
    "<std::",
    "core::",
    "<core::",
    "alloc::",
    "<alloc::",
    "stogger_core::",
    "<stogger_core::",
    "tracing::",
    "<tracing::",
    "tracing_core::",
    "<tracing_core::",
    "tracing_subscriber::",
    "<tracing_subscriber::",
];

/// A backtrace as text, starting at the first frame of the caller (the
/// frames of the capture itself, see [`OWN_FRAMES`], are left out and the
/// rest renumbered), under the heading `stack backtrace:`.
fn trimmed(bt: &Backtrace) -> String {
    let text = bt.to_string();
    // A frame is a line `   N: symbol` and the `at file:line` lines after it.
    let mut frames: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        match t.split_once(": ") {
            Some((n, symbol)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                frames.push((symbol.to_string(), Vec::new()));
            }
            _ => {
                if let Some((_, at)) = frames.last_mut() {
                    at.push(t);
                }
            }
        }
    }
    let skip = frames
        .iter()
        .take_while(|(symbol, _)| OWN_FRAMES.iter().any(|p| symbol.starts_with(p)))
        .count();
    let mut out = String::from("stack backtrace:");
    for (i, (symbol, at)) in frames.iter().skip(skip).enumerate() {
        out.push_str(&format!("\n{i:>4}: {symbol}"));
        for line in at {
            out.push_str("\n             ");
            out.push_str(line);
        }
    }
    if frames.is_empty() {
        // Backtraces disabled or unsupported: say so rather than nothing.
        out.push(' ');
        out.push_str(text.trim());
    }
    out
}

/// What a failed call or scope reports: the error's type, its message and
/// the messages of its causes.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The short type name (`ParseIntError`), or `panic`.
    pub exc_type: String,
    /// `Display` of the error, or the panic message.
    pub msg: String,
    /// `Display` of each `source()`, outermost first.
    pub causes: Vec<String>,
}

impl Failure {
    /// The failure an error value describes.
    pub fn of<E: Error + ?Sized>(error: &E) -> Failure {
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(e) = source {
            causes.push(e.to_string());
            source = e.source();
        }
        Failure {
            exc_type: short_type_name(std::any::type_name::<E>()),
            msg: error.to_string(),
            causes,
        }
    }

    /// The failure a panic payload describes: type `panic`, its message.
    pub fn of_panic(payload: &(dyn std::any::Any + Send)) -> Failure {
        Failure {
            exc_type: "panic".to_string(),
            msg: panic_message(payload),
            causes: Vec::new(),
        }
    }

    /// The causes as a JSON array of strings.
    pub fn causes_json(&self) -> Value {
        Value::Json(Box::new(serde_json::Value::Array(
            self.causes
                .iter()
                .map(|c| serde_json::Value::String(c.clone()))
                .collect(),
        )))
    }

    /// The failure of an error reached through a reference to `dyn Error`
    /// (a `Box<dyn Error>`, an `anyhow::Error`): the type is the container's.
    pub fn of_dyn(type_name: &str, error: &(dyn Error + 'static)) -> Failure {
        let mut failure = Failure::of(error);
        failure.exc_type = short_type_name(type_name);
        failure
    }

    /// A failure known only by its message (an error type that is not a
    /// `std::error::Error`).
    pub fn of_message(type_name: &str, msg: String) -> Failure {
        Failure {
            exc_type: short_type_name(type_name),
            msg,
            causes: Vec::new(),
        }
    }

    /// `exc_causes` as a `tracing` field value; `None` (no field) when the
    /// error has no causes.
    pub fn causes_field(&self) -> Option<Box<dyn Error + Send + Sync>> {
        (!self.causes.is_empty()).then(|| value_field(self.causes_json()))
    }

    /// `class: message` and one `caused by: ...` line per cause.
    fn chain_text(&self, class: &str) -> String {
        let mut text = format!("{class}: {}", self.msg);
        for cause in &self.causes {
            text.push_str("\ncaused by: ");
            text.push_str(cause);
        }
        text
    }
}

/// The message of a panic payload (`panic!("...")` gives a `&str` or a
/// `String`); `Box<dyn Any>` for anything else, as the standard library says.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// A type name without module paths, the way Python's `type(e).__name__`
/// names a class: `core::num::error::ParseIntError` is `ParseIntError`,
/// `alloc::boxed::Box<dyn core::error::Error + Send + Sync>` is
/// `Box<dyn Error + Send + Sync>`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    let bytes = full.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':' && bytes.get(i + 1) == Some(&b':') {
            // Drop the path written so far in this segment.
            out.truncate(segment_start);
            i += 2;
            continue;
        }
        let c = bytes[i];
        out.push(char::from(c));
        if !(c.is_ascii_alphanumeric() || c == b'_') {
            segment_start = out.len();
        }
        i += 1;
    }
    // Only ASCII was pushed byte-wise above when the name is ASCII; keep
    // any other name as it is.
    if full.is_ascii() {
        out
    } else {
        full.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_every_module_path() {
        assert_eq!(
            short_type_name("core::num::error::ParseIntError"),
            "ParseIntError"
        );
        assert_eq!(
            short_type_name("alloc::boxed::Box<dyn core::error::Error + core::marker::Send>"),
            "Box<dyn Error + Send>"
        );
        assert_eq!(short_type_name("MyError"), "MyError");
        assert_eq!(
            short_type_name("my::Wrapper<my::Inner, (u8, other::T)>"),
            "Wrapper<Inner, (u8, T)>"
        );
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("payment declined")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_exception_expands_into_class_message_causes_and_traceback() {
        let err = Outer(std::io::Error::other("gateway reset"));
        let value = exception(&err);
        let mut fields = Vec::new();
        assert!(collect("whatever", value.as_ref(), &mut fields));
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let class = std::any::type_name::<Outer>();
        assert_eq!(get("exception_class"), Some(Value::Str(class.into())));
        assert_eq!(
            get("exception_msg"),
            Some(Value::Str("payment declined".into()))
        );
        assert_eq!(
            get("exception_causes").map(|v| v.to_json()),
            Some(serde_json::json!(["gateway reset"]))
        );
        assert_eq!(
            get("exception_traceback"),
            Some(Value::Str(format!(
                "{class}: payment declined\ncaused by: gateway reset"
            )))
        );
        assert!(get("whatever").is_none());
        // Another error is not ours.
        let plain = std::io::Error::other("x");
        assert!(!collect("e", &plain, &mut fields));
    }

    #[test]
    fn a_backtrace_starts_at_the_caller() {
        let text = trimmed(&Backtrace::force_capture());
        assert!(text.starts_with("stack backtrace:"), "{text}");
        let first = text.lines().nth(1).unwrap_or_default();
        assert!(
            !first.contains("std::backtrace")
                && !first.contains("stogger_core::exception::trimmed"),
            "{text}"
        );
    }
}
