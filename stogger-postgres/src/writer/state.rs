//! What the writer's handle and both write paths share: the state behind
//! the handle (queue, counters, progress, shutdown), and the set-up of a
//! connection (the table, the INSERT privilege).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::{Duration, Instant};

use stogger_pg_proto::WriteMode;
use tokio::sync::Notify;

use crate::conn::Conn;
use crate::conn_settings::ConnSettings;
use crate::diag::Warner;
use crate::queue::{Pushed, Queue, RowBytes};
use crate::schema::TableName;
use crate::table::{self, TablePlan};

#[derive(Default)]
pub(super) struct Progress {
    /// Queue rows whose fate is settled: committed, rejected, uncertain,
    /// dropped, or handed to the spool.
    pub(super) resolved: u64,
    /// Rows in the spool not yet delivered (any run's).
    pub(super) spool_pending: u64,
    pub(super) finished: bool,
}

pub(super) struct WriterState {
    pub(super) queue: Queue,
    pub(super) wake: Notify,
    pub(super) stop: Notify,
    pub(super) warner: Warner,
    pub(super) table: TableName,
    /// What the writer may do to its table (create it, and how).
    pub(super) plan: TablePlan,
    pub(super) batch_size: usize,
    pub(super) flush_interval: Duration,
    pub(super) write_timeout: Duration,
    pub(super) mode: WriteMode,
    pub(super) spool_dir: Option<PathBuf>,
    pub(super) spool_max_bytes: u64,
    /// The spool directory could not be opened (this run writes without
    /// it): sync mode then stops handing rows to it.
    pub(super) spool_failed: AtomicBool,
    /// Why the spool's progress table is missing, when it is (set by
    /// [`prepare_connection`]).
    pub(super) progress_missing: Mutex<Option<String>>,
    pub(super) delivered: AtomicU64,
    pub(super) dropped_rejected: AtomicU64,
    pub(super) dropped_unavailable: AtomicU64,
    pub(super) uncertain: AtomicU64,
    pub(super) dropped_spool_full: AtomicU64,
    /// Bytes of damaged spool segment tails found (lost).
    pub(super) spool_lost_bytes: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) reconnects: AtomicU64,
    pub(super) in_flight: AtomicU64,
    pub(super) connected: AtomicBool,
    pub(super) flush_target: AtomicU64,
    /// What the last `stogger-events-dropped` row covered: rows dropped
    /// (queue or spool full), rows uncertain, spool bytes lost.
    pub(super) reported_gap: Mutex<[u64; 3]>,
    pub(super) shutdown: AtomicBool,
    pub(super) deadline: Mutex<Option<Instant>>,
    pub(super) progress: Mutex<Progress>,
    pub(super) progress_changed: Condvar,
}

impl WriterState {
    /// Copies rows into the queue for the task, waking it when it may be
    /// idle (the queue was empty) or a full batch is ready; a push past
    /// that point needs no wake-up (the task looks at the queue before it
    /// waits). Rows dropped because the queue is full are counted and
    /// said (after the queue's lock was released: the warning may log).
    pub(super) fn enqueue(&self, rows: &[RowBytes<'_>]) -> Pushed {
        let p = self.queue.push(rows);
        let batch = self.batch_size;
        let crossed = p.len >= batch && p.len - p.accepted < batch;
        if p.was_empty && p.accepted > 0 || crossed {
            self.wake.notify_one();
        }
        if p.dropped > 0 {
            // The text is only built when it goes out.
            let queue = &self.queue;
            self.warner.warn_lazy("queue-full", || {
                format!(
                    "queue full ({} rows or {} bytes): dropped {} row(s), {} in total; \
                     the database is too slow or unreachable",
                    queue.capacity(),
                    queue.max_bytes(),
                    p.dropped,
                    queue.dropped_full()
                )
            });
        }
        p
    }

    pub(super) fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn past_deadline(&self) -> bool {
        self.shutting_down()
            && match self.deadline() {
                Some(d) => Instant::now() >= d,
                None => true,
            }
    }

    pub(super) fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the fate of rows of a batch: `queue_rows` says whether they
    /// came from this writer's queue (and so count in `resolved`) or from
    /// the spool (counted once already, when they were spooled).
    pub(super) fn resolve(&self, queue_rows: bool, delivered: u64, rejected: u64, uncertain: u64) {
        self.delivered.fetch_add(delivered, Ordering::AcqRel);
        self.dropped_rejected.fetch_add(rejected, Ordering::AcqRel);
        self.uncertain.fetch_add(uncertain, Ordering::AcqRel);
        if queue_rows {
            self.in_flight
                .fetch_sub(delivered + rejected + uncertain, Ordering::AcqRel);
            let mut p = self.progress();
            p.resolved += delivered + rejected + uncertain;
        }
        self.progress_changed.notify_all();
    }

    /// Records queue rows handed to the spool (`in_flight` of them from a
    /// batch already taken) and the spool's pending count now.
    pub(super) fn spooled(&self, rows: u64, in_flight: u64, spool_pending: u64) {
        self.in_flight.fetch_sub(in_flight, Ordering::AcqRel);
        let mut p = self.progress();
        p.resolved += rows;
        p.spool_pending = spool_pending;
        self.progress_changed.notify_all();
    }

    /// Notes the spool's pending count.
    pub(super) fn set_spool_pending(&self, n: u64) {
        let mut p = self.progress();
        p.spool_pending = n;
        self.progress_changed.notify_all();
    }

    pub(super) fn finish(&self) {
        self.connected.store(false, Ordering::Release);
        let mut p = self.progress();
        p.finished = true;
        self.progress_changed.notify_all();
    }

    /// Waits until `pred` holds or `timeout` passes; true when it holds.
    pub(super) fn wait(&self, timeout: Duration, pred: impl Fn(&Progress) -> bool) -> bool {
        let deadline = deadline_after(timeout);
        let mut p = self.progress();
        loop {
            if pred(&p) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            p = match self.progress_changed.wait_timeout(p, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Sleeps `d`; before shutdown a close cuts it short, during shutdown it
    /// is capped by the deadline.
    pub(super) async fn sleep(&self, d: Duration) {
        if self.shutting_down() {
            let left = self.deadline().map_or(Duration::ZERO, |dl| {
                dl.saturating_duration_since(Instant::now())
            });
            tokio::time::sleep(d.min(left)).await;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = self.stop.notified() => {}
            }
        }
    }
}

/// `now + d`, or a time far enough away when that overflows (a caller may
/// pass `u64::MAX` milliseconds to mean "no limit").
pub(super) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Creates the table when it is missing (checks it otherwise) and returns
/// the connection, ready for writes, with the table's warnings for the
/// caller to report (sync mode reports them after releasing its lock).
pub(super) async fn prepare_connection(
    state: &WriterState,
    settings: &ConnSettings,
    client: tokio_postgres::Client,
) -> Result<(Conn, Vec<String>), String> {
    let warnings = ready_table(state, settings, &client).await?;
    Ok((Conn::new(client, &state.table), warnings))
}

/// Creates the table (and the spool's progress table) when it is missing
/// (bounded by `max(connect_timeout, 5 s)`) and checks the INSERT
/// privilege (within the same bound); returns the table's warnings for the
/// caller to report. Prepares nothing, so it leaves no state on the
/// connection (sync mode's pooled connections, and pgbouncer's transaction
/// pooling).
pub(super) async fn ready_table(
    state: &WriterState,
    settings: &ConnSettings,
    client: &tokio_postgres::Client,
) -> Result<Vec<String>, String> {
    let bound = settings.connect_timeout.max(Duration::from_secs(5));
    let report = match tokio::time::timeout(
        bound,
        table::ensure_table(client, &state.table, &state.plan),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(m)) => {
            return Err(format!(
                "connected to {}, but cannot create table {}: {}",
                settings.display,
                state.table,
                settings.redactor.apply(&m)
            ))
        }
        Err(_) => {
            return Err(format!(
                "connected to {}, but creating table {} did not finish in time (a lock?)",
                settings.display, state.table
            ))
        }
    };
    *state
        .progress_missing
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = report.progress_missing.clone();
    // Missing INSERT privilege would only show at the first write; say it
    // now (an unnamed statement: nothing outlives it on the connection).
    let asked = crate::catalog::query_table(
        client,
        "SELECT has_table_privilege($1, 'INSERT')",
        &state.table,
    );
    let can_insert = match tokio::time::timeout(bound, asked).await {
        Ok(r) => r
            .ok()
            .and_then(|rows| rows.first().and_then(|r| r.try_get::<_, bool>(0).ok())),
        Err(_) => {
            return Err(format!(
                "connected to {}, but checking the INSERT privilege on {} did not finish \
                 within {} ms",
                settings.display,
                state.table,
                bound.as_millis()
            ))
        }
    };
    if can_insert == Some(false) {
        let user = settings.pg.get_user().unwrap_or("?");
        return Err(format!(
            "connected to {}, but user {user:?} has no INSERT privilege on table {} \
             (GRANT INSERT ON {table} TO {user}; GRANT USAGE ON SEQUENCE of its id column, \
             e.g. {table}_id_seq, TO {user})",
            settings.display,
            state.table,
            table = state.table.quoted()
        ));
    }
    Ok(report.warnings)
}

pub(super) fn report_first_connection(
    state: &WriterState,
    first: &mut Option<mpsc::Sender<Result<(), String>>>,
    r: Result<(), String>,
) {
    if let Some(tx) = first.take() {
        match tx.send(r) {
            Ok(()) => {}
            // Nobody waits for it (`Writer::start`, or open's wait timed
            // out): say it here, as the startup failure it is.
            Err(mpsc::SendError(Err(m))) => {
                let how = match state.mode {
                    WriteMode::Batch if state.spool_dir.is_some() => {
                        "events are kept (in memory, then in the spool) and written once it is \
                         reachable"
                    }
                    WriteMode::Batch => "events are queued and written once it is reachable",
                    WriteMode::Sync => "retrying in the background",
                };
                state
                    .warner
                    .warn("connect", &format!("cannot connect at startup: {m}; {how}"))
            }
            Err(_) => {}
        }
    }
}
