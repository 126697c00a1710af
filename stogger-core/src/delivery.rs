//! What logging did not deliver: targets return the failures of each
//! operation, the pipeline keeps their tally, and a guard reports it
//! ([`LoggingGuard::close`](crate::LoggingGuard::close)).
//!
//! A *delivery failure* is a write, flush or close a target could not do,
//! or events a target reported lost when it closed. The target says what
//! went wrong itself (a rate-limited `stogger:` line); the count goes to
//! the pipeline the target belongs to and to the process-wide
//! [`delivery_failures`].

use crate::target::Output;
use std::fmt;
use std::ops::{Add, AddAssign};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many deliveries one target operation failed (0 almost always).
#[must_use = "a failure must be counted"]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Failures(u64);

impl Failures {
    /// Nothing failed.
    pub(crate) const NONE: Failures = Failures(0);
    /// One write, flush or close failed, or a loss was reported.
    pub(crate) const ONE: Failures = Failures(1);
}

impl Add for Failures {
    type Output = Failures;
    fn add(self, other: Failures) -> Failures {
        Failures(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Failures {
    fn add_assign(&mut self, other: Failures) {
        *self = *self + other;
    }
}

/// Failures since the process started, of every pipeline.
static PROCESS_FAILURES: AtomicU64 = AtomicU64::new(0);

/// How many deliveries failed since the process started: writes, flushes
/// and closes a target could not do, and events a target reported lost
/// when it closed, in every configuration this process installed
/// (including those `init_logging()` replaced). Each was also reported as
/// a `stogger:` line on stderr.
pub fn delivery_failures() -> u64 {
    PROCESS_FAILURES.load(Ordering::Relaxed)
}

/// Counts failures that belong to no pipeline (a target dropped outside
/// one) in the process-wide count.
pub(crate) fn count_in_process(failures: Failures) {
    if failures.0 > 0 {
        PROCESS_FAILURES.fetch_add(failures.0, Ordering::Relaxed);
    }
}

/// An output the configuration enabled that did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotStarted {
    /// The output.
    pub output: Output,
    /// The startup event that said why (`file-logging-setup-failed`,
    /// `systemd-journal-setup-failed`, `stogger-postgres-not-available`,
    /// `stogger-postgres-abi-mismatch`, `stogger-postgres-load-failed`,
    /// `postgres-dsn-missing`); it was logged when logging started (the
    /// plugin's absence once per process).
    pub event: String,
}

/// One pipeline's tally: what did not start, and the failures since.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    not_started: Vec<NotStarted>,
    failures: AtomicU64,
}

impl Tally {
    pub(crate) fn new(not_started: Vec<NotStarted>) -> Tally {
        Tally {
            not_started,
            failures: AtomicU64::new(0),
        }
    }

    /// Counts `failures` for this pipeline and for the process. Out of
    /// line: the dispatcher calls it only when something failed.
    #[cold]
    #[inline(never)]
    pub(crate) fn count(&self, failures: Failures) {
        if failures.0 > 0 {
            self.failures.fetch_add(failures.0, Ordering::Relaxed);
            count_in_process(failures);
        }
    }

    pub(crate) fn report(&self) -> DeliveryReport {
        DeliveryReport {
            not_started: self.not_started.clone(),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// What one configuration of logging did not deliver, from its start to
/// its close: returned by [`LoggingGuard::close`](crate::LoggingGuard::close).
///
/// `stogger emit` exits non-zero on a report that is not
/// [complete](DeliveryReport::is_complete); a service can do the same at
/// its end, or log it elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryReport {
    not_started: Vec<NotStarted>,
    failures: u64,
}

impl DeliveryReport {
    /// Every enabled output started, and nothing failed.
    pub fn is_complete(&self) -> bool {
        self.not_started.is_empty() && self.failures == 0
    }

    /// The outputs the configuration enabled that did not start.
    pub fn not_started(&self) -> &[NotStarted] {
        &self.not_started
    }

    /// Failed writes, flushes and closes, and events reported lost at the
    /// close (each also reported on stderr as it happened).
    pub fn failures(&self) -> u64 {
        self.failures
    }
}

impl fmt::Display for DeliveryReport {
    /// `not started: file-logging-setup-failed; 2 delivery failure(s)`, or
    /// `every enabled output took every event`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_complete() {
            return f.write_str("every enabled output took every event");
        }
        let mut parts = Vec::new();
        if !self.not_started.is_empty() {
            let events: Vec<&str> = self.not_started.iter().map(|n| n.event.as_str()).collect();
            parts.push(format!("not started: {}", events.join(", ")));
        }
        if self.failures > 0 {
            parts.push(format!("{} delivery failure(s)", self.failures));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_counts_its_own_failures_and_the_process_all() {
        let before = delivery_failures();
        let tally = Tally::new(vec![NotStarted {
            output: Output::File,
            event: "file-logging-setup-failed".to_string(),
        }]);
        tally.count(Failures::ONE + Failures::ONE);
        tally.count(Failures::NONE);
        count_in_process(Failures::ONE);
        let report = tally.report();
        assert_eq!(report.failures(), 2);
        assert!(delivery_failures() >= before + 3);
        assert!(!report.is_complete());
        assert_eq!(
            report.to_string(),
            "not started: file-logging-setup-failed; 2 delivery failure(s)"
        );
        assert!(Tally::default().report().is_complete());
    }
}
