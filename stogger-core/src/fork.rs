//! Noticing that this process is a child forked without exec.
//!
//! `fork()` copies the whole memory, locks included, but only the thread
//! that called it. In the child, every writer thread of the parent's
//! pipeline is gone (the PostgreSQL writer's runtime) and any lock another
//! thread held at that moment stays locked forever. So a child must never
//! touch what it inherited: no write, no flush, no close, no drop.
//!
//! The child is recognised without `pthread_atfork` and without a system
//! call per event: a few words live in a page mapped with
//! `MADV_WIPEONFORK` (Linux 4.14 and later), which the kernel hands to a
//! child filled with zeros. The dispatcher's generation is one of them, so
//! the load an event already does tells a forked child apart: it reads 0
//! there ("nothing installed in this process"). Where the page cannot be
//! set up (older kernels, other systems) a `pthread_atfork` child handler
//! zeroes the same words instead.
//!
//! [`PerProcess`] builds on it: process-wide state that a child must not
//! reuse (locks a parent's thread may have held at fork) is replaced by a
//! fresh value the first time the child asks for it; the parent's copy is
//! leaked, never dropped.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Once;

/// The words a forked child sees as zeros.
#[derive(Debug)]
pub(crate) struct Marks {
    /// The generation of this process's current pipeline (see `dispatch`);
    /// 0: none was installed in this process.
    pub(crate) generation: AtomicU64,
    /// This process's id once asked for ([`pid`]); 0: not asked yet.
    pid: AtomicU32,
    /// Set once a forked child was told its logging is off.
    pub(crate) fork_warned: AtomicBool,
}

impl Marks {
    const fn new() -> Marks {
        Marks {
            generation: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            fork_warned: AtomicBool::new(false),
        }
    }

    fn clear(&self) {
        self.generation.store(0, Ordering::Relaxed);
        self.pid.store(0, Ordering::Relaxed);
        self.fork_warned.store(false, Ordering::Relaxed);
    }
}

/// Used until the page is set up, and for good when it cannot be (then a
/// `pthread_atfork` handler clears it in a child).
static FALLBACK: Marks = Marks::new();

static MARKS: AtomicPtr<Marks> = AtomicPtr::new(&FALLBACK as *const Marks as *mut Marks);

static SETUP: Once = Once::new();

/// The marks as they are now, without setting anything up: for the hot
/// path, where "not set up yet" reads as generation 0 (nothing installed).
#[inline]
pub(crate) fn marks_now() -> &'static Marks {
    // SAFETY: MARKS points either at FALLBACK or at a page mapped once and
    // never unmapped; both live for the rest of the process.
    unsafe { &*MARKS.load(Ordering::Acquire) }
}

/// The marks, setting up the wipe-on-fork page first if needed.
pub(crate) fn marks() -> &'static Marks {
    SETUP.call_once(|| {
        let page = wipe_on_fork_page();
        match page {
            Some(page) => MARKS.store(page, Ordering::Release),
            None => register_atfork(),
        }
    });
    marks_now()
}

/// This process's id, read with a system call once per process (a forked
/// child reads it again: its copy of the cached value is wiped).
pub(crate) fn pid() -> u32 {
    let marks = marks();
    match marks.pid.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            marks.pid.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// A private anonymous page the kernel zeroes in a forked child, or `None`.
#[cfg(target_os = "linux")]
fn wipe_on_fork_page() -> Option<*mut Marks> {
    use rustix::mm::{madvise, mmap_anonymous, munmap, Advice, MapFlags, ProtFlags};
    const LEN: usize = 4096;
    const _: () = assert!(std::mem::size_of::<Marks>() <= LEN);
    // SAFETY: a fresh mapping chosen by the kernel; nothing else refers to it.
    let page = unsafe {
        mmap_anonymous(
            std::ptr::null_mut(),
            LEN,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )
    }
    .ok()?;
    // SAFETY: the mapping made above, of that length.
    if unsafe { madvise(page, LEN, Advice::LinuxWipeOnFork) }.is_err() {
        // SAFETY: the mapping made above; no reference to it exists.
        let _ = unsafe { munmap(page, LEN) };
        return None;
    }
    // Zero-filled memory is a valid `Marks` (atomics of 0 and false).
    Some(page.cast::<Marks>())
}

#[cfg(not(target_os = "linux"))]
fn wipe_on_fork_page() -> Option<*mut Marks> {
    None
}

#[cfg(unix)]
fn register_atfork() {
    extern "C" fn in_child() {
        // Atomic stores only: allowed in a child of a multi-threaded process.
        FALLBACK.clear();
    }
    extern "C" {
        fn pthread_atfork(
            prepare: Option<extern "C" fn()>,
            parent: Option<extern "C" fn()>,
            child: Option<extern "C" fn()>,
        ) -> std::ffi::c_int;
    }
    // SAFETY: registers a handler that only stores to atomics of a static.
    let _ = unsafe { pthread_atfork(None, None, Some(in_child)) };
}

#[cfg(not(unix))]
fn register_atfork() {}

/// A value each process gets its own of: a forked child that asks for it
/// gets a fresh one from `make` (the parent's copy, whose lock another
/// thread may have held at fork time, is leaked). Costs a pointer load and
/// a comparison with the cached pid; for cold paths only.
pub(crate) struct PerProcess<T: 'static> {
    current: AtomicPtr<Owned<T>>,
    make: fn() -> T,
}

struct Owned<T> {
    pid: u32,
    value: T,
}

impl<T: Send + Sync + 'static> PerProcess<T> {
    /// Empty until first asked for.
    pub(crate) const fn new(make: fn() -> T) -> PerProcess<T> {
        PerProcess {
            current: AtomicPtr::new(std::ptr::null_mut()),
            make,
        }
    }

    /// This process's value.
    pub(crate) fn get(&self) -> &'static T {
        let me = pid();
        loop {
            let seen = self.current.load(Ordering::Acquire);
            // SAFETY: a non-null pointer comes from `Box::into_raw` below and
            // is never freed once published.
            if let Some(owned) = unsafe { seen.as_ref() } {
                if owned.pid == me {
                    return &owned.value;
                }
            }
            let fresh = Box::into_raw(Box::new(Owned {
                pid: me,
                value: (self.make)(),
            }));
            match self
                .current
                .compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // The previous value (another process's, or none) is leaked.
                // SAFETY: published just now, never freed.
                Ok(_) => return unsafe { &(*fresh).value },
                // Another thread of this process was first: use its value.
                // SAFETY: `fresh` was never published.
                Err(_) => drop(unsafe { Box::from_raw(fresh) }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_set_up_and_the_pid_is_this_processes() {
        assert_eq!(pid(), std::process::id());
        #[cfg(target_os = "linux")]
        assert!(
            !std::ptr::eq(marks(), &FALLBACK),
            "MADV_WIPEONFORK works on every supported kernel"
        );
    }

    #[test]
    fn per_process_values_are_shared_within_a_process() {
        static V: PerProcess<AtomicU32> = PerProcess::new(|| AtomicU32::new(7));
        V.get().store(8, Ordering::Relaxed);
        assert_eq!(V.get().load(Ordering::Relaxed), 8);
        assert!(std::ptr::eq(V.get(), V.get()));
    }
}
