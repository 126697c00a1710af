//! Sync mode: a call's rows are committed before it returns, written on
//! the calling thread through a pool of `sync_pool_size` connections
//! (`pool`), with callers that arrive together written together (`group`)
//! and a circuit breaker shared by every caller (`breaker`).
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
//! 4. **Writing**, on the connection (`block_on` on the leader's thread): a
//!    connection made before the last outage is dropped; one the server
//!    closed since its last use is noticed *before* anything is sent and
//!    replaced (within `connect_timeout`; a failure opens the breaker).
//!    Then one autocommit multi-row INSERT of the group, an unnamed
//!    statement, bounded by `connect_timeout` and abandoned as soon as the
//!    breaker opens. If the server refuses it with an ERROR (rolled back,
//!    nothing stored), each row is sent again alone, so that only the
//!    refused row's caller loses it. The leader finishes every caller's
//!    entry, returns the connection and sends the warnings collected on
//!    the way through the warn callback (which may log) on its thread.
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
use tokio_postgres::Client;

use crate::conn::{self, Failure};
use crate::conn_settings::ConnSettings;
use crate::queue::Row;
use crate::schema;

use super::breaker::{self, Breaker};
use super::dp_pool::{self, DpLane, Got};
use super::group::{self, Entry, Group, Waiting};
use super::pool::{self, SlotConnection, SlotPool};
use super::state::{deadline_after, ready_table, WriterState};

/// The result of a sync call whose rows were not written and never will
/// be (counted in `dropped_unavailable`).
pub(super) const NOT_DELIVERED: i64 = -2;

/// The result of a sync call with a row that was sent without an answer:
/// it may be stored (counted in `uncertain`); it is not sent again.
pub(super) const UNCERTAIN: i64 = -3;

/// What became of one statement.
enum Outcome {
    Committed,
    /// The server refused it with an ERROR: rolled back, nothing stored,
    /// the connection still usable. `row_level`: the error is about the
    /// rows' content (SQLSTATE classes 22, 23, 54).
    Refused {
        message: String,
        row_level: bool,
    },
    /// Certainly not stored: never sent, or refused in a way that means
    /// the database is unavailable. Nothing after it is sent either.
    NotSent(String),
    /// Sent; no answer.
    Unknown(String),
}

/// What became of one row of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Delivered,
    /// Refused for its content (counted `dropped_rejected`).
    Rejected,
    /// Refused with its own warning already said (not delivered).
    Refused,
    /// Not sent (not delivered); said in one warning with the reason.
    NotSent,
    /// Sent without an answer.
    Uncertain,
}

/// Warnings collected while a connection is held, sent after it is
/// returned.
type DeferredWarnings = Vec<(&'static str, String)>;

/// A pooled connection as the write code uses it, whichever pool it came
/// from.
pub(super) trait Lane {
    /// Drops the connection when it cannot be trusted: made before the
    /// breaker last opened, or found closed.
    async fn refresh(&mut self, path: &SyncPath);
    /// Whether a connection is held.
    fn is_connected(&self) -> bool;
    /// Makes a connection (within `connect_timeout`; a failure opens the
    /// breaker; gives up when the breaker opens meanwhile).
    async fn connect(
        &mut self,
        path: &SyncPath,
        opened: &mut watch::Receiver<u64>,
    ) -> Result<(), String>;
    /// The client, and its connection's I/O when the holder drives it.
    fn parts(&mut self) -> Option<(&Client, &mut Option<conn::Connection>)>;
    /// Drops the connection (its state is unknown).
    fn discard(&mut self);
}

impl Lane for Option<SlotConnection> {
    async fn refresh(&mut self, path: &SyncPath) {
        let generation = path.breaker.generation();
        if self.as_ref().is_some_and(|c| c.generation < generation) {
            *self = None;
        }
        if let Some(c) = self.as_mut() {
            // Lets the runtime read what arrived since this slot's last
            // use: a connection the server closed meanwhile ends here,
            // before anything is sent on it.
            pool::poll_with_io(&mut c.io, tokio::task::yield_now()).await;
            if !c.usable() {
                *self = None;
            }
        }
    }

    fn is_connected(&self) -> bool {
        self.is_some()
    }

    async fn connect(
        &mut self,
        path: &SyncPath,
        opened: &mut watch::Receiver<u64>,
    ) -> Result<(), String> {
        let generation = path.breaker.generation();
        let (client, io) = path.connect(opened).await?;
        *self = Some(SlotConnection {
            client,
            io: Some(io),
            generation,
        });
        Ok(())
    }

    fn parts(&mut self) -> Option<(&Client, &mut Option<conn::Connection>)> {
        self.as_mut().map(|c| (&c.client, &mut c.io))
    }

    fn discard(&mut self) {
        *self = None;
    }
}

/// Where the connections come from.
enum Engine {
    /// deadpool's pool of slots driven by their holder (`pool`).
    Slots(SlotPool),
    /// deadpool-postgres's pool, I/O on the writer's runtime (`dp_pool`).
    Dp(deadpool_postgres::Pool),
}

/// A connection held by one caller.
enum Held {
    Slot(deadpool::managed::Object<pool::SlotManager>),
    Dp(DpLane),
}

/// A caller's attempt to take a free connection without waiting. (Held
/// is large; these live on the stack for a moment, and boxing would cost
/// an allocation per call.)
#[allow(clippy::large_enum_variant)]
enum Now {
    Held(Held),
    Busy,
    /// The breaker opened (a connect failed, here or elsewhere).
    Unavailable,
    Failed(String),
}

/// How a caller's wait for a connection ended.
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
    engine: Engine,
    waiting: Waiting,
    pub(super) breaker: Arc<Breaker>,
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

/// Selects deadpool-postgres's pool instead of the slots, for measuring
/// the two against each other (`cargo xtask bench`, `sync_threads`).
const ENGINE_VAR: &str = "STOGGER_PG_SYNC_POOL_ENGINE";

impl SyncPath {
    /// A path with a pool of `pool_size` connections, none made yet.
    pub(super) fn new(
        writer: Arc<WriterState>,
        settings: ConnSettings,
        pool_size: usize,
        probe_runtime: tokio::runtime::Handle,
    ) -> Result<Arc<SyncPath>, String> {
        let breaker = Arc::new(Breaker::new());
        let engine = if std::env::var(ENGINE_VAR).is_ok_and(|v| v == "deadpool-postgres") {
            Engine::Dp(dp_pool::new_pool(&settings, pool_size, breaker.clone())?)
        } else {
            Engine::Slots(pool::new_pool(pool_size)?)
        };
        let insert_sql = (1..=group::MAX_ROWS)
            .map(|k| schema::insert_sql(&writer.table, k))
            .collect();
        Ok(Arc::new_cyclic(|me| SyncPath {
            writer,
            settings,
            insert_sql,
            engine,
            waiting: Waiting::default(),
            breaker,
            probe_runtime,
            holders: AtomicUsize::new(0),
            me: me.clone(),
        }))
    }

    /// The time limit of one connect, one INSERT, and the wait for a
    /// connection.
    pub(super) fn bound(&self) -> Duration {
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
        let n = rows.len();
        if self.breaker.is_open() {
            return self.fail_fast(n, deferred);
        }
        let mut opened = self.breaker.watch();
        let entry = Entry::new(rows);
        match self.take_now(&mut opened) {
            Now::Held(held) => {
                self.lead(held, Group::alone(entry.clone()), &mut opened, deferred);
                return entry.result().unwrap_or(UNCERTAIN);
            }
            Now::Busy => {}
            Now::Unavailable => return self.fail_fast(n, deferred),
            Now::Failed(m) => return self.not_delivered(n, "sync", m, deferred),
        }
        self.waiting.push(entry.clone());
        let waited = self.wait_for(&entry, &mut opened, deadline_after(self.bound()));
        let gave_up = match waited {
            // Finished by another caller's group: this connection is the
            // next waiter's.
            Waited::Held(_) if entry.result().is_some() => None,
            Waited::Held(held) => {
                // The caller's own rows (unless a group in flight on
                // another connection has them) and those waiting behind.
                let group = self.waiting.take_group(&entry);
                if !group.is_empty() {
                    self.lead(held, group, &mut opened, deferred);
                }
                None
            }
            Waited::Done(r) => return r,
            Waited::Outage => Some(None),
            Waited::TimedOut => Some(Some(self.no_connection_free())),
            Waited::Failed(m) => Some(Some(m)),
        };
        if let Some(why) = gave_up {
            if self.waiting.withdraw(&entry) {
                return match why {
                    None => self.fail_fast(n, deferred),
                    Some(m) => self.not_delivered(n, "sync", m, deferred),
                };
            }
        }
        self.await_result(&entry, deferred)
    }

    /// "No pooled connection was free within N ms (...)".
    fn no_connection_free(&self) -> String {
        let status = match &self.engine {
            Engine::Slots(p) => p.status(),
            Engine::Dp(p) => p.status(),
        };
        format!(
            "no pooled connection was free within {} ms ({} in use, {} callers waiting; \
             postgres_sync_pool_size = {})",
            self.bound().as_millis(),
            status.size.saturating_sub(status.available),
            status.waiting,
            status.max_size
        )
    }

    /// A free connection without waiting, if there is one.
    fn take_now(&self, opened: &mut watch::Receiver<u64>) -> Now {
        match &self.engine {
            Engine::Slots(p) => {
                let zero = deadpool::managed::Timeouts {
                    wait: Some(Duration::ZERO),
                    ..deadpool::managed::Timeouts::new()
                };
                // Creating a slot does no I/O: this returns at once.
                match pool::wait_until(p.timeout_get(&zero), deadline_after(self.bound())) {
                    Some(Ok(slot)) => Now::Held(Held::Slot(slot)),
                    Some(Err(deadpool::managed::PoolError::Timeout(_))) => Now::Busy,
                    Some(Err(e)) => Now::Failed(format!("no pooled connection: {e}")),
                    None => Now::Busy,
                }
            }
            Engine::Dp(_) => self.probe_runtime.block_on(async {
                match self.dp_get(Some(Duration::ZERO), opened).await {
                    Got::Held(o) => Now::Held(Held::Dp(DpLane::new(o))),
                    Got::Busy => Now::Busy,
                    Got::ConnectFailed(_) | Got::Outage => Now::Unavailable,
                    Got::Failed(m) => Now::Failed(m),
                }
            }),
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
        match &self.engine {
            Engine::Slots(p) => {
                let wait = async {
                    tokio::select! {
                        biased;
                        r = entry.done() => Waited::Done(r),
                        _ = opened.changed() => Waited::Outage,
                        got = p.get() => match got {
                            Ok(slot) => Waited::Held(Held::Slot(slot)),
                            Err(e) => Waited::Failed(format!("no pooled connection: {e}")),
                        },
                    }
                };
                pool::wait_until(wait, deadline).unwrap_or(Waited::TimedOut)
            }
            Engine::Dp(_) => self.probe_runtime.block_on(async {
                let mut outage = self.breaker.watch();
                let wait = async {
                    tokio::select! {
                        biased;
                        r = entry.done() => Waited::Done(r),
                        _ = outage.changed() => Waited::Outage,
                        got = self.dp_get(None, opened) => match got {
                            Got::Held(o) => Waited::Held(Held::Dp(DpLane::new(o))),
                            Got::Busy => Waited::TimedOut,
                            Got::ConnectFailed(_) | Got::Outage => Waited::Outage,
                            Got::Failed(m) => Waited::Failed(m),
                        },
                    }
                };
                tokio::time::timeout_at(deadline.into(), wait)
                    .await
                    .unwrap_or(Waited::TimedOut)
            }),
        }
    }

    /// A connection from deadpool-postgres's pool, waiting at most `wait`
    /// (None: until cancelled), connecting within the time limit; a failed
    /// connect opens the breaker (its reason, redacted).
    pub(super) async fn dp_get(
        &self,
        wait: Option<Duration>,
        opened: &mut watch::Receiver<u64>,
    ) -> Got {
        let Engine::Dp(pool) = &self.engine else {
            return Got::Failed("not a deadpool-postgres pool".to_string());
        };
        match dp_pool::get(pool, wait, self.bound(), opened).await {
            Got::Held(o) => {
                self.writer.connected.store(true, Ordering::Release);
                Got::Held(o)
            }
            Got::ConnectFailed(m) => {
                let m = self.connect_failed(&m);
                self.trip(&m);
                Got::ConnectFailed(m)
            }
            other => other,
        }
    }

    /// "Cannot connect to <dsn>: <why>", redacted.
    fn connect_failed(&self, why: &str) -> String {
        self.settings.redactor.apply(&format!(
            "cannot connect to {}: {why}",
            self.settings.display
        ))
    }

    /// Why the database is unavailable, for a row not sent.
    pub(super) fn outage_text(&self) -> String {
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
        match pool::wait_until(entry.done(), deadline_after(bound)) {
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
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &mut held {
            Held::Slot(slot) => match slot.parts() {
                Some((rt, connection)) => {
                    rt.block_on(self.write_group(connection, &group, opened, deferred));
                    true
                }
                None => false,
            },
            Held::Dp(lane) => {
                self.probe_runtime
                    .block_on(self.write_group(lane, &group, opened, deferred));
                true
            }
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
                match &mut held {
                    Held::Slot(slot) => slot.connection = None,
                    Held::Dp(lane) => lane.discard(),
                }
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

    /// A group's rows, in statements of at most [`group::MAX_ROWS`] rows;
    /// then the counters, the warnings and each entry's result.
    async fn write_group<L: Lane>(
        &self,
        lane: &mut L,
        group: &Group,
        opened: &mut watch::Receiver<u64>,
        deferred: &mut DeferredWarnings,
    ) {
        let rows = group.rows();
        let mut fates = vec![Fate::NotSent; rows.len()];
        let give_up_at = deadline_after(self.group_budget());
        // Why the rows not sent yet will not be sent.
        let mut stop: Option<String> = None;
        for range in group::statements(&rows) {
            if stop.is_some() {
                break;
            }
            let part = &rows[range.clone()];
            match self.send(lane, part, opened, deferred).await {
                Outcome::Committed => fates[range].fill(Fate::Delivered),
                Outcome::Refused { message, row_level } if part.len() == 1 => {
                    fates[range.start] = self.refused(message, row_level, deferred);
                }
                Outcome::Refused { .. } => {
                    // Rolled back: which row (or all)? Each alone says.
                    for i in range {
                        if Instant::now() >= give_up_at {
                            stop = Some(format!(
                                "gave up sending the rows of a refused multi-row INSERT one by \
                                 one after {} ms",
                                self.group_budget().as_millis()
                            ));
                        }
                        if stop.is_some() {
                            break;
                        }
                        fates[i] = match self.send(lane, &rows[i..=i], opened, deferred).await {
                            Outcome::Committed => Fate::Delivered,
                            Outcome::Refused { message, row_level } => {
                                self.refused(message, row_level, deferred)
                            }
                            Outcome::NotSent(m) => {
                                stop = Some(m);
                                Fate::NotSent
                            }
                            Outcome::Unknown(m) => {
                                stop = Some(self.unknown(m, 1, deferred));
                                Fate::Uncertain
                            }
                        };
                    }
                }
                Outcome::NotSent(m) => stop = Some(m),
                Outcome::Unknown(m) => {
                    stop = Some(self.unknown(m, range.len(), deferred));
                    fates[range].fill(Fate::Uncertain);
                }
            }
        }
        self.settle(group, &fates, stop, deferred);
    }

    /// Counts the fates, says the rows not sent, finishes each entry.
    fn settle(
        &self,
        group: &Group,
        fates: &[Fate],
        stop: Option<String>,
        deferred: &mut DeferredWarnings,
    ) {
        let state = &*self.writer;
        let count = |f: Fate| fates.iter().filter(|x| **x == f).count() as u64;
        let not_sent = count(Fate::NotSent);
        state
            .delivered
            .fetch_add(count(Fate::Delivered), Ordering::AcqRel);
        state
            .dropped_rejected
            .fetch_add(count(Fate::Rejected), Ordering::AcqRel);
        state
            .dropped_unavailable
            .fetch_add(count(Fate::Refused) + not_sent, Ordering::AcqRel);
        state
            .uncertain
            .fetch_add(count(Fate::Uncertain), Ordering::AcqRel);
        if not_sent > 0 {
            let why = stop.unwrap_or_else(|| "not sent".to_string());
            deferred.push((
                "connect",
                format!("{why}; dropped {not_sent} row(s) (sync mode)"),
            ));
        }
        let mut at = 0;
        for (i, e) in group.entries().iter().enumerate() {
            let mine = &fates[at..at + e.rows().len()];
            at += e.rows().len();
            let result = if mine.contains(&Fate::Uncertain) {
                UNCERTAIN
            } else if mine
                .iter()
                .any(|f| matches!(f, Fate::NotSent | Fate::Refused))
            {
                NOT_DELIVERED
            } else {
                mine.iter().filter(|f| **f == Fate::Delivered).count() as i64
            };
            group.finish(i, result);
        }
    }

    /// A row refused alone: rejected for its content, or not delivered.
    fn refused(&self, message: String, row_level: bool, deferred: &mut DeferredWarnings) -> Fate {
        if row_level {
            deferred.push((
                "rejected",
                format!(
                    "dropped 1 row that {} rejected: {message}",
                    self.writer.table
                ),
            ));
            Fate::Rejected
        } else {
            deferred.push(("connect", format!("{message}; dropped 1 row (sync mode)")));
            Fate::Refused
        }
    }

    /// Says that `n` rows were sent without an answer; the reason the rows
    /// after them are not sent.
    fn unknown(&self, m: String, n: usize, deferred: &mut DeferredWarnings) -> String {
        deferred.push((
            "uncertain",
            format!(
                "{m}: {n} row(s) may or may not be stored in {} (they are not sent again)",
                self.writer.table
            ),
        ));
        "not sent after an INSERT before it got no answer".to_string()
    }

    /// One statement of `rows`: a trusted connection (made at most twice),
    /// the INSERT.
    async fn send<L: Lane>(
        &self,
        lane: &mut L,
        rows: &[&Row],
        opened: &mut watch::Receiver<u64>,
        deferred: &mut DeferredWarnings,
    ) -> Outcome {
        let state = &*self.writer;
        let bound = self.bound();
        let mut table_created = false;
        for _attempt in 0..3 {
            opened.mark_unchanged();
            if let Some(outage) = self.breaker.outage() {
                return Outcome::NotSent(unavailable(&outage));
            }
            lane.refresh(self).await;
            if !lane.is_connected() {
                if let Err(m) = lane.connect(self, opened).await {
                    return Outcome::NotSent(m);
                }
            }
            let Some((client, io)) = lane.parts() else {
                continue;
            };
            let insert = tokio::time::timeout(
                bound,
                pool::poll_with_io(
                    io,
                    conn::insert_unnamed(client, self.insert_sql(rows.len()), rows),
                ),
            );
            let sent = tokio::select! {
                biased;
                r = insert => Some(r),
                _ = opened.changed() => None,
            };
            let failure = match sent {
                Some(Ok(Ok(()))) => {
                    // A committed statement is sync mode's batch.
                    state.batches.fetch_add(1, Ordering::AcqRel);
                    return Outcome::Committed;
                }
                Some(Ok(Err(e))) if statement_failed(&e) => conn::classify(&e, client),
                Some(Ok(Err(e))) => {
                    lane.discard();
                    return Outcome::Unknown(format!(
                        "the connection to {} was lost while an INSERT was in flight ({})",
                        self.settings.display,
                        self.settings.redactor.apply(&conn::describe(&e))
                    ));
                }
                Some(Err(_)) => {
                    lane.discard();
                    let m = format!(
                        "an INSERT into {} got no answer within {} ms \
                         (postgres_connect_timeout_ms)",
                        state.table,
                        bound.as_millis()
                    );
                    self.trip(&m);
                    return Outcome::Unknown(m);
                }
                None => {
                    lane.discard();
                    return Outcome::Unknown(format!(
                        "an INSERT into {} in flight was abandoned: another sync write found \
                         the database unavailable",
                        state.table
                    ));
                }
            };
            match failure {
                Failure::Rows(m) => {
                    return Outcome::Refused {
                        message: m,
                        row_level: true,
                    }
                }
                Failure::Blocked {
                    table_missing: true,
                    ..
                } if !table_created => {
                    table_created = true;
                    if let Err(m) = self.ready_table(lane, deferred).await {
                        return Outcome::NotSent(m);
                    }
                }
                Failure::Blocked { message, .. } => {
                    return Outcome::Refused {
                        message: format!("cannot write to {}: {message}", state.table),
                        row_level: false,
                    }
                }
                Failure::Connection(m) => {
                    lane.discard();
                    return Outcome::NotSent(format!(
                        "the INSERT into {} failed: {m}",
                        state.table
                    ));
                }
            }
        }
        Outcome::NotSent(format!(
            "gave up writing to {} after connecting again twice",
            state.table
        ))
    }

    /// Connects within `connect_timeout`; a failure opens the breaker.
    /// Gives up when the breaker opens meanwhile.
    async fn connect(
        &self,
        opened: &mut watch::Receiver<u64>,
    ) -> Result<(Client, conn::Connection), String> {
        let attempt = tokio::select! {
            biased;
            r = conn::connect_parts(&self.settings) => Some(r),
            _ = opened.changed() => None,
        };
        match attempt {
            Some(Ok(c)) => {
                self.writer.connected.store(true, Ordering::Release);
                Ok(c)
            }
            Some(Err(m)) => {
                self.trip(&m);
                Err(m)
            }
            None => Err(self.outage_text()),
        }
    }

    /// Creates the table if missing and checks the privilege, on `lane`.
    async fn ready_table<L: Lane>(
        &self,
        lane: &mut L,
        deferred: &mut DeferredWarnings,
    ) -> Result<(), String> {
        let Some((client, io)) = lane.parts() else {
            return Err("no connection to prepare the table on".to_string());
        };
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
        let why = self.outage_text();
        self.not_delivered(n, "connect", why, deferred)
    }

    /// Opens the breaker; the caller that opens it starts the probe.
    pub(super) fn trip(&self, reason: &str) {
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
        let mut opened = self.breaker.watch();
        match &self.engine {
            Engine::Slots(p) => {
                let mut slot = pool::wait_until(p.get(), deadline_after(self.bound()))
                    .ok_or_else(|| "no pooled connection was free at open".to_string())?
                    .map_err(|e| format!("no pooled connection: {e}"))?;
                let (rt, connection) = slot
                    .parts()
                    .ok_or_else(|| "the pooled connection has no runtime".to_string())?;
                rt.block_on(async {
                    let generation = self.breaker.generation();
                    let (client, io) = conn::connect_parts(&self.settings).await?;
                    let mut c = Some(SlotConnection {
                        client,
                        io: Some(io),
                        generation,
                    });
                    self.ready_table(&mut c, deferred).await?;
                    *connection = c;
                    Ok(())
                })
            }
            Engine::Dp(p) => self.probe_runtime.block_on(async {
                match dp_pool::get(p, Some(self.bound()), self.bound(), &mut opened).await {
                    Got::Held(o) => {
                        let mut lane = DpLane::new(o);
                        self.ready_table(&mut lane, deferred).await
                    }
                    Got::Busy => Err("no pooled connection was free at open".into()),
                    Got::ConnectFailed(m) => Err(self.connect_failed(&m)),
                    Got::Outage => Err(self.outage_text()),
                    Got::Failed(m) => Err(m),
                }
            }),
        }
    }

    /// Stops: no connection is handed out any more (waiting callers
    /// return), idle connections are closed, and calls holding one are
    /// waited for at most until `deadline` (each is bounded by its own
    /// time limits).
    pub(super) fn close(&self, deadline: Instant) {
        match &self.engine {
            Engine::Slots(p) => p.close(),
            Engine::Dp(p) => p.close(),
        }
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
