//! Sync mode: a call's rows are committed before it returns, written on a
//! caller's thread (its own, or that of the caller leading its group)
//! through a pool of `sync_pool_size` connections (`pool`), with callers
//! that arrive together written together (`group`) and a circuit breaker
//! shared by every caller (`breaker`).
//!
//! A call, on a thread outside any tokio runtime:
//!
//! 1. **Breaker open** (the database was found unavailable and the probe
//!    has not reconnected yet): returns at once, no I/O, no wait; the rows
//!    are counted as not delivered (`dropped_unavailable`, -2).
//! 2. **A free connection**: the caller takes it and writes its own rows,
//!    alone (step 4).
//! 3. **Every connection busy**: the caller queues its rows and waits, at
//!    most `connect_timeout`, until either a connection is free for it
//!    (first come, first served) — then it *leads a group*: its own rows
//!    and those of the callers queued behind it, up to 64 rows and 1 MiB —
//!    or another caller's group took its rows. It returns when its rows'
//!    fate is known. A caller that gives up (time limit, breaker opened)
//!    withdraws its rows, which it can only do while no one has taken them.
//! 4. **Writing** (`insert`), on the connection (`block_on` on the
//!    leader's thread): one autocommit multi-row INSERT of the group, an
//!    unnamed statement, bounded by `connect_timeout` and abandoned as
//!    soon as the breaker opens; a connection that cannot be trusted is
//!    replaced first. The leader finishes every caller's entry, returns the
//!    connection and sends the warnings collected on the way through the
//!    warn callback (which may log) on its thread.
//!
//! What a row's caller is told, and what is true:
//!
//! - *written* (counted in the result, `delivered`): committed.
//! - *not delivered* (-2, `dropped_unavailable`): never sent, or refused
//!   by the server with an ERROR (which rolls the statement back). Such a
//!   row is never committed later: nothing is queued or retried behind the
//!   caller's back (a row is queued only while its caller waits, and a
//!   caller that stops waiting takes it out first).
//! - *uncertain* (-3, `uncertain`): the INSERT was sent and no answer came
//!   (time limit, connection lost, abandoned in an outage). It may be
//!   stored; it is never sent again, so there is no duplicate. A group's
//!   statement is all or nothing: every row in it is uncertain together.
//!
//! **With a spool** (`spool_dir`), rows that certainly did not reach the
//! server — never sent, or not sent because the database is unavailable
//! (the breaker open, no connection) — are not dropped: the caller hands
//! them to the spool writer (`batch` in [`Role::SpoolForSync`]) and waits,
//! at most [`SPOOL_WAIT`], until they are on disk in the spool (or
//! committed, if the database is back); the call returns their count, as
//! if written. They reach the table when the database returns (this run)
//! or at the next run's start. Rows refused for their content or sent
//! without an answer are never spooled (they would fail again, or could
//! be stored twice). A caller that stopped waiting for its group's leader
//! (past the result bound) has returned -3; if its rows then turn out not
//! sent, the leader hands them to the spool for it.
//!
//! [`Role::SpoolForSync`]: super::batch::Role::SpoolForSync
//!
//! Only a row that certainly did not reach the server is sent again: after
//! a reconnect when the connection was found dead before sending, after
//! creating a table that was dropped (42P01), and alone after the group's
//! statement was refused.
//!
//! A caller inside a tokio runtime cannot `block_on`: the same write is
//! handed to a thread of the writer's blocking pool and the caller waits,
//! bounded. If the caller gives up before that thread started the write,
//! the write never starts (-2); if it had started, the caller returns -3
//! and the thread's outcome is what the counters record.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use stogger_pg_proto::PgSettings;

use crate::conn;
use crate::conn_settings::ConnSettings;
use crate::queue::{Pushed, Row};
use crate::schema;

mod insert;

use super::breaker::{self, Breaker};
use super::group::{self, Entry, Group, Waiting};
use super::pool::{self, SlotConnection, SlotPool};
use super::state::{deadline_after, ready_table, WriterState};

/// The result of a sync call whose rows were not written and never will
/// be (counted in `dropped_unavailable`).
pub(super) const NOT_DELIVERED: i64 = -2;

/// The result of a sync call with a row that was sent without an answer:
/// it may be stored (counted in `uncertain`); it is not sent again.
pub(super) const UNCERTAIN: i64 = -3;

/// A leader's answer for a caller whose rows were all certainly not sent,
/// when a spool is configured: the caller hands them to the spool itself
/// (never the ABI's result).
pub(super) const NOT_SENT: i64 = -4;

/// The longest a sync call waits for its rows to be on disk in the spool
/// (or committed) after handing them over; past it the call returns and
/// the rows stay queued in memory, spooled or written later.
pub(super) const SPOOL_WAIT: Duration = Duration::from_secs(1);

/// Warnings collected while a connection is held, sent after it is
/// returned.
type DeferredWarnings = Vec<(&'static str, String)>;

/// A connection slot held by one caller.
type Held = deadpool::managed::Object<pool::SlotManager>;

/// How a caller's wait for a connection ended. (A held slot is large; this
/// lives on the stack for a moment, and boxing it would cost an allocation
/// per waiting call.)
#[allow(clippy::large_enum_variant)]
enum Waited {
    Held(Held),
    /// A leader wrote the caller's rows: its result.
    Done(i64),
    Outage,
    TimedOut,
    Failed(String),
}

/// Sync mode's shared state: the pool, the waiting callers, the breaker,
/// what to write.
pub(super) struct SyncPath {
    writer: Arc<WriterState>,
    settings: ConnSettings,
    /// `insert_sql[k - 1]`: the INSERT of k rows.
    insert_sql: Vec<String>,
    /// `postgres_prepared_statements`: INSERTs prepared per connection.
    prepared: bool,
    pool: SlotPool,
    waiting: Waiting,
    breaker: Breaker,
    /// The writer's own runtime, where the probe runs.
    probe_runtime: tokio::runtime::Handle,
    /// Connections held right now (close waits for them).
    holders: AtomicUsize,
    /// This path, for the probe task.
    me: Weak<SyncPath>,
}

/// The hand-over of a write to a blocking thread (caller in a runtime).
const WAITING: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

impl SyncPath {
    /// A path with a pool of `config.sync_pool_size` connections, none
    /// made yet.
    pub(super) fn new(
        writer: Arc<WriterState>,
        settings: ConnSettings,
        config: &PgSettings,
        probe_runtime: tokio::runtime::Handle,
    ) -> Result<Arc<SyncPath>, String> {
        let pool = pool::new_pool(config.sync_pool_size)?;
        let insert_sql = (1..=group::MAX_ROWS)
            .map(|k| schema::insert_sql(&writer.table, k))
            .collect();
        Ok(Arc::new_cyclic(|me| SyncPath {
            writer,
            settings,
            insert_sql,
            prepared: config.prepared_statements,
            pool,
            waiting: Waiting::default(),
            breaker: Breaker::new(),
            probe_runtime,
            holders: AtomicUsize::new(0),
            me: me.clone(),
        }))
    }

    /// The time limit of one connect, one INSERT, and the wait for a
    /// connection.
    fn bound(&self) -> Duration {
        self.settings.connect_timeout
    }

    /// The time limit of creating the table and checking the privilege.
    fn setup_bound(&self) -> Duration {
        self.bound().max(Duration::from_secs(5)) + self.bound()
    }

    /// How long after it starts a leader may still send a statement for
    /// its group: two connects, the table's set-up and the INSERT.
    fn group_budget(&self) -> Duration {
        self.bound() * 3 + self.setup_bound()
    }

    /// The longest a caller waits for a leader's answer once its rows were
    /// taken: the budget, the last statement's time limit, and a margin.
    fn result_bound(&self) -> Duration {
        self.group_budget() + self.bound() + Duration::from_secs(1)
    }

    /// The longest a whole call can take: the wait for a connection, then
    /// the wait for the result.
    fn call_bound(&self) -> Duration {
        self.bound() + self.result_bound() + Duration::from_secs(1)
    }

    /// The SQL of an INSERT of `rows` rows (at most [`group::MAX_ROWS`]).
    fn insert_sql(&self, rows: usize) -> &str {
        let i = rows.clamp(1, self.insert_sql.len()) - 1;
        &self.insert_sql[i]
    }

    /// Writes `rows` on the calling thread, which is not inside a tokio
    /// runtime; the ABI's result.
    pub(super) fn write(&self, rows: Vec<Row>) -> i64 {
        let mut deferred = DeferredWarnings::new();
        let result = self.write_collecting(rows, &mut deferred);
        for (kind, m) in deferred {
            self.writer.warner.warn(kind, &m);
        }
        result
    }

    fn write_collecting(&self, rows: Vec<Row>, deferred: &mut DeferredWarnings) -> i64 {
        if self.breaker.is_open() {
            return self.unsent(&rows, None, deferred);
        }
        let mut opened = self.breaker.watch();
        let entry = Entry::new(rows);
        match self.take_now() {
            Ok(Some(held)) => {
                self.lead(held, Group::alone(entry.clone()), &mut opened, deferred);
                let r = entry.result().unwrap_or(UNCERTAIN);
                return self.answer(r, &entry, deferred);
            }
            Ok(None) => {}
            Err(m) => return self.unsent(entry.rows(), Some(m), deferred),
        }
        self.waiting.push(entry.clone());
        let waited = self.wait_for(&entry, &mut opened, deadline_after(self.bound()));
        // Why the caller gives up (None: the database is unavailable).
        let why = match waited {
            Waited::Done(r) => return self.answer(r, &entry, deferred),
            Waited::Held(held) => {
                // Unless another caller's group has them, the caller's own
                // rows, and those waiting behind them; a connection handed
                // over after its rows were written goes back at once.
                if entry.result().is_none() {
                    let group = self.waiting.take_group(&entry);
                    if !group.is_empty() {
                        self.lead(held, group, &mut opened, deferred);
                    }
                }
                let r = self.await_result(&entry, deferred);
                return self.answer(r, &entry, deferred);
            }
            Waited::Outage => None,
            Waited::TimedOut => Some(self.no_connection_free()),
            Waited::Failed(m) => Some(m),
        };
        // Rows no leader took yet are the caller's to answer for.
        if self.waiting.withdraw(&entry) {
            return self.unsent(entry.rows(), why, deferred);
        }
        let r = self.await_result(&entry, deferred);
        self.answer(r, &entry, deferred)
    }

    /// A leader's result for `entry`, with [`NOT_SENT`] turned into the
    /// caller handing its rows to the spool.
    fn answer(&self, result: i64, entry: &Entry, deferred: &mut DeferredWarnings) -> i64 {
        if result == NOT_SENT {
            self.spill(entry.rows(), deferred)
        } else {
            result
        }
    }

    /// Whether rows that were not sent go to the spool (one is configured
    /// and could be opened).
    pub(super) fn spills(&self) -> bool {
        self.writer.spool_dir.is_some() && !self.writer.spool_failed.load(Ordering::Acquire)
    }

    /// Queues `rows` for the spool writer and wakes it (rows past the
    /// queue's bounds are dropped, counted and said).
    fn hand_to_spool(&self, rows: &[Row]) -> Pushed {
        let state = &*self.writer;
        let bytes: Vec<_> = rows.iter().map(Row::as_bytes).collect();
        let pushed = state.enqueue(&bytes);
        // Always: the spool writer spools rows as they come.
        state.wake.notify_one();
        pushed
    }

    /// Rows this caller did not send, because the database is unavailable
    /// (`why` None) or for the reason given: to the spool when there is
    /// one, else counted as not delivered. The ABI's result.
    fn unsent(&self, rows: &[Row], why: Option<String>, deferred: &mut DeferredWarnings) -> i64 {
        if self.spills() {
            return self.spill(rows, deferred);
        }
        match why {
            None => self.fail_fast(rows.len(), deferred),
            Some(m) => self.not_delivered(rows.len(), "sync", m, deferred),
        }
    }

    /// Hands `rows` to the spool writer and waits (at most [`SPOOL_WAIT`])
    /// until they are in the spool or committed; how many it took (rows
    /// past the queue's bounds are dropped, counted and said).
    fn spill(&self, rows: &[Row], deferred: &mut DeferredWarnings) -> i64 {
        let state = &*self.writer;
        let pushed = self.hand_to_spool(rows);
        if pushed.accepted > 0 {
            let target = pushed.enqueued;
            state.wait(SPOOL_WAIT, |p| p.resolved >= target || p.finished);
            // Kind `connect`, as without a spool: the spool's own
            // warnings (damage, full, what is left at close) stay apart.
            deferred.push((
                "connect",
                format!(
                    "{}; sync writes go to the spool {} until it returns",
                    self.outage_text(),
                    state
                        .spool_dir
                        .as_deref()
                        .map_or_else(String::new, |d| d.display().to_string())
                ),
            ));
        }
        pushed.accepted as i64
    }

    /// "No pooled connection was free within N ms (...)".
    fn no_connection_free(&self) -> String {
        let status = self.pool.status();
        format!(
            "no pooled connection was free within {} ms ({} in use, {} callers waiting; \
             postgres_sync_pool_size = {})",
            self.bound().as_millis(),
            status.size.saturating_sub(status.available),
            status.waiting,
            status.max_size
        )
    }

    /// A free connection without waiting, if there is one (None: all are
    /// busy). Creating a slot does no I/O: this never waits.
    fn take_now(&self) -> Result<Option<Held>, String> {
        let zero = deadpool::managed::Timeouts {
            wait: Some(Duration::ZERO),
            ..deadpool::managed::Timeouts::new()
        };
        match pool::wait_until(self.pool.timeout_get(&zero), deadline_after(self.bound())) {
            Some(Ok(slot)) => Ok(Some(slot)),
            Some(Err(deadpool::managed::PoolError::Timeout(_))) | None => Ok(None),
            Some(Err(e)) => Err(format!("no pooled connection: {e}")),
        }
    }

    /// Waits until `deadline` for a connection, for a leader to finish
    /// `entry`, or for the breaker to open.
    fn wait_for(
        &self,
        entry: &Entry,
        opened: &mut watch::Receiver<u64>,
        deadline: Instant,
    ) -> Waited {
        let wait = async {
            tokio::select! {
                biased;
                r = entry.done() => Waited::Done(r),
                _ = opened.changed() => Waited::Outage,
                got = self.pool.get() => match got {
                    Ok(slot) => Waited::Held(slot),
                    Err(e) => Waited::Failed(format!("no pooled connection: {e}")),
                },
            }
        };
        pool::wait_until(wait, deadline).unwrap_or(Waited::TimedOut)
    }

    /// Why the database is unavailable, for rows not sent.
    fn outage_text(&self) -> String {
        self.breaker.outage().map_or_else(
            || "the database is unavailable".to_string(),
            |o| unavailable(&o),
        )
    }

    /// Waits (bounded) for the leader that took `entry` to finish it.
    fn await_result(&self, entry: &Entry, deferred: &mut DeferredWarnings) -> i64 {
        if let Some(r) = entry.result() {
            return r;
        }
        let bound = self.result_bound();
        let waited = pool::wait_until(entry.done(), deadline_after(bound));
        // Not finished in time: the caller stops waiting, unless it was
        // finished just now after all.
        match waited.or_else(|| entry.abandon()) {
            Some(r) => r,
            None => {
                deferred.push((
                    "sync",
                    format!(
                        "a sync write did not finish within {} ms; returning without knowing \
                         whether its {} row(s) were written (the counters will say)",
                        bound.as_millis(),
                        entry.rows().len()
                    ),
                ));
                UNCERTAIN
            }
        }
    }

    /// Writes `group` on `held`, finishes every entry, returns the
    /// connection.
    fn lead(
        &self,
        mut held: Held,
        group: Group,
        opened: &mut watch::Receiver<u64>,
        deferred: &mut DeferredWarnings,
    ) {
        self.holders.fetch_add(1, Ordering::AcqRel);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let Some((rt, connection)) = held.parts() else {
                return false;
            };
            rt.block_on(self.write_group(connection, &group, opened, deferred));
            true
        }));
        match ran {
            Ok(true) => {}
            Ok(false) => {
                let n = group.finish_rest(NOT_DELIVERED);
                self.not_delivered(
                    n,
                    "sync",
                    "the pooled connection has no runtime".into(),
                    deferred,
                );
            }
            Err(_) => {
                // The connection's state is unknown: not used again.
                held.connection = None;
                let n = group.finish_rest(UNCERTAIN);
                self.writer.uncertain.fetch_add(n as u64, Ordering::AcqRel);
                deferred.push(("panic", "the PostgreSQL sync write panicked".to_string()));
            }
        }
        drop(group);
        drop(held);
        self.holders.fetch_sub(1, Ordering::AcqRel);
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
            let r = self.unsent(&rows, None, &mut deferred);
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
                let _ = reply.send(me.write(rows));
            }
        });
        let bound = self.call_bound();
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
        let why = self.outage_text();
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
    /// one pooled connection made, the table created if missing, the
    /// privilege checked. A failure opens the breaker, so the probe takes
    /// over.
    pub(super) fn connect_first(&self) -> Result<(), String> {
        let mut deferred = DeferredWarnings::new();
        let r = self.connect_first_held(&mut deferred);
        match &r {
            Ok(()) => self.writer.connected.store(true, Ordering::Release),
            Err(m) => self.trip(m),
        }
        for (kind, m) in deferred {
            self.writer.warner.warn(kind, &m);
        }
        r
    }

    fn connect_first_held(&self, deferred: &mut DeferredWarnings) -> Result<(), String> {
        let mut slot = pool::wait_until(self.pool.get(), deadline_after(self.bound()))
            .ok_or_else(|| "no pooled connection was free at open".to_string())?
            .map_err(|e| format!("no pooled connection: {e}"))?;
        let (rt, connection) = slot
            .parts()
            .ok_or_else(|| "the pooled connection has no runtime".to_string())?;
        rt.block_on(async {
            let generation = self.breaker.generation();
            let (client, io) = conn::connect_parts(&self.settings).await?;
            let mut c = Some(SlotConnection::new(client, io, generation));
            self.ready_table(&mut c, deferred).await?;
            *connection = c;
            Ok(())
        })
    }

    /// Stops: no connection is handed out any more (waiting callers
    /// return), idle connections are closed, and calls holding one are
    /// waited for at most until `deadline` (each is bounded by its own
    /// time limits).
    pub(super) fn close(&self, deadline: Instant) {
        self.pool.close();
        self.writer.stop.notify_one();
        while self.holders.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
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
