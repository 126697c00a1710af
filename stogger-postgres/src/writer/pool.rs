//! Sync mode's pool: deadpool's managed pool of *slots*, each a
//! current-thread tokio runtime and, once connected, one connection whose
//! I/O only that runtime drives.
//!
//! The caller that holds a slot `block_on`s the slot's runtime, so the
//! connection's socket is read and written on the calling thread, the way
//! the blocking `postgres` crate works: no other thread takes part in a
//! write. (deadpool-postgres's own manager spawns each connection's I/O
//! as a task on a runtime, which costs two thread hand-overs per
//! statement; docs/decisions.md has the measurement.)
//!
//! - Creating a slot builds its runtime and connects nothing: the caller
//!   connects inside its own `block_on`, under its own time limit, and can
//!   give up on an outage without a task left behind.
//! - Recycling is deadpool-postgres's `RecyclingMethod::Fast`: no round
//!   trip, only what the client knows locally (closed, or its I/O ended);
//!   such a connection is dropped and the slot kept, so the next holder
//!   reconnects. A connection that died unnoticed is caught before the
//!   next INSERT is sent (see `SyncPath`).
//! - Waiting for a slot is bounded and needs no runtime: [`wait_until`]
//!   polls the pool's future on the calling thread and parks it between
//!   wake-ups. deadpool's semaphore is fair (first come, first served).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use deadpool::managed::{self, Metrics, RecycleResult};
use tokio_postgres::Client;

use crate::conn;

/// A connection held by a slot.
pub(super) struct SlotConnection {
    pub(super) client: Client,
    /// The connection's I/O; None once it has finished (the connection is
    /// gone and the client's requests fail as closed).
    pub(super) io: Option<conn::Connection>,
    /// The breaker's generation when the connection was made: one made
    /// before the last outage is not trusted (see `Breaker`).
    pub(super) generation: u64,
    /// `postgres_prepared_statements`: the INSERT of k rows prepared on
    /// this connection, at `k - 1` (made when first needed).
    pub(super) statements: Vec<Option<tokio_postgres::Statement>>,
}

impl SlotConnection {
    /// A connection made in the breaker's `generation`, nothing prepared.
    pub(super) fn new(client: Client, io: conn::Connection, generation: u64) -> SlotConnection {
        SlotConnection {
            client,
            io: Some(io),
            generation,
            statements: Vec::new(),
        }
    }

    /// Whether the client still looks usable, without a round trip.
    pub(super) fn usable(&self) -> bool {
        self.io.is_some() && !self.client.is_closed()
    }
}

/// One pooled connection place: its runtime and its connection, if any.
pub(super) struct Slot {
    /// A current-thread runtime (I/O and timers) its holder `block_on`s;
    /// an Option only so that drop can shut it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    pub(super) connection: Option<SlotConnection>,
}

impl Slot {
    /// The runtime to `block_on` (on a thread outside any tokio runtime)
    /// and the connection it drives; None only while dropping.
    pub(super) fn parts(
        &mut self,
    ) -> Option<(&tokio::runtime::Runtime, &mut Option<SlotConnection>)> {
        let Slot {
            runtime,
            connection,
        } = self;
        Some((runtime.as_ref()?, connection))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The connection first (its I/O is registered with the runtime);
        // dropping a runtime inside an async context panics, shutting it
        // down in the background never blocks and is allowed anywhere.
        self.connection = None;
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// deadpool's manager of [`Slot`]s.
pub(super) struct SlotManager;

impl managed::Manager for SlotManager {
    type Type = Slot;
    type Error = std::io::Error;

    async fn create(&self) -> Result<Slot, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Slot {
            runtime: Some(runtime),
            connection: None,
        })
    }

    /// `RecyclingMethod::Fast`: no statement is sent. A connection that
    /// is known to be gone is dropped; the slot itself is always reused.
    async fn recycle(&self, slot: &mut Slot, _: &Metrics) -> RecycleResult<std::io::Error> {
        if !slot.connection.as_ref().is_some_and(SlotConnection::usable) {
            slot.connection = None;
        }
        Ok(())
    }
}

/// The pool.
pub(super) type SlotPool = managed::Pool<SlotManager>;

/// A pool of at most `size` slots, none created yet. deadpool's own
/// timeouts stay unset (they would need a runtime): the wait is bounded by
/// [`wait_until`], connecting and writing by the holder.
pub(super) fn new_pool(size: usize) -> Result<SlotPool, String> {
    SlotPool::builder(SlotManager)
        .max_size(size.max(1))
        .build()
        .map_err(|e| format!("cannot build the sync connection pool: {e}"))
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on the calling thread until it completes or `deadline`
/// passes (None; `fut` is dropped, which cancels a wait for a slot). For
/// futures that do no I/O (deadpool's wait for a slot): nothing drives a
/// reactor here.
pub(super) fn wait_until<F: Future>(fut: F, deadline: Instant) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        // Spurious wake-ups only cost another poll.
        std::thread::park_timeout(deadline - now);
    }
}

/// Polls `fut` together with the connection's I/O until `fut` completes,
/// on whatever thread awaits this (the slot holder's). When the I/O
/// finishes first (the connection is gone), it is dropped and `io` becomes
/// None; the client's requests then fail as closed.
pub(super) async fn poll_with_io<F: Future>(
    io: &mut Option<conn::Connection>,
    fut: F,
) -> F::Output {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        if let Some(c) = io.as_mut() {
            if c.as_mut().poll(cx).is_ready() {
                *io = None;
            }
        }
        fut.as_mut().poll(cx)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_pool_makes_the_next_caller_wait_only_until_its_deadline() {
        let pool = new_pool(1).unwrap();
        let first = wait_until(pool.get(), Instant::now() + Duration::from_secs(5))
            .expect("a free slot is handed out at once")
            .unwrap();
        let started = Instant::now();
        let second = wait_until(pool.get(), Instant::now() + Duration::from_millis(100));
        assert!(second.is_none(), "the only slot is taken");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(5), "bounded wait");
        // The slot comes back and the waiter on another thread gets it.
        let pool2 = pool.clone();
        let waiter = std::thread::spawn(move || {
            wait_until(pool2.get(), Instant::now() + Duration::from_secs(10)).map(|r| r.is_ok())
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(first);
        assert_eq!(waiter.join().unwrap(), Some(true));
        assert_eq!(
            pool.status().size,
            1,
            "the slot was reused, not created again"
        );
    }
}
