//! [`LogScope`]: a named unit of work whose events carry `scope`, and whose
//! end is logged with its duration: `scope-end` when it succeeded,
//! `scope-failed` (with Python stogger's fields and message) when it ended
//! in an error or a panic.

use crate::dispatch;
use crate::event::{Event, FieldName, Level, Value};
use crate::exception::Failure;
use crate::layer::{SpanData, SCOPE_TARGET};
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use tracing::Instrument;
use tracing_subscriber::registry::LookupSpan;

/// Python stogger's message of `scope-failed`.
pub const SCOPE_FAILED_MESSAGE: &str = "Scope '{scope}' failed: {exc_type}: {exc_msg}";

/// Opens a scope: until the returned guard is dropped, every event logged on
/// this thread (or in futures instrumented with [`LogScope::span`]) carries
/// `scope = name` and the scope's fields.
///
/// ```
/// let mut scope = stogger_core::log_scope("order-processing");
/// scope.add("order_id", 12345);
/// tracing::info!(amount = 99.99, "order-charged"); // scope='order-processing' order_id=12345
/// drop(scope); // debug `scope-end` with duration_ms and order_id
/// ```
///
/// Fields can be given at creation with [`LogScope::with`]:
/// `log_scope("order-processing").with("order_id", 12345)`. (There is no
/// `log_scope!` macro: attribute and function-like macros share one
/// namespace, and `stogger_core::log_scope` is the attribute.)
///
/// A guard that is simply dropped cannot see a `Result`: an early `?`
/// return ends it as a success. To log `scope-failed` for an `Err`, let the
/// scope see the result: [`LogScope::run`], [`LogScope::run_async`],
/// [`LogScope::finish`], or `#[stogger_core::log_scope("name")]` on the
/// function. A scope that ends while its thread panics logs `scope-failed` too.
pub fn log_scope(name: &str) -> LogScope {
    let span = tracing::error_span!(target: SCOPE_TARGET, "log_scope", scope = name);
    LogScope {
        core: ScopeCore {
            name: name.to_string(),
            fields: Vec::new(),
            start: Instant::now(),
            failure: None,
            ended: false,
        },
        entered: Some(span.entered()),
    }
}

/// Guard returned by [`log_scope`].
#[must_use = "the scope ends when this guard is dropped"]
pub struct LogScope {
    core: ScopeCore,
    /// The scope's span, entered on the thread that opened it.
    entered: Option<tracing::span::EnteredSpan>,
}

/// What a scope needs to log its end; `Send`, so a scope can end in a future.
#[doc(hidden)]
pub struct ScopeCore {
    name: String,
    fields: Vec<(FieldName, Value)>,
    start: Instant,
    failure: Option<Failure>,
    ended: bool,
}

impl LogScope {
    /// Adds a field to the scope: events inside carry it from now on, and the
    /// closing `scope-end`/`scope-failed` event lists it.
    pub fn add(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        if let Some(span) = &self.entered {
            span.with_subscriber(|(id, dispatch)| {
                if let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() {
                    if let Some(span) = registry.span(id) {
                        if let Some(data) = span.extensions_mut().get_mut::<SpanData>() {
                            data.fields.push((key.to_string().into(), value.clone()));
                        }
                    }
                }
            });
        }
        self.core.fields.push((key.to_string().into(), value));
        self
    }

    /// [`LogScope::add`], builder style: `log_scope("import").with("file", name)`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.add(key, value);
        self
    }

    /// The tracing span behind the scope, to instrument a future with
    /// (`fut.instrument(scope.span())`) so its events carry the scope too.
    pub fn span(&self) -> tracing::Span {
        self.entered
            .as_ref()
            .map(|s| (**s).clone())
            .unwrap_or_else(tracing::Span::none)
    }

    /// Ends the scope as failed: logs warning `scope-failed` with the
    /// error's message (`exc_msg`) and causes (`exc_causes`); `exc_type` is
    /// `dyn Error` (the concrete type is gone): [`LogScope::finish`] keeps it.
    pub fn fail(mut self, error: &(dyn std::error::Error + 'static)) {
        self.end_with(Some(Failure::of(error)));
    }

    /// Ends the scope by the outcome of `result`: `scope-end` on `Ok`,
    /// `scope-failed` on `Err`. Returns `result` unchanged.
    pub fn finish<T, E>(self, result: Result<T, E>) -> Result<T, E>
    where
        E: std::error::Error + 'static,
    {
        let mut scope = self;
        scope.end_with(result.as_ref().err().map(Failure::of));
        result
    }

    /// Runs `f` inside the scope and ends it by the outcome: `scope-end` on
    /// `Ok`, `scope-failed` on `Err` (`exc_type` is the error's type name,
    /// `exc_msg` its `Display`) and on a panic (`exc_type = "panic"`, the
    /// panic message), after which the panic goes on. Returns what `f` returned.
    ///
    /// ```
    /// let parsed: Result<u32, std::num::ParseIntError> = stogger_core::log_scope("parse")
    ///     .with("input", "12x")
    ///     .run(|| "12x".parse());
    /// assert!(parsed.is_err()); // logged warning `scope-failed`: ParseIntError: invalid digit found in string
    /// ```
    pub fn run<T, E, F>(mut self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: Display,
    {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(f));
        // Leave the span first so the closing event is not nested in itself.
        self.entered = None;
        self.core.end_by(outcome)
    }

    /// [`LogScope::run`] for a future: the scope's span follows the future
    /// (events logged in it carry the scope on whatever thread polls it),
    /// and the scope ends when the future completes. The returned future is
    /// `Send` when `fut` is.
    pub fn run_async<T, E, F>(self, fut: F) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: Display,
    {
        let (mut core, span) = self.detach();
        async move {
            let outcome = crate::call::catch_unwind(fut.instrument(span)).await;
            core.end_by(outcome)
        }
    }

    /// Leaves the scope's span on this thread, so the scope can move to
    /// another one (a future): the part that logs the end, and the span to
    /// instrument the future with.
    #[doc(hidden)]
    pub fn detach(mut self) -> (ScopeCore, tracing::Span) {
        let span = self
            .entered
            .take()
            .map(|e| e.exit())
            .unwrap_or_else(tracing::Span::none);
        let ended = ScopeCore {
            name: String::new(),
            fields: Vec::new(),
            start: self.core.start,
            failure: None,
            ended: true,
        };
        (std::mem::replace(&mut self.core, ended), span)
    }

    /// Ends the scope: `scope-end`, or `scope-failed` with `failure`.
    #[doc(hidden)]
    pub fn end_with(&mut self, failure: Option<Failure>) {
        // Leave the span first so the closing event is not nested in itself.
        self.entered = None;
        self.core.end_with(failure);
    }
}

impl ScopeCore {
    /// Ends the scope by the outcome of a closure or future run in it
    /// (`Err` of the outer result: a panic) and passes the outcome on:
    /// returns the result, or resumes the panic.
    fn end_by<T, E: Display>(
        &mut self,
        outcome: std::thread::Result<Result<T, E>>,
    ) -> Result<T, E> {
        match outcome {
            Ok(result) => {
                self.end_with(result.as_ref().err().map(message_failure));
                result
            }
            Err(payload) => {
                self.end_with(Some(Failure::of_panic(payload.as_ref())));
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Ends the scope: `scope-end`, or `scope-failed` with `failure`.
    pub fn end_with(&mut self, failure: Option<Failure>) {
        self.failure = failure;
        self.end();
    }

    fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let failure = self.failure.take().or_else(|| {
            std::thread::panicking().then(|| Failure {
                exc_type: "panic".to_string(),
                msg: "the thread panicked (see the `panic` event)".to_string(),
                causes: Vec::new(),
            })
        });
        let mut event = if failure.is_some() {
            Event::new(Level::Warning, "scope-failed")
        } else {
            Event::new(Level::Debug, "scope-end")
        };
        event.scope = Some(self.name.clone());
        event.target = SCOPE_TARGET.into();
        event.fields.push((
            "duration_ms".into(),
            Value::F64((duration_ms * 1000.0).round() / 1000.0),
        ));
        event.fields.extend(self.fields.iter().cloned());
        if let Some(f) = failure {
            event
                .fields
                .push(("exc_type".into(), Value::Str(f.exc_type.clone())));
            event
                .fields
                .push(("exc_msg".into(), Value::Str(f.msg.clone())));
            if !f.causes.is_empty() {
                event.fields.push(("exc_causes".into(), f.causes_json()));
            }
            event
                .fields
                .push(("_replace_msg".into(), Value::from(SCOPE_FAILED_MESSAGE)));
        }
        dispatch::dispatch(&event);
    }
}

/// The failure of an error known only by its `Display`: type and message.
fn message_failure<E: Display>(error: &E) -> Failure {
    Failure::of_message(std::any::type_name::<E>(), error.to_string())
}

impl Drop for LogScope {
    fn drop(&mut self) {
        self.entered = None;
        self.core.end();
    }
}

impl Drop for ScopeCore {
    fn drop(&mut self) {
        self.end();
    }
}
