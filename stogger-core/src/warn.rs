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

use crate::delivery::Failures;
use crate::fork::PerProcess;
use crate::output::console::write_stderr;
use stogger_pg_proto::limiter::{with_suppressed, RateLimiter};

/// Minimum time between two lines of the same kind.
pub(crate) use stogger_pg_proto::limiter::INTERVAL;

/// The kinds printed lately (the one limiter shared with the plugin's
/// warnings: `stogger_pg_proto::limiter`); per process (see [`PerProcess`]:
/// a forked child must not wait on a lock a parent's thread held).
static LIMITER: PerProcess<RateLimiter> = PerProcess::new(|| RateLimiter::new(INTERVAL));

/// Prints `stogger: <message>` on stderr, unconditionally.
pub(crate) fn warn(message: &str) {
    let _ = write_stderr(format!("stogger: {message}\n").as_bytes());
}

/// Prints `stogger: <message>` unless a line of the same `kind` was printed
/// within [`INTERVAL`]; returns whether it printed.
pub(crate) fn warn_limited(kind: &str, message: &str) -> bool {
    match LIMITER.get().admit(kind) {
        Some(suppressed) => {
            warn(&with_suppressed(message, suppressed));
            true
        }
        None => false,
    }
}

/// Reports events lost when a target closed (`note` says how many and
/// why); returns the failure for the caller to count.
pub(crate) fn target_lost(target: &str, note: &str) -> Failures {
    warn(&format!("{target}: {note}"));
    Failures::ONE
}

/// Reports a failed target operation, rate-limited per target and
/// operation; returns the failure for the caller to count (a suppressed
/// line still counts).
pub(crate) fn target_failed(target: &str, op: &str, err: &dyn std::fmt::Display) -> Failures {
    warn_limited(
        &format!("{target}:{op}"),
        &format!("{target} target: {op} failed: {err}"),
    );
    Failures::ONE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{delivery_failures, Tally};

    #[test]
    fn failures_are_counted_even_when_the_line_is_rate_limited() {
        let before = delivery_failures();
        let tally = Tally::default();
        for _ in 0..3 {
            tally.count(target_failed("counter-test", "write", &"disk full"));
        }
        tally.count(target_lost("counter-test", "2 events not delivered"));
        assert!(delivery_failures() >= before + 4);
        assert_eq!(tally.report().failures(), 4);
    }
}
