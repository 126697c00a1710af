//! Sync mode's group commit: callers that find every pooled connection
//! busy wait together, and the first of them to get a connection writes
//! the rows of the others along with its own, in one multi-row INSERT.
//!
//! - A waiting call is an [`Entry`] in [`Waiting`], oldest first.
//! - A caller that gets a connection takes a [`Group`]: its own entry (if
//!   no one took it yet), then the oldest waiting entries, up to
//!   [`MAX_ROWS`] rows and [`MAX_BYTES`] bytes. The callers whose entries
//!   were taken are woken only when their result is known (a connection
//!   handed to one of them meanwhile serves the callers queued behind).
//! - A caller that gives up (its wait ran out, the breaker opened, the pool
//!   closed) withdraws its entry; it can only withdraw one that no one has
//!   taken, so a row is either written by a leader or answered for by its
//!   own caller, never both.
//! - The leader finishes each entry with its own result; an entry a leader
//!   took and never finished (a panic) is finished as uncertain when the
//!   group is dropped.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use crate::queue::Row;

/// Rows in one statement at most. A group is as large as the number of
/// callers that queued up while the connections were busy, so this binds
/// only with many more threads than connections (or a call of many
/// rows); it keeps a statement far below PostgreSQL's 65,535 parameters
/// (6 per row) and its text small.
pub(super) const MAX_ROWS: usize = 64;

/// Bytes of row text in one statement at most (one larger row goes alone).
pub(super) const MAX_BYTES: usize = 1 << 20;

/// The text a row sends, for the byte bound (the timestamp counts 8).
pub(super) fn row_bytes(r: &Row) -> usize {
    8 + r.level().len()
        + r.event().len()
        + r.func().map_or(0, str::len)
        + r.scope().map_or(0, str::len)
        + r.data().len()
}

/// Where a waiting call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In [`Waiting`]: no one writes it yet.
    Waiting,
    /// Taken by a leader, which is writing it.
    Taken,
    /// Written (or given up) with this result for the caller.
    Done(i64),
    /// Taken, and its caller stopped waiting for the result: whoever
    /// finishes it answers for its rows.
    Abandoned,
}

struct State {
    phase: Phase,
    /// The waiting caller's, woken when the phase changes.
    waker: Option<Waker>,
}

/// One call's rows on their way to the database.
pub(super) struct Entry {
    rows: Vec<Row>,
    bytes: usize,
    state: Mutex<State>,
}

impl Entry {
    pub(super) fn new(rows: Vec<Row>) -> Arc<Entry> {
        let bytes = rows.iter().map(row_bytes).sum();
        Arc::new(Entry {
            rows,
            bytes,
            state: Mutex::new(State {
                phase: Phase::Waiting,
                waker: None,
            }),
        })
    }

    pub(super) fn rows(&self) -> &[Row] {
        &self.rows
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finishes the entry and wakes its caller; true when the caller had
    /// stopped waiting (then no one hears `result`).
    fn finish(&self, result: i64) -> bool {
        let (waker, abandoned) = {
            let mut s = self.state();
            let abandoned = s.phase == Phase::Abandoned;
            s.phase = Phase::Done(result);
            (s.waker.take(), abandoned)
        };
        if let Some(w) = waker {
            w.wake();
        }
        abandoned
    }

    /// The caller stops waiting: its result if the entry was finished
    /// meanwhile, else None, and the one who finishes it later learns
    /// that no caller hears the result.
    pub(super) fn abandon(&self) -> Option<i64> {
        let mut s = self.state();
        match s.phase {
            Phase::Done(r) => Some(r),
            _ => {
                s.phase = Phase::Abandoned;
                s.waker = None;
                None
            }
        }
    }

    /// Marks the entry taken by a leader. Its caller is not woken: it has
    /// nothing to do before the result (a wake-up per caller and group
    /// costs more than the rare connection it may still be handed, which
    /// it then uses for the callers waiting behind it).
    fn take(&self) {
        self.state().phase = Phase::Taken;
    }

    /// Whether a leader has taken (or finished) the entry.
    #[cfg(test)]
    fn is_taken(&self) -> bool {
        self.state().phase != Phase::Waiting
    }

    /// The caller's result, once a leader finished the entry.
    pub(super) fn result(&self) -> Option<i64> {
        match self.state().phase {
            Phase::Done(r) => Some(r),
            _ => None,
        }
    }

    /// Resolves with the caller's result once the entry is finished.
    pub(super) fn done(&self) -> impl Future<Output = i64> + '_ {
        std::future::poll_fn(move |cx| {
            let mut s = self.state();
            match s.phase {
                Phase::Done(r) => Poll::Ready(r),
                _ => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

/// The calls waiting for a connection, oldest first.
#[derive(Default)]
pub(super) struct Waiting {
    queue: Mutex<VecDeque<Arc<Entry>>>,
}

impl Waiting {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Arc<Entry>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn push(&self, e: Arc<Entry>) {
        self.queue().push_back(e);
    }

    /// Removes `e` if no leader has taken it: true when withdrawn (its
    /// caller answers for its rows); false when a leader writes it.
    pub(super) fn withdraw(&self, e: &Arc<Entry>) -> bool {
        let mut q = self.queue();
        match q.iter().position(|x| Arc::ptr_eq(x, e)) {
            Some(i) => {
                q.remove(i);
                true
            }
            None => false,
        }
    }

    /// Takes `own` (if it is still waiting) and then the oldest waiting
    /// entries while the group stays within [`MAX_ROWS`] and
    /// [`MAX_BYTES`]; the first entry is taken whatever its size.
    pub(super) fn take_group(&self, own: &Arc<Entry>) -> Group {
        let mut taken: Vec<Arc<Entry>> = Vec::new();
        {
            let mut q = self.queue();
            let (mut rows, mut bytes) = (0, 0);
            if let Some(i) = q.iter().position(|x| Arc::ptr_eq(x, own)) {
                if let Some(e) = q.remove(i) {
                    rows += e.rows.len();
                    bytes += e.bytes;
                    taken.push(e);
                }
            }
            while let Some(next) = q.front() {
                let fits = rows + next.rows.len() <= MAX_ROWS && bytes + next.bytes <= MAX_BYTES;
                if !taken.is_empty() && !fits {
                    break;
                }
                rows += next.rows.len();
                bytes += next.bytes;
                if let Some(e) = q.pop_front() {
                    taken.push(e);
                }
            }
        }
        for e in &taken {
            e.take();
        }
        Group { entries: taken }
    }
}

/// Entries a leader writes together. Dropping it finishes every entry not
/// finished yet with `UNCERTAIN` (a leader that panicked: whether its
/// statement reached the server is unknown).
pub(super) struct Group {
    entries: Vec<Arc<Entry>>,
}

impl Group {
    /// A group of one entry that never waited.
    pub(super) fn alone(e: Arc<Entry>) -> Group {
        e.take();
        Group { entries: vec![e] }
    }

    pub(super) fn entries(&self) -> &[Arc<Entry>] {
        &self.entries
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The rows of every entry, in order.
    pub(super) fn rows(&self) -> Vec<&Row> {
        self.entries.iter().flat_map(|e| e.rows.iter()).collect()
    }

    /// Tells entry `i`'s caller its result; true when the caller had
    /// stopped waiting for it.
    pub(super) fn finish(&self, i: usize, result: i64) -> bool {
        self.entries.get(i).is_some_and(|e| e.finish(result))
    }

    /// Finishes every entry not finished yet with `result`; their rows.
    pub(super) fn finish_rest(&self, result: i64) -> usize {
        let mut rows = 0;
        for e in &self.entries {
            if e.result().is_none() {
                rows += e.rows.len();
                let _ = e.finish(result);
            }
        }
        rows
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.finish_rest(super::sync::UNCERTAIN);
    }
}

/// Splits `rows` into statements of at most [`MAX_ROWS`] rows and
/// [`MAX_BYTES`] bytes (a larger row alone): the ranges, in order.
pub(super) fn statements(rows: &[&Row]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in rows.iter().enumerate() {
        let b = row_bytes(r);
        if i > start && (i - start == MAX_ROWS || bytes + b > MAX_BYTES) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += b;
    }
    if start < rows.len() {
        out.push(start..rows.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::RowRef;

    fn entry(n: usize, data_len: usize) -> Arc<Entry> {
        let data = "x".repeat(data_len);
        let rows = (0..n)
            .map(|_| {
                Row::new(&RowRef {
                    ts_micros: 0,
                    level: "info",
                    event: "e",
                    func: None,
                    scope: None,
                    data: &data,
                })
            })
            .collect();
        Entry::new(rows)
    }

    fn waker_count() -> (Waker, Arc<std::sync::atomic::AtomicUsize>) {
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (Waker::from(Arc::new(Count(n.clone()))), n)
    }

    fn poll_once<F: Future>(f: F, w: &Waker) -> Poll<F::Output> {
        let mut cx = std::task::Context::from_waker(w);
        std::pin::pin!(f).poll(&mut cx)
    }

    #[test]
    fn a_leader_takes_its_own_entry_first_then_the_oldest_within_the_bounds() {
        let w = Waiting::default();
        let (a, b, c, own) = (entry(1, 10), entry(30, 10), entry(40, 10), entry(1, 10));
        for e in [&a, &b, &c, &own] {
            w.push(e.clone());
        }
        let g = w.take_group(&own);
        let got: Vec<usize> = g.entries().iter().map(|e| e.rows().len()).collect();
        // own (1) + a (1) + b (30) = 32 rows; c (40) would pass 64.
        assert_eq!(got, vec![1, 1, 30]);
        assert!(Arc::ptr_eq(&g.entries()[0], &own));
        assert!(!w.withdraw(&a), "a was taken: its caller must wait for it");
        assert!(
            w.withdraw(&c),
            "c is still waiting: its caller may withdraw it"
        );
        assert!(!w.withdraw(&c), "withdrawn once");
        drop(g);
    }

    #[test]
    fn an_entry_past_the_bounds_goes_alone_and_the_byte_bound_holds() {
        let w = Waiting::default();
        let big = entry(100, 10);
        let small = entry(1, 10);
        w.push(big.clone());
        w.push(small.clone());
        let other = entry(1, 10);
        let g = w.take_group(&other);
        assert_eq!(g.entries().len(), 1, "the big entry alone");
        assert_eq!(g.rows().len(), 100);
        drop(g);
        let (x, y) = (entry(1, MAX_BYTES / 2), entry(1, MAX_BYTES / 2));
        w.push(x.clone());
        w.push(y.clone());
        let g = w.take_group(&small);
        // small (still waiting) + x; y would pass the byte bound.
        assert_eq!(g.entries().len(), 2);
        assert!(w.withdraw(&y));
    }

    #[test]
    fn a_waiting_caller_is_woken_once_when_its_entry_is_finished() {
        let w = Waiting::default();
        let e = entry(1, 10);
        w.push(e.clone());
        let (waker, woken) = waker_count();
        assert!(poll_once(e.done(), &waker).is_pending());
        assert!(!e.is_taken());
        let g = w.take_group(&entry(1, 1));
        assert!(e.is_taken());
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert!(poll_once(e.done(), &waker).is_pending());
        g.finish(0, 1);
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(poll_once(e.done(), &waker), Poll::Ready(1));
        assert_eq!(e.result(), Some(1));
    }

    /// Two waiting entries of `a` and `b` rows, taken by the first's
    /// caller as one group.
    fn group_of_two(a: usize, b: usize) -> (Arc<Entry>, Arc<Entry>, Group) {
        let w = Waiting::default();
        let (first, second) = (entry(a, 1), entry(b, 1));
        w.push(first.clone());
        w.push(second.clone());
        let g = w.take_group(&first);
        (first, second, g)
    }

    #[test]
    fn a_caller_that_stops_waiting_hands_its_rows_to_the_leader_unless_they_were_done() {
        let (gone, late, g) = group_of_two(2, 1);
        // Gave up before the leader finished: the leader is told.
        assert_eq!(gone.abandon(), None);
        assert!(g.finish(0, 2), "the leader learns no one hears the result");
        // Finished first: the caller that gives up gets the result, and the
        // leader had no one to answer for.
        assert!(!g.finish(1, 1));
        assert_eq!(late.abandon(), Some(1));
    }

    #[test]
    fn a_group_dropped_unfinished_answers_uncertain() {
        let (a, b, g) = group_of_two(2, 3);
        g.finish(0, 2);
        drop(g);
        assert_eq!(a.result(), Some(2));
        assert_eq!(b.result(), Some(super::super::sync::UNCERTAIN));
    }

    #[test]
    fn statements_split_by_rows_and_bytes() {
        let rows: Vec<Row> = (0..150).map(|_| entry(1, 10).rows()[0].clone()).collect();
        let refs: Vec<&Row> = rows.iter().collect();
        assert_eq!(statements(&refs), vec![0..64, 64..128, 128..150]);
        let big: Vec<Row> = (0..3)
            .map(|_| entry(1, MAX_BYTES - 100).rows()[0].clone())
            .collect();
        let refs: Vec<&Row> = big.iter().collect();
        assert_eq!(statements(&refs), vec![0..1, 1..2, 2..3]);
        assert!(statements(&[]).is_empty());
    }
}
