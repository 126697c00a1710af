//! The dispatcher: one global, swappable set of targets.
//!
//! tracing's global dispatcher can be set once per process, so stogger
//! installs its layer once and keeps the configurable part here, behind a
//! lock written on (re)initialisation. Each thread keeps its own `Arc` of
//! the pipeline and reads the lock again only after a re-initialisation
//! (a generation counter says when), so an event costs no lock.

use crate::event::{Event, Level};
use crate::target::Target;
use crate::testing;
use crate::warn;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

/// The active targets and the level they take.
pub(crate) struct Pipeline {
    pub(crate) targets: Vec<Box<dyn Target>>,
    pub(crate) min_level: Level,
}

impl Pipeline {
    /// Flushes and closes every target.
    pub(crate) fn close(&self) {
        for t in &self.targets {
            t.close();
        }
    }
}

static CURRENT: RwLock<Option<Arc<Pipeline>>> = RwLock::new(None);

/// Bumped by every [`install`]; a thread's cached pipeline (see
/// [`with_current`]) is current while its generation matches.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Least severe level of the current pipeline, as `Level as u8`; read by the
/// layer when tracing asks which callsites are interesting.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

thread_local! {
    /// Set while this thread is inside a target: anything logged then (by a
    /// target or a library it calls) is dropped instead of recursing.
    static IN_DISPATCH: Cell<bool> = const { Cell::new(false) };
}

/// Replaces the pipeline, returning the previous one (not yet closed).
pub(crate) fn install(pipeline: Option<Pipeline>) -> Option<Arc<Pipeline>> {
    let level = pipeline
        .as_ref()
        .map(|p| p.min_level)
        .unwrap_or(Level::Critical);
    MIN_LEVEL.store(level as u8, Ordering::Relaxed);
    let old = match CURRENT.write() {
        Ok(mut slot) => std::mem::replace(&mut *slot, pipeline.map(Arc::new)),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    GENERATION.fetch_add(1, Ordering::AcqRel);
    tracing_core::callsite::rebuild_interest_cache();
    old
}

fn current() -> Option<Arc<Pipeline>> {
    match CURRENT.read() {
        Ok(slot) => slot.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

thread_local! {
    /// This thread's copy of the current pipeline and its generation.
    static CACHED: RefCell<(u64, Option<Arc<Pipeline>>)> = const { RefCell::new((u64::MAX, None)) };
}

/// Runs `f` with the current pipeline. Per event this is one atomic load:
/// the thread keeps its own `Arc` of the pipeline and takes the lock (and
/// a new `Arc`) only after an [`install`]. The lock and the two reference
/// count updates per event were a tenth of a log call's cost. A replaced
/// pipeline is closed by `install` at once; a thread that still holds it
/// drops its copy when it next logs (or exits).
fn with_current(f: impl FnOnce(Option<&Pipeline>)) {
    let generation = GENERATION.load(Ordering::Acquire);
    let mut f = Some(f);
    let _ = CACHED.try_with(|cell| {
        let Ok(mut cached) = cell.try_borrow_mut() else {
            return;
        };
        if cached.0 != generation {
            *cached = (generation, current());
        }
        if let Some(f) = f.take() {
            f(cached.1.as_deref());
        }
    });
    // The thread is exiting, or this is a nested call: the shared copy.
    if let Some(f) = f.take() {
        f(current().as_deref());
    }
}

/// The least severe level that reaches any target or an active capture.
pub(crate) fn min_level() -> Level {
    if testing::active() {
        return Level::Debug;
    }
    // `install` stores `level as u8`, its index in `Level::ALL`.
    Level::ALL
        .get(usize::from(MIN_LEVEL.load(Ordering::Relaxed)))
        .copied()
        .unwrap_or(Level::Critical)
}

/// Whether the calling thread is inside a target right now.
pub(crate) fn in_dispatch() -> bool {
    IN_DISPATCH.with(Cell::get)
}

/// Sends one event to every target whose level admits it.
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
    with_current(|pipeline| {
        let Some(pipeline) = pipeline else { return };
        if event.level >= pipeline.min_level {
            for target in &pipeline.targets {
                if event.level >= target.min_level() {
                    let handled =
                        std::panic::catch_unwind(AssertUnwindSafe(|| target.handle(event)));
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
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    /// Counts the events named `generation-test` it is given.
    struct Counting(Arc<AtomicUsize>);

    impl Target for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn min_level(&self) -> Level {
            Level::Debug
        }
        fn handle(&self, event: &Event) {
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
            min_level: Level::Debug,
        };
        let (old, new) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        install(Some(pipeline(&old)));
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
