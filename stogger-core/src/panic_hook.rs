//! The panic hook: every panic becomes a critical `panic` event.
//!
//! Web frameworks and task runtimes catch panics in handlers and tasks, so
//! the hook must cost little: the event is handed to the targets and they
//! are flushed with the short `panic_flush_timeout_ms` bound (not the
//! shutdown timeout). PostgreSQL rows that do not make it stay queued for
//! the writer and the normal shutdown. A panic raised inside a target (or
//! a library a target calls) is not logged: the targets are never entered
//! again from the hook. The hook that was set before stogger's always runs
//! afterwards.

use crate::dispatch;
use crate::event::{Event, Level};
use std::sync::Once;

static INSTALLED: Once = Once::new();

/// Sets stogger's hook in front of the current one (once per process).
pub(crate) fn install() {
    // `set_hook` panics on a panicking thread (an `init_logging()` in a
    // `Drop` during unwinding); the next call installs it then.
    if std::thread::panicking() {
        return;
    }
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info.location().map(|l| (l.file(), l.line()));
            report(crate::exception::panic_message(info.payload()), location);
            previous(info);
        }));
    });
}

/// Logs the panic and flushes within the panic bound, unless the panic
/// comes from inside a target.
fn report(message: String, location: Option<(&str, u32)>) {
    if dispatch::in_dispatch() {
        return;
    }
    let mut event = Event::new(Level::Critical, "panic").with("message", message);
    if let Some(backtrace) = crate::exception::panic_backtrace() {
        event = event.with("exception_traceback", backtrace);
    }
    if let Some((file, line)) = location {
        event.code.file = Some(file.to_string().into());
        event.code.line = Some(line);
    }
    dispatch::emit(event);
    dispatch::flush_after_panic();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Failures;
    use crate::dispatch::{install, Pipeline, TEST_INSTALLS};
    use crate::filter::spec::FilterSpec;
    use crate::target::{Output, Outputs, Target};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Counts what the hook does to it; its `handle` can act as if it
    /// panicked itself (the hook runs on the panicking thread before the
    /// dispatcher's `catch_unwind` sees the panic).
    #[derive(Default)]
    struct Probe {
        handled: AtomicUsize,
        flushed_within_ms: AtomicU64,
        flushes: AtomicUsize,
        panic_inside: std::sync::atomic::AtomicBool,
    }

    struct ProbeTarget(Arc<Probe>);

    impl Target for ProbeTarget {
        fn name(&self) -> &str {
            "probe"
        }
        fn outputs(&self) -> Outputs {
            Output::Console.into()
        }
        fn handle(&self, event: &Event, _to: Outputs) -> Failures {
            if !event.name.starts_with("panic") && event.name != "probe-event" {
                return Failures::NONE;
            }
            self.0.handled.fetch_add(1, Ordering::SeqCst);
            if self.0.panic_inside.load(Ordering::SeqCst) {
                report("inside a target".into(), None);
            }
            Failures::NONE
        }
        fn flush(&self) -> Failures {
            self.0.flushes.fetch_add(1, Ordering::SeqCst);
            Failures::NONE
        }
        fn flush_within(&self, timeout: Duration) -> Failures {
            self.0.flushes.fetch_add(1, Ordering::SeqCst);
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            self.0.flushed_within_ms.store(ms, Ordering::SeqCst);
            Failures::NONE
        }
        fn close(&self) -> Failures {
            Failures::NONE
        }
    }

    fn with_probe(test: impl FnOnce(&Probe)) {
        let _serial = TEST_INSTALLS.lock().unwrap_or_else(|p| p.into_inner());
        let probe = Arc::new(Probe::default());
        install(Some(Pipeline {
            targets: vec![Box::new(ProbeTarget(probe.clone()))],
            panic_flush_timeout: Duration::from_millis(37),
            tally: Arc::default(),
        }));
        crate::filter::state::start(FilterSpec::default(), Output::Console.into());
        test(&probe);
        install(None);
    }

    #[test]
    fn a_panic_is_logged_and_flushed_within_the_panic_bound() {
        with_probe(|probe| {
            report("boom".into(), Some(("src/x.rs", 3)));
            assert_eq!(probe.handled.load(Ordering::SeqCst), 1);
            assert_eq!(probe.flushes.load(Ordering::SeqCst), 1);
            assert_eq!(probe.flushed_within_ms.load(Ordering::SeqCst), 37);
        });
    }

    #[test]
    fn a_panic_inside_a_target_never_re_enters_the_targets() {
        with_probe(|probe| {
            probe.panic_inside.store(true, Ordering::SeqCst);
            crate::dispatch::emit(Event::new(Level::Info, "probe-event"));
            assert_eq!(
                probe.handled.load(Ordering::SeqCst),
                1,
                "only the event that was being handled"
            );
            assert_eq!(probe.flushes.load(Ordering::SeqCst), 0, "no flush either");
        });
    }
}
