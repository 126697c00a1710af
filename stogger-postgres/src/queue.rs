//! Owned rows and the bounded queue between the callers and the writer.
//!
//! A [`Row`] is one allocation: all its text in one buffer plus offsets. The
//! queue holds at most `capacity` rows and at most `max_bytes` bytes of row
//! text, counting the rows the writer has taken and not finished with yet
//! (so a batch kept in memory through an outage is inside the bound); when
//! either bound would be passed the newest rows are dropped (never the
//! ones already waiting) and counted.
//!
//! A log call only copies bytes into the queue ([`RowBytes`]); checking
//! them (valid UTF-8, no NUL in the text columns) is the writer's job when
//! it takes rows out, so that cost is off the caller's thread.
//!
//! The writer hands the buffers of committed rows back ([`Queue::recycle`])
//! and callers copy their next rows into them: without that, every log call
//! pays a `malloc` on its own thread and the writer a `free` on another,
//! and the allocator keeps returning and re-faulting the same pages.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One log row, borrowed (what callers hand in).
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    /// Event time, microseconds since the Unix epoch (UTC).
    pub ts_micros: i64,
    /// `trace`, `debug`, `info`, `warning`, `error` or `critical`.
    pub level: &'a str,
    /// The event name.
    pub event: &'a str,
    /// The function (None = SQL NULL).
    pub func: Option<&'a str>,
    /// The scope (None = SQL NULL).
    pub scope: Option<&'a str>,
    /// The `data` column: the text of a JSON object, sent to JSONB as is.
    /// Text that is not valid JSON makes the server reject the row (it is
    /// then dropped and counted in `dropped_rejected`).
    pub data: &'a str,
}

/// One log row as raw bytes, borrowed: what the plugin's C entry point
/// hands in, unchecked. Text that is not UTF-8 is replaced (U+FFFD) and NUL
/// in the text columns becomes U+FFFD, on the writer's thread.
#[derive(Debug, Clone, Copy)]
pub struct RowBytes<'a> {
    /// Event time, microseconds since the Unix epoch (UTC).
    pub ts_micros: i64,
    /// The level.
    pub level: &'a [u8],
    /// The event name.
    pub event: &'a [u8],
    /// The function (None = SQL NULL).
    pub func: Option<&'a [u8]>,
    /// The scope (None = SQL NULL).
    pub scope: Option<&'a [u8]>,
    /// The `data` column (JSON object text).
    pub data: &'a [u8],
}

impl<'a> From<&RowRef<'a>> for RowBytes<'a> {
    fn from(r: &RowRef<'a>) -> RowBytes<'a> {
        RowBytes {
            ts_micros: r.ts_micros,
            level: r.level.as_bytes(),
            event: r.event.as_bytes(),
            func: r.func.map(str::as_bytes),
            scope: r.scope.map(str::as_bytes),
            data: r.data.as_bytes(),
        }
    }
}

/// A row as the queue holds it: the caller's bytes, copied, not yet checked.
struct Pending {
    ts_micros: i64,
    bytes: Vec<u8>,
    ends: [usize; 4],
    func_null: bool,
    scope_null: bool,
}

impl Pending {
    /// The bytes of row text it holds (what `max_bytes` counts).
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Copies `r` into `bytes` (cleared first, its allocation reused).
    fn new_in(mut bytes: Vec<u8>, r: &RowBytes<'_>) -> Pending {
        let func = r.func.unwrap_or_default();
        let scope = r.scope.unwrap_or_default();
        bytes.clear();
        bytes.reserve(r.level.len() + r.event.len() + func.len() + scope.len() + r.data.len());
        let mut ends = [0; 4];
        for (end, part) in ends.iter_mut().zip([r.level, r.event, func, scope]) {
            bytes.extend_from_slice(part);
            *end = bytes.len();
        }
        bytes.extend_from_slice(r.data);
        Pending {
            ts_micros: r.ts_micros,
            bytes,
            ends,
            func_null: r.func.is_none(),
            scope_null: r.scope.is_none(),
        }
    }
}

/// One log row, owned (what the queue holds).
#[derive(Clone, PartialEq, Eq)]
pub struct Row {
    ts_micros: i64,
    text: String,
    // end offsets of level, event, func, scope (data runs to the end)
    ends: [usize; 4],
    func_null: bool,
    scope_null: bool,
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row")
            .field("ts_micros", &self.ts_micros)
            .field("level", &self.level())
            .field("event", &self.event())
            .field("func", &self.func())
            .field("scope", &self.scope())
            .field("data_len", &self.data().len())
            .finish()
    }
}

/// NUL is the one character PostgreSQL text cannot hold: it is stored as
/// U+FFFD (the replacement character) so the row is not lost.
fn push_text(buf: &mut String, s: &str) {
    if s.contains('\0') {
        for c in s.chars() {
            buf.push(if c == '\0' { '\u{FFFD}' } else { c });
        }
    } else {
        buf.push_str(s);
    }
}

impl Row {
    /// Copies a borrowed row (one allocation).
    pub fn new(r: &RowRef<'_>) -> Row {
        let len = r.level.len()
            + r.event.len()
            + r.func.map_or(0, str::len)
            + r.scope.map_or(0, str::len)
            + r.data.len();
        let mut text = String::with_capacity(len);
        let mut ends = [0; 4];
        push_text(&mut text, r.level);
        ends[0] = text.len();
        push_text(&mut text, r.event);
        ends[1] = text.len();
        push_text(&mut text, r.func.unwrap_or(""));
        ends[2] = text.len();
        push_text(&mut text, r.scope.unwrap_or(""));
        ends[3] = text.len();
        text.push_str(r.data);
        Row {
            ts_micros: r.ts_micros,
            text,
            ends,
            func_null: r.func.is_none(),
            scope_null: r.scope.is_none(),
        }
    }

    /// Event time, microseconds since the Unix epoch.
    pub fn ts_micros(&self) -> i64 {
        self.ts_micros
    }
    /// The level.
    pub fn level(&self) -> &str {
        &self.text[..self.ends[0]]
    }
    /// The event name.
    pub fn event(&self) -> &str {
        &self.text[self.ends[0]..self.ends[1]]
    }
    /// The function, if any.
    pub fn func(&self) -> Option<&str> {
        (!self.func_null).then(|| &self.text[self.ends[1]..self.ends[2]])
    }
    /// The scope, if any.
    pub fn scope(&self) -> Option<&str> {
        (!self.scope_null).then(|| &self.text[self.ends[2]..self.ends[3]])
    }
    /// The JSON text of `data`.
    pub fn data(&self) -> &str {
        &self.text[self.ends[3]..]
    }
    /// The row borrowed as bytes, to be queued again (sync mode hands the
    /// rows it could not send to the spool writer this way).
    pub fn as_bytes(&self) -> RowBytes<'_> {
        RowBytes {
            ts_micros: self.ts_micros,
            level: self.level().as_bytes(),
            event: self.event().as_bytes(),
            func: self.func().map(str::as_bytes),
            scope: self.scope().map(str::as_bytes),
            data: self.data().as_bytes(),
        }
    }

    /// The row's buffer, for reuse.
    fn into_buffer(self) -> Vec<u8> {
        self.text.into_bytes()
    }

    /// A row from bytes a caller handed in: checked, and repaired where
    /// needed (invalid UTF-8 and NUL in text columns become U+FFFD).
    pub fn from_bytes(r: &RowBytes<'_>) -> Row {
        Row::checked(Pending::new_in(Vec::new(), r))
    }

    /// Checks a pending row. The usual case (valid UTF-8 split at character
    /// boundaries, no NUL in the text columns) keeps its buffer as is.
    fn checked(p: Pending) -> Row {
        let Pending {
            ts_micros,
            bytes,
            ends,
            func_null,
            scope_null,
        } = p;
        let bytes = match String::from_utf8(bytes) {
            Ok(text)
                if ends.iter().all(|&e| text.is_char_boundary(e))
                    && !text.as_bytes()[..ends[3]].contains(&0) =>
            {
                return Row {
                    ts_micros,
                    text,
                    ends,
                    func_null,
                    scope_null,
                };
            }
            Ok(text) => text.into_bytes(),
            Err(e) => e.into_bytes(),
        };
        let part = |r: Range<usize>| String::from_utf8_lossy(&bytes[r]);
        let (level, event) = (part(0..ends[0]), part(ends[0]..ends[1]));
        let (func, scope) = (part(ends[1]..ends[2]), part(ends[2]..ends[3]));
        let data = part(ends[3]..bytes.len());
        Row::new(&RowRef {
            ts_micros,
            level: &level,
            event: &event,
            func: (!func_null).then_some(&*func),
            scope: (!scope_null).then_some(&*scope),
            data: &data,
        })
    }
}

/// Buffers above this capacity are freed rather than kept for reuse: one
/// large row must not pin its memory in the spare list.
pub const SPARE_MAX_BYTES: usize = 2048;
/// At most this many spare buffers are kept (with [`SPARE_MAX_BYTES`], at
/// most 8 MiB; typically a few hundred bytes each).
pub const SPARE_MAX_COUNT: usize = 4096;

/// What [`Queue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// Rows accepted.
    pub accepted: usize,
    /// Rows dropped because the queue was full.
    pub dropped: usize,
    /// The queue was empty before (the writer may be idle).
    pub was_empty: bool,
    /// The queue length after the push.
    pub len: usize,
    /// Sequence number after the last accepted row (rows accepted so far).
    pub enqueued: u64,
}

struct Inner {
    rows: VecDeque<Pending>,
    /// Buffers of written rows for the next rows to copy into, as the
    /// batches the writer handed back (so handing one back is O(1) under
    /// the lock); `spare_count` buffers in all.
    spare: Vec<Vec<Vec<u8>>>,
    spare_count: usize,
    enqueued: u64,
    taken: u64,
    dropped_full: u64,
    /// Bytes of row text waiting or taken and not yet released.
    bytes: u64,
}

impl Inner {
    /// A spare buffer, or a new empty one.
    fn take_spare(&mut self) -> Vec<u8> {
        while let Some(batch) = self.spare.last_mut() {
            if let Some(buffer) = batch.pop() {
                self.spare_count -= 1;
                return buffer;
            }
            self.spare.pop();
        }
        Vec::new()
    }
}

/// A bounded FIFO of rows, safe to share between threads.
pub struct Queue {
    inner: Mutex<Inner>,
    capacity: usize,
    max_bytes: u64,
    /// `inner.rows.len()`, stored after every change under the lock, so
    /// that asking for the length (the writer does it often, callers once
    /// per write) does not take the lock.
    len: AtomicUsize,
}

impl Queue {
    /// An empty queue holding at most `capacity` rows (at least 1) and
    /// `max_bytes` bytes of row text.
    pub fn new(capacity: usize, max_bytes: u64) -> Queue {
        Queue {
            inner: Mutex::new(Inner {
                rows: VecDeque::new(),
                enqueued: 0,
                taken: 0,
                dropped_full: 0,
                bytes: 0,
                spare: Vec::new(),
                spare_count: 0,
            }),
            capacity: capacity.max(1),
            max_bytes,
            len: AtomicUsize::new(0),
        }
    }

    /// Hands the buffers of rows that are done with (written or given up)
    /// back for reuse; beyond [`SPARE_MAX_COUNT`] they are freed.
    pub fn recycle(&self, rows: Vec<Row>) {
        let mut buffers: Vec<Vec<u8>> = rows
            .into_iter()
            .map(Row::into_buffer)
            .filter(|b| b.capacity() <= SPARE_MAX_BYTES)
            .take(SPARE_MAX_COUNT)
            .collect();
        let excess = {
            let mut g = self.lock();
            let room = SPARE_MAX_COUNT.saturating_sub(g.spare_count);
            let excess = buffers.split_off(room.min(buffers.len()));
            if !buffers.is_empty() {
                g.spare_count += buffers.len();
                g.spare.push(buffers);
            }
            excess
        };
        // What did not fit is freed here, outside the lock.
        drop(excess);
    }

    /// Spare buffers held.
    #[cfg(test)]
    fn spare_buffers(&self) -> usize {
        self.lock().spare_count
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the deque inconsistent
        // (every operation is a single push/pop), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Bytes of row text counted against the bound now (waiting, and taken
    /// but not released).
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Whether the queue is past half of either bound: the point where the
    /// writer moves rows to the spool (when one is configured).
    pub fn above_high_water(&self) -> bool {
        if self.len() > self.capacity / 2 {
            return true;
        }
        self.bytes() > self.max_bytes / 2
    }

    /// Gives back the byte count of taken rows the writer is done with
    /// (written, dropped, or moved to the spool): [`Queue::take`]'s `bytes`.
    pub fn release(&self, bytes: u64) {
        let mut g = self.lock();
        g.bytes = g.bytes.saturating_sub(bytes);
    }

    /// Copies rows in until the queue is full; the rest are dropped (newest
    /// first) and counted.
    pub fn push(&self, rows: &[RowBytes<'_>]) -> Pushed {
        // Several rows are copied outside the lock, but not more than can
        // fit (the length read here may be stale; the check under the lock
        // decides).
        let room = self.capacity.saturating_sub(self.len());
        let mut g;
        let was_empty;
        let mut accepted = 0;
        if let [row] = rows {
            // The common case, one event: the row (a few hundred bytes) is
            // copied under the lock, into a spare buffer when there is one,
            // so a log call takes one lock and allocates nothing.
            let size = row_size(row);
            g = self.lock();
            was_empty = g.rows.is_empty();
            if g.rows.len() < self.capacity && g.bytes + size <= self.max_bytes {
                let buffer = g.take_spare();
                g.rows.push_back(Pending::new_in(buffer, row));
                g.bytes += size;
                accepted = 1;
            }
        } else {
            let mut buffers: Vec<Vec<u8>> = {
                let mut g = self.lock();
                (0..room.min(rows.len())).map(|_| g.take_spare()).collect()
            };
            let owned: Vec<Pending> = rows
                .iter()
                .take(room)
                .map(|r| Pending::new_in(buffers.pop().unwrap_or_default(), r))
                .collect();
            g = self.lock();
            was_empty = g.rows.is_empty();
            let fit = self.capacity.saturating_sub(g.rows.len()).min(owned.len());
            for row in owned.into_iter().take(fit) {
                if g.bytes + row.size() > self.max_bytes {
                    break;
                }
                g.bytes += row.size();
                g.rows.push_back(row);
                accepted += 1;
            }
        }
        self.len.store(g.rows.len(), Ordering::Release);
        let dropped = rows.len() - accepted;
        g.enqueued += accepted as u64;
        g.dropped_full += dropped as u64;
        Pushed {
            accepted,
            dropped,
            was_empty,
            len: g.rows.len(),
            enqueued: g.enqueued,
        }
    }

    /// Takes up to `max` rows from the front, and their byte count, which
    /// stays counted against the bound until [`Queue::release`]d.
    /// Rows are checked (see [`RowBytes`]) after the lock is released.
    pub fn take(&self, max: usize) -> (Vec<Row>, u64) {
        let taken: Vec<Pending> = {
            let mut g = self.lock();
            let n = max.min(g.rows.len());
            g.taken += n as u64;
            let taken = g.rows.drain(..n).collect();
            self.len.store(g.rows.len(), Ordering::Release);
            taken
        };
        let bytes = taken.iter().map(Pending::size).sum();
        (taken.into_iter().map(Row::checked).collect(), bytes)
    }

    /// Rows waiting.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether no row is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows accepted so far (sequence number of the newest).
    pub fn enqueued(&self) -> u64 {
        self.lock().enqueued
    }

    /// Rows taken by the writer so far.
    pub fn taken(&self) -> u64 {
        self.lock().taken
    }

    /// Rows dropped because the queue was full, so far.
    pub fn dropped_full(&self) -> u64 {
        self.lock().dropped_full
    }
}

/// The bytes of row text `r` holds in the queue.
fn row_size(r: &RowBytes<'_>) -> u64 {
    (r.level.len()
        + r.event.len()
        + r.func.map_or(0, <[u8]>::len)
        + r.scope.map_or(0, <[u8]>::len)
        + r.data.len()) as u64
}

/// The index ranges of `0..n` split into halves (for isolating bad rows).
pub fn halves(r: &Range<usize>) -> (Range<usize>, Range<usize>) {
    let mid = r.start + (r.end - r.start) / 2;
    (r.start..mid, mid..r.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(event: &str) -> RowBytes<'_> {
        RowBytes {
            ts_micros: 1,
            level: b"info",
            event: event.as_bytes(),
            func: None,
            scope: Some(b"s"),
            data: b"{}",
        }
    }

    #[test]
    fn row_copy_round_trips() {
        let r = Row::new(&RowRef {
            ts_micros: -5,
            level: "warning",
            event: "ev",
            func: Some(""),
            scope: None,
            data: r#"{"k":1}"#,
        });
        assert_eq!(r.ts_micros(), -5);
        assert_eq!(r.level(), "warning");
        assert_eq!(r.event(), "ev");
        assert_eq!(r.func(), Some(""));
        assert_eq!(r.scope(), None);
        assert_eq!(r.data(), r#"{"k":1}"#);
    }

    #[test]
    fn nul_in_text_columns_becomes_replacement_character() {
        let r = Row::new(&RowRef {
            ts_micros: 0,
            level: "info",
            event: "a\0b",
            func: Some("\0"),
            scope: Some("x"),
            data: "{}",
        });
        assert_eq!(r.event(), "a\u{FFFD}b");
        assert_eq!(r.func(), Some("\u{FFFD}"));
        assert_eq!(r.scope(), Some("x"));
    }

    #[test]
    fn bytes_are_checked_and_repaired_when_taken() {
        let q = Queue::new(10, u64::MAX);
        let e_acute = "é".as_bytes();
        q.push(&[
            RowBytes {
                ts_micros: 3,
                level: b"info",
                event: b"a\xffb",
                func: Some(b"f\0"),
                scope: Some(b"ok"),
                data: b"{\"k\":\"\xff\"}",
            },
            // Valid as a whole, but split inside a character.
            RowBytes {
                ts_micros: 4,
                level: &e_acute[..1],
                event: &e_acute[1..],
                func: None,
                scope: None,
                data: b"{}",
            },
            row("plain \u{e9}v\u{e9}nement"),
        ]);
        let got = q.take(10).0;
        assert_eq!(got[0].event(), "a\u{FFFD}b");
        assert_eq!(got[0].func(), Some("f\u{FFFD}"));
        assert_eq!(got[0].scope(), Some("ok"));
        assert_eq!(got[0].data(), "{\"k\":\"\u{FFFD}\"}");
        assert_eq!((got[1].level(), got[1].event()), ("\u{FFFD}", "\u{FFFD}"));
        assert_eq!((got[1].func(), got[1].scope()), (None, None));
        assert_eq!(got[2].event(), "plain \u{e9}v\u{e9}nement");
        assert_eq!(got[2].scope(), Some("s"));
    }

    #[test]
    fn full_queue_drops_newest_and_counts() {
        let q = Queue::new(3, u64::MAX);
        let p = q.push(&[row("a"), row("b")]);
        assert_eq!((p.accepted, p.dropped, p.was_empty, p.len), (2, 0, true, 2));
        let p = q.push(&[row("c"), row("d"), row("e")]);
        assert_eq!(
            (p.accepted, p.dropped, p.was_empty, p.len),
            (1, 2, false, 3)
        );
        assert_eq!(q.dropped_full(), 2);
        assert_eq!(q.enqueued(), 3);
        let got: Vec<String> = q.take(10).0.iter().map(|r| r.event().to_string()).collect();
        assert_eq!(got, ["a", "b", "c"], "the oldest rows are kept, in order");
        assert_eq!(q.taken(), 3);
        let p = q.push(&[row("f")]);
        assert_eq!((p.accepted, p.was_empty), (1, true));
        assert_eq!(q.take(0).0.len(), 0);
        assert_eq!(q.take(5).0[0].event(), "f");
    }

    #[test]
    fn written_rows_lend_their_buffers_to_the_next_ones() {
        let q = Queue::new(10, u64::MAX);
        let long = "x".repeat(300);
        q.push(&[row(&long), row("b")]);
        assert_eq!(q.spare_buffers(), 0);
        q.recycle(q.take(10).0);
        assert_eq!(q.spare_buffers(), 2);
        q.push(&[RowBytes {
            ts_micros: 7,
            level: b"error",
            event: b"short",
            func: Some(b"f"),
            scope: None,
            data: br#"{"a":1}"#,
        }]);
        assert_eq!(q.spare_buffers(), 1, "the push took a spare buffer");
        let got = q.take(1).0.remove(0);
        assert_eq!(
            (
                got.ts_micros(),
                got.level(),
                got.event(),
                got.func(),
                got.scope(),
                got.data()
            ),
            (7, "error", "short", Some("f"), None, r#"{"a":1}"#),
            "nothing of the buffer's previous row shows"
        );
    }

    #[test]
    fn spare_buffers_are_bounded_in_size_and_number() {
        let q = Queue::new(SPARE_MAX_COUNT * 2, u64::MAX);
        let huge = "y".repeat(SPARE_MAX_BYTES + 1);
        q.push(&[row(&huge)]);
        q.recycle(q.take(1).0);
        assert_eq!(q.spare_buffers(), 0, "a large buffer is freed, not kept");
        let rows: Vec<RowBytes<'_>> = (0..SPARE_MAX_COUNT + 10).map(|_| row("e")).collect();
        q.push(&rows);
        q.recycle(q.take(SPARE_MAX_COUNT / 2).0);
        q.recycle(q.take(SPARE_MAX_COUNT).0);
        assert_eq!(q.spare_buffers(), SPARE_MAX_COUNT);
    }

    #[test]
    fn the_byte_bound_drops_the_newest_and_counts_taken_rows_until_released() {
        // Each row() is 4 + 1 + 1 + 2 = 8 bytes ("info", "a", "s", "{}").
        let q = Queue::new(100, 20);
        let p = q.push(&[row("a"), row("b"), row("c")]);
        assert_eq!((p.accepted, p.dropped), (2, 1));
        assert_eq!(q.bytes(), 16);
        assert_eq!(q.push(&[row("d")]).accepted, 0, "one more would pass 20");
        assert_eq!(q.dropped_full(), 2);
        let (rows, bytes) = q.take(10);
        assert_eq!((rows.len(), bytes), (2, 16));
        assert_eq!(q.push(&[row("e")]).accepted, 0, "taken rows still count");
        assert!(q.above_high_water());
        q.release(bytes);
        assert_eq!(q.push(&[row("e")]).accepted, 1);
        assert_eq!(q.bytes(), 8);
        assert!(!q.above_high_water());
    }

    #[test]
    fn halves_cover_the_range() {
        assert_eq!(halves(&(0..5)), (0..2, 2..5));
        assert_eq!(halves(&(4..6)), (4..5, 5..6));
    }
}
