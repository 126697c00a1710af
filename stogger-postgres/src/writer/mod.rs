//! The writer: a handle for callers and a background task on the plugin's
//! own tokio runtime (threads named `stogger-pg-*`).
//!
//! - [`Writer`] (this module): the handle — open, write, flush, stats,
//!   close — state by both write modes.
//! - `batch`: batch mode, the background task writing with binary COPY.
//! - `sync`: sync mode, committed INSERTs on the calling thread, through
//!   `pool` (deadpool's pool of connections driven by their caller),
//!   `group` (callers that arrive together share one multi-row INSERT)
//!   and `breaker` (fail fast while the database is unavailable).
//! - `state`: what the handle and both paths share (counters, progress,
//!   the connection set-up).

mod batch;
mod breaker;
mod group;
mod pool;
mod state;
mod sync;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::Notify;

use stogger_pg_proto::{PgSettings, SettingsError, WriteMode};

use crate::conn_settings::ConnSettings;
use crate::diag::{WarnSink, Warner};
use crate::maintenance::{self, MaintenancePlan};
use crate::queue::{Queue, Row, RowBytes, RowRef};
use crate::schema::TableName;
use crate::table::TablePlan;

use batch::{run_batch, Role};
use state::{deadline_after, report_first_connection, Progress, WriterState};
use sync::SyncPath;

/// A writer's counters: the C ABI's report (`stogger_pg_stats`,
/// `stogger_pg_close`), one definition for both APIs. `undelivered` is set
/// only by [`Writer::close`].
pub use stogger_pg_proto::abi::StoggerPgReport as Stats;

/// How the first connection went, for [`Writer::open`] (which waits for
/// it; [`Writer::start`] does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenStatus {
    /// Connected, table ready (ABI `0`).
    Connected,
    /// Started, but the first connection or the schema failed (or did not
    /// finish within the wait); the writer keeps retrying in the
    /// background. The reason, redacted.
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

/// A running PostgreSQL writer (the Rust API; the C ABI wraps it).
pub struct Writer {
    state: Arc<WriterState>,
    runtime: Option<tokio::runtime::Runtime>,
    sync: Option<Arc<SyncPath>>,
    mode: WriteMode,
    shutdown_timeout: Duration,
    closed: bool,
}

/// How much longer than its deadline closing waits for the writer when a
/// spool is configured: after the deadline the writer moves what is left
/// in memory to the spool, which takes local disk writes only.
const SPOOL_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// A started writer and how its first connection went.
pub struct Opened {
    /// The writer.
    pub writer: Writer,
    /// Connected, or retrying in the background (with the reason).
    pub status: OpenStatus,
}

impl Writer {
    /// Validates `config` and starts the runtime and the writer task,
    /// without waiting for the database: connecting happens on the
    /// writer's thread, and a failure of the first connection goes to
    /// `warn` (kind `connect`, "cannot connect at startup: ..."). What
    /// `stogger_pg_open` (and so `init_logging()`) does. Diagnostics go to
    /// `warn` (dropped when None).
    pub fn start(config: &PgSettings, warn: Option<WarnSink>) -> Result<Writer, OpenError> {
        // The receiver is dropped at once: the first failure is a warning.
        Writer::launch(config, warn).map(|(writer, _)| writer)
    }

    /// [`Writer::start`], then waits (about `connect_timeout`, plus as much
    /// for creating the schema) for the first connection and returns how
    /// it went; a failure is returned here and not sent to `warn` as well.
    /// For programs that want to know before they go on (tests, tools).
    pub fn open(config: &PgSettings, warn: Option<WarnSink>) -> Result<Opened, OpenError> {
        let (writer, first_rx) = Writer::launch(config, warn)?;
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
            writer.state.warner.note("connect", m);
        }
        Ok(Opened { writer, status })
    }

    fn launch(
        config: &PgSettings,
        warn: Option<WarnSink>,
    ) -> Result<(Writer, mpsc::Receiver<Result<(), String>>), OpenError> {
        config.validate()?;
        let settings = ConnSettings::parse(config)?;
        let table = TableName::parse(&config.table)
            .map_err(|e| SettingsError::new("table", e.to_string()))?;
        static RUNTIMES: AtomicU64 = AtomicU64::new(0);
        let id = RUNTIMES.fetch_add(1, Ordering::Relaxed);
        let threads = AtomicU64::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            // Sync mode: for callers inside a runtime, one per pooled
            // connection and room for a group's callers waiting behind them
            // (made only when needed); one for the first connection.
            .max_blocking_threads(
                config
                    .sync_pool_size
                    .saturating_add(group::MAX_ROWS)
                    .saturating_add(1),
            )
            .thread_name_fn(move || {
                format!(
                    "stogger-pg-{id}-{}",
                    threads.fetch_add(1, Ordering::Relaxed)
                )
            })
            .enable_all()
            .build()
            .map_err(|e| OpenError::Runtime(e.to_string()))?;
        let state = Arc::new(WriterState {
            queue: Queue::new(config.queue_capacity, config.queue_max_bytes),
            wake: Notify::new(),
            stop: Notify::new(),
            warner: Warner::new(warn, settings.redactor.clone()),
            plan: TablePlan::of(config),
            table,
            batch_size: config.batch_size,
            flush_interval: config.flush_interval,
            write_timeout: config.write_timeout,
            mode: config.write_mode,
            spool_dir: config.spool_dir.as_ref().map(std::path::PathBuf::from),
            spool_max_bytes: config.spool_max_bytes,
            spool_failed: AtomicBool::new(false),
            progress_missing: Mutex::new(None),
            delivered: AtomicU64::new(0),
            dropped_rejected: AtomicU64::new(0),
            dropped_unavailable: AtomicU64::new(0),
            uncertain: AtomicU64::new(0),
            dropped_spool_full: AtomicU64::new(0),
            spool_lost_bytes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            flush_target: AtomicU64::new(0),
            reported_gap: Mutex::new([0; 3]),
            shutdown: AtomicBool::new(false),
            deadline: Mutex::new(None),
            progress: Mutex::new(Progress::default()),
            progress_changed: Condvar::new(),
        });
        // Partitions made ahead and expired ones dropped, on a schedule of
        // their own, beside either write path.
        if let Some(plan) = MaintenancePlan::for_writer(config, &state.table) {
            let warn_to = state.clone();
            runtime.spawn(maintenance::run_schedule(
                settings.clone(),
                plan,
                move |kind, message| warn_to.warner.warn(kind, message),
            ));
        }
        let (first_tx, first_rx) = mpsc::channel();
        let mut sync = None;
        let task_state = state.clone();
        let guarded = |fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
            let state = task_state.clone();
            async move {
                if std::panic::AssertUnwindSafe(fut)
                    .catch_unwind()
                    .await
                    .is_err()
                {
                    state.warner.warn(
                        "panic",
                        "the PostgreSQL writer task panicked; writes stop here",
                    );
                }
                state.finish();
            }
        };
        match config.write_mode {
            WriteMode::Batch => {
                runtime.spawn(guarded(Box::pin(run_batch(
                    state.clone(),
                    settings,
                    Some(first_tx),
                    Role::Writer,
                ))));
            }
            WriteMode::Sync => {
                if config.spool_dir.is_some() {
                    // What sync calls cannot send goes to the spool through
                    // this task (see `batch::Role::SpoolForSync`).
                    runtime.spawn(guarded(Box::pin(run_batch(
                        state.clone(),
                        settings.clone(),
                        None,
                        Role::SpoolForSync,
                    ))));
                }
                let path = SyncPath::new(state.clone(), settings, config, runtime.handle().clone())
                    .map_err(OpenError::Runtime)?;
                sync = Some(path.clone());
                // On the writer's blocking pool, so that open works inside a
                // tokio runtime too.
                let first_state = state.clone();
                runtime.spawn_blocking(move || {
                    let r = path.connect_first();
                    report_first_connection(&first_state, &mut Some(first_tx), r);
                });
            }
        }
        Ok((
            Writer {
                state,
                runtime: Some(runtime),
                sync,
                mode: config.write_mode,
                shutdown_timeout: config.shutdown_timeout,
                closed: false,
            },
            first_rx,
        ))
    }

    /// The write mode.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }

    /// Whether a task delivers rows from the queue: batch mode, and sync
    /// mode with a spool (for the rows sync calls could not send).
    fn has_queue_task(&self) -> bool {
        self.mode == WriteMode::Batch || self.state.spool_dir.is_some()
    }

    /// Batch mode: copies the rows into the queue and returns how many were
    /// accepted (the rest were dropped because the queue is full, counted).
    /// Sync mode: writes and commits them before returning; returns the
    /// number written (rows the server rejected are not counted); -2 when
    /// rows were not delivered (never sent, or refused with an error: they
    /// will never be stored); -3 when a row was sent and no answer came (it
    /// may be stored; it is not sent again). Counted in
    /// `dropped_unavailable` and `uncertain`. With a spool, rows that were
    /// not sent go to the spool instead (waited for at most
    /// `sync::SPOOL_WAIT`) and count as written here.
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
        if self.closed || self.state.shutting_down() {
            return -1;
        }
        match &self.sync {
            None => self.state.enqueue(rows).accepted as i64,
            Some(path) => {
                let owned: Vec<Row> = rows.iter().map(Row::from_bytes).collect();
                if tokio::runtime::Handle::try_current().is_err() {
                    // The common case: the INSERT runs on this thread.
                    return path.write(owned);
                }
                // Inside a tokio runtime `block_on` is not allowed: a
                // thread of the writer's blocking pool does the same write
                // and this thread waits for it, boundedly.
                match self.runtime.as_ref() {
                    Some(runtime) => path.write_from_runtime(owned, runtime),
                    None => -1,
                }
            }
        }
    }

    /// Waits until every row accepted before the call is committed (or
    /// dropped as rejected), at most `timeout`. True when drained. With a
    /// spool, rows moved there count once the spool is empty again.
    pub fn flush(&self, timeout: Duration) -> bool {
        if !self.has_queue_task() {
            return true;
        }
        let target = self.state.queue.enqueued();
        self.state.flush_target.fetch_max(target, Ordering::AcqRel);
        self.state.wake.notify_one();
        let drained = |p: &state::Progress| p.resolved >= target && p.spool_pending == 0;
        self.state.wait(timeout, |p| drained(p) || p.finished) && drained(&self.state.progress())
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        let state = &self.state;
        Stats {
            queued: state.queue.len() as u64 + state.in_flight.load(Ordering::Acquire),
            delivered: state.delivered.load(Ordering::Acquire),
            dropped_queue_full: state.queue.dropped_full(),
            dropped_rejected: state.dropped_rejected.load(Ordering::Acquire),
            dropped_unavailable: state.dropped_unavailable.load(Ordering::Acquire),
            uncertain: state.uncertain.load(Ordering::Acquire),
            spooled: state.progress().spool_pending,
            dropped_spool_full: state.dropped_spool_full.load(Ordering::Acquire),
            batches: state.batches.load(Ordering::Acquire),
            reconnects: state.reconnects.load(Ordering::Acquire),
            undelivered: 0,
            connected: state.connected.load(Ordering::Acquire),
        }
    }

    /// The last warning (redacted), if there was one.
    pub fn last_error(&self) -> Option<String> {
        self.state.warner.last_error()
    }

    /// Flushes within `timeout`, stops the task and its threads, and
    /// returns the final counters with `undelivered` set.
    pub fn close(mut self, timeout: Duration) -> Stats {
        self.shutdown(timeout)
    }

    fn shutdown(&mut self, timeout: Duration) -> Stats {
        let state = self.state.clone();
        if !self.closed {
            self.closed = true;
            {
                let mut d = state.deadline.lock().unwrap_or_else(|p| p.into_inner());
                *d = Some(deadline_after(timeout));
            }
            state.shutdown.store(true, Ordering::Release);
            if let Some(path) = self.sync.take() {
                path.close(deadline_after(timeout));
                if !self.has_queue_task() {
                    // Nothing is queued in sync mode without a spool.
                    state.finish();
                }
            }
            state.wake.notify_one();
            state.stop.notify_one();
            let grace = if state.spool_dir.is_some() {
                SPOOL_CLOSE_GRACE
            } else {
                Duration::ZERO
            };
            state.wait(timeout.saturating_add(grace), |p| p.finished);
        }
        let mut stats = self.stats();
        let accepted = state.queue.enqueued();
        stats.undelivered = if self.has_queue_task() {
            accepted.saturating_sub(state.progress().resolved)
        } else {
            0
        };
        stats.queued = stats.undelivered;
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
