//! [`LogScope`]: a named unit of work whose events carry `scope`, and whose
//! end is logged with its duration.

use crate::dispatch;
use crate::event::{Event, FieldName, Level, Value};
use crate::layer::{SpanData, SCOPE_TARGET};
use std::time::Instant;
use tracing_subscriber::registry::LookupSpan;

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
/// A scope that ends through [`LogScope::fail`] or while the thread panics
/// logs a warning `scope-failed` instead.
pub fn log_scope(name: &str) -> LogScope {
    let span = tracing::error_span!(target: SCOPE_TARGET, "log_scope", scope = name);
    LogScope {
        name: name.to_string(),
        fields: Vec::new(),
        start: Instant::now(),
        entered: Some(span.entered()),
        error: None,
        ended: false,
    }
}

/// Guard returned by [`log_scope`].
#[must_use = "the scope ends when this guard is dropped"]
pub struct LogScope {
    name: String,
    fields: Vec<(FieldName, Value)>,
    start: Instant,
    entered: Option<tracing::span::EnteredSpan>,
    error: Option<Vec<String>>,
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
        self.fields.push((key.to_string().into(), value));
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

    /// Ends the scope as failed: logs warning `scope-failed` with the error chain.
    pub fn fail(mut self, error: &(dyn std::error::Error + 'static)) {
        let mut chain = vec![error.to_string()];
        let mut source = error.source();
        while let Some(e) = source {
            chain.push(e.to_string());
            source = e.source();
        }
        self.error = Some(chain);
        self.end();
    }

    /// Ends the scope by the outcome of `result`: `scope-end` on `Ok`,
    /// `scope-failed` on `Err`. Returns `result` unchanged.
    pub fn finish<T, E>(self, result: Result<T, E>) -> Result<T, E>
    where
        E: std::error::Error + 'static,
    {
        match &result {
            Ok(_) => drop(self),
            Err(e) => self.fail(e),
        }
        result
    }

    fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let failed = self.error.is_some() || std::thread::panicking();
        let mut event = if failed {
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
        if let Some(chain) = self.error.take() {
            event.fields.push(("error".into(), Value::Error(chain)));
        } else if failed {
            event
                .fields
                .push(("error".into(), Value::Str("panic".into())));
        }
        // Leave the span first so the closing event is not nested in itself.
        self.entered = None;
        dispatch::dispatch(&event);
    }
}

impl Drop for LogScope {
    fn drop(&mut self) {
        self.end();
    }
}
