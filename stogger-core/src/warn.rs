//! stogger's own diagnostics: `stogger: ...` lines on stderr.
//!
//! This is the only place the library prints. Lines never go through the
//! tracing pipeline (a failing target must not log into itself), and each
//! kind of failure is rate-limited: the first occurrence is printed at once,
//! later ones at most once per [`INTERVAL`] with a count of what was
//! suppressed in between.
//!
//! Lines are written straight to file descriptor 2, one `write` each,
//! without the standard library's stderr lock: a forked child must be able
//! to warn even if another thread of its parent held that lock at the
//! moment of the fork.

use crate::fork::PerProcess;
use crate::output::console::write_stderr;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Minimum time between two lines of the same kind.
pub const INTERVAL: Duration = Duration::from_secs(10);

struct Slot {
    last: Instant,
    suppressed: u64,
}

/// What was printed when, per kind; per process (see [`PerProcess`]).
static SLOTS: PerProcess<Mutex<Option<HashMap<String, Slot>>>> =
    PerProcess::new(|| Mutex::new(None));

/// Prints `stogger: <message>` on stderr, unconditionally.
pub fn warn(message: &str) {
    let _ = write_stderr(format!("stogger: {message}\n").as_bytes());
}

/// Prints `stogger: <message>` unless a line of the same `kind` was printed
/// within [`INTERVAL`]; returns whether it printed.
pub fn warn_limited(kind: &str, message: &str) -> bool {
    let now = Instant::now();
    let suppressed = {
        let Ok(mut guard) = SLOTS.get().lock() else {
            return false;
        };
        let slots = guard.get_or_insert_with(HashMap::new);
        match slots.get_mut(kind) {
            Some(slot) if now.duration_since(slot.last) < INTERVAL => {
                slot.suppressed += 1;
                return false;
            }
            Some(slot) => {
                let n = slot.suppressed;
                slot.last = now;
                slot.suppressed = 0;
                n
            }
            None => {
                slots.insert(
                    kind.to_string(),
                    Slot {
                        last: now,
                        suppressed: 0,
                    },
                );
                0
            }
        }
    };
    if suppressed > 0 {
        warn(&format!(
            "{message} ({suppressed} similar messages suppressed)"
        ));
    } else {
        warn(message);
    }
    true
}

/// Events (or operations) some target failed to deliver since the process
/// started; see [`delivery_failures`].
static DELIVERY_FAILURES: AtomicU64 = AtomicU64::new(0);

/// Counts `n` events a target did not deliver, without printing (the caller
/// reports them). `stogger emit` exits non-zero when this count grows.
pub fn count_delivery_failures(n: u64) {
    DELIVERY_FAILURES.fetch_add(n, Ordering::Relaxed);
}

/// How many times since the process started a target failed: failed
/// writes, flushes and closes, and events reported lost when a target closed.
pub fn delivery_failures() -> u64 {
    DELIVERY_FAILURES.load(Ordering::Relaxed)
}

/// Reports events lost when a target closed (`note` says how many and
/// why), and counts the loss.
pub fn target_lost(target: &str, note: &str) {
    count_delivery_failures(1);
    warn(&format!("{target}: {note}"));
}

/// Reports a failed target operation, rate-limited per target and operation,
/// and counts it.
pub fn target_failed(target: &str, op: &str, err: &dyn std::fmt::Display) {
    count_delivery_failures(1);
    warn_limited(
        &format!("{target}:{op}"),
        &format!("{target} target: {op} failed: {err}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_even_when_the_line_is_rate_limited() {
        let before = delivery_failures();
        for _ in 0..3 {
            target_failed("counter-test", "write", &"disk full");
        }
        target_lost("counter-test", "2 events not delivered");
        assert!(delivery_failures() >= before + 4);
    }
}
