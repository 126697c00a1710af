//! The dispatcher: one global, swappable set of targets.
//!
//! tracing's global dispatcher can be set once per process, so stogger
//! installs its layer once and keeps the configurable part here, behind a
//! lock written on (re)initialisation. Each thread keeps its own `Arc` of
//! the pipeline and reads the lock again only after a re-initialisation
//! (a generation counter says when), so an event costs no lock.

use crate::event::Event;
use crate::filter;
use crate::published::{Published, ThreadCopy};
use crate::target::{Outputs, Target};
use crate::testing;
use crate::warn;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The active targets.
pub(crate) struct Pipeline {
    pub(crate) targets: Vec<Box<dyn Target>>,
}

impl Pipeline {
    /// Flushes and closes every target.
    pub(crate) fn close(&self) {
        for t in &self.targets {
            t.close();
        }
    }

    /// Every output some target writes to.
    pub(crate) fn outputs(&self) -> Outputs {
        self.targets
            .iter()
            .fold(Outputs::NONE, |all, t| all | t.outputs())
    }
}

/// The current pipeline. Each thread keeps its own `Arc` of it (see
/// [`Published::with`]): the lock and the two reference count updates per
/// event were a tenth of a log call's cost. A replaced pipeline is closed
/// by the caller of [`install`] at once; a thread that still holds it drops
/// its copy when it next logs (or exits).
static CURRENT: Published<Pipeline> = Published::new();

thread_local! {
    /// Set while this thread is inside a target: anything logged then (by a
    /// target or a library it calls) is dropped instead of recursing.
    static IN_DISPATCH: Cell<bool> = const { Cell::new(false) };
    /// This thread's copy of the current pipeline.
    static CACHED: ThreadCopy<Pipeline> = const { RefCell::new((u64::MAX, None)) };
}

/// Replaces the pipeline, returning the previous one (not yet closed).
pub(crate) fn install(pipeline: Option<Pipeline>) -> Option<Arc<Pipeline>> {
    CURRENT.replace(pipeline.map(Arc::new))
}

fn current() -> Option<Arc<Pipeline>> {
    CURRENT.get()
}

/// Whether the calling thread is inside a target right now.
pub(crate) fn in_dispatch() -> bool {
    IN_DISPATCH.with(Cell::get)
}

/// Sends one event to every output whose filter admits it.
///
/// Use this for events whose fields are only known at run time (the CLI's
/// `stogger emit`, for example); `tracing` macros reach the same place.
pub fn emit(event: Event) {
    dispatch(&event);
}

pub(crate) fn dispatch(event: &Event) {
    if in_dispatch() {
        return;
    }
    let _reentry = ReentryGuard::enter();
    testing::record(event);
    let to = filter::outputs_for(event);
    if to.is_empty() {
        return;
    }
    CURRENT.with(&CACHED, |pipeline| {
        let Some(pipeline) = pipeline else { return };
        for target in &pipeline.targets {
            let here = to & target.outputs();
            if here.is_empty() {
                continue;
            }
            let handled = std::panic::catch_unwind(AssertUnwindSafe(|| target.handle(event, here)));
            if handled.is_err() {
                warn::warn_limited(
                    &format!("{}:panic", target.name()),
                    &format!(
                        "{} target panicked; event dropped for this target",
                        target.name()
                    ),
                );
            }
        }
    });
}

/// Marks the thread as dispatching until dropped (also when a target panics).
struct ReentryGuard;

impl ReentryGuard {
    fn enter() -> ReentryGuard {
        IN_DISPATCH.with(|f| f.set(true));
        ReentryGuard
    }
}

impl Drop for ReentryGuard {
    fn drop(&mut self) {
        IN_DISPATCH.with(|f| f.set(false));
    }
}

/// Flushes every target of the current pipeline.
pub(crate) fn flush() {
    if let Some(p) = current() {
        for t in &p.targets {
            t.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;
    use crate::filter::spec::FilterSpec;
    use crate::target::Output;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// Counts the events named `generation-test` it is given.
    struct Counting(Arc<AtomicUsize>);

    impl Target for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn outputs(&self) -> Outputs {
            Output::Console.into()
        }
        fn handle(&self, event: &Event, _to: Outputs) {
            if event.name == "generation-test" {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn flush(&self) {}
        fn close(&self) {}
    }

    /// Threads keep their own copy of the pipeline; one that logged before
    /// a re-initialisation must log into the new pipeline afterwards.
    #[test]
    fn a_thread_that_logged_before_a_reinstall_logs_into_the_new_pipeline() {
        let pipeline = |seen: &Arc<AtomicUsize>| Pipeline {
            targets: vec![Box::new(Counting(seen.clone()))],
        };
        let (old, new) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        install(Some(pipeline(&old)));
        crate::filter::state::start(FilterSpec::default(), Output::Console.into());
        let (go, wait) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            for () in wait {
                dispatch(&Event::new(Level::Info, "generation-test"));
                let _ = done.send(());
            }
        });
        let log_once = || {
            go.send(()).unwrap();
            finished.recv().unwrap();
        };
        log_once();
        install(Some(pipeline(&new)));
        log_once();
        drop(go);
        worker.join().unwrap();
        install(None);
        assert_eq!(
            old.load(Ordering::SeqCst),
            1,
            "the first event, into the old pipeline"
        );
        assert_eq!(
            new.load(Ordering::SeqCst),
            1,
            "the second, into the new one"
        );
    }
}
