//! The writer: a handle for callers and a background task on the plugin's
//! own tokio runtime (threads named `stogger-pg-*`).
//!
//! Batch mode: [`Writer::write`] copies rows into the bounded queue and
//! returns. The task takes up to `batch_size` rows, or what has arrived when
//! the oldest row has waited `flush_interval` (or a flush/close asks), and
//! writes them with binary COPY in one transaction.
//!
//! - Rows the server rejects for their content (SQLSTATE classes 22, 23,
//!   54) are isolated by splitting the batch in halves and retrying each
//!   half; only the rejected rows are dropped (`dropped_rejected`), with one
//!   warning per batch saying how many and why.
//! - A lost connection keeps the batch and the queue; the task reconnects
//!   with exponential backoff (100 ms doubling to 5 s) and goes on.
//! - Exactly once: every transaction reads `txid_current()` before its
//!   COPY. If the connection dies after COMMIT was sent, the task asks
//!   `txid_status(xid)` after reconnecting and sends the rows again only if
//!   that transaction did not commit. (If the status can no longer be known,
//!   the rows are not sent again and are counted in `uncertain`.)
//! - A missing table or missing privileges: a warning with the server's
//!   message, then retries with backoff (the table is created again if it
//!   was dropped).
//! - A full queue drops the newest rows (`dropped_queue_full`, rate-limited
//!   warning). When there is room again, one row with event
//!   `stogger-events-dropped` (level `warning`, `data.dropped` = how many
//!   since the last such row) is written so the loss shows in the table.
//!
//! COPY is used for every batch size. ECOSYSTEM.md reports multi-row
//! INSERT beating binary COPY for batches around 100 rows; we measured both
//! (same transaction with `txid_current()`, prepared statements, a unix
//! socket, batch sizes 1 to 1000, three runs on a shared 2-core machine):
//! INSERT was 0.5–1.9× of COPY below 25 rows (noise dominated), 0.8–1.1× at
//! 50–100 rows and 0.4–0.9× at 250–1000 rows. No size showed a consistent
//! win worth a second write path, so there is one.
//!
//! Sync mode: each write is one autocommit INSERT per row, run on the
//! calling thread, and committed before the call returns. There is no
//! writer task: the tokio-postgres client, its prepared INSERT and its
//! connection future live together behind a mutex (the pattern of the
//! blocking `postgres` crate), and the caller `block_on`s a current-thread
//! runtime that polls the INSERT together with the connection future
//! (`drive`), so no other thread takes part. The connection only makes
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

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::Notify;

use stogger_pg_proto::{PgSettings, SettingsError, WriteMode};

use crate::config::ConnSettings;
use crate::conn::{self, Conn, Failure, TxStatus, WriteError};
use crate::diag::{WarnSink, Warner};
use crate::queue::{halves, Queue, Row, RowBytes, RowRef};
use crate::schema::TableName;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Counters of a writer, as `stogger_pg_stats` reports them (JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Rows waiting in the queue (and in the batch being written).
    pub queued: u64,
    /// Rows committed.
    pub delivered: u64,
    /// Rows refused because the queue was full.
    pub dropped_queue_full: u64,
    /// Rows the server rejected for their content.
    pub dropped_rejected: u64,
    /// Sync mode: rows dropped because the database was unreachable.
    pub dropped_unavailable: u64,
    /// Rows whose transaction's outcome could not be determined after a
    /// lost connection (not sent again).
    pub uncertain: u64,
    /// Batches completed.
    pub batches: u64,
    /// Successful reconnections after the first connection.
    pub reconnects: u64,
    /// Whether the writer currently has a working connection.
    pub connected: bool,
    /// The last warning (redacted).
    pub last_error: Option<String>,
    /// Only in the report of close: rows accepted but not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undelivered: Option<u64>,
}

/// How the first connection went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenStatus {
    /// Connected, table ready (ABI `0`).
    Connected,
    /// Started, but the first connection or the schema failed; the writer
    /// keeps retrying in the background (ABI `1`). The reason, redacted.
    Retrying(String),
}

/// Why a writer could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Invalid configuration (ABI `-1`).
    Config(SettingsError),
    /// The runtime could not be started (ABI `-2`).
    Runtime(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Config(e) => e.fmt(f),
            OpenError::Runtime(m) => write!(f, "cannot start the PostgreSQL writer: {m}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<SettingsError> for OpenError {
    fn from(e: SettingsError) -> OpenError {
        OpenError::Config(e)
    }
}

#[derive(Default)]
struct Progress {
    resolved: u64,
    finished: bool,
}

struct Shared {
    queue: Queue,
    wake: Notify,
    stop: Notify,
    warner: Warner,
    table: TableName,
    batch_size: usize,
    flush_interval: Duration,
    delivered: AtomicU64,
    dropped_rejected: AtomicU64,
    dropped_unavailable: AtomicU64,
    uncertain: AtomicU64,
    batches: AtomicU64,
    reconnects: AtomicU64,
    in_flight: AtomicU64,
    connected: AtomicBool,
    flush_target: AtomicU64,
    reported_drops: AtomicU64,
    shutdown: AtomicBool,
    deadline: Mutex<Option<Instant>>,
    progress: Mutex<Progress>,
    cv: Condvar,
}

impl Shared {
    fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn past_deadline(&self) -> bool {
        self.shutting_down()
            && match self.deadline() {
                Some(d) => Instant::now() >= d,
                None => true,
            }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the fate of `n` queue rows.
    fn resolve(&self, delivered: u64, rejected: u64, uncertain: u64) {
        self.delivered.fetch_add(delivered, Ordering::AcqRel);
        self.dropped_rejected.fetch_add(rejected, Ordering::AcqRel);
        self.uncertain.fetch_add(uncertain, Ordering::AcqRel);
        self.in_flight
            .fetch_sub(delivered + rejected + uncertain, Ordering::AcqRel);
        let mut p = self.progress();
        p.resolved += delivered + rejected + uncertain;
        self.cv.notify_all();
    }

    fn finish(&self) {
        self.connected.store(false, Ordering::Release);
        let mut p = self.progress();
        p.finished = true;
        self.cv.notify_all();
    }

    /// Waits until `pred` holds or `timeout` passes; true when it holds.
    fn wait(&self, timeout: Duration, pred: impl Fn(&Progress) -> bool) -> bool {
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
            p = match self.cv.wait_timeout(p, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Sleeps `d`; before shutdown a close cuts it short, during shutdown it
    /// is capped by the deadline.
    async fn sleep(&self, d: Duration) {
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
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF_START)
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        d
    }
    fn reset(&mut self) {
        self.0 = BACKOFF_START;
    }
}

/// Connects, creates the schema and prepares the statements (the
/// connection's I/O runs as a task on the current runtime).
async fn open_conn(sh: &Shared, settings: &ConnSettings) -> Result<Conn, String> {
    let client = conn::connect(settings).await?;
    let (c, warnings) = setup_conn(sh, settings, client).await?;
    for w in warnings {
        sh.warner.warn("schema", &w);
    }
    Ok(c)
}

/// Creates the schema and prepares the statements on a connected client;
/// returns the schema warnings for the caller to report (sync mode reports
/// them after releasing its lock).
async fn setup_conn(
    sh: &Shared,
    settings: &ConnSettings,
    client: tokio_postgres::Client,
) -> Result<(Conn, Vec<String>), String> {
    let red = |e: &tokio_postgres::Error| settings.redactor.apply(&conn::describe(e));
    let report = match tokio::time::timeout(
        settings.connect_timeout.max(Duration::from_secs(5)),
        conn::ensure_schema(&client, &sh.table),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(format!(
                "connected to {}, but cannot create table {}: {}",
                settings.display,
                sh.table,
                red(&e)
            ))
        }
        Err(_) => {
            return Err(format!(
                "connected to {}, but creating table {} did not finish in time (a lock?)",
                settings.display, sh.table
            ))
        }
    };
    let c = Conn::prepare(client, &sh.table).await.map_err(|e| {
        format!(
            "connected to {}, but cannot prepare writes to {}: {}",
            settings.display,
            sh.table,
            red(&e)
        )
    })?;
    // Missing INSERT privilege would only show at the first COPY; say it now.
    let can_insert = c
        .client
        .query_one(
            "SELECT has_table_privilege($1, 'INSERT')",
            &[&sh.table.quoted()],
        )
        .await
        .ok()
        .and_then(|r| r.try_get::<_, bool>(0).ok());
    if can_insert == Some(false) {
        let user = settings.pg.get_user().unwrap_or("?");
        return Err(format!(
            "connected to {}, but user {user:?} has no INSERT privilege on table {} \
             (GRANT INSERT ON {table} TO {user}; GRANT USAGE ON SEQUENCE of its id column, \
             e.g. {table}_id_seq, TO {user})",
            settings.display,
            sh.table,
            table = sh.table.quoted()
        ));
    }
    Ok((c, report.warnings))
}

/// A batch taken from the queue, with the ranges still to write.
struct Batch {
    rows: Vec<Row>,
    /// `rows[..synthetic]` are our own rows (the dropped-events report),
    /// not counted as queue rows.
    synthetic: usize,
    todo: Vec<Range<usize>>,
    unknown: Option<(i64, Range<usize>)>,
    rejected: u64,
    reject_reason: Option<String>,
}

impl Batch {
    fn new(rows: Vec<Row>, synthetic: usize) -> Batch {
        let n = rows.len();
        Batch {
            rows,
            synthetic,
            todo: std::iter::once(0..n).collect(),
            unknown: None,
            rejected: 0,
            reject_reason: None,
        }
    }

    fn real(&self, r: &Range<usize>) -> u64 {
        let overlap = r.end.min(self.synthetic).saturating_sub(r.start);
        (r.len() - overlap) as u64
    }

    fn pending(&self) -> u64 {
        let mut n: u64 = self.todo.iter().map(|r| self.real(r)).sum();
        if let Some((_, r)) = &self.unknown {
            n += self.real(r);
        }
        n
    }
}

fn dropped_report_row(dropped: u64) -> Row {
    let now = time::OffsetDateTime::now_utc();
    let micros = (now.unix_timestamp_nanos() / 1000) as i64;
    let data = format!(
        "{{\"dropped\": {dropped}, \"reason\": \"queue-full\", \"pid\": {}}}",
        std::process::id()
    );
    Row::new(&RowRef {
        ts_micros: micros,
        level: "warning",
        event: "stogger-events-dropped",
        func: None,
        scope: None,
        data: &data,
    })
}

/// Records the fate of rows of the current batch. When the batch is
/// complete it is closed first (counted, its rejections reported), so a
/// flush that returns because of this call sees the batch finished.
fn settle(sh: &Shared, batch: &mut Option<Batch>, delivered: u64, rejected: u64, uncertain: u64) {
    if let Some(b) = batch.as_ref() {
        if b.todo.is_empty() && b.unknown.is_none() {
            sh.batches.fetch_add(1, Ordering::AcqRel);
            if b.rejected > 0 {
                sh.warner.warn(
                    "rejected",
                    &format!(
                        "dropped {} row(s) of a batch of {} that {} rejected: {}",
                        b.rejected,
                        b.rows.len() - b.synthetic,
                        sh.table,
                        b.reject_reason.as_deref().unwrap_or("?")
                    ),
                );
            }
            if let Some(done) = batch.take() {
                sh.queue.recycle(done.rows);
            }
        }
    }
    sh.resolve(delivered, rejected, uncertain);
}

/// Waits for rows and takes a batch; None when shutting down with nothing left.
async fn gather(sh: &Shared) -> Option<Batch> {
    loop {
        if sh.queue.is_empty() {
            if sh.shutting_down() {
                return None;
            }
            sh.wake.notified().await;
            continue;
        }
        let until = tokio::time::Instant::now() + sh.flush_interval;
        loop {
            if sh.queue.len() >= sh.batch_size
                || sh.shutting_down()
                || sh.flush_target.load(Ordering::Acquire) > sh.queue.taken()
            {
                break;
            }
            tokio::select! {
                _ = sh.wake.notified() => {}
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        let mut rows = sh.queue.take(sh.batch_size);
        if rows.is_empty() {
            continue;
        }
        sh.in_flight.fetch_add(rows.len() as u64, Ordering::AcqRel);
        let dropped = sh.queue.dropped_full();
        let reported = sh.reported_drops.swap(dropped, Ordering::AcqRel);
        let mut synthetic = 0;
        if dropped > reported {
            rows.insert(0, dropped_report_row(dropped - reported));
            synthetic = 1;
        }
        return Some(Batch::new(rows, synthetic));
    }
}

/// The batch-mode task.
async fn run_batch(
    sh: Arc<Shared>,
    settings: ConnSettings,
    first: mpsc::Sender<Result<(), String>>,
) {
    let mut first = Some(first);
    let mut conn: Option<Conn> = None;
    let mut backoff = Backoff::new();
    let mut batch: Option<Batch> = None;
    let mut ever_connected = false;
    let mut lost = false;
    loop {
        if sh.past_deadline() {
            break;
        }
        if !matches!(conn.as_ref(), Some(c) if !c.is_closed()) {
            conn = None;
            sh.connected.store(false, Ordering::Release);
            match open_conn(&sh, &settings).await {
                Ok(c) => {
                    if ever_connected {
                        sh.reconnects.fetch_add(1, Ordering::AcqRel);
                    }
                    ever_connected = true;
                    sh.connected.store(true, Ordering::Release);
                    backoff.reset();
                    report_first(&sh, &mut first, Ok(()));
                    if lost {
                        sh.warner.reset("connect");
                        sh.warner.reset("write");
                        sh.warner.warn(
                            "reconnect",
                            &format!(
                                "connected to {} again; writing {} waiting rows",
                                settings.display,
                                sh.queue.len() as u64 + batch.as_ref().map_or(0, Batch::pending)
                            ),
                        );
                    }
                    lost = false;
                    conn = Some(c);
                }
                Err(msg) => {
                    let delay = backoff.next();
                    if first.is_some() {
                        report_first(&sh, &mut first, Err(msg));
                    } else {
                        let waiting =
                            sh.queue.len() as u64 + batch.as_ref().map_or(0, Batch::pending);
                        sh.warner.warn(
                            "connect",
                            &format!(
                                "{msg}; {waiting} rows kept in memory, retrying in {} ms",
                                delay.as_millis()
                            ),
                        );
                    }
                    lost = true;
                    sh.sleep(delay).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };

        // A COMMIT without answer: find out before sending anything again.
        if let Some((xid, range)) = batch.as_mut().and_then(|b| b.unknown.take()) {
            let Some(b) = batch.as_mut() else { continue };
            match c.txid_status(xid).await {
                Ok(TxStatus::Committed) => {
                    let n = b.real(&range);
                    settle(&sh, &mut batch, n, 0, 0);
                }
                Ok(TxStatus::Aborted) => b.todo.push(range),
                Ok(TxStatus::InProgress) => {
                    b.unknown = Some((xid, range));
                    sh.sleep(BACKOFF_START).await;
                }
                Ok(TxStatus::Unknown) => {
                    let n = b.real(&range);
                    sh.warner.warn(
                        "uncertain",
                        &format!(
                            "cannot tell whether {n} rows were committed before the connection \
                             was lost (transaction {xid}); not sending them again"
                        ),
                    );
                    settle(&sh, &mut batch, 0, 0, n);
                }
                Err(e) => {
                    b.unknown = Some((xid, range));
                    if let Failure::Connection(_) = conn::classify(&e, &c.client) {
                        conn = None;
                    } else {
                        sh.sleep(backoff.next()).await;
                    }
                }
            }
            continue;
        }

        if batch.is_none() {
            batch = gather(&sh).await;
            if batch.is_none() {
                break;
            }
        }
        let Some(b) = batch.as_mut() else { continue };
        let Some(range) = b.todo.last().cloned() else {
            settle(&sh, &mut batch, 0, 0, 0);
            continue;
        };
        match c.write(&b.rows[range.clone()]).await {
            Ok(()) => {
                b.todo.pop();
                let n = b.real(&range);
                backoff.reset();
                settle(&sh, &mut batch, n, 0, 0);
            }
            Err(WriteError::Failed(Failure::Rows(msg))) => {
                b.todo.pop();
                if range.len() == 1 {
                    let n = b.real(&range);
                    b.rejected += n;
                    b.reject_reason = Some(msg);
                    settle(&sh, &mut batch, 0, n, 0);
                } else {
                    let (left, right) = halves(&range);
                    b.todo.push(right);
                    b.todo.push(left);
                }
            }
            Err(WriteError::Failed(Failure::Connection(msg))) => {
                sh.warner.warn(
                    "connect",
                    &format!(
                        "lost the connection to {}: {msg}; keeping {} rows, reconnecting",
                        settings.display,
                        sh.queue.len() as u64 + b.pending()
                    ),
                );
                lost = true;
                conn = None;
            }
            Err(WriteError::Failed(Failure::Blocked {
                message,
                table_missing,
            })) => {
                let delay = backoff.next();
                sh.warner.warn(
                    "write",
                    &format!(
                        "cannot write to {}: {message}; keeping {} rows, retrying in {} ms",
                        sh.table,
                        sh.queue.len() as u64 + b.pending(),
                        delay.as_millis()
                    ),
                );
                lost = true;
                if table_missing {
                    // Reconnecting creates the table again.
                    conn = None;
                }
                sh.sleep(delay).await;
            }
            Err(WriteError::Unknown { xid, error }) => {
                b.todo.pop();
                b.unknown = Some((xid, range));
                sh.warner.warn(
                    "connect",
                    &format!(
                        "lost the connection to {} while committing: {error}; will check \
                         whether transaction {xid} committed before sending it again",
                        settings.display
                    ),
                );
                lost = true;
                conn = None;
            }
        }
    }
}

fn report_first(
    sh: &Shared,
    first: &mut Option<mpsc::Sender<Result<(), String>>>,
    r: Result<(), String>,
) {
    if let Some(tx) = first.take() {
        match tx.send(r) {
            Ok(()) => {}
            // open already returned (its wait timed out): say it here.
            Err(mpsc::SendError(Err(m))) => sh.warner.warn("connect", &m),
            Err(_) => {}
        }
    }
}

enum SyncFail {
    Rejected(String),
    Unavailable(String),
}

/// Polls `fut` together with the connection's I/O until `fut` completes, on
/// whatever thread awaits this (sync mode: the caller's, inside
/// [`SyncPath`]'s current-thread runtime). When the connection future
/// finishes first (the connection is gone), it is dropped and `io` becomes
/// None; the client's requests then fail as closed.
async fn drive<F: std::future::Future>(io: &mut Option<conn::Connection>, fut: F) -> F::Output {
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
struct Direct {
    conn: Conn,
    /// None once the connection future has finished.
    io: Option<conn::Connection>,
}

impl Direct {
    fn usable(&self) -> bool {
        self.io.is_some() && !self.conn.is_closed()
    }
}

/// What the sync-mode mutex guards.
struct SyncState {
    /// A current-thread runtime (I/O and timers) that writers `block_on`;
    /// None after close.
    rt: Option<tokio::runtime::Runtime>,
    direct: Option<Direct>,
}

impl Drop for SyncState {
    fn drop(&mut self) {
        // Dropping a runtime inside an async context panics; this never
        // blocks and is allowed anywhere.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Warnings collected under the lock, sent after it is released.
type Notes = Vec<(&'static str, String)>;

/// Sync mode: one connection behind a mutex, written on the calling thread.
struct SyncPath {
    sh: Arc<Shared>,
    settings: ConnSettings,
    state: Mutex<SyncState>,
}

impl SyncPath {
    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects, creates the schema and prepares the statements, within
    /// `connect_timeout` for the connection and
    /// `max(connect_timeout, 5 s) + connect_timeout` for the rest.
    async fn open_direct(&self, notes: &mut Notes) -> Result<Direct, String> {
        let settings = &self.settings;
        let (client, io) = conn::connect_parts(settings).await?;
        let mut io = Some(io);
        let bound = settings.connect_timeout.max(Duration::from_secs(5)) + settings.connect_timeout;
        match tokio::time::timeout(
            bound,
            drive(&mut io, setup_conn(&self.sh, settings, client)),
        )
        .await
        {
            Ok(Ok((conn, warnings))) => {
                notes.extend(warnings.into_iter().map(|w| ("schema", w)));
                Ok(Direct { conn, io })
            }
            Ok(Err(m)) => Err(m),
            Err(_) => Err(format!(
                "connected to {}, but preparing writes to {} did not finish within {} ms",
                settings.display,
                self.sh.table,
                bound.as_millis()
            )),
        }
    }

    /// One row: at most one reconnect, the INSERT bounded by `connect_timeout`.
    async fn insert(
        &self,
        direct: &mut Option<Direct>,
        row: &Row,
        notes: &mut Notes,
    ) -> Result<(), SyncFail> {
        let sh = &*self.sh;
        let timeout = self.settings.connect_timeout;
        let mut last = String::new();
        for _attempt in 0..2 {
            if !direct.as_ref().is_some_and(Direct::usable) {
                *direct = None;
                sh.connected.store(false, Ordering::Release);
                match self.open_direct(notes).await {
                    Ok(d) => {
                        sh.connected.store(true, Ordering::Release);
                        *direct = Some(d);
                    }
                    Err(m) => return Err(SyncFail::Unavailable(m)),
                }
            }
            let Some(Direct { conn: c, io }) = direct.as_mut() else {
                continue;
            };
            match tokio::time::timeout(timeout, drive(io, c.insert(row))).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => match conn::classify(&e, &c.client) {
                    Failure::Rows(m) => return Err(SyncFail::Rejected(m)),
                    Failure::Connection(m) => {
                        last = m;
                        *direct = None;
                    }
                    Failure::Blocked { message, .. } => {
                        *direct = None;
                        return Err(SyncFail::Unavailable(format!(
                            "cannot write to {}: {message}",
                            sh.table
                        )));
                    }
                },
                Err(_) => {
                    // The INSERT may still commit: do not send it again.
                    *direct = None;
                    return Err(SyncFail::Unavailable(format!(
                        "INSERT into {} did not finish within {} ms",
                        sh.table,
                        timeout.as_millis()
                    )));
                }
            }
        }
        sh.connected.store(false, Ordering::Release);
        Err(SyncFail::Unavailable(last))
    }

    /// The rows of one call, in order; the ABI's result.
    async fn write_all(&self, direct: &mut Option<Direct>, rows: &[Row], notes: &mut Notes) -> i64 {
        let sh = &*self.sh;
        let mut written = 0i64;
        for (i, row) in rows.iter().enumerate() {
            match self.insert(direct, row, notes).await {
                Ok(()) => {
                    written += 1;
                    sh.delivered.fetch_add(1, Ordering::AcqRel);
                }
                Err(SyncFail::Rejected(m)) => {
                    sh.dropped_rejected.fetch_add(1, Ordering::AcqRel);
                    notes.push((
                        "rejected",
                        format!("dropped 1 row that {} rejected: {m}", sh.table),
                    ));
                }
                Err(SyncFail::Unavailable(m)) => {
                    let lost = (rows.len() - i) as u64;
                    sh.dropped_unavailable.fetch_add(lost, Ordering::AcqRel);
                    notes.push(("connect", format!("{m}; dropped {lost} row(s) (sync mode)")));
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
        f: impl FnOnce(&tokio::runtime::Runtime, &mut Option<Direct>, &mut Notes) -> T,
    ) -> Option<T> {
        let mut notes = Notes::new();
        let out = {
            let mut st = self.lock();
            let SyncState { rt, direct } = &mut *st;
            let rt = rt.as_ref()?;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f(rt, &mut *direct, &mut notes)
            }));
            if r.is_err() {
                *direct = None;
                self.sh.connected.store(false, Ordering::Release);
                notes.push(("panic", "the PostgreSQL sync write panicked".to_string()));
            }
            r.ok()
        };
        // After the lock is released (the callback may log).
        for (kind, m) in notes {
            self.sh.warner.warn(kind, &m);
        }
        out
    }

    /// Writes `rows` on the current thread (see [`SyncPath::run`]).
    fn write(&self, rows: &[Row]) -> i64 {
        self.run(|rt, d, n| rt.block_on(self.write_all(d, rows, n)))
            .unwrap_or(-2)
    }

    /// The first connection (at open).
    fn connect_first(&self) -> Result<(), String> {
        let r = self.run(|rt, d, n| {
            let c = rt.block_on(self.open_direct(n))?;
            *d = Some(c);
            Ok(())
        });
        match r {
            Some(Ok(())) => {
                self.sh.connected.store(true, Ordering::Release);
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
    fn close(&self, deadline: Instant) {
        loop {
            match self.state.try_lock() {
                Ok(mut st) => {
                    st.direct = None;
                    if let Some(rt) = st.rt.take() {
                        rt.shutdown_background();
                    }
                    return;
                }
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    let mut st = p.into_inner();
                    st.direct = None;
                    if let Some(rt) = st.rt.take() {
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

/// A running PostgreSQL writer (the Rust API; the C ABI wraps it).
pub struct Writer {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    sync: Option<Arc<SyncPath>>,
    mode: WriteMode,
    connect_timeout: Duration,
    shutdown_timeout: Duration,
    closed: bool,
}

/// A started writer and how its first connection went.
pub struct Opened {
    /// The writer.
    pub writer: Writer,
    /// Connected, or retrying in the background (with the reason).
    pub status: OpenStatus,
}

impl Writer {
    /// Validates `config`, starts the runtime and the writer task, and waits
    /// (about `connect_timeout`, plus as much for creating the schema) for
    /// the first connection. Diagnostics go to `warn` (dropped when None).
    pub fn open(config: &PgSettings, warn: Option<WarnSink>) -> Result<Opened, OpenError> {
        config.validate()?;
        let settings = ConnSettings::parse(config)?;
        let table = TableName::parse(&config.table)
            .map_err(|e| SettingsError::new("table", e.to_string()))?;
        static RUNTIMES: AtomicU64 = AtomicU64::new(0);
        let id = RUNTIMES.fetch_add(1, Ordering::Relaxed);
        let threads = AtomicU64::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name_fn(move || {
                format!(
                    "stogger-pg-{id}-{}",
                    threads.fetch_add(1, Ordering::Relaxed)
                )
            })
            .enable_all()
            .build()
            .map_err(|e| OpenError::Runtime(e.to_string()))?;
        let shared = Arc::new(Shared {
            queue: Queue::new(config.queue_capacity),
            wake: Notify::new(),
            stop: Notify::new(),
            warner: Warner::new(warn, settings.redactor.clone()),
            table,
            batch_size: config.batch_size,
            flush_interval: config.flush_interval,
            delivered: AtomicU64::new(0),
            dropped_rejected: AtomicU64::new(0),
            dropped_unavailable: AtomicU64::new(0),
            uncertain: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            flush_target: AtomicU64::new(0),
            reported_drops: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            deadline: Mutex::new(None),
            progress: Mutex::new(Progress::default()),
            cv: Condvar::new(),
        });
        let (first_tx, first_rx) = mpsc::channel();
        let mut sync = None;
        let task_shared = shared.clone();
        let guarded = |fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
            let sh = task_shared.clone();
            async move {
                if std::panic::AssertUnwindSafe(fut)
                    .catch_unwind()
                    .await
                    .is_err()
                {
                    sh.warner.warn(
                        "panic",
                        "the PostgreSQL writer task panicked; writes stop here",
                    );
                }
                sh.finish();
            }
        };
        match config.write_mode {
            WriteMode::Batch => {
                runtime.spawn(guarded(Box::pin(run_batch(
                    shared.clone(),
                    settings,
                    first_tx,
                ))));
            }
            WriteMode::Sync => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| OpenError::Runtime(e.to_string()))?;
                let path = Arc::new(SyncPath {
                    sh: shared.clone(),
                    settings,
                    state: Mutex::new(SyncState {
                        rt: Some(rt),
                        direct: None,
                    }),
                });
                sync = Some(path.clone());
                // On the writer's blocking pool, so that open works inside a
                // tokio runtime too.
                let sh = shared.clone();
                runtime.spawn_blocking(move || {
                    let r = path.connect_first();
                    report_first(&sh, &mut Some(first_tx), r);
                });
            }
        }
        let wait = config.connect_timeout * 2 + Duration::from_millis(100);
        let status = match first_rx.recv_timeout(wait) {
            Ok(Ok(())) => OpenStatus::Connected,
            Ok(Err(m)) => OpenStatus::Retrying(m),
            Err(_) => OpenStatus::Retrying(format!(
                "no connection within {} ms; still trying in the background",
                wait.as_millis()
            )),
        };
        if let OpenStatus::Retrying(m) = &status {
            shared.warner.note("connect", m);
        }
        Ok(Opened {
            writer: Writer {
                shared,
                runtime: Some(runtime),
                sync,
                mode: config.write_mode,
                connect_timeout: config.connect_timeout,
                shutdown_timeout: config.shutdown_timeout,
                closed: false,
            },
            status,
        })
    }

    /// The write mode.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }

    /// Batch mode: copies the rows into the queue and returns how many were
    /// accepted (the rest were dropped because the queue is full, counted).
    /// Sync mode: writes and commits them before returning; returns the
    /// number written (rows the server rejected are not counted), or -2
    /// when the database could not be reached (the rows are dropped).
    pub fn write(&self, rows: &[RowRef<'_>]) -> i64 {
        match rows {
            [row] => self.write_bytes(&[row.into()]),
            _ => self.write_bytes(&rows.iter().map(RowBytes::from).collect::<Vec<_>>()),
        }
    }

    /// [`Writer::write`] for rows as raw bytes (what the C entry point
    /// gets): invalid UTF-8 and NUL in text columns become U+FFFD; in batch
    /// mode that check runs on the writer's thread, not the caller's.
    pub(crate) fn write_bytes(&self, rows: &[RowBytes<'_>]) -> i64 {
        if rows.is_empty() {
            return 0;
        }
        if self.closed || self.shared.shutting_down() {
            return -1;
        }
        match &self.sync {
            None => {
                let p = self.shared.queue.push(rows);
                // Wake the writer when it may be idle (the queue was empty)
                // or a full batch is ready; a push past that point needs no
                // wake-up (the writer looks at the queue before it waits).
                let batch = self.shared.batch_size;
                let crossed = p.len >= batch && p.len - p.accepted < batch;
                if p.was_empty && p.accepted > 0 || crossed {
                    self.shared.wake.notify_one();
                }
                if p.dropped > 0 {
                    // After the queue lock was released (the callback may log).
                    self.shared.warner.warn(
                        "queue-full",
                        &format!(
                            "queue full ({} rows): dropped {} row(s), {} in total; the \
                             database is too slow or unreachable",
                            self.shared.queue.capacity(),
                            p.dropped,
                            self.shared.queue.dropped_full()
                        ),
                    );
                }
                p.accepted as i64
            }
            Some(path) => {
                let owned: Vec<Row> = rows.iter().map(Row::from_bytes).collect();
                if tokio::runtime::Handle::try_current().is_err() {
                    // The common case: the INSERT runs on this thread.
                    return path.write(&owned);
                }
                // Inside a tokio runtime `block_on` is not allowed: a
                // thread of the writer's blocking pool does the same write
                // and this thread waits for it, boundedly.
                let Some(runtime) = self.runtime.as_ref() else {
                    return -1;
                };
                let n = u32::try_from(owned.len()).unwrap_or(u32::MAX);
                let (reply, answer) = mpsc::sync_channel(1);
                let p = path.clone();
                runtime.spawn_blocking(move || {
                    let _ = reply.send(p.write(&owned));
                });
                let bound = self
                    .connect_timeout
                    .max(Duration::from_secs(5))
                    .saturating_mul(n.saturating_mul(4).saturating_add(4));
                match answer.recv_timeout(bound) {
                    Ok(v) => v,
                    Err(_) => {
                        self.shared.warner.warn(
                            "sync",
                            &format!(
                                "a sync write did not finish within {} ms; returning without \
                                 knowing whether it was written",
                                bound.as_millis()
                            ),
                        );
                        -2
                    }
                }
            }
        }
    }

    /// Waits until every row accepted before the call is committed (or
    /// dropped as rejected), at most `timeout`. True when drained.
    pub fn flush(&self, timeout: Duration) -> bool {
        if self.sync.is_some() {
            return true;
        }
        let target = self.shared.queue.enqueued();
        self.shared.flush_target.fetch_max(target, Ordering::AcqRel);
        self.shared.wake.notify_one();
        self.shared
            .wait(timeout, |p| p.resolved >= target || p.finished)
            && self.shared.progress().resolved >= target
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        let sh = &self.shared;
        Stats {
            queued: sh.queue.len() as u64 + sh.in_flight.load(Ordering::Acquire),
            delivered: sh.delivered.load(Ordering::Acquire),
            dropped_queue_full: sh.queue.dropped_full(),
            dropped_rejected: sh.dropped_rejected.load(Ordering::Acquire),
            dropped_unavailable: sh.dropped_unavailable.load(Ordering::Acquire),
            uncertain: sh.uncertain.load(Ordering::Acquire),
            batches: sh.batches.load(Ordering::Acquire),
            reconnects: sh.reconnects.load(Ordering::Acquire),
            connected: sh.connected.load(Ordering::Acquire),
            last_error: sh.warner.last_error(),
            undelivered: None,
        }
    }

    /// Flushes within `timeout`, stops the task and its threads, and
    /// returns the final counters with `undelivered` set.
    pub fn close(mut self, timeout: Duration) -> Stats {
        self.shutdown(timeout)
    }

    fn shutdown(&mut self, timeout: Duration) -> Stats {
        let sh = self.shared.clone();
        if !self.closed {
            self.closed = true;
            {
                let mut d = sh.deadline.lock().unwrap_or_else(|p| p.into_inner());
                *d = Some(deadline_after(timeout));
            }
            sh.shutdown.store(true, Ordering::Release);
            if let Some(path) = self.sync.take() {
                // Sync mode has no task: nothing is queued.
                path.close(deadline_after(timeout));
                sh.finish();
            }
            sh.wake.notify_one();
            sh.stop.notify_one();
            sh.wait(timeout, |p| p.finished);
        }
        let mut stats = self.stats();
        let accepted = sh.queue.enqueued();
        stats.undelivered = Some(match self.mode {
            WriteMode::Batch => accepted.saturating_sub(sh.progress().resolved),
            WriteMode::Sync => 0,
        });
        stats.queued = stats.undelivered.unwrap_or(0);
        if let Some(rt) = self.runtime.take() {
            // Never blocks (and is allowed inside another runtime's context).
            rt.shutdown_background();
        }
        stats
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.closed {
            let t = self.shutdown_timeout;
            self.shutdown(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        let mut b = Backoff::new();
        let seq: Vec<u128> = (0..8).map(|_| b.next().as_millis()).collect();
        assert_eq!(seq, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), BACKOFF_START);
    }

    #[test]
    fn batch_counts_real_rows_around_the_synthetic_one() {
        let r = Row::new(&RowRef {
            ts_micros: 0,
            level: "info",
            event: "e",
            func: None,
            scope: None,
            data: "{}",
        });
        let b = Batch::new(vec![r.clone(), r.clone(), r], 1);
        assert_eq!(b.real(&(0..3)), 2);
        assert_eq!(b.real(&(0..1)), 0);
        assert_eq!(b.real(&(1..3)), 2);
        assert_eq!(b.pending(), 2);
    }
}
