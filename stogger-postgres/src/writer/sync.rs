//! Sync mode: each write is one autocommit INSERT per row, run on the
//! calling thread, and committed before the call returns. There is no
//! writer task: the tokio-postgres client, its prepared INSERT and its
//! connection future live together behind a mutex (the pattern of the
//! blocking `postgres` crate), and the caller `block_on`s a current-thread
//! runtime that polls the INSERT together with the connection future
//! (`poll_with_io`), so no other thread takes part. The connection only makes
//! progress while a write polls it; a connection that died in between is
//! noticed by the next write.
//!
//! - On a connection failure the write reconnects once (connect within
//!   `connect_timeout`, schema and statements within
//!   `max(connect_timeout, 5 s) + connect_timeout`) and retries the row;
//!   if that fails, the row and the rest of the call are dropped
//!   (`dropped_unavailable`) and the call returns -2. Each INSERT is
//!   bounded by `connect_timeout`; one that runs out is not sent again
//!   (it may still commit). (An INSERT whose connection died after the
//!   server committed it but before the answer arrived can be written
//!   twice in this mode; batch mode does not have that window.)
//! - Concurrent callers serialise on the mutex, one call (all its rows)
//!   at a time, as they did on the single connection of the former writer
//!   task. A caller waits for the mutex at most as long as the holder's
//!   call is bounded by the timeouts above.
//! - Warnings are collected while the mutex is held and sent through the
//!   warn callback after it is released, on the calling thread (the
//!   callback may log).
//! - A caller that is itself inside a tokio runtime
//!   (`Handle::try_current()` succeeds) cannot `block_on`: the same write
//!   is handed to a thread of the writer's own runtime's blocking pool
//!   (`spawn_blocking`, threads `stogger-pg-*`) and the caller waits for
//!   the answer on a channel, bounded (`sync` warning and -2 when it runs
//!   out). `block_in_place` is not used: it panics on a current-thread
//!   runtime, and it would still park the caller's worker.
//! - The first connection at open is made on that blocking pool too, so
//!   that open works from inside a runtime.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::conn::{self, Conn, Failure};
use crate::conn_settings::ConnSettings;
use crate::queue::Row;

use super::state::{prepare_connection, WriterState};

enum InsertFailure {
    Rejected(String),
    Unavailable(String),
}

/// Polls `fut` together with the connection's I/O until `fut` completes, on
/// whatever thread awaits this (sync mode: the caller's, inside
/// [`SyncPath`]'s current-thread runtime). When the connection future
/// finishes first (the connection is gone), it is dropped and `io` becomes
/// None; the client's requests then fail as closed.
async fn poll_with_io<F: std::future::Future>(
    io: &mut Option<conn::Connection>,
    fut: F,
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
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

/// Sync mode's connection: the client, its prepared statements, and its
/// connection future, which only runs while a write polls it.
pub(super) struct SyncConnection {
    conn: Conn,
    /// None once the connection future has finished.
    io: Option<conn::Connection>,
}

impl SyncConnection {
    fn usable(&self) -> bool {
        self.io.is_some() && !self.conn.is_closed()
    }
}

/// What the sync-mode mutex guards.
pub(super) struct SyncRuntime {
    /// A current-thread runtime (I/O and timers) that writers `block_on`;
    /// None after close.
    pub(super) runtime: Option<tokio::runtime::Runtime>,
    pub(super) connection: Option<SyncConnection>,
}

impl Drop for SyncRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside an async context panics; this never
        // blocks and is allowed anywhere.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Warnings collected under the lock, sent after it is released.
type DeferredWarnings = Vec<(&'static str, String)>;

/// Sync mode: one connection behind a mutex, written on the calling thread.
pub(super) struct SyncPath {
    pub(super) writer: Arc<WriterState>,
    pub(super) settings: ConnSettings,
    pub(super) runtime: Mutex<SyncRuntime>,
}

impl SyncPath {
    fn lock(&self) -> std::sync::MutexGuard<'_, SyncRuntime> {
        self.runtime.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects, creates the schema and prepares the statements, within
    /// `connect_timeout` for the connection and
    /// `max(connect_timeout, 5 s) + connect_timeout` for the rest.
    async fn open_connection(
        &self,
        deferred: &mut DeferredWarnings,
    ) -> Result<SyncConnection, String> {
        let settings = &self.settings;
        let (client, io) = conn::connect_parts(settings).await?;
        let mut io = Some(io);
        let bound = settings.connect_timeout.max(Duration::from_secs(5)) + settings.connect_timeout;
        match tokio::time::timeout(
            bound,
            poll_with_io(&mut io, prepare_connection(&self.writer, settings, client)),
        )
        .await
        {
            Ok(Ok((conn, warnings))) => {
                deferred.extend(warnings.into_iter().map(|w| ("schema", w)));
                Ok(SyncConnection { conn, io })
            }
            Ok(Err(m)) => Err(m),
            Err(_) => Err(format!(
                "connected to {}, but preparing writes to {} did not finish within {} ms",
                settings.display,
                self.writer.table,
                bound.as_millis()
            )),
        }
    }

    /// One row: at most one reconnect, the INSERT bounded by `connect_timeout`.
    async fn insert(
        &self,
        direct: &mut Option<SyncConnection>,
        row: &Row,
        deferred: &mut DeferredWarnings,
    ) -> Result<(), InsertFailure> {
        let state = &*self.writer;
        let timeout = self.settings.connect_timeout;
        let mut last = String::new();
        for _attempt in 0..2 {
            if !direct.as_ref().is_some_and(SyncConnection::usable) {
                *direct = None;
                state.connected.store(false, Ordering::Release);
                match self.open_connection(deferred).await {
                    Ok(d) => {
                        state.connected.store(true, Ordering::Release);
                        *direct = Some(d);
                    }
                    Err(m) => return Err(InsertFailure::Unavailable(m)),
                }
            }
            let Some(SyncConnection { conn: c, io }) = direct.as_mut() else {
                continue;
            };
            match tokio::time::timeout(timeout, poll_with_io(io, c.insert(row))).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => match conn::classify(&e, &c.client) {
                    Failure::Rows(m) => return Err(InsertFailure::Rejected(m)),
                    Failure::Connection(m) => {
                        last = m;
                        *direct = None;
                    }
                    Failure::Blocked { message, .. } => {
                        *direct = None;
                        return Err(InsertFailure::Unavailable(format!(
                            "cannot write to {}: {message}",
                            state.table
                        )));
                    }
                },
                Err(_) => {
                    // The INSERT may still commit: do not send it again.
                    *direct = None;
                    return Err(InsertFailure::Unavailable(format!(
                        "INSERT into {} did not finish within {} ms",
                        state.table,
                        timeout.as_millis()
                    )));
                }
            }
        }
        state.connected.store(false, Ordering::Release);
        Err(InsertFailure::Unavailable(last))
    }

    /// The rows of one call, in order; the ABI's result.
    async fn write_all(
        &self,
        direct: &mut Option<SyncConnection>,
        rows: &[Row],
        deferred: &mut DeferredWarnings,
    ) -> i64 {
        let state = &*self.writer;
        let mut written = 0i64;
        for (i, row) in rows.iter().enumerate() {
            match self.insert(direct, row, deferred).await {
                Ok(()) => {
                    written += 1;
                    state.delivered.fetch_add(1, Ordering::AcqRel);
                }
                Err(InsertFailure::Rejected(m)) => {
                    state.dropped_rejected.fetch_add(1, Ordering::AcqRel);
                    deferred.push((
                        "rejected",
                        format!("dropped 1 row that {} rejected: {m}", state.table),
                    ));
                }
                Err(InsertFailure::Unavailable(m)) => {
                    let lost = (rows.len() - i) as u64;
                    state.dropped_unavailable.fetch_add(lost, Ordering::AcqRel);
                    deferred.push(("connect", format!("{m}; dropped {lost} row(s) (sync mode)")));
                    return -2;
                }
            }
        }
        written
    }

    /// Runs `f` on the current thread under the lock with the runtime to
    /// `block_on` (so not inside a tokio runtime), then sends the collected
    /// warnings. None after close, or when `f` panicked.
    fn run<T>(
        &self,
        f: impl FnOnce(
            &tokio::runtime::Runtime,
            &mut Option<SyncConnection>,
            &mut DeferredWarnings,
        ) -> T,
    ) -> Option<T> {
        let mut deferred = DeferredWarnings::new();
        let out = {
            let mut st = self.lock();
            let SyncRuntime {
                runtime: rt,
                connection: direct,
            } = &mut *st;
            let rt = rt.as_ref()?;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f(rt, &mut *direct, &mut deferred)
            }));
            if r.is_err() {
                *direct = None;
                self.writer.connected.store(false, Ordering::Release);
                deferred.push(("panic", "the PostgreSQL sync write panicked".to_string()));
            }
            r.ok()
        };
        // After the lock is released (the callback may log).
        for (kind, m) in deferred {
            self.writer.warner.warn(kind, &m);
        }
        out
    }

    /// Writes `rows` on the current thread (see [`SyncPath::run`]).
    pub(super) fn write(&self, rows: &[Row]) -> i64 {
        self.run(|rt, d, n| rt.block_on(self.write_all(d, rows, n)))
            .unwrap_or(-2)
    }

    /// The first connection (at open).
    pub(super) fn connect_first(&self) -> Result<(), String> {
        let r = self.run(|rt, d, n| {
            let c = rt.block_on(self.open_connection(n))?;
            *d = Some(c);
            Ok(())
        });
        match r {
            Some(Ok(())) => {
                self.writer.connected.store(true, Ordering::Release);
                Ok(())
            }
            Some(Err(m)) => Err(m),
            None => Err(
                "the first connection attempt did not complete (closed, or it panicked)"
                    .to_string(),
            ),
        }
    }

    /// Stops: the runtime and the connection are dropped, waiting for a
    /// write in progress at most until `deadline`.
    pub(super) fn close(&self, deadline: Instant) {
        loop {
            match self.runtime.try_lock() {
                Ok(mut st) => {
                    st.connection = None;
                    if let Some(rt) = st.runtime.take() {
                        rt.shutdown_background();
                    }
                    return;
                }
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    let mut st = p.into_inner();
                    st.connection = None;
                    if let Some(rt) = st.runtime.take() {
                        rt.shutdown_background();
                    }
                    return;
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        // The writer holding it drops both with the last reference.
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}
