//! Sync mode: each row is one autocommit INSERT, committed before the call
//! returns, written on the calling thread through a pool of
//! `sync_pool_size` connections (`pool`), with a circuit breaker shared by
//! every caller (`breaker`).
//!
//! A call, on a thread outside any tokio runtime:
//!
//! 1. **Breaker open** (the database was found unavailable and the probe
//!    has not reconnected yet): returns at once, no I/O, no wait; the rows
//!    are counted as not delivered (`dropped_unavailable`, -2).
//! 2. **Takes a pooled slot**, waiting at most `connect_timeout` (first
//!    come, first served), or until the breaker opens.
//! 3. **Per row**, on the slot's runtime (`block_on` on this thread):
//!    a connection made before the last outage is dropped; the runtime
//!    reads what arrived since the slot's last use, so a connection the
//!    server closed meanwhile is noticed *before* anything is sent; a
//!    missing connection is made (within `connect_timeout`; a failure
//!    opens the breaker). Then the INSERT, an unnamed statement, bounded
//!    by `connect_timeout` and abandoned as soon as the breaker opens.
//! 4. Returns the slot; sends the warnings collected on the way through
//!    the warn callback (which may log) on this thread.
//!
//! What a row's caller is told, and what is true:
//!
//! - *written* (counted in the result, `delivered`): committed.
//! - *not delivered* (-2, `dropped_unavailable`): never sent, or refused
//!   by the server with an ERROR (which rolls the statement back). Such a
//!   row is never committed later: nothing is queued or retried behind the
//!   caller's back.
//! - *uncertain* (-3, `uncertain`): the INSERT was sent and no answer came
//!   (time limit, connection lost, abandoned in an outage). It may be
//!   stored; it is never sent again, so there is no duplicate.
//!
//! Only a row that certainly did not reach the server is sent again: after
//! a reconnect when the connection was found dead before sending, and
//! after creating a table that was dropped (42P01).
//!
//! A caller inside a tokio runtime cannot `block_on`: the same write is
//! handed to a thread of the writer's blocking pool and the caller waits,
//! bounded. If the caller gives up before that thread started the write,
//! the write never starts (-2); if it had started, the caller returns -3
//! and the thread's outcome is what the counters record.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use tokio::sync::watch;

use crate::conn::{self, Failure};
use crate::conn_settings::ConnSettings;
use crate::queue::Row;
use crate::schema;

use super::breaker::{self, Breaker};
use super::pool::{self, SlotConnection, SlotPool};
use super::state::{deadline_after, ready_table, WriterState};

/// The result of a sync call whose rows were not written and never will
/// be (counted in `dropped_unavailable`).
pub(super) const NOT_DELIVERED: i64 = -2;

/// The result of a sync call with a row that was sent without an answer:
/// it may be stored (counted in `uncertain`); it is not sent again.
pub(super) const UNCERTAIN: i64 = -3;

/// What became of one row.
enum RowOutcome {
    Delivered,
    /// The server refused the row's content (counted `dropped_rejected`).
    Rejected(String),
    /// Certainly not stored: never sent, or refused with an ERROR.
    NotWritten(String),
    /// Sent; no answer.
    Uncertain(String),
}

/// Warnings collected while a slot is held, sent after it is returned.
type DeferredWarnings = Vec<(&'static str, String)>;

/// Sync mode's shared state: the pool, the breaker, what to write.
pub(super) struct SyncPath {
    writer: Arc<WriterState>,
    settings: ConnSettings,
    insert_sql: String,
    pool: SlotPool,
    breaker: Breaker,
    /// The writer's own runtime, where the probe runs.
    probe_runtime: tokio::runtime::Handle,
    /// Slots held right now (close waits for them).
    holders: AtomicUsize,
    /// This path, for the probe task.
    me: Weak<SyncPath>,
}

/// The hand-over of a write to a blocking thread (caller in a runtime).
const WAITING: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

impl SyncPath {
    /// A path with a pool of `pool_size` connections, none made yet.
    pub(super) fn new(
        writer: Arc<WriterState>,
        settings: ConnSettings,
        pool_size: usize,
        probe_runtime: tokio::runtime::Handle,
    ) -> Result<Arc<SyncPath>, String> {
        let pool = pool::new_pool(pool_size)?;
        let insert_sql = schema::insert_sql(&writer.table);
        Ok(Arc::new_cyclic(|me| SyncPath {
            writer,
            settings,
            insert_sql,
            pool,
            breaker: Breaker::new(),
            probe_runtime,
            holders: AtomicUsize::new(0),
            me: me.clone(),
        }))
    }

    /// The time limit of one connect, one INSERT, and the wait for a slot.
    fn bound(&self) -> Duration {
        self.settings.connect_timeout
    }

    /// The time limit of creating the table and checking the privilege.
    fn setup_bound(&self) -> Duration {
        self.bound().max(Duration::from_secs(5)) + self.bound()
    }

    /// The longest a call of `n` rows can take once it holds a slot: per
    /// row two connects, the table's set-up and the INSERT.
    fn call_bound(&self, n: usize) -> Duration {
        let per_row = self.bound() * 3 + self.setup_bound();
        let rows = u32::try_from(n).unwrap_or(u32::MAX);
        (self.bound() + per_row.saturating_mul(rows)).saturating_add(Duration::from_secs(1))
    }

    /// Writes `rows` on the calling thread, which is not inside a tokio
    /// runtime; the ABI's result.
    pub(super) fn write(&self, rows: &[Row]) -> i64 {
        let mut deferred = DeferredWarnings::new();
        let result = self.write_collecting(rows, &mut deferred);
        for (kind, m) in deferred {
            self.writer.warner.warn(kind, &m);
        }
        result
    }

    fn write_collecting(&self, rows: &[Row], deferred: &mut DeferredWarnings) -> i64 {
        if self.breaker.is_open() {
            return self.fail_fast(rows.len(), deferred);
        }
        let mut opened = self.breaker.watch();
        let waited = {
            let get = std::pin::pin!(self.pool.get());
            let outage = std::pin::pin!(opened.changed());
            pool::wait_until(select(get, outage), deadline_after(self.bound())).map(|e| match e {
                Either::Left((got, _)) => Either::Left(got),
                Either::Right(_) => Either::Right(()),
            })
        };
        let mut slot = match waited {
            Some(Either::Left(Ok(slot))) => slot,
            Some(Either::Left(Err(e))) => {
                return self.not_delivered(
                    rows.len(),
                    "sync",
                    format!("no pooled connection: {e}"),
                    deferred,
                )
            }
            Some(Either::Right(_)) => return self.fail_fast(rows.len(), deferred),
            None => {
                let status = self.pool.status();
                return self.not_delivered(
                    rows.len(),
                    "sync",
                    format!(
                        "no pooled connection was free within {} ms ({} in use, {} callers \
                         waiting; postgres_sync_pool_size = {})",
                        self.bound().as_millis(),
                        status.size.saturating_sub(status.available),
                        status.waiting,
                        status.max_size
                    ),
                    deferred,
                );
            }
        };
        self.holders.fetch_add(1, Ordering::AcqRel);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (rt, connection) = slot.parts()?;
            Some(rt.block_on(self.write_rows(connection, rows, &mut opened, deferred)))
        }));
        let result = match result {
            Ok(Some(r)) => r,
            Ok(None) => NOT_DELIVERED,
            Err(_) => {
                // The connection's state is unknown: not used again.
                slot.connection = None;
                deferred.push(("panic", "the PostgreSQL sync write panicked".to_string()));
                UNCERTAIN
            }
        };
        drop(slot);
        self.holders.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Writes `rows` for a caller inside a tokio runtime: a thread of the
    /// writer's blocking pool does it; the caller waits at most the call's
    /// bound (see the module docs for what a late answer means).
    pub(super) fn write_from_runtime(
        &self,
        rows: Vec<Row>,
        runtime: &tokio::runtime::Runtime,
    ) -> i64 {
        if self.breaker.is_open() {
            let mut deferred = DeferredWarnings::new();
            let r = self.fail_fast(rows.len(), &mut deferred);
            for (kind, m) in deferred {
                self.writer.warner.warn(kind, &m);
            }
            return r;
        }
        let Some(me) = self.me.upgrade() else {
            return NOT_DELIVERED;
        };
        let n = rows.len();
        let ticket = Arc::new(AtomicU8::new(WAITING));
        let job_ticket = ticket.clone();
        let (reply, answer) = mpsc::sync_channel(1);
        runtime.spawn_blocking(move || {
            if job_ticket
                .compare_exchange(WAITING, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let _ = reply.send(me.write(&rows));
            }
        });
        let bound = self.call_bound(n);
        if let Ok(v) = answer.recv_timeout(bound) {
            return v;
        }
        let abandoned = ticket
            .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if abandoned {
            self.writer
                .dropped_unavailable
                .fetch_add(n as u64, Ordering::AcqRel);
            self.writer.warner.warn(
                "sync",
                &format!(
                    "no plugin thread was free for a sync write within {} ms; dropped {n} \
                     row(s), never sent",
                    bound.as_millis()
                ),
            );
            NOT_DELIVERED
        } else {
            self.writer.warner.warn(
                "sync",
                &format!(
                    "a sync write did not finish within {} ms; returning without knowing \
                     whether its {n} row(s) were written (the counters will say)",
                    bound.as_millis()
                ),
            );
            UNCERTAIN
        }
    }

    /// The rows of one call, in order, on the slot's runtime.
    async fn write_rows(
        &self,
        connection: &mut Option<SlotConnection>,
        rows: &[Row],
        opened: &mut watch::Receiver<u64>,
        deferred: &mut DeferredWarnings,
    ) -> i64 {
        let state = &*self.writer;
        let mut written = 0i64;
        for (i, row) in rows.iter().enumerate() {
            match self.write_row(connection, row, opened, deferred).await {
                RowOutcome::Delivered => {
                    written += 1;
                    state.delivered.fetch_add(1, Ordering::AcqRel);
                }
                RowOutcome::Rejected(m) => {
                    state.dropped_rejected.fetch_add(1, Ordering::AcqRel);
                    deferred.push((
                        "rejected",
                        format!("dropped 1 row that {} rejected: {m}", state.table),
                    ));
                }
                RowOutcome::NotWritten(m) => {
                    return self.not_delivered(rows.len() - i, "connect", m, deferred);
                }
                RowOutcome::Uncertain(m) => {
                    state.uncertain.fetch_add(1, Ordering::AcqRel);
                    let rest = (rows.len() - i - 1) as u64;
                    state.dropped_unavailable.fetch_add(rest, Ordering::AcqRel);
                    let rest = if rest > 0 {
                        format!("; dropped the {rest} row(s) after it, never sent")
                    } else {
                        String::new()
                    };
                    deferred.push((
                        "uncertain",
                        format!(
                            "{m}: 1 row may or may not be stored in {} (it is not sent \
                             again){rest}",
                            state.table
                        ),
                    ));
                    return UNCERTAIN;
                }
            }
        }
        written
    }

    /// One row: a trusted connection (made at most twice), the INSERT.
    async fn write_row(
        &self,
        slot: &mut Option<SlotConnection>,
        row: &Row,
        opened: &mut watch::Receiver<u64>,
        deferred: &mut DeferredWarnings,
    ) -> RowOutcome {
        let state = &*self.writer;
        let bound = self.bound();
        let mut table_created = false;
        for _attempt in 0..3 {
            opened.mark_unchanged();
            if let Some(outage) = self.breaker.outage() {
                return RowOutcome::NotWritten(unavailable(&outage));
            }
            // A connection made before the last outage is not trusted.
            let generation = self.breaker.generation();
            if slot.as_ref().is_some_and(|c| c.generation < generation) {
                *slot = None;
            }
            if let Some(c) = slot.as_mut() {
                // Lets the runtime read what arrived since this slot's last
                // use: a connection the server closed meanwhile ends here,
                // before anything is sent on it.
                pool::poll_with_io(&mut c.io, tokio::task::yield_now()).await;
                if !c.usable() {
                    *slot = None;
                }
            }
            if slot.is_none() {
                match self.connect(generation, opened).await {
                    Ok(c) => *slot = Some(c),
                    Err(m) => return RowOutcome::NotWritten(m),
                }
            }
            let Some(c) = slot.as_mut() else { continue };
            let SlotConnection { client, io, .. } = c;
            let insert = tokio::time::timeout(
                bound,
                pool::poll_with_io(io, conn::insert_unnamed(client, &self.insert_sql, row)),
            );
            let sent = tokio::select! {
                biased;
                r = insert => Some(r),
                _ = opened.changed() => None,
            };
            match sent {
                Some(Ok(Ok(()))) => return RowOutcome::Delivered,
                Some(Ok(Err(e))) if statement_failed(&e) => match conn::classify(&e, client) {
                    Failure::Rows(m) => return RowOutcome::Rejected(m),
                    Failure::Blocked {
                        table_missing: true,
                        ..
                    } if !table_created => {
                        table_created = true;
                        if let Err(m) = self.ready_table(c, deferred).await {
                            return RowOutcome::NotWritten(m);
                        }
                    }
                    Failure::Blocked { message, .. } => {
                        return RowOutcome::NotWritten(format!(
                            "cannot write to {}: {message}",
                            state.table
                        ))
                    }
                    Failure::Connection(m) => {
                        *slot = None;
                        return RowOutcome::NotWritten(format!(
                            "the INSERT into {} failed: {m}",
                            state.table
                        ));
                    }
                },
                Some(Ok(Err(e))) => {
                    *slot = None;
                    return RowOutcome::Uncertain(format!(
                        "the connection to {} was lost while an INSERT was in flight ({})",
                        self.settings.display,
                        self.settings.redactor.apply(&conn::describe(&e))
                    ));
                }
                Some(Err(_)) => {
                    *slot = None;
                    let m = format!(
                        "an INSERT into {} got no answer within {} ms \
                         (postgres_connect_timeout_ms)",
                        state.table,
                        bound.as_millis()
                    );
                    self.trip(&m);
                    return RowOutcome::Uncertain(m);
                }
                None => {
                    *slot = None;
                    return RowOutcome::Uncertain(format!(
                        "an INSERT into {} in flight was abandoned: another sync write found \
                         the database unavailable",
                        state.table
                    ));
                }
            }
        }
        RowOutcome::NotWritten(format!(
            "gave up writing to {} after connecting again twice",
            state.table
        ))
    }

    /// Connects a slot within `connect_timeout`; a failure opens the
    /// breaker. Gives up when the breaker opens meanwhile.
    async fn connect(
        &self,
        generation: u64,
        opened: &mut watch::Receiver<u64>,
    ) -> Result<SlotConnection, String> {
        let attempt = tokio::select! {
            biased;
            r = conn::connect_parts(&self.settings) => Some(r),
            _ = opened.changed() => None,
        };
        match attempt {
            Some(Ok((client, io))) => {
                self.writer.connected.store(true, Ordering::Release);
                Ok(SlotConnection {
                    client,
                    io: Some(io),
                    generation,
                })
            }
            Some(Err(m)) => {
                self.trip(&m);
                Err(m)
            }
            None => Err(self.breaker.outage().map_or_else(
                || "the database is unavailable".to_string(),
                |o| unavailable(&o),
            )),
        }
    }

    /// Creates the table if missing and checks the privilege, on `c`.
    async fn ready_table(
        &self,
        c: &mut SlotConnection,
        deferred: &mut DeferredWarnings,
    ) -> Result<(), String> {
        let SlotConnection { client, io, .. } = c;
        let bound = self.setup_bound();
        match tokio::time::timeout(
            bound,
            pool::poll_with_io(io, ready_table(&self.writer, &self.settings, client)),
        )
        .await
        {
            Ok(Ok(warnings)) => {
                deferred.extend(warnings.into_iter().map(|w| ("schema", w)));
                Ok(())
            }
            Ok(Err(m)) => Err(m),
            Err(_) => Err(format!(
                "connected to {}, but preparing writes to {} did not finish within {} ms",
                self.settings.display,
                self.writer.table,
                bound.as_millis()
            )),
        }
    }

    /// Counts `n` rows as not delivered and says why; the ABI's result.
    fn not_delivered(
        &self,
        n: usize,
        kind: &'static str,
        why: String,
        deferred: &mut DeferredWarnings,
    ) -> i64 {
        self.writer
            .dropped_unavailable
            .fetch_add(n as u64, Ordering::AcqRel);
        deferred.push((kind, format!("{why}; dropped {n} row(s) (sync mode)")));
        NOT_DELIVERED
    }

    /// A call while the breaker is open: no I/O, no wait.
    fn fail_fast(&self, n: usize, deferred: &mut DeferredWarnings) -> i64 {
        let why = self.breaker.outage().map_or_else(
            || "the database is unavailable".to_string(),
            |o| unavailable(&o),
        );
        self.not_delivered(n, "connect", why, deferred)
    }

    /// Opens the breaker; the caller that opens it starts the probe.
    fn trip(&self, reason: &str) {
        self.writer.connected.store(false, Ordering::Release);
        if self.breaker.trip(reason) {
            if let Some(me) = self.me.upgrade() {
                self.probe_runtime.spawn(me.probe());
            }
        }
    }

    /// Reconnects in the background until the database answers, then
    /// closes the breaker.
    async fn probe(self: Arc<Self>) {
        let mut delay = breaker::PROBE_FIRST;
        loop {
            self.writer.sleep(delay).await;
            if self.writer.shutting_down() {
                return;
            }
            match self.reach().await {
                Ok(warnings) => {
                    for w in warnings {
                        self.writer.warner.warn("schema", &w);
                    }
                    let outage = self.breaker.reset();
                    self.writer.connected.store(true, Ordering::Release);
                    self.writer.reconnects.fetch_add(1, Ordering::AcqRel);
                    self.writer.warner.reset("connect");
                    let after = outage.map_or(0, |o| o.since.elapsed().as_millis());
                    self.writer.warner.warn(
                        "reconnect",
                        &format!(
                            "connected to {} again after {after} ms; sync writes resume",
                            self.settings.display
                        ),
                    );
                    return;
                }
                Err(m) => {
                    self.breaker.still_down(&m);
                    delay = breaker::next_delay(delay);
                }
            }
        }
    }

    /// One probe attempt: connect, create the table if missing, check the
    /// privilege; the schema warnings.
    async fn reach(&self) -> Result<Vec<String>, String> {
        let client = conn::connect(&self.settings).await?;
        let bound = self.setup_bound();
        match tokio::time::timeout(bound, ready_table(&self.writer, &self.settings, &client)).await
        {
            Ok(r) => r,
            Err(_) => Err(format!(
                "connected to {}, but checking table {} got no answer within {} ms",
                self.settings.display,
                self.writer.table,
                bound.as_millis()
            )),
        }
    }

    /// The first connection (at open, on a thread outside any runtime):
    /// one slot connected, the table created if missing, the privilege
    /// checked. A failure opens the breaker, so the probe takes over.
    pub(super) fn connect_first(&self) -> Result<(), String> {
        let mut deferred = DeferredWarnings::new();
        let r = self.connect_first_slot(&mut deferred);
        match &r {
            Ok(()) => self.writer.connected.store(true, Ordering::Release),
            Err(m) => self.trip(m),
        }
        for (kind, m) in deferred {
            self.writer.warner.warn(kind, &m);
        }
        r
    }

    fn connect_first_slot(&self, deferred: &mut DeferredWarnings) -> Result<(), String> {
        let mut slot = pool::wait_until(self.pool.get(), deadline_after(self.bound()))
            .ok_or_else(|| "no pooled connection was free at open".to_string())?
            .map_err(|e| format!("no pooled connection: {e}"))?;
        let generation = self.breaker.generation();
        let (rt, connection) = slot
            .parts()
            .ok_or_else(|| "the pooled connection has no runtime".to_string())?;
        rt.block_on(async {
            let (client, io) = conn::connect_parts(&self.settings).await?;
            let mut c = SlotConnection {
                client,
                io: Some(io),
                generation,
            };
            self.ready_table(&mut c, deferred).await?;
            *connection = Some(c);
            Ok(())
        })
    }

    /// Stops: no slot is handed out any more (waiting callers return), idle
    /// connections are closed, and calls holding a slot are waited for at
    /// most until `deadline` (each is bounded by its own time limits).
    pub(super) fn close(&self, deadline: Instant) {
        self.pool.close();
        self.writer.stop.notify_one();
        while self.holders.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Whether the server answered the statement with an ERROR (the statement
/// was rolled back and the connection is still usable), as opposed to a
/// lost connection or a FATAL error that ends it (outcome unknown).
fn statement_failed(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::Severity;
    e.as_db_error().is_some_and(|db| {
        matches!(
            db.parsed_severity(),
            Some(Severity::Error | Severity::Warning)
        )
    })
}

/// "The database is unavailable: <reason> (for N ms)".
fn unavailable(o: &breaker::Outage) -> String {
    format!(
        "the database is unavailable ({}; for {} ms), not sending (sync mode fails fast until a \
         background probe reconnects)",
        o.reason,
        o.since.elapsed().as_millis()
    )
}
