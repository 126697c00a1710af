//! Sync mode's circuit breaker: one shared answer to "is the database
//! reachable?", so that in an outage only the first callers pay a time
//! limit and the others return at once.
//!
//! - **Closed** (normal): callers write.
//! - **Open**: set by the first caller whose connect failed or whose
//!   INSERT ran out of time. Callers return at once without any I/O
//!   (their rows counted as not delivered); callers waiting for a pooled
//!   connection and callers whose INSERT is in flight are woken and give
//!   up too. Opening bumps the *generation*: every pooled connection made
//!   before it is dropped before its next use (a black-holed connection
//!   looks open and would cost its next caller the whole time limit).
//! - A background **probe** (a task on the writer's runtime) reconnects
//!   with backoff (100 ms, doubling up to 2 s), creates the table if it is
//!   missing and checks the INSERT privilege; when that works it closes
//!   the breaker and callers write again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The probe's first wait after the breaker opened.
pub(super) const PROBE_FIRST: Duration = Duration::from_millis(100);
/// The probe's longest wait between two attempts.
pub(super) const PROBE_MAX: Duration = Duration::from_secs(2);

/// Why and since when the breaker is open.
#[derive(Debug, Clone)]
pub(super) struct Outage {
    pub(super) since: Instant,
    pub(super) reason: String,
}

pub(super) struct Breaker {
    open: AtomicBool,
    /// Bumped each time the breaker opens; watched by waiting callers.
    generation: watch::Sender<u64>,
    outage: Mutex<Option<Outage>>,
}

impl Breaker {
    pub(super) fn new() -> Breaker {
        Breaker {
            open: AtomicBool::new(false),
            generation: watch::Sender::new(0),
            outage: Mutex::new(None),
        }
    }

    /// Whether callers should fail fast now.
    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// The current generation.
    pub(super) fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// A receiver that sees the next opening (`changed()` resolves).
    pub(super) fn watch(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Opens the breaker; true for the caller that opened it (it starts the
    /// probe), false when it was open already.
    pub(super) fn trip(&self, reason: &str) -> bool {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        if self.open.swap(true, Ordering::AcqRel) {
            return false;
        }
        *outage = Some(Outage {
            since: Instant::now(),
            reason: reason.to_string(),
        });
        drop(outage);
        self.generation.send_modify(|g| *g += 1);
        true
    }

    /// Records the probe's latest failure as the outage's reason.
    pub(super) fn still_down(&self, reason: &str) {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = outage.as_mut() {
            o.reason = reason.to_string();
        }
    }

    /// Closes the breaker (the probe reached the database); returns the
    /// outage that ended.
    pub(super) fn reset(&self) -> Option<Outage> {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        self.open.store(false, Ordering::Release);
        outage.take()
    }

    /// The current outage, if the breaker is open.
    pub(super) fn outage(&self) -> Option<Outage> {
        self.outage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The probe's wait after `previous` (doubling, capped).
pub(super) fn next_delay(previous: Duration) -> Duration {
    (previous * 2).min(PROBE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_trip_opens_and_each_opening_is_a_new_generation() {
        let b = Breaker::new();
        let mut seen = b.watch();
        assert!(!b.is_open());
        assert!(b.trip("refused"));
        assert!(!b.trip("refused again"), "already open");
        assert!(b.is_open());
        assert!(seen.has_changed().unwrap());
        seen.mark_unchanged();
        assert_eq!(b.generation(), 1);
        b.still_down("timed out");
        assert_eq!(b.outage().unwrap().reason, "timed out");
        assert_eq!(b.reset().unwrap().reason, "timed out");
        assert!(!b.is_open() && b.outage().is_none());
        assert!(b.trip("again"));
        assert_eq!(b.generation(), 2);
        assert!(seen.has_changed().unwrap());
    }

    #[test]
    fn the_probe_backs_off_to_its_cap() {
        let mut d = PROBE_FIRST;
        let mut waits = vec![d];
        for _ in 0..6 {
            d = next_delay(d);
            waits.push(d);
        }
        assert_eq!(waits[1], Duration::from_millis(200));
        assert_eq!(*waits.last().unwrap(), PROBE_MAX);
    }
}
