//! The one rate limiter of stogger's diagnostics, per kind of message: the
//! first message of a kind goes out at once; repeats within the interval
//! are counted, and the next message that goes out says how many were
//! suppressed ([`with_suppressed`]).
//!
//! stogger-core limits its own `stogger: ...` lines with it; the
//! PostgreSQL plugin limits its warnings with it before they reach the
//! host's callback, and the host passes them on as they come (limiting
//! them again would delay the news the plugin decided to give, such as the
//! first failure after a recovery).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The interval between two messages of the same kind.
pub const INTERVAL: Duration = Duration::from_secs(10);

struct Slot {
    last: Instant,
    suppressed: u64,
}

/// Per-kind rate limiting (see the module docs).
pub struct RateLimiter {
    interval: Duration,
    slots: Mutex<Option<HashMap<String, Slot>>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter letting one message per kind through every `interval`
    /// (usable in a `static`).
    pub const fn new(interval: Duration) -> RateLimiter {
        RateLimiter {
            interval,
            slots: Mutex::new(None),
        }
    }

    fn with_slots<R>(&self, f: impl FnOnce(&mut HashMap<String, Slot>) -> R) -> R {
        let mut guard = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.get_or_insert_with(HashMap::new))
    }

    /// Whether a message of `kind` may go out now: `Some(n)`, `n` being
    /// how many were suppressed since the last one that went out; `None`
    /// when it is suppressed (and counted).
    pub fn admit(&self, kind: &str) -> Option<u64> {
        let now = Instant::now();
        self.with_slots(|slots| match slots.get_mut(kind) {
            Some(slot) if now.duration_since(slot.last) < self.interval => {
                slot.suppressed += 1;
                None
            }
            Some(slot) => {
                let n = slot.suppressed;
                slot.last = now;
                slot.suppressed = 0;
                Some(n)
            }
            None => {
                slots.insert(
                    kind.to_string(),
                    Slot {
                        last: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        })
    }

    /// Starts the interval of `kind` now, as if a message had gone out (it
    /// was reported another way, e.g. as the result of a call).
    pub fn mark_reported(&self, kind: &str) {
        self.with_slots(|slots| {
            slots.insert(
                kind.to_string(),
                Slot {
                    last: Instant::now(),
                    suppressed: 0,
                },
            )
        });
    }

    /// Forgets `kind`: its next message is news again and goes out at once
    /// (after a recovery, say).
    pub fn forget(&self, kind: &str) {
        self.with_slots(|slots| slots.remove(kind));
    }
}

/// `message`, followed by how many similar messages were suppressed before
/// it when there were any.
pub fn with_suppressed(message: &str, suppressed: u64) -> String {
    if suppressed == 0 {
        message.to_string()
    } else {
        format!("{message} ({suppressed} similar messages suppressed)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_goes_out_repeats_are_counted_per_kind() {
        let limiter = RateLimiter::new(Duration::from_secs(3600));
        assert_eq!(limiter.admit("connect"), Some(0));
        assert_eq!(limiter.admit("connect"), None);
        assert_eq!(limiter.admit("copy"), Some(0));
        limiter.forget("connect");
        assert_eq!(limiter.admit("connect"), Some(0));
        limiter.mark_reported("queue-full");
        assert_eq!(limiter.admit("queue-full"), None);
    }

    #[test]
    fn after_the_interval_the_count_comes_along() {
        let limiter = RateLimiter::new(Duration::ZERO);
        assert_eq!(limiter.admit("x"), Some(0));
        // A zero interval never suppresses.
        assert_eq!(limiter.admit("x"), Some(0));
        assert_eq!(with_suppressed("m", 0), "m");
        assert_eq!(with_suppressed("m", 3), "m (3 similar messages suppressed)");
    }
}
