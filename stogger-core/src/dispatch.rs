//! The dispatcher: one global, swappable set of targets.
//!
//! tracing's global dispatcher can be set once per process, so stogger
//! installs its layer once and keeps the configurable part here, behind a
//! lock that is only read per event (an `Arc` clone) and written on
//! (re)initialisation.

use crate::event::{Event, Level};
use crate::target::Target;
use crate::testing;
use crate::warn;
use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
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
    tracing_core::callsite::rebuild_interest_cache();
    old
}

fn current() -> Option<Arc<Pipeline>> {
    match CURRENT.read() {
        Ok(slot) => slot.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// The least severe level that reaches any target or an active capture.
pub(crate) fn min_level() -> Level {
    if testing::active() {
        return Level::Debug;
    }
    match MIN_LEVEL.load(Ordering::Relaxed) {
        0 => Level::Debug,
        1 => Level::Info,
        2 => Level::Warning,
        3 => Level::Error,
        _ => Level::Critical,
    }
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
    if let Some(pipeline) = current() {
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
    }
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
