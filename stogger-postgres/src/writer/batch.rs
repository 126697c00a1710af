//! Batch mode: [`super::Writer::write`] copies rows into the bounded queue and
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
//! COPY is used for every batch size (docs/decisions.md says why there is
//! no second write path for small batches).

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::conn::{self, Conn, Failure, TxStatus, WriteError};
use crate::conn_settings::ConnSettings;
use crate::queue::{halves, Row, RowRef};

use super::state::{prepare_connection, report_first_connection, WriterState};

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

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
fn record_outcome(
    state: &WriterState,
    batch: &mut Option<Batch>,
    delivered: u64,
    rejected: u64,
    uncertain: u64,
) {
    if let Some(b) = batch.as_ref() {
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
            if let Some(done) = batch.take() {
                state.queue.recycle(done.rows);
            }
        }
    }
    state.resolve(delivered, rejected, uncertain);
}

/// Waits for rows and takes a batch; None when shutting down with nothing left.
async fn next_batch(state: &WriterState) -> Option<Batch> {
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
        let mut rows = state.queue.take(state.batch_size);
        if rows.is_empty() {
            continue;
        }
        state
            .in_flight
            .fetch_add(rows.len() as u64, Ordering::AcqRel);
        let dropped = state.queue.dropped_full();
        let reported = state.reported_drops.swap(dropped, Ordering::AcqRel);
        let mut synthetic = 0;
        if dropped > reported {
            rows.insert(0, dropped_report_row(dropped - reported));
            synthetic = 1;
        }
        return Some(Batch::new(rows, synthetic));
    }
}

/// The batch-mode task.
pub(super) async fn run_batch(
    state: Arc<WriterState>,
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
        if state.past_deadline() {
            break;
        }
        if !matches!(conn.as_ref(), Some(c) if !c.is_closed()) {
            conn = None;
            state.connected.store(false, Ordering::Release);
            match connect_and_prepare(&state, &settings).await {
                Ok(c) => {
                    if ever_connected {
                        state.reconnects.fetch_add(1, Ordering::AcqRel);
                    }
                    ever_connected = true;
                    state.connected.store(true, Ordering::Release);
                    backoff.reset();
                    report_first_connection(&state, &mut first, Ok(()));
                    if lost {
                        state.warner.reset("connect");
                        state.warner.reset("write");
                        state.warner.warn(
                            "reconnect",
                            &format!(
                                "connected to {} again; writing {} waiting rows",
                                settings.display,
                                state.queue.len() as u64 + batch.as_ref().map_or(0, Batch::pending)
                            ),
                        );
                    }
                    lost = false;
                    conn = Some(c);
                }
                Err(msg) => {
                    let delay = backoff.next();
                    if first.is_some() {
                        report_first_connection(&state, &mut first, Err(msg));
                    } else {
                        let waiting =
                            state.queue.len() as u64 + batch.as_ref().map_or(0, Batch::pending);
                        state.warner.warn(
                            "connect",
                            &format!(
                                "{msg}; {waiting} rows kept in memory, retrying in {} ms",
                                delay.as_millis()
                            ),
                        );
                    }
                    lost = true;
                    state.sleep(delay).await;
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
                    record_outcome(&state, &mut batch, n, 0, 0);
                }
                Ok(TxStatus::Aborted) => b.todo.push(range),
                Ok(TxStatus::InProgress) => {
                    b.unknown = Some((xid, range));
                    state.sleep(BACKOFF_START).await;
                }
                Ok(TxStatus::Unknown) => {
                    let n = b.real(&range);
                    state.warner.warn(
                        "uncertain",
                        &format!(
                            "cannot tell whether {n} rows were committed before the connection \
                             was lost (transaction {xid}); not sending them again"
                        ),
                    );
                    record_outcome(&state, &mut batch, 0, 0, n);
                }
                Err(e) => {
                    b.unknown = Some((xid, range));
                    if let Failure::Connection(_) = conn::classify(&e, &c.client) {
                        conn = None;
                    } else {
                        state.sleep(backoff.next()).await;
                    }
                }
            }
            continue;
        }

        if batch.is_none() {
            batch = next_batch(&state).await;
            if batch.is_none() {
                break;
            }
        }
        let Some(b) = batch.as_mut() else { continue };
        let Some(range) = b.todo.last().cloned() else {
            record_outcome(&state, &mut batch, 0, 0, 0);
            continue;
        };
        match c.write(&b.rows[range.clone()]).await {
            Ok(()) => {
                b.todo.pop();
                let n = b.real(&range);
                backoff.reset();
                record_outcome(&state, &mut batch, n, 0, 0);
            }
            Err(WriteError::Failed(Failure::Rows(msg))) => {
                b.todo.pop();
                if range.len() == 1 {
                    let n = b.real(&range);
                    b.rejected += n;
                    b.reject_reason = Some(msg);
                    record_outcome(&state, &mut batch, 0, n, 0);
                } else {
                    let (left, right) = halves(&range);
                    b.todo.push(right);
                    b.todo.push(left);
                }
            }
            Err(WriteError::Failed(Failure::Connection(msg))) => {
                state.warner.warn(
                    "connect",
                    &format!(
                        "lost the connection to {}: {msg}; keeping {} rows, reconnecting",
                        settings.display,
                        state.queue.len() as u64 + b.pending()
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
                state.warner.warn(
                    "write",
                    &format!(
                        "cannot write to {}: {message}; keeping {} rows, retrying in {} ms",
                        state.table,
                        state.queue.len() as u64 + b.pending(),
                        delay.as_millis()
                    ),
                );
                lost = true;
                if table_missing {
                    // Reconnecting creates the table again.
                    conn = None;
                }
                state.sleep(delay).await;
            }
            Err(WriteError::Unknown { xid, error }) => {
                b.todo.pop();
                b.unknown = Some((xid, range));
                state.warner.warn(
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
