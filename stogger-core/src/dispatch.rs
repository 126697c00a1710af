//! The dispatcher: one global, swappable set of targets.
//!
//! tracing's global dispatcher can be set once per process, so stogger
//! installs its layer once and keeps the configurable part here, behind a
//! lock written on (re)initialisation. Each thread keeps its own `Arc` of
//! the pipeline and reads the lock again only after a re-initialisation
//! (a generation number says when), so an event costs no lock.
//!
//! The generation lives in [`fork`]'s wipe-on-fork page: in a child forked
//! without exec it reads 0, so the child's threads never touch the
//! pipeline inherited from the parent (whose writer threads are gone);
//! the first event there is dropped with one warning, and `init_logging()`
//! in the child installs a pipeline of its own.

use crate::delivery::{Failures, Tally};
use crate::event::Event;
use crate::filter;
use crate::fork::{self, PerProcess};
use crate::target::{Outputs, Target};
use crate::testing;
use crate::warn;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::Duration;

/// The active targets.
pub(crate) struct Pipeline {
    pub(crate) targets: Vec<Box<dyn Target>>,
    /// How long the panic hook waits for slow targets (`panic_flush_timeout_ms`).
    pub(crate) panic_flush_timeout: Duration,
    /// What did not start, and the targets' failures since (shared with
    /// the guard, which reports them).
    pub(crate) tally: Arc<Tally>,
}

impl Pipeline {
    /// Flushes and closes every target. A target that panics while closing
    /// is reported (what it still held has an unknown fate) and the others
    /// are closed all the same.
    pub(crate) fn close(&self) {
        let _reentry = ReentryGuard::enter();
        for t in &self.targets {
            let failures =
                std::panic::catch_unwind(AssertUnwindSafe(|| t.close())).unwrap_or_else(|_| {
                    warn::target_lost(
                        t.name(),
                        "closing the target panicked; whether the events it still held were \
                         written is unknown",
                    )
                });
            self.tally.count(failures);
        }
    }

    /// Flushes every target, waiting at most `timeout` for slow ones when
    /// one is given.
    fn flush(&self, timeout: Option<Duration>) {
        let _reentry = ReentryGuard::enter();
        for t in &self.targets {
            let flushed = std::panic::catch_unwind(AssertUnwindSafe(|| match timeout {
                Some(timeout) => t.flush_within(timeout),
                None => t.flush(),
            }));
            let failures = flushed
                .unwrap_or_else(|_| warn::target_failed(t.name(), "flush", &"the target panicked"));
            self.tally.count(failures);
        }
    }

    /// Every output some target writes to.
    pub(crate) fn outputs(&self) -> Outputs {
        self.targets
            .iter()
            .fold(Outputs::NONE, |all, t| all | t.outputs())
    }
}

/// The slot of the current pipeline, one per process: a forked child gets
/// an empty one (the parent's, with its pipeline, is leaked: closing it
/// there could wait for threads that do not exist).
static CURRENT: PerProcess<RwLock<Option<Arc<Pipeline>>>> = PerProcess::new(|| RwLock::new(None));

/// Where generations come from. In ordinary memory (a child continues the
/// parent's count), so a generation is never reused within a process's
/// line of forks; 0 is never handed out.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Whether the last install left a pipeline: in a forked child, whether it
/// inherited one (and gets a warning when it logs).
static INHERITABLE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread is inside a target: anything logged then (by a
    /// target or a library it calls) is dropped instead of recursing.
    static IN_DISPATCH: Cell<bool> = const { Cell::new(false) };
}

/// A pipeline was installed: its generation (what a guard remembers) and
/// the pipeline it replaced (not yet closed).
pub(crate) struct Installed {
    pub(crate) generation: u64,
    pub(crate) replaced: Option<Arc<Pipeline>>,
}

fn lock_current() -> RwLockWriteGuard<'static, Option<Arc<Pipeline>>> {
    CURRENT.get().write().unwrap_or_else(|p| p.into_inner())
}

/// Replaces the pipeline, returning the previous one (not yet closed).
pub(crate) fn install(pipeline: Option<Pipeline>) -> Installed {
    let installed = install_locked(&mut lock_current(), pipeline);
    crate::filter::state::rebuild();
    installed
}

/// Removes the pipeline of `generation` if it is still the current one,
/// returning it (not yet closed); `None` when another has replaced it since.
pub(crate) fn uninstall(generation: u64) -> Option<Arc<Pipeline>> {
    // Without the lock first: a replaced guard's drop (and every drop in a
    // forked child, where the generation reads 0) ends here.
    if fork::marks_now().generation.load(Ordering::Acquire) != generation {
        return None;
    }
    let replaced = {
        let mut slot = lock_current();
        if fork::marks().generation.load(Ordering::Acquire) != generation {
            return None;
        }
        install_locked(&mut slot, None).replaced
    };
    crate::filter::state::rebuild();
    replaced
}

/// The part of an install done under the slot's lock; the caller rebuilds
/// tracing's interest cache after releasing it.
fn install_locked(slot: &mut Option<Arc<Pipeline>>, pipeline: Option<Pipeline>) -> Installed {
    INHERITABLE.store(pipeline.is_some(), Ordering::Relaxed);
    let replaced = std::mem::replace(slot, pipeline.map(Arc::new));
    let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
    // Under the slot's lock, so `uninstall` compares against a settled value.
    fork::marks()
        .generation
        .store(generation, Ordering::Release);
    Installed {
        generation,
        replaced,
    }
}

fn current() -> Option<Arc<Pipeline>> {
    match CURRENT.get().read() {
        Ok(slot) => slot.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// A thread's copy of the current pipeline: the generation it belongs to,
/// the process that took it, and the pipeline.
type Cached = (u64, u32, Option<Arc<Pipeline>>);

thread_local! {
    /// This thread's copy of the current pipeline.
    static CACHED: RefCell<Cached> = const { RefCell::new((u64::MAX, 0, None)) };
}

/// Runs `f` with the current pipeline. Per event this is two loads (the
/// page holding the generation, then the generation): the thread keeps its
/// own `Arc` of the pipeline and takes the lock (and a new `Arc`) only
/// after an [`install`] (no lock and no reference count update per event).
/// A replaced pipeline is closed
/// by `install`'s caller at once; a thread that still holds it drops its
/// copy when it next logs (or exits).
fn with_current(f: impl FnOnce(Option<&Pipeline>)) {
    let generation = fork::marks_now().generation.load(Ordering::Acquire);
    let mut f = Some(f);
    let _ = CACHED.try_with(|cell| {
        let Ok(mut cached) = cell.try_borrow_mut() else {
            return;
        };
        if cached.0 != generation {
            refresh(&mut cached, generation);
        }
        if let Some(f) = f.take() {
            f(cached.2.as_deref());
        }
    });
    // The thread is exiting, or this is a nested call: the shared copy.
    if let Some(f) = f.take() {
        if generation == 0 {
            f(None);
        } else {
            f(current().as_deref());
        }
    }
}

/// Takes the pipeline of `generation` into this thread's copy.
#[cold]
#[inline(never)]
fn refresh(cached: &mut Cached, generation: u64) {
    let pid = fork::pid();
    let fresh = if generation == 0 {
        // Nothing installed in this process: before the first `init_*`, or
        // a forked child that has not called it (yet).
        if INHERITABLE.load(Ordering::Relaxed) {
            warn_forked_child();
        }
        None
    } else {
        current()
    };
    let old = std::mem::replace(cached, (generation, pid, fresh));
    if old.1 != pid {
        // Taken by the parent before a fork: dropping it could be the last
        // reference and close targets whose threads are gone here.
        std::mem::forget(old);
    }
}

/// Once per forked child that logs before it calls `init_logging()`.
fn warn_forked_child() {
    if fork::marks().fork_warned.swap(true, Ordering::Relaxed) {
        return;
    }
    // `warn::warn` takes no lock, so this cannot hang on one held at fork.
    warn::warn(&format!(
        "process {} was forked without exec: logging is off in it until it calls \
         init_logging() (the targets' writer threads do not survive a fork); \
         events are dropped until then",
        std::process::id()
    ));
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
    let to = filter::outputs_for(event);
    if to.is_empty() {
        return;
    }
    if to.contains_captures() {
        testing::observe(event);
    }
    with_current(|pipeline| {
        let Some(pipeline) = pipeline else { return };
        for target in &pipeline.targets {
            let here = to & target.outputs();
            if here.is_empty() {
                continue;
            }
            let handled = std::panic::catch_unwind(AssertUnwindSafe(|| target.handle(event, here)));
            match handled {
                Ok(Failures::NONE) => {}
                Ok(failures) => pipeline.tally.count(failures),
                Err(_) => {
                    warn::warn_limited(
                        &format!("{}:panic", target.name()),
                        &format!(
                            "{} target panicked; event dropped for this target",
                            target.name()
                        ),
                    );
                    pipeline.tally.count(Failures::ONE);
                }
            }
        }
    });
}

/// Hands an event that met a closed target (its pipeline was replaced, or
/// shut down, while the event was on its way) to the current pipeline's
/// target of the same name, and returns that target's failures (counted
/// by the caller's pipeline, where the event was dispatched). `None` when
/// there is none (logging was shut down, or the new configuration has no
/// such target), or when this is already a second attempt: the caller
/// counts and reports the loss.
pub(crate) fn redeliver(from: &dyn Target, event: &Event) -> Option<Failures> {
    thread_local! {
        static REDELIVERING: Cell<bool> = const { Cell::new(false) };
    }
    if REDELIVERING.with(Cell::get) || fork::marks_now().generation.load(Ordering::Acquire) == 0 {
        return None;
    }
    let pipeline = current()?;
    let successor = pipeline.targets.iter().find(|t| {
        t.name() == from.name() && !std::ptr::addr_eq(t.as_ref() as *const dyn Target, from)
    })?;
    // What the new configuration's filters let through to this target.
    let to = filter::outputs_for(event) & successor.outputs();
    if to.is_empty() {
        return Some(Failures::NONE);
    }
    REDELIVERING.with(|r| r.set(true));
    let handled = std::panic::catch_unwind(AssertUnwindSafe(|| successor.handle(event, to)));
    REDELIVERING.with(|r| r.set(false));
    Some(
        handled.unwrap_or_else(|_| {
            warn::target_failed(successor.name(), "write", &"the target panicked")
        }),
    )
}

/// Marks the thread as dispatching until dropped (also when a target panics).
/// Restores the flag it found, so a close or flush nested in a target
/// leaves the thread marked.
struct ReentryGuard {
    was: bool,
}

impl ReentryGuard {
    fn enter() -> ReentryGuard {
        ReentryGuard {
            was: IN_DISPATCH.with(|f| f.replace(true)),
        }
    }
}

impl Drop for ReentryGuard {
    fn drop(&mut self) {
        IN_DISPATCH.with(|f| f.set(self.was));
    }
}

/// Flushes every target of the current pipeline.
pub(crate) fn flush() {
    if let Some(p) = current() {
        p.flush(None);
    }
}

/// After a panic was logged: flushes the calling thread's pipeline, waiting
/// at most its `panic_flush_timeout` for slow targets (what does not make
/// it stays queued for the normal shutdown). Nothing when the thread is
/// inside a target: a panic raised there must not re-enter the targets.
pub(crate) fn flush_after_panic() {
    if in_dispatch() {
        return;
    }
    with_current(|pipeline| {
        if let Some(p) = pipeline {
            p.flush(Some(p.panic_flush_timeout));
        }
    });
}

/// Test support: the lock that serialises the unit tests installing
/// pipelines (the dispatcher is global), and a target that counts what is
/// done to it.
#[cfg(test)]
pub(crate) mod test_probe {
    use super::*;
    use crate::target::Output;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    pub(crate) static TEST_INSTALLS: Mutex<()> = Mutex::new(());

    /// Takes [`TEST_INSTALLS`].
    pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
        TEST_INSTALLS.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a [`Probe`]'s target counts: the events it handles whose name
    /// starts with one of its prefixes, the flushes, and the bound of the
    /// last `flush_within`. `inside`, when set, runs in its `handle` for
    /// those events, as code a target calls would.
    #[derive(Default)]
    pub(crate) struct Probe {
        prefixes: &'static [&'static str],
        pub(crate) handled: AtomicUsize,
        pub(crate) flushes: AtomicUsize,
        pub(crate) flushed_within_ms: AtomicU64,
        pub(crate) inside: Mutex<Option<fn()>>,
    }

    impl Probe {
        pub(crate) fn new(prefixes: &'static [&'static str]) -> Arc<Probe> {
            Arc::new(Probe {
                prefixes,
                ..Probe::default()
            })
        }

        /// A pipeline of this probe's target alone (a console target).
        pub(crate) fn pipeline(self: &Arc<Self>, panic_flush_timeout: Duration) -> Pipeline {
            Pipeline {
                targets: vec![Box::new(ProbeTarget(Arc::clone(self)))],
                panic_flush_timeout,
                tally: Arc::default(),
            }
        }

        pub(crate) fn handled(&self) -> usize {
            self.handled.load(Ordering::SeqCst)
        }
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
            if self.0.prefixes.iter().any(|p| event.name.starts_with(p)) {
                self.0.handled.fetch_add(1, Ordering::SeqCst);
                let inside = *self.0.inside.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(inside) = inside {
                    inside();
                }
            }
            Failures::NONE
        }
        fn flush(&self) -> Failures {
            self.0.flushes.fetch_add(1, Ordering::SeqCst);
            Failures::NONE
        }
        fn flush_within(&self, timeout: Duration) -> Failures {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            self.0.flushed_within_ms.store(ms, Ordering::SeqCst);
            self.flush()
        }
        fn close(&self) -> Failures {
            Failures::NONE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_probe::{serial, Probe};
    use super::*;
    use crate::event::Level;
    use crate::filter::spec::FilterSpec;
    use crate::target::Output;
    use std::sync::mpsc;

    /// A pipeline that counts the events named `generation-test`.
    fn counting() -> (Arc<Probe>, Pipeline) {
        let probe = Probe::new(&["generation-test"]);
        let pipeline = probe.pipeline(Duration::from_millis(100));
        (probe, pipeline)
    }

    /// Threads keep their own copy of the pipeline; one that logged before
    /// a re-initialisation must log into the new pipeline afterwards.
    #[test]
    fn a_thread_that_logged_before_a_reinstall_logs_into_the_new_pipeline() {
        let _serial = serial();
        let ((old, old_pipeline), (new, new_pipeline)) = (counting(), counting());
        install(Some(old_pipeline));
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
        install(Some(new_pipeline));
        log_once();
        drop(go);
        worker.join().unwrap();
        install(None);
        assert_eq!(old.handled(), 1, "the first event, into the old pipeline");
        assert_eq!(new.handled(), 1, "the second, into the new one");
    }

    /// What a guard relies on: only the generation that is still current
    /// can be removed, so an old guard's drop leaves its successor alone.
    #[test]
    fn only_the_current_generation_can_be_uninstalled() {
        let _serial = serial();
        let ((_a, a_pipeline), (b, b_pipeline)) = (counting(), counting());
        let first = install(Some(a_pipeline)).generation;
        let second = install(Some(b_pipeline)).generation;
        crate::filter::state::start(FilterSpec::default(), Output::Console.into());
        assert_ne!(first, second);
        assert!(uninstall(first).is_none(), "replaced: nothing to remove");
        dispatch(&Event::new(Level::Info, "generation-test"));
        assert_eq!(b.handled(), 1, "the second stays current");
        assert!(uninstall(second).is_some());
        dispatch(&Event::new(Level::Info, "generation-test"));
        assert_eq!(b.handled(), 1, "nothing is current now");
        assert!(uninstall(second).is_none(), "removed once only");
    }
}
