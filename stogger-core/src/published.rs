//! A value replaced now and then and read on every log call (the pipeline,
//! the filters): shared behind a lock, copied by each thread, read from the
//! copy with one atomic load while nothing changed.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::LocalKey;

/// A thread's copy of a [`Published`] value and the generation it is of.
pub(crate) type ThreadCopy<T> = RefCell<(u64, Option<Arc<T>>)>;

/// The current value, and a counter bumped by every replacement.
pub(crate) struct Published<T> {
    slot: RwLock<Option<Arc<T>>>,
    generation: AtomicU64,
}

impl<T> Published<T> {
    /// Nothing published yet.
    pub(crate) const fn new() -> Self {
        Published {
            slot: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Replaces the value, returning the previous one.
    pub(crate) fn replace(&self, value: Option<Arc<T>>) -> Option<Arc<T>> {
        let old = match self.slot.write() {
            Ok(mut slot) => std::mem::replace(&mut *slot, value),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), value),
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        old
    }

    /// The current value (takes the lock).
    pub(crate) fn get(&self) -> Option<Arc<T>> {
        match self.slot.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Runs `f` with the current value, read from this thread's copy in
    /// `copy` (a `thread_local!` of the caller's): one atomic load per
    /// call, the lock and a new `Arc` only after a replacement. A replaced
    /// value lives on in a thread's copy until that thread reads again (or
    /// exits). A nested call, or one while the thread exits, reads the
    /// shared value instead.
    pub(crate) fn with(&self, copy: &'static LocalKey<ThreadCopy<T>>, f: impl FnOnce(Option<&T>)) {
        let generation = self.generation.load(Ordering::Acquire);
        let mut f = Some(f);
        let _ = copy.try_with(|cell| {
            let Ok(mut cached) = cell.try_borrow_mut() else {
                return;
            };
            if cached.0 != generation {
                *cached = (generation, self.get());
            }
            if let Some(f) = f.take() {
                f(cached.1.as_deref());
            }
        });
        if let Some(f) = f.take() {
            f(self.get().as_deref());
        }
    }
}
