//! Batch mode: [`super::Writer::write`] copies rows into the bounded queue and
//! returns. The task takes up to `batch_size` rows, or what has arrived when
//! the oldest row has waited `flush_interval` (or a flush/close asks), and
//! writes them with binary COPY in one transaction.
//!
//! - **Time limits.** Every write (`BEGIN`, COPY, `COMMIT`) is bounded by
//!   `write_timeout` (and the server's `statement_timeout` inside the
//!   transaction); connecting by `connect_timeout`; the schema set-up by
//!   `max(connect_timeout, 5 s)` per step. A write that runs out of time
//!   before COMMIT drops the connection and keeps the rows.
//! - **Row errors** (any SQLSTATE that does not say the database is
//!   unavailable, see [`conn::classify`]) are isolated by splitting the
//!   batch in halves and retrying each half; only the rejected rows are
//!   dropped (`dropped_rejected`), with one warning per batch.
//! - **Unavailable** (connection lost, 08/57; privileges, resources, a
//!   missing table): the batch and the queue are kept; the task reconnects
//!   (or retries) with exponential backoff (100 ms doubling to 5 s).
//! - **Exactly once.** Every transaction reads `txid_current()` and
//!   `pg_backend_pid()` first. If no answer to COMMIT comes, the task asks
//!   `txid_status(xid)` after reconnecting: committed rows are done, aborted
//!   ones are sent again. A transaction still *in progress* (the old
//!   backend is alive: a half-open connection) is ended with
//!   `pg_terminate_backend` where the role may, and waited on for at most
//!   `write_timeout`; past that, or when the status can no longer be known,
//!   the rows are not sent again and are counted as `uncertain`.
//! - **The spool** (`spool_dir`, see [`crate::spool`]): when the database
//!   cannot be reached or the queue is past half of a bound, the queue (and
//!   a batch from it that is not in doubt) moves to the spool; batches are
//!   taken from the spool while it holds anything, each committed with its
//!   spool position. At close, what is left in memory goes to the spool.
//! - **Gaps show in the table.** When rows were dropped (queue or spool
//!   full), given up as uncertain, or lost to a damaged spool segment, the
//!   next batch starts with one row with event `stogger-events-dropped`
//!   (level `warning`; `data`: `dropped`, `uncertain`, `queue_full`,
//!   `spool_full`, `spool_damaged_bytes`, `reason`, `pid`) covering what
//!   happened since the last such row.
//!
//! COPY is used for every batch size (docs/decisions.md says why there is
//! no second write path for small batches).
//!
//! In sync mode with a spool the same task runs in the role
//! [`Role::SpoolForSync`]: it delivers only the rows sync calls could not
//! send (spooling them at once while the database is unavailable) and
//! what an earlier run left in the spool, and holds a connection only
//! while it has rows to deliver.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio_postgres::types::{ToSql, Type};

use crate::conn::{self, Conn, Failure, ProgressMark, TxStatus, WriteError};
use crate::conn_settings::ConnSettings;
use crate::queue::{halves, Row, RowRef};
use crate::schema;
use crate::spool::{Damage, Position, Spool};

use super::state::{prepare_connection, report_first_connection, WriterState};

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Between two looks at a transaction whose COMMIT got no answer.
const SETTLE_POLL: Duration = Duration::from_millis(100);

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
async fn connect_and_prepare(state: &WriterState, settings: &ConnSettings) -> Result<Conn, String> {
    let client = conn::connect(settings).await?;
    let (c, warnings) = prepare_connection(state, settings, client).await?;
    for w in warnings {
        state.warner.warn("schema", &w);
    }
    Ok(c)
}

/// Where a batch's rows came from.
enum Source {
    /// This writer's queue; `bytes` are still counted against its bound.
    Queue { bytes: u64 },
    /// The spool: each row's position (None for the synthetic row).
    Spool { positions: Vec<Option<Position>> },
}

/// A COMMIT without answer, being resolved.
struct InDoubt {
    xid: i64,
    pid: i32,
    range: Range<usize>,
    /// When the first look after reconnecting was taken.
    since: Option<Instant>,
    /// Whether ending the old backend was tried, and what came of it.
    terminate: Option<String>,
}

/// A batch taken from the queue or the spool, with the ranges still to write.
struct Batch {
    rows: Vec<Row>,
    /// `rows[..synthetic]` are our own rows (the gap report), not counted.
    synthetic: usize,
    source: Source,
    todo: Vec<Range<usize>>,
    unknown: Option<InDoubt>,
    rejected: u64,
    reject_reason: Option<String>,
}

impl Batch {
    fn new(rows: Vec<Row>, synthetic: usize, source: Source) -> Batch {
        let n = rows.len();
        Batch {
            rows,
            synthetic,
            source,
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
        if let Some(u) = &self.unknown {
            n += self.real(&u.range);
        }
        n
    }

    fn is_queue_rows(&self) -> bool {
        matches!(self.source, Source::Queue { .. })
    }

    /// The spool position covering `r` (the last row's), for spool batches.
    fn position(&self, r: &Range<usize>) -> Option<Position> {
        match &self.source {
            Source::Spool { positions } => positions[r.clone()].iter().rev().find_map(|p| *p),
            Source::Queue { .. } => None,
        }
    }
}

/// The gap report's `data`: what was lost since the last report.
fn gap_data(dropped: [u64; 3], queue_full: u64, spool_full: u64) -> String {
    let [lost, uncertain, damaged] = dropped;
    let mut reasons = Vec::new();
    if queue_full > 0 {
        reasons.push("queue-full");
    }
    if spool_full > 0 {
        reasons.push("spool-full");
    }
    if uncertain > 0 {
        reasons.push("uncertain");
    }
    if damaged > 0 {
        reasons.push("spool-damaged");
    }
    format!(
        "{{\"dropped\": {lost}, \"uncertain\": {uncertain}, \"queue_full\": {queue_full}, \
         \"spool_full\": {spool_full}, \"spool_damaged_bytes\": {damaged}, \
         \"reason\": \"{}\", \"pid\": {}}}",
        reasons.join(","),
        std::process::id()
    )
}

/// The `stogger-events-dropped` row for what happened since the last one,
/// if anything did.
fn gap_row(state: &WriterState) -> Option<Row> {
    let queue_full = state.queue.dropped_full();
    let spool_full = state.dropped_spool_full.load(Ordering::Acquire);
    let now = [
        queue_full + spool_full,
        state.uncertain.load(Ordering::Acquire),
        state.spool_lost_bytes.load(Ordering::Acquire),
    ];
    let mut reported = state.reported_gap.lock().unwrap_or_else(|p| p.into_inner());
    if now.iter().zip(reported.iter()).all(|(n, r)| n <= r) {
        return None;
    }
    let diff = [0, 1, 2].map(|i| now[i].saturating_sub(reported[i]));
    // Split of `dropped` by cause is since the start (cheap to know); the
    // totals are since the last report.
    let data = gap_data(diff, queue_full, spool_full);
    *reported = now;
    let micros = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
    Some(Row::new(&RowRef {
        ts_micros: micros,
        level: "warning",
        event: "stogger-events-dropped",
        func: None,
        scope: None,
        data: &data,
    }))
}

/// What the batch task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Batch mode: every row goes through the task.
    Writer,
    /// Sync mode with a spool: the task delivers what sync calls could not
    /// send and what an earlier run left in the spool. Rows reach it only
    /// when the database looked unavailable, so while it is not connected
    /// it spools them as they arrive (the sync callers wait for that), and
    /// it holds no connection while it has nothing to deliver.
    SpoolForSync,
}

/// The batch task. `first` hears how the first connection went (None: a
/// failure is a warning like any later one).
pub(super) async fn run_batch(
    state: Arc<WriterState>,
    settings: ConnSettings,
    first: Option<mpsc::Sender<Result<(), String>>>,
    role: Role,
) {
    let spool = state
        .spool_dir
        .as_deref()
        .and_then(|dir| open_spool(&state, dir));
    let mut task = BatchTask {
        state,
        settings,
        role,
        first,
        conn: None,
        backoff: Backoff::new(),
        batch: None,
        ever_connected: false,
        lost: false,
        spool,
        spool_synced: false,
        spool_blocked: false,
    };
    task.run().await;
}

/// Opens the spool, reporting damage found; None (and a warning) when the
/// directory cannot be used.
fn open_spool(state: &WriterState, dir: &Path) -> Option<Spool> {
    match Spool::open(dir, state.spool_max_bytes) {
        Ok((spool, damage)) => {
            report_damage(state, &damage);
            state.set_spool_pending(spool.pending());
            Some(spool)
        }
        Err(e) => {
            state.spool_failed.store(true, Ordering::Release);
            state.warner.warn(
                "spool",
                &format!(
                    "cannot use the spool directory {}: {e}; running without a spool",
                    dir.display()
                ),
            );
            None
        }
    }
}

fn report_damage(state: &WriterState, damage: &[Damage]) {
    for d in damage {
        state
            .spool_lost_bytes
            .fetch_add(d.lost_bytes, Ordering::AcqRel);
        state.warner.warn(
            "spool",
            &format!(
                "spool segment {} is damaged (truncated or corrupt) after {} good record(s): \
                 {} byte(s) lost; the good records are delivered",
                d.path.display(),
                d.good_records,
                d.lost_bytes
            ),
        );
    }
}

struct BatchTask {
    state: Arc<WriterState>,
    settings: ConnSettings,
    role: Role,
    first: Option<mpsc::Sender<Result<(), String>>>,
    conn: Option<Conn>,
    backoff: Backoff,
    batch: Option<Batch>,
    ever_connected: bool,
    /// The database was unreachable at the last attempt.
    lost: bool,
    spool: Option<Spool>,
    /// The spool's position was read back from the database (and an
    /// earlier run's in-flight commit settled) on this run.
    spool_synced: bool,
    /// The spool cannot be replayed on this connection (its progress table
    /// is missing): memory batches go straight to the table meanwhile.
    spool_blocked: bool,
}

impl BatchTask {
    fn waiting(&self) -> u64 {
        self.state.queue.len() as u64 + self.batch.as_ref().map_or(0, Batch::pending)
    }

    /// Nothing to deliver: no batch, an empty queue, an empty spool.
    fn idle(&self) -> bool {
        self.batch.is_none()
            && self.state.queue.is_empty()
            && self.spool.as_ref().map_or(0, Spool::pending) == 0
    }

    /// [`Role::SpoolForSync`] with nothing to deliver: waits for rows (or
    /// the close) without a connection. True when it waited.
    async fn rest_while_idle(&mut self) -> bool {
        if self.role != Role::SpoolForSync || !self.idle() {
            return false;
        }
        self.conn = None;
        if !self.state.shutting_down() {
            let state = self.state.clone();
            tokio::select! {
                _ = state.wake.notified() => {}
                _ = state.stop.notified() => {}
            }
        }
        true
    }

    async fn run(&mut self) {
        loop {
            if self.state.past_deadline() {
                break;
            }
            if self.state.shutting_down() && self.lost && self.spool.is_some() {
                // Closing during an outage: the rows are safe on disk.
                break;
            }
            if self.rest_while_idle().await {
                if self.state.shutting_down() && self.idle() {
                    break;
                }
                continue;
            }
            if !matches!(self.conn.as_ref(), Some(c) if !c.is_closed()) && !self.connect().await {
                self.spool_memory();
                self.wait_backoff().await;
                continue;
            }
            if self.resolve_unknown().await {
                continue;
            }
            if self.spool.is_some()
                && !self.spool_synced
                && !self.spool_blocked
                && !self.sync_spool().await
            {
                continue;
            }
            if self.batch.is_none() {
                if self.spool.is_some() && self.state.queue.above_high_water() {
                    self.spool_memory();
                }
                self.batch = self.next_batch().await;
                if self.batch.is_none() {
                    break;
                }
            }
            self.write_batch().await;
        }
        // What is left in memory goes to the spool (when there is one).
        self.spool_memory();
        if let Some(spool) = &self.spool {
            let pending = spool.pending();
            self.state.set_spool_pending(pending);
            if pending > 0 {
                self.state.warner.warn(
                    "spool",
                    &format!(
                        "{pending} event(s) wait in the spool {}; they are written when the \
                         service runs again and reaches the database",
                        spool.dir().display()
                    ),
                );
            }
        }
    }

    /// Connects; false (after reporting and noting the outage) when that fails.
    async fn connect(&mut self) -> bool {
        let state = self.state.clone();
        self.conn = None;
        state.connected.store(false, Ordering::Release);
        let connected = match self.role {
            Role::Writer => connect_and_prepare(&state, &self.settings).await,
            Role::SpoolForSync => {
                // Sync callers wait for their rows to be on disk: what
                // arrives while connecting (up to connect_timeout against
                // a black-holed server) is spooled meanwhile (so the
                // attempt borrows its own copy of the settings).
                let settings = self.settings.clone();
                let attempt = connect_and_prepare(&state, &settings);
                tokio::pin!(attempt);
                loop {
                    tokio::select! {
                        r = &mut attempt => break r,
                        _ = state.wake.notified() => self.spool_memory(),
                    }
                }
            }
        };
        match connected {
            Ok(c) => {
                if self.ever_connected {
                    state.reconnects.fetch_add(1, Ordering::AcqRel);
                }
                self.ever_connected = true;
                state.connected.store(true, Ordering::Release);
                self.backoff.reset();
                report_first_connection(&state, &mut self.first, Ok(()));
                if self.lost {
                    state.warner.reset("connect");
                    state.warner.reset("write");
                    let spooled = self.spool.as_ref().map_or(0, Spool::pending);
                    state.warner.warn(
                        "reconnect",
                        &format!(
                            "connected to {} again; writing {} waiting rows{}",
                            self.settings.display,
                            self.waiting(),
                            if spooled > 0 {
                                format!(" and {spooled} spooled rows")
                            } else {
                                String::new()
                            }
                        ),
                    );
                }
                self.lost = false;
                self.spool_blocked = false;
                self.conn = Some(c);
                true
            }
            Err(msg) => {
                if self.first.is_some() {
                    report_first_connection(&state, &mut self.first, Err(msg));
                } else {
                    let kept = match &self.spool {
                        Some(s) => format!(
                            "{} rows kept in the spool {}",
                            self.waiting() + s.pending(),
                            s.dir().display()
                        ),
                        None => format!("{} rows kept in memory", self.waiting()),
                    };
                    state.warner.warn(
                        "connect",
                        &format!(
                            "{msg}; {kept}, retrying in {} ms",
                            self.backoff.0.as_millis()
                        ),
                    );
                }
                self.lost = true;
                false
            }
        }
    }

    /// Waits the next backoff delay. With a spool, rows arriving meanwhile
    /// are moved to it (gathered for `flush_interval` first, so a trickle
    /// of events does not cost one disk sync each).
    async fn wait_backoff(&mut self) {
        let delay = self.backoff.next();
        if self.spool.is_none() {
            self.state.sleep(delay).await;
            return;
        }
        let until = tokio::time::Instant::now() + delay;
        loop {
            if self.state.shutting_down() {
                return;
            }
            let state = self.state.clone();
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return,
                _ = state.stop.notified() => return,
                _ = state.wake.notified() => {
                    let gathered_until = tokio::time::Instant::now() + state.flush_interval;
                    // Sync callers wait for their rows: no gathering then
                    // (rows arriving during one disk write go in the next).
                    if self.role == Role::Writer && !state.queue.above_high_water() {
                        tokio::select! {
                            _ = tokio::time::sleep_until(gathered_until.min(until)) => {}
                            _ = state.stop.notified() => {}
                        }
                    }
                    self.spool_memory();
                }
            }
        }
    }

    /// Moves what is in memory to the spool, oldest first: the current
    /// batch when it came from the queue and is not in doubt, then the
    /// queue. Nothing without a spool.
    fn spool_memory(&mut self) {
        let Some(spool) = self.spool.as_mut() else {
            return;
        };
        let state = &*self.state;
        if let Some(b) = self
            .batch
            .take_if(|b| b.is_queue_rows() && b.unknown.is_none())
        {
            // The todo stack is processed from its end: that is the oldest.
            // The gap row, if still unwritten, goes along.
            let rows: Vec<Row> = b
                .todo
                .iter()
                .rev()
                .flat_map(|r| b.rows[r.clone()].iter().cloned())
                .collect();
            let real_left = b.pending();
            if !store(state, spool, &rows, real_left, real_left) {
                // The disk failed: keep the batch in memory.
                self.batch = Some(b);
                return;
            }
            if let Source::Queue { bytes } = b.source {
                state.queue.release(bytes);
            }
            state.queue.recycle(b.rows);
        }
        loop {
            let (rows, bytes) = state.queue.take(state.batch_size);
            if rows.is_empty() {
                break;
            }
            let n = rows.len() as u64;
            let ok = store(state, spool, &rows, n, 0);
            state.queue.release(bytes);
            if !ok {
                break;
            }
        }
    }

    /// Settles a COMMIT that got no answer (see the module docs); true when
    /// there was one to look at.
    async fn resolve_unknown(&mut self) -> bool {
        let Some(c) = self.conn.as_ref() else {
            return false;
        };
        let Some(mut u) = self.batch.as_mut().and_then(|b| b.unknown.take()) else {
            return false;
        };
        let bound = self.state.write_timeout;
        let since = *u.since.get_or_insert_with(Instant::now);
        let outcome = match c.txid_status(u.xid, bound).await {
            Ok(TxStatus::Committed) => Settled::Committed,
            Ok(TxStatus::Aborted) => Settled::Aborted,
            Ok(TxStatus::InProgress) => {
                if u.terminate.is_none() {
                    u.terminate = Some(match c.terminate(u.pid, u.xid, bound).await {
                        Ok(true) => format!("ended its backend, pid {}", u.pid),
                        Ok(false) => format!("its backend, pid {}, was not found", u.pid),
                        Err(e) => format!(
                            "could not end its backend, pid {}: {}",
                            u.pid,
                            conn::describe(&e)
                        ),
                    });
                }
                if since.elapsed() < bound {
                    Settled::NotYet
                } else {
                    Settled::Uncertain(format!(
                        "transaction {} (COMMIT without answer) was still in progress {} ms \
                         after reconnecting ({})",
                        u.xid,
                        bound.as_millis(),
                        u.terminate.as_deref().unwrap_or("?")
                    ))
                }
            }
            Ok(TxStatus::Unknown) => Settled::Uncertain(format!(
                "cannot tell whether transaction {} committed before the connection was lost",
                u.xid
            )),
            Err(e) => Settled::Failed(conn::classify(&e, &c.client)),
        };
        let Some(b) = self.batch.as_mut() else {
            return true;
        };
        let n = b.real(&u.range);
        let pos = b.position(&u.range);
        match outcome {
            Settled::Committed => {
                self.spool_delivered(pos);
                self.record(n, 0, 0);
            }
            Settled::Aborted => b.todo.push(u.range),
            Settled::NotYet => {
                b.unknown = Some(u);
                self.state.sleep(SETTLE_POLL).await;
            }
            Settled::Uncertain(why) => {
                self.state.warner.warn(
                    "uncertain",
                    &format!("{why}; its {n} rows are counted as uncertain and not sent again"),
                );
                self.spool_delivered(pos);
                self.record(0, 0, n);
            }
            Settled::Failed(f) => {
                b.unknown = Some(u);
                if let Failure::Connection(_) = f {
                    self.conn = None;
                } else {
                    let d = self.backoff.next();
                    self.state.sleep(d).await;
                }
            }
        }
        true
    }

    /// First connection with a spool: settles the transaction an earlier
    /// run was committing when it stopped, then reads the spool's position
    /// back. False when it could not (try again later).
    async fn sync_spool(&mut self) -> bool {
        let (Some(c), Some(spool)) = (self.conn.as_ref(), self.spool.as_mut()) else {
            return false;
        };
        let state = &*self.state;
        let bound = state.write_timeout;
        let missing = state
            .progress_missing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(why) = missing {
            state.warner.warn(
                "spool",
                &format!(
                    "{why}; the spool {} cannot be written to the table without it (GRANT \
                     SELECT, INSERT on it, or create it with `stogger schema`); new events \
                     are written directly meanwhile, the spool is tried again at the next \
                     connection",
                    spool.dir().display()
                ),
            );
            self.spool_blocked = true;
            return true;
        }
        if let Some((xid, pid)) = spool.inflight() {
            let start = Instant::now();
            let mut tried = false;
            loop {
                match c.txid_status(xid, bound).await {
                    Ok(TxStatus::InProgress) if start.elapsed() < bound => {
                        if !tried {
                            tried = true;
                            let _ = c.terminate(pid, xid, bound).await;
                        }
                        tokio::time::sleep(SETTLE_POLL).await;
                    }
                    Ok(_) => break,
                    Err(_) => {
                        self.conn = None;
                        return false;
                    }
                }
            }
            spool.clear_inflight();
        }
        let sql = schema::progress_select_sql(&state.table);
        let id = spool.id().to_string();
        // An unnamed statement (pgbouncer: nothing prepared ahead).
        let params: [(&(dyn ToSql + Sync), Type); 1] = [(&id, Type::TEXT)];
        let asked = c.client.query_typed(sql.as_str(), &params);
        let row = match tokio::time::timeout(bound, asked).await {
            Ok(Ok(rows)) => rows.into_iter().next(),
            _ => {
                self.conn = None;
                return false;
            }
        };
        if let Some(row) = row {
            let seg: i64 = row.try_get(0).unwrap_or(0);
            let off: i64 = row.try_get(1).unwrap_or(0);
            if let Err(e) = spool.skip_to((seg.max(0) as u64, off.max(0) as u64)) {
                state
                    .warner
                    .warn("spool", &format!("cannot read the spool: {e}"));
            }
        }
        state.set_spool_pending(spool.pending());
        self.spool_synced = true;
        true
    }

    /// The next batch: from the spool while it holds rows, else from the
    /// queue (waiting for rows); None when shutting down with nothing left.
    async fn next_batch(&mut self) -> Option<Batch> {
        let state = self.state.clone();
        if let Some(b) = self.spool_batch() {
            return Some(b);
        }
        loop {
            if state.queue.is_empty() {
                if state.shutting_down() {
                    return None;
                }
                state.wake.notified().await;
                continue;
            }
            let until = tokio::time::Instant::now() + state.flush_interval;
            loop {
                if state.queue.len() >= state.batch_size
                    || state.shutting_down()
                    || state.flush_target.load(Ordering::Acquire) > state.queue.taken()
                {
                    break;
                }
                tokio::select! {
                    _ = state.wake.notified() => {}
                    _ = tokio::time::sleep_until(until) => break,
                }
            }
            let (mut rows, bytes) = state.queue.take(state.batch_size);
            if rows.is_empty() {
                continue;
            }
            state
                .in_flight
                .fetch_add(rows.len() as u64, Ordering::AcqRel);
            let mut synthetic = 0;
            if let Some(gap) = gap_row(&state) {
                rows.insert(0, gap);
                synthetic = 1;
            }
            return Some(Batch::new(rows, synthetic, Source::Queue { bytes }));
        }
    }

    /// A batch from the spool, when it holds rows (and its position is known).
    fn spool_batch(&mut self) -> Option<Batch> {
        if !self.spool_synced {
            return None;
        }
        let state = &*self.state;
        let spool = self.spool.as_mut()?;
        if spool.pending() == 0 {
            return None;
        }
        let mut damage = Vec::new();
        let read = spool.read(state.batch_size, state.queue.max_bytes() / 4, &mut damage);
        report_damage(state, &damage);
        let got = match read {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                state.warner.warn(
                    "spool",
                    &format!("cannot read the spool {}: {e}", spool.dir().display()),
                );
                return None;
            }
        };
        let mut rows = got.rows;
        let mut positions: Vec<Option<Position>> = got.positions.into_iter().map(Some).collect();
        let mut synthetic = 0;
        if let Some(gap) = gap_row(state) {
            rows.insert(0, gap);
            positions.insert(0, None);
            synthetic = 1;
        }
        Some(Batch::new(rows, synthetic, Source::Spool { positions }))
    }

    /// Marks spool rows up to `pos` delivered (no-op for queue batches).
    fn spool_delivered(&mut self, pos: Option<Position>) {
        let (Some(pos), Some(spool)) = (pos, self.spool.as_mut()) else {
            return;
        };
        if let Err(e) = spool.delivered(pos) {
            self.state
                .warner
                .warn("spool", &format!("cannot update the spool: {e}"));
        }
        self.state.set_spool_pending(spool.pending());
    }

    /// Records the fate of rows of the current batch. When the batch is
    /// complete it is closed first (counted, its rejections reported), so a
    /// flush that returns because of this call sees the batch finished.
    fn record(&mut self, delivered: u64, rejected: u64, uncertain: u64) {
        let state = &*self.state;
        let Some(b) = self.batch.as_ref() else {
            return;
        };
        let from_queue = b.is_queue_rows();
        if b.todo.is_empty() && b.unknown.is_none() {
            state.batches.fetch_add(1, Ordering::AcqRel);
            if b.rejected > 0 {
                state.warner.warn(
                    "rejected",
                    &format!(
                        "dropped {} row(s) of a batch of {} that {} rejected: {}",
                        b.rejected,
                        b.rows.len() - b.synthetic,
                        state.table,
                        b.reject_reason.as_deref().unwrap_or("?")
                    ),
                );
            }
            if let Some(done) = self.batch.take() {
                if let Source::Queue { bytes } = done.source {
                    state.queue.release(bytes);
                }
                state.queue.recycle(done.rows);
            }
        }
        state.resolve(from_queue, delivered, rejected, uncertain);
    }

    /// Writes the next range of the current batch and handles the outcome.
    async fn write_batch(&mut self) {
        let state = self.state.clone();
        let (result, range, pos) = {
            let (Some(c), Some(b)) = (self.conn.as_ref(), self.batch.as_ref()) else {
                return;
            };
            let Some(range) = b.todo.last().cloned() else {
                self.record(0, 0, 0);
                return;
            };
            let pos = b.position(&range);
            let spool = self.spool.as_ref();
            let note = |xid: i64, pid: i32| {
                if let Some(s) = spool {
                    s.note_inflight(xid, pid);
                }
            };
            let insert_sql = schema::progress_insert_sql(&state.table);
            let mark = match (pos, spool) {
                (Some((segment, offset)), Some(s)) => Some(ProgressMark {
                    insert_sql: &insert_sql,
                    spool_id: s.id(),
                    segment: segment as i64,
                    offset: offset as i64,
                    before_commit: &note,
                }),
                _ => None,
            };
            let result = c
                .write(&b.rows[range.clone()], mark.as_ref(), state.write_timeout)
                .await;
            (result, range, pos)
        };
        let Some(b) = self.batch.as_mut() else {
            return;
        };
        match result {
            Ok(()) => {
                b.todo.pop();
                let n = b.real(&range);
                self.backoff.reset();
                self.spool_delivered(pos);
                self.record(n, 0, 0);
            }
            Err(WriteError::Failed(Failure::Rows(msg))) => {
                b.todo.pop();
                if range.len() == 1 {
                    let n = b.real(&range);
                    b.rejected += n;
                    b.reject_reason = Some(msg);
                    self.spool_delivered(pos);
                    self.record(0, n, 0);
                } else {
                    let (left, right) = halves(&range);
                    b.todo.push(right);
                    b.todo.push(left);
                }
            }
            Err(WriteError::Failed(Failure::Connection(msg))) => {
                let waiting = self.waiting();
                state.warner.warn(
                    "connect",
                    &format!(
                        "lost the connection to {}: {msg}; keeping {waiting} rows, reconnecting",
                        self.settings.display,
                    ),
                );
                self.lost = true;
                self.conn = None;
            }
            Err(WriteError::Failed(Failure::Blocked {
                message,
                table_missing,
            })) => {
                let delay = self.backoff.next();
                state.warner.warn(
                    "write",
                    &format!(
                        "cannot write to {}: {message}; keeping {} rows, retrying in {} ms",
                        state.table,
                        self.waiting(),
                        delay.as_millis()
                    ),
                );
                if table_missing {
                    // Reconnecting creates the table again.
                    self.conn = None;
                }
                self.spool_memory();
                state.sleep(delay).await;
            }
            Err(WriteError::Unknown { xid, pid, error }) => {
                b.todo.pop();
                b.unknown = Some(InDoubt {
                    xid,
                    pid,
                    range,
                    since: None,
                    terminate: None,
                });
                state.warner.warn(
                    "connect",
                    &format!(
                        "lost the connection to {} while committing: {error}; will check \
                         whether transaction {xid} committed before sending it again",
                        self.settings.display
                    ),
                );
                self.lost = true;
                self.conn = None;
            }
        }
    }
}

/// What became of a COMMIT without answer, this time.
enum Settled {
    Committed,
    Aborted,
    /// Still in progress, within the bound.
    NotYet,
    /// Given up (the reason).
    Uncertain(String),
    /// Asking failed.
    Failed(Failure),
}

/// Appends `rows` to the spool and counts them: `queue_rows` of them are
/// this run's queue rows (resolved now), `in_flight` of those from a batch
/// already taken. False when the disk write failed (reported).
fn store(
    state: &WriterState,
    spool: &mut Spool,
    rows: &[Row],
    queue_rows: u64,
    in_flight: u64,
) -> bool {
    match spool.append(rows) {
        Ok(a) => {
            if a.dropped > 0 {
                state
                    .dropped_spool_full
                    .fetch_add(a.dropped, Ordering::AcqRel);
                state.warner.warn(
                    "spool-full",
                    &format!(
                        "spool {} full ({} bytes): dropped the {} newest row(s), {} in total",
                        spool.dir().display(),
                        state.spool_max_bytes,
                        a.dropped,
                        state.dropped_spool_full.load(Ordering::Acquire)
                    ),
                );
            }
            state.spooled(queue_rows, in_flight, spool.pending());
            true
        }
        Err(e) => {
            state.warner.warn(
                "spool",
                &format!(
                    "cannot write to the spool {}: {e}; keeping rows in memory",
                    spool.dir().display()
                ),
            );
            false
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
        let b = Batch::new(
            vec![r.clone(), r.clone(), r],
            1,
            Source::Spool {
                positions: vec![None, Some((1, 20)), Some((1, 40))],
            },
        );
        assert_eq!(b.real(&(0..3)), 2);
        assert_eq!(b.real(&(0..1)), 0);
        assert_eq!(b.real(&(1..3)), 2);
        assert_eq!(b.pending(), 2);
        assert_eq!(b.position(&(0..2)), Some((1, 20)));
        assert_eq!(b.position(&(0..1)), None);
        assert_eq!(b.position(&(0..3)), Some((1, 40)));
    }

    #[test]
    fn the_gap_row_names_every_cause() {
        let d = gap_data([5, 2, 100], 3, 2);
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert_eq!(v["dropped"], 5);
        assert_eq!(v["uncertain"], 2);
        assert_eq!(v["spool_damaged_bytes"], 100);
        assert_eq!(v["reason"], "queue-full,spool-full,uncertain,spool-damaged");
    }
}
