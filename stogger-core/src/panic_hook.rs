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
    use crate::dispatch::install;
    use crate::dispatch::test_probe::{serial, Probe};
    use crate::filter::spec::FilterSpec;
    use crate::target::Output;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// Runs `test` with a probe for the events named `panic*` and
    /// `probe-event` as the only target; the panic bound is 37 ms.
    fn with_probe(test: impl FnOnce(&Probe)) {
        let _serial = serial();
        let probe = Probe::new(&["panic", "probe-event"]);
        install(Some(probe.pipeline(Duration::from_millis(37))));
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
            // As if the target panicked itself: the hook runs on the
            // panicking thread before the dispatcher's `catch_unwind` sees it.
            *probe.inside.lock().unwrap() = Some(|| report("inside a target".into(), None));
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
