//! The disk spool (`spool_dir`): rows the batch writer cannot deliver now go
//! to append-only segment files ([`segment`]), and are written to the table
//! later, in order, ahead of newer rows — by this run or by the next one.
//!
//! - **Order.** Rows move from the memory queue's head to the spool's tail,
//!   and the writer takes its batches from the spool while it holds
//!   anything: what is in the spool is always older than what is in memory.
//! - **Exactly once.** A batch from the spool is committed together with
//!   its spool position: an INSERT into `<table>_spool_progress` (spool id,
//!   segment, offset) in the same transaction as the rows. A later run
//!   reads the highest position back before replaying and skips what it
//!   covers, so a process killed right after a COMMIT sends nothing twice.
//!   Before each such COMMIT the transaction's id is written to the file
//!   `inflight`; the next run first waits (boundedly, ending the old
//!   backend where the role may) for that transaction to settle, so a
//!   COMMIT still on its way when the process died is not raced.
//! - **Durability.** Every append (one call per batch of rows moved from
//!   memory) is followed by `fdatasync`; a new segment file and the
//!   directory entry are `fsync`ed when the segment is created. A power
//!   loss can cost at most the append in progress, which the checksums
//!   then detect.
//! - **Damage.** A record whose length or checksum does not check out ends
//!   its segment: the good records before it are delivered, the bytes from
//!   it on are reported lost (warning, counters, the gap row).
//! - **Bounds.** At most `spool_max_bytes` of segment files; a row that
//!   would pass it is dropped, newest first (the rows already spooled are
//!   kept, as the memory queue does), and counted.
//! - **One owner.** The directory is locked (`flock` on `spool.lock`) by the
//!   writer using it; a second process configured with the same directory
//!   runs without a spool and says so. The lock goes with the process, also
//!   on SIGKILL.
//! - **Identity.** `spool.id` holds a random id, the key of the directory's
//!   rows in the progress table. Deleting the directory (all of it) starts
//!   afresh; deleting only `spool.id` would replay what was delivered.
//!
//! Segments are 16 MiB ([`SEGMENT_BYTES`]); a segment whose records are
//! all delivered is deleted, except the one being appended to.

pub mod segment;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::queue::Row;
use segment::{Next, Reader, Scan, MAGIC};

/// A segment is closed once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 16 << 20;

const LOCK_FILE: &str = "spool.lock";
const ID_FILE: &str = "spool.id";
const INFLIGHT_FILE: &str = "inflight";
const PROGRESS_FILE: &str = "progress";

/// A position in the spool: just after a record (segment number, offset).
pub type Position = (u64, u64);

/// One segment file and what is known about it.
#[derive(Debug)]
struct Segment {
    number: u64,
    path: PathBuf,
    /// File size.
    bytes: u64,
    /// Good records from `read_from` on, not yet delivered.
    pending: u64,
    /// Where reading continues (after the last delivered or skipped record).
    read_from: u64,
    /// The end of the last good record (reading stops there).
    good_end: u64,
}

/// Rows read from the spool for one write, with each row's position.
pub struct SpoolBatch {
    /// The rows, oldest first.
    pub rows: Vec<Row>,
    /// Position just after each row.
    pub positions: Vec<Position>,
}

/// What appending did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Appended {
    /// Rows written to the spool.
    pub rows: u64,
    /// Rows dropped because the spool was full.
    pub dropped: u64,
}

/// A damaged segment tail found when the spool was opened or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub path: PathBuf,
    /// Good records before the damage (still delivered).
    pub good_records: u64,
    /// Bytes lost from the damage to the end of the file.
    pub lost_bytes: u64,
}

/// An open spool (see the module docs).
pub struct Spool {
    dir: PathBuf,
    _lock: File,
    id: String,
    max_bytes: u64,
    segments: VecDeque<Segment>,
    /// The segment being appended to (the last of `segments`), open.
    active: Option<File>,
    next_number: u64,
    reader: Option<(u64, Reader)>,
    /// Positions of rows [`Spool::read`] handed out and not yet delivered.
    handed: VecDeque<Position>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .field("id", &self.id)
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The spool's id: read from `spool.id`, or made and stored (atomically:
/// written beside, synced, renamed).
fn load_or_make_id(dir: &Path) -> io::Result<String> {
    let path = dir.join(ID_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|u| u.trim().to_string())
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{nanos:x}-{:x}", std::process::id())
        });
    let tmp = dir.join(format!("{ID_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(id.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    Ok(id)
}

impl Spool {
    /// Opens (creating it when missing) and locks the spool in `dir`, and
    /// checks every segment; damaged tails found are returned. Appending
    /// always goes to a new segment, never after a possibly damaged tail.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(Spool, Vec<Damage>)> {
        std::fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} is in use by another process ({e})",
                        dir.join(LOCK_FILE).display()
                    ),
                )
            },
        )?;
        let id = load_or_make_id(dir)?;
        let local = read_position(&dir.join(PROGRESS_FILE));
        let mut segments = VecDeque::new();
        let mut damage = Vec::new();
        // Numbers only grow, also past what the progress noted: a position
        // must never name a segment that is written again later.
        let mut next_number = local.map_or(1, |(seg, _)| seg + 1);
        let found = segment::list(dir)?;
        let highest = found.last().map(|(n, _)| *n);
        for (number, path) in found {
            next_number = next_number.max(number + 1);
            let read_from = match local {
                Some((seg, off)) if seg == number => off,
                Some((seg, _)) if seg > number => u64::MAX,
                _ => 0,
            };
            let bytes = std::fs::metadata(&path)?.len();
            if read_from == u64::MAX && Some(number) != highest {
                // Delivered before (the local progress says so): gone.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let read_from = if read_from == u64::MAX {
                bytes
            } else {
                read_from
            };
            let scan = match segment::scan(&path, read_from) {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => Scan {
                    lost_bytes: bytes,
                    ..Scan::default()
                },
                Err(e) => return Err(e),
            };
            if scan.lost_bytes > 0 {
                damage.push(Damage {
                    path: path.clone(),
                    good_records: scan.records,
                    lost_bytes: scan.lost_bytes,
                });
            }
            segments.push_back(Segment {
                number,
                path,
                bytes,
                pending: scan.records,
                read_from: read_from.max(MAGIC.len() as u64),
                good_end: scan.good_end,
            });
        }
        Ok((
            Spool {
                dir: dir.to_path_buf(),
                _lock: lock,
                id,
                max_bytes,
                segments,
                active: None,
                next_number,
                reader: None,
                handed: VecDeque::new(),
            },
            damage,
        ))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The spool's id (its key in the progress table).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Rows waiting to be delivered.
    pub fn pending(&self) -> u64 {
        self.segments.iter().map(|s| s.pending).sum()
    }

    /// Bytes of segment files.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Appends `rows` (oldest first) and syncs them to disk. Rows that
    /// would pass `spool_max_bytes` are dropped, the newest ones.
    pub fn append(&mut self, rows: &[Row]) -> io::Result<Appended> {
        let mut out = Appended::default();
        let mut buf = Vec::new();
        let mut total = self.bytes();
        let mut i = 0;
        while i < rows.len() {
            if self.active.is_some() && self.active_room() == 0 {
                self.close_active()?;
            }
            buf.clear();
            let mut n = 0;
            // Records for the current segment, up to its size.
            let room = self.active_room();
            while i + n < rows.len() {
                let before = buf.len();
                let len = segment::encode(&rows[i + n], &mut buf) as u64;
                if total + len > self.max_bytes {
                    buf.truncate(before);
                    out.dropped = (rows.len() - i - n) as u64;
                    break;
                }
                if n > 0 && buf.len() as u64 > room {
                    buf.truncate(before);
                    break;
                }
                total += len;
                n += 1;
            }
            if n == 0 {
                break; // the spool is full
            }
            self.write_active(&buf, n as u64)?;
            out.rows += n as u64;
            i += n;
            if out.dropped > 0 {
                break;
            }
        }
        if let Some(f) = &self.active {
            f.sync_data()?;
        }
        Ok(out)
    }

    /// Syncs and closes the segment being appended to (the next append
    /// starts a new one).
    fn close_active(&mut self) -> io::Result<()> {
        if let Some(f) = self.active.take() {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Bytes the active segment can still take (0: none is open).
    fn active_room(&self) -> u64 {
        match (&self.active, self.segments.back()) {
            (Some(_), Some(s)) => SEGMENT_BYTES.saturating_sub(s.bytes),
            _ => SEGMENT_BYTES,
        }
    }

    fn write_active(&mut self, records: &[u8], count: u64) -> io::Result<()> {
        if self.active.is_none() {
            let number = self.next_number;
            let path = self.dir.join(segment::file_name(number));
            let mut f = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            f.write_all(MAGIC)?;
            f.sync_all()?;
            sync_dir(&self.dir)?;
            self.next_number += 1;
            let start = MAGIC.len() as u64;
            self.segments.push_back(Segment {
                number,
                path,
                bytes: start,
                pending: 0,
                read_from: start,
                good_end: start,
            });
            self.active = Some(f);
        }
        let (Some(f), Some(seg)) = (self.active.as_mut(), self.segments.back_mut()) else {
            return Err(io::Error::other("no active spool segment"));
        };
        if let Err(e) = f.write_all(records) {
            // What was written of it is a damaged tail now: never append
            // after it.
            self.active = None;
            return Err(e);
        }
        seg.bytes += records.len() as u64;
        seg.good_end = seg.bytes;
        seg.pending += count;
        Ok(())
    }

    /// Reads up to `max_rows` rows (and about `max_bytes` of them, at
    /// least one) from the oldest undelivered one on, without marking them
    /// delivered ([`Spool::delivered`] does). Damaged tails met on the way
    /// are skipped and returned.
    pub fn read(
        &mut self,
        max_rows: usize,
        max_bytes: u64,
        damage: &mut Vec<Damage>,
    ) -> io::Result<Option<SpoolBatch>> {
        let mut batch = SpoolBatch {
            rows: Vec::new(),
            positions: Vec::new(),
        };
        let mut bytes = 0u64;
        let mut idx = 0;
        // Continue after what an earlier read (not yet delivered) returned.
        let mut skip_to = self.reader.as_ref().map(|(n, r)| (*n, r.offset()));
        while idx < self.segments.len() && batch.rows.len() < max_rows && bytes < max_bytes {
            let seg = &self.segments[idx];
            let from = match skip_to {
                Some((n, off)) if n == seg.number => off.max(seg.read_from),
                Some((n, _)) if n > seg.number => {
                    idx += 1;
                    continue;
                }
                _ => seg.read_from,
            };
            if from >= seg.good_end {
                idx += 1;
                skip_to = None;
                continue;
            }
            let reader = match self.reader.take() {
                Some((n, r)) if n == seg.number && r.offset() == from => r,
                _ => Reader::open(&seg.path, from)?,
            };
            let number = seg.number;
            let good_end = seg.good_end;
            let mut reader = reader;
            while batch.rows.len() < max_rows && bytes < max_bytes && reader.offset() < good_end {
                match reader.next_record()? {
                    Next::Row(row, end) => {
                        bytes += row.data().len() as u64 + 64;
                        batch.rows.push(row);
                        batch.positions.push((number, end));
                        self.handed.push_back((number, end));
                    }
                    Next::End => break,
                    Next::Damaged => {
                        // Changed since it was opened: stop here.
                        let seg = &mut self.segments[idx];
                        damage.push(Damage {
                            path: seg.path.clone(),
                            good_records: 0,
                            lost_bytes: seg.bytes.saturating_sub(reader.offset()),
                        });
                        seg.good_end = reader.offset();
                        break;
                    }
                }
            }
            let at = reader.offset();
            self.reader = Some((number, reader));
            if at < self.segments[idx].good_end {
                break; // the batch is full
            }
            skip_to = None;
            idx += 1;
        }
        Ok((!batch.rows.is_empty()).then_some(batch))
    }

    /// Marks every row up to `pos` delivered (written, rejected, or given
    /// up as uncertain): segments wholly before it are deleted (not the one
    /// being appended to), and the position is noted in the `progress`
    /// file for the next run and `stogger doctor`.
    pub fn delivered(&mut self, pos: Position) -> io::Result<()> {
        while let Some(&front) = self.handed.front() {
            if front > pos {
                break;
            }
            self.handed.pop_front();
            if let Some(seg) = self.segments.iter_mut().find(|s| s.number == front.0) {
                seg.pending = seg.pending.saturating_sub(1);
                seg.read_from = seg.read_from.max(front.1);
            }
        }
        self.drop_delivered_segments();
        let _ = std::fs::write(
            self.dir.join(PROGRESS_FILE),
            format!("{} {}\n", pos.0, pos.1),
        );
        Ok(())
    }

    /// Deletes segments whose rows are all delivered, except the newest.
    fn drop_delivered_segments(&mut self) {
        while self.segments.len() > 1 {
            let seg = &self.segments[0];
            if seg.pending > 0 || seg.read_from < seg.good_end {
                break;
            }
            let _ = std::fs::remove_file(&seg.path);
            if self.reader.as_ref().is_some_and(|(n, _)| *n == seg.number) {
                self.reader = None;
            }
            self.segments.pop_front();
        }
    }

    /// Moves the read position to `pos` when it is further on (what the
    /// progress table says was committed, read back once before replaying;
    /// rescans the segment it falls in to count what is left).
    pub fn skip_to(&mut self, pos: Position) -> io::Result<()> {
        let (number, offset) = pos;
        self.next_number = self.next_number.max(number + 1);
        let mut i = 0;
        while i < self.segments.len() {
            let last = i + 1 == self.segments.len();
            let seg = &mut self.segments[i];
            if seg.number > number {
                break;
            }
            if seg.number < number || offset >= seg.good_end {
                seg.pending = 0;
                seg.read_from = seg.good_end;
            } else if offset > seg.read_from {
                let left = segment::scan(&seg.path, offset)?;
                seg.pending = left.records.min(seg.pending);
                seg.read_from = offset;
            }
            // The newest segment stays (its number is the highest one
            // used), even when all of it is delivered.
            if seg.pending == 0 && !last {
                let _ = std::fs::remove_file(&seg.path);
                if self.reader.as_ref().is_some_and(|(n, _)| *n == seg.number) {
                    self.reader = None;
                }
                self.segments.remove(i);
                continue;
            }
            i += 1;
        }
        if let Some((n, r)) = &self.reader {
            if *n < number || (*n == number && r.offset() < offset) {
                self.reader = None;
            }
        }
        Ok(())
    }

    /// Notes the transaction committing a spool batch, before its COMMIT.
    pub fn note_inflight(&self, xid: i64, pid: i32) {
        let _ = std::fs::write(self.dir.join(INFLIGHT_FILE), format!("{xid} {pid}\n"));
    }

    /// The transaction an earlier run was committing when it stopped, if
    /// any (`xid`, backend pid).
    pub fn inflight(&self) -> Option<(i64, i32)> {
        let text = std::fs::read_to_string(self.dir.join(INFLIGHT_FILE)).ok()?;
        let mut parts = text.split_whitespace();
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }

    /// Forgets the in-flight note (its transaction has settled).
    pub fn clear_inflight(&self) {
        let _ = std::fs::remove_file(self.dir.join(INFLIGHT_FILE));
    }
}

fn read_position(path: &Path) -> Option<Position> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// What a spool directory holds, for `stogger doctor` (read-only: no lock
/// is taken, and nothing is changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpoolStatus {
    /// The directory.
    pub dir: String,
    /// Whether it exists.
    pub exists: bool,
    /// Segment files.
    pub segments: u64,
    /// Bytes of segment files.
    pub bytes: u64,
    /// Events waiting (after the last position this host noted delivered).
    pub events: u64,
    /// Time of the oldest waiting event (RFC 3339).
    pub oldest: Option<String>,
    /// Bytes of damaged segment tails (lost).
    pub damaged_bytes: u64,
    /// Whether a running process holds the spool now.
    pub in_use: bool,
    /// What could not be read.
    pub problems: Vec<String>,
}

/// Reads the spool in `dir` without touching it.
pub fn spool_status(dir: &Path) -> SpoolStatus {
    let mut st = SpoolStatus {
        dir: dir.display().to_string(),
        exists: dir.is_dir(),
        ..SpoolStatus::default()
    };
    if !st.exists {
        return st;
    }
    if let Ok(lock) = File::open(dir.join(LOCK_FILE)) {
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                let _ = rustix::fs::flock(&lock, rustix::fs::FlockOperation::Unlock);
            }
            Err(_) => st.in_use = true,
        }
    }
    let local = read_position(&dir.join(PROGRESS_FILE));
    let segments = match segment::list(dir) {
        Ok(s) => s,
        Err(e) => {
            st.problems
                .push(format!("cannot list {}: {e}", dir.display()));
            return st;
        }
    };
    let mut oldest: Option<i64> = None;
    for (number, path) in segments {
        st.segments += 1;
        st.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
        let from = match local {
            Some((seg, off)) if seg == number => off,
            Some((seg, _)) if seg > number => continue,
            _ => 0,
        };
        match segment::scan(&path, from) {
            Ok(s) => {
                st.events += s.records;
                st.damaged_bytes += s.lost_bytes;
                if oldest.is_none() {
                    oldest = s.first_ts_micros;
                }
            }
            Err(e) => st.problems.push(format!("{}: {e}", path.display())),
        }
    }
    st.oldest = oldest.and_then(|micros| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
    });
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::RowRef;

    fn rows(range: std::ops::Range<u64>) -> Vec<Row> {
        range
            .map(|i| {
                let data = format!("{{\"seq\":{i}}}");
                Row::new(&RowRef {
                    ts_micros: i as i64,
                    level: "info",
                    event: "e",
                    func: None,
                    scope: Some("s"),
                    data: &data,
                })
            })
            .collect()
    }

    fn seqs(b: &SpoolBatch) -> Vec<i64> {
        b.rows.iter().map(Row::ts_micros).collect()
    }

    #[test]
    fn rows_come_back_in_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, damage) = Spool::open(dir.path(), 1 << 30).unwrap();
        assert!(damage.is_empty());
        assert_eq!(s.append(&rows(0..10)).unwrap().rows, 10);
        assert_eq!(s.append(&rows(10..15)).unwrap().rows, 5);
        assert_eq!(s.pending(), 15);
        let mut d = Vec::new();
        let b = s.read(4, u64::MAX, &mut d).unwrap().unwrap();
        assert_eq!(seqs(&b), [0, 1, 2, 3]);
        let b2 = s.read(4, u64::MAX, &mut d).unwrap().unwrap();
        assert_eq!(seqs(&b2), [4, 5, 6, 7], "reading goes on after a read");
        s.delivered(*b2.positions.last().unwrap()).unwrap();
        assert_eq!(s.pending(), 7);
        let id = s.id().to_string();
        // A second process cannot have it while this one does.
        assert!(Spool::open(dir.path(), 1 << 30).is_err());
        drop(s);
        let (mut s, _) = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.id(), id);
        assert_eq!(s.pending(), 7, "the local progress is read back");
        let b = s.read(100, u64::MAX, &mut d).unwrap().unwrap();
        assert_eq!(seqs(&b), (8..15).collect::<Vec<_>>());
        s.append(&rows(15..17)).unwrap();
        let b = s.read(100, u64::MAX, &mut d).unwrap().unwrap();
        assert_eq!(seqs(&b), [15, 16], "a new segment after the old ones");
        s.delivered(*b.positions.last().unwrap()).unwrap();
        assert_eq!(s.pending(), 0);
        assert!(d.is_empty());
        let status = spool_status(dir.path());
        assert!(status.in_use);
        assert_eq!(status.events, 0);
    }

    #[test]
    fn a_position_from_the_database_skips_what_it_covers() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(dir.path(), 1 << 30).unwrap();
        s.append(&rows(0..10)).unwrap();
        let mut d = Vec::new();
        let b = s.read(10, u64::MAX, &mut d).unwrap().unwrap();
        let committed = b.positions[5];
        drop(s);
        // The next run has no local note (killed before writing it).
        std::fs::remove_file(dir.path().join(PROGRESS_FILE)).ok();
        let (mut s, _) = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.pending(), 10);
        s.skip_to(committed).unwrap();
        assert_eq!(s.pending(), 4);
        let b = s.read(10, u64::MAX, &mut d).unwrap().unwrap();
        assert_eq!(seqs(&b), [6, 7, 8, 9]);
    }

    #[test]
    fn a_full_spool_drops_the_newest_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(dir.path(), 8 + 10 * 60).unwrap();
        let a = s.append(&rows(0..100)).unwrap();
        assert!(a.rows > 0 && a.dropped > 0, "{a:?}");
        assert_eq!(a.rows + a.dropped, 100);
        assert!(s.bytes() <= 8 + 10 * 60);
        let mut d = Vec::new();
        let b = s.read(1000, u64::MAX, &mut d).unwrap().unwrap();
        assert_eq!(seqs(&b), (0..a.rows as i64).collect::<Vec<_>>());
    }

    #[test]
    fn a_truncated_segment_delivers_its_good_rows_and_reports_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(dir.path(), 1 << 30).unwrap();
        s.append(&rows(0..10)).unwrap();
        drop(s);
        let (_, path) = segment::list(dir.path()).unwrap().remove(0);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let (mut s, damage) = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(damage.len(), 1);
        assert_eq!(damage[0].good_records, 9);
        assert!(damage[0].lost_bytes > 0);
        let mut d = Vec::new();
        let b = s.read(100, u64::MAX, &mut d).unwrap().unwrap();
        assert_eq!(seqs(&b), (0..9).collect::<Vec<_>>());
        // New rows go to a new segment, never after the damaged tail.
        s.append(&rows(10..12)).unwrap();
        let b = s.read(100, u64::MAX, &mut d).unwrap().unwrap();
        assert_eq!(seqs(&b), [10, 11]);
        let st = spool_status(dir.path());
        assert_eq!(st.events, 11);
        assert!(st.damaged_bytes > 0);
        assert_eq!(st.oldest.as_deref(), Some("1970-01-01T00:00:00Z"), "{st:?}");
    }
}
