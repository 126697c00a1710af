//! Diagnostics: the only way the plugin reports anything is the `warn`
//! callback given at open (dropped when there is none). Every message is
//! redacted and rate-limited per kind by the contract's one limiter
//! (`stogger_pg_proto::limiter`): the first of a kind always goes out;
//! repeats within its interval are counted and mentioned in the next one.
//! The host passes the messages on without limiting them again.

use std::sync::{Arc, Mutex};

use stogger_pg_proto::dsn::Redactor;
use stogger_pg_proto::limiter::{with_suppressed, RateLimiter, INTERVAL};

/// A diagnostics sink: `(kind, message)`.
pub type WarnSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Redacting, rate-limited warnings.
pub struct Warner {
    sink: Option<WarnSink>,
    redactor: Redactor,
    limiter: RateLimiter,
    last_error: Mutex<Option<String>>,
}

impl Warner {
    /// A warner sending to `sink` (nothing when None).
    pub fn new(sink: Option<WarnSink>, redactor: Redactor) -> Warner {
        Warner {
            sink,
            redactor,
            limiter: RateLimiter::new(INTERVAL),
            last_error: Mutex::new(None),
        }
    }

    /// Records `message` as the last error and sends it unless a message of
    /// the same kind went out less than the limiter's interval ago.
    pub fn warn(&self, kind: &'static str, message: &str) {
        let message = self.redactor.apply(message);
        self.set_last_error(&message);
        let Some(suppressed) = self.limiter.admit(kind) else {
            return;
        };
        if let Some(sink) = &self.sink {
            sink(kind, &with_suppressed(&message, suppressed));
        }
    }

    /// [`Warner::warn`] with a message built only when it goes out: for
    /// warnings on the caller's path (a full queue during an outage drops
    /// every event; formatting a message for each would cost the caller).
    /// The last error is only updated when it goes out.
    pub fn warn_lazy(&self, kind: &'static str, message: impl FnOnce() -> String) {
        let Some(suppressed) = self.limiter.admit(kind) else {
            return;
        };
        let message = self.redactor.apply(&message());
        self.set_last_error(&message);
        if let Some(sink) = &self.sink {
            sink(kind, &with_suppressed(&message, suppressed));
        }
    }

    /// Marks `kind` as just reported elsewhere (e.g. in `err_out`), so the
    /// next one within the interval is suppressed; records the last error.
    pub fn note(&self, kind: &'static str, message: &str) {
        self.set_last_error(&self.redactor.apply(message));
        self.limiter.mark_reported(kind);
    }

    /// Forgets the rate limit of `kind` (after recovery, the next failure
    /// of that kind is news again).
    pub fn reset(&self, kind: &'static str) {
        self.limiter.forget(kind);
    }

    fn set_last_error(&self, message: &str) {
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some(message.to_string());
    }

    /// The last error message (redacted).
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_and_rate_limits_per_kind() {
        let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let g = got.clone();
        let sink: WarnSink = Arc::new(move |k, m| {
            g.lock().unwrap().push((k.to_string(), m.to_string()));
        });
        let mut r = Redactor::default();
        r.add("hunter2");
        let w = Warner::new(Some(sink), r);
        w.warn("connect", "password hunter2 rejected");
        w.warn("connect", "again");
        w.warn("copy", "other kind");
        let got = got.lock().unwrap().clone();
        assert_eq!(
            got,
            [
                ("connect".to_string(), "password *** rejected".to_string()),
                ("copy".to_string(), "other kind".to_string())
            ]
        );
        assert_eq!(w.last_error().as_deref(), Some("other kind"));
    }

    #[test]
    fn lazy_messages_are_only_built_when_they_go_out() {
        let w = Warner::new(None, Redactor::default());
        let built = std::cell::Cell::new(0);
        for _ in 0..3 {
            w.warn_lazy("queue-full", || {
                built.set(built.get() + 1);
                "full".to_string()
            });
        }
        assert_eq!(built.get(), 1, "suppressed repeats build nothing");
        assert_eq!(w.last_error().as_deref(), Some("full"));
    }

    #[test]
    fn without_sink_messages_are_dropped_but_remembered() {
        let w = Warner::new(None, Redactor::default());
        w.warn("x", "boom");
        assert_eq!(w.last_error().as_deref(), Some("boom"));
    }
}
