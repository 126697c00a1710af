//! The spool's file format: segment files of checksummed, length-prefixed
//! records, one row each.
//!
//! A segment starts with the 8-byte magic [`MAGIC`], then records:
//!
//! | bytes | content |
//! |---|---|
//! | 4 | payload length `n`, u32 little-endian |
//! | 4 | CRC-32 (IEEE) of the payload, u32 little-endian |
//! | n | payload |
//!
//! The payload is the row: `ts_micros` (i64 LE), a flags byte (bit 0: func
//! present, bit 1: scope present), then level, event, func, scope and data,
//! each as a u32 LE length and its UTF-8 bytes.
//!
//! A record is good when its length, checksum and payload all check out.
//! Reading stops at the first record that does not (a truncated or
//! corrupt tail, as after a power loss): the records before it are good,
//! the bytes from it to the end of the file are reported lost.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::queue::{Row, RowRef};

/// First bytes of every segment file.
pub const MAGIC: &[u8; 8] = b"STOGSPL1";

/// The file name suffix of segments (`00000000000000000001.seg`).
pub const SUFFIX: &str = ".seg";

/// A record's payload larger than this is taken as corruption (the longest
/// row PostgreSQL could store is far smaller than 1 GiB).
pub const MAX_PAYLOAD: u32 = 1 << 30;

/// The file name of segment `number`.
pub fn file_name(number: u64) -> String {
    format!("{number:020}{SUFFIX}")
}

/// The segment number of a file name, when it is a segment's.
pub fn number_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The segment files in `dir`, by number.
pub fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = number_of(e.file_name().to_str()?)?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Appends the record of `row` to `out`; returns its length in bytes.
pub fn encode(row: &Row, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&row.ts_micros().to_le_bytes());
    let flags = u8::from(row.func().is_some()) | (u8::from(row.scope().is_some()) << 1);
    out.push(flags);
    for part in [
        row.level(),
        row.event(),
        row.func().unwrap_or(""),
        row.scope().unwrap_or(""),
        row.data(),
    ] {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    let payload_len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// The row of a payload whose checksum matched; None when its layout is
/// wrong anyway.
fn decode(payload: &[u8]) -> Option<Row> {
    let ts = i64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let flags = *payload.get(8)?;
    let mut at = 9;
    let mut parts: [&str; 5] = [""; 5];
    for part in &mut parts {
        let len = u32::from_le_bytes(payload.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        *part = std::str::from_utf8(payload.get(at..at.checked_add(len)?)?).ok()?;
        at += len;
    }
    if at != payload.len() {
        return None;
    }
    Some(Row::new(&RowRef {
        ts_micros: ts,
        level: parts[0],
        event: parts[1],
        func: (flags & 1 != 0).then_some(parts[2]),
        scope: (flags & 2 != 0).then_some(parts[3]),
        data: parts[4],
    }))
}

/// What reading a record found.
pub enum Next {
    /// A good record: the row and the offset just after it.
    Row(Row, u64),
    /// The clean end of the file.
    End,
    /// A record that does not check out at this offset (truncated or
    /// corrupt): the rest of the file is lost.
    Damaged,
}

/// Reads a segment's records in order.
pub struct Reader {
    file: BufReader<File>,
    offset: u64,
}

impl Reader {
    /// Opens `path` positioned at `offset` (at least just after the magic).
    pub fn open(path: &Path, offset: u64) -> io::Result<Reader> {
        let mut file = File::open(path)?;
        let mut magic = [0u8; 8];
        let got = read_full(&mut file, &mut magic)?;
        if got < 8 || &magic != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a stogger spool segment", path.display()),
            ));
        }
        let offset = offset.max(MAGIC.len() as u64);
        file.seek(SeekFrom::Start(offset))?;
        Ok(Reader {
            file: BufReader::with_capacity(256 * 1024, file),
            offset,
        })
    }

    /// The offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record.
    pub fn next_record(&mut self) -> io::Result<Next> {
        let mut head = [0u8; 8];
        match read_full(&mut self.file, &mut head)? {
            0 => return Ok(Next::End),
            8 => {}
            _ => return Ok(Next::Damaged),
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_PAYLOAD {
            return Ok(Next::Damaged);
        }
        let mut payload = vec![0u8; len as usize];
        if read_full(&mut self.file, &mut payload)? < payload.len() {
            return Ok(Next::Damaged);
        }
        if crc32fast::hash(&payload) != crc {
            return Ok(Next::Damaged);
        }
        let Some(row) = decode(&payload) else {
            return Ok(Next::Damaged);
        };
        self.offset += 8 + u64::from(len);
        Ok(Next::Row(row, self.offset))
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// What a full read of a segment found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Good records from the starting offset on.
    pub records: u64,
    /// The offset after the last good record.
    pub good_end: u64,
    /// Bytes after `good_end` (a damaged tail), 0 when the file is whole.
    pub lost_bytes: u64,
    /// The time of the first good record.
    pub first_ts_micros: Option<i64>,
}

/// Reads a segment from `offset` to its end, checking every record.
pub fn scan(path: &Path, offset: u64) -> io::Result<Scan> {
    let size = std::fs::metadata(path)?.len();
    let mut reader = Reader::open(path, offset)?;
    let mut s = Scan {
        good_end: reader.offset(),
        ..Scan::default()
    };
    loop {
        match reader.next_record()? {
            Next::Row(row, end) => {
                s.records += 1;
                s.good_end = end;
                s.first_ts_micros.get_or_insert(row.ts_micros());
            }
            Next::End => break,
            Next::Damaged => {
                s.lost_bytes = size.saturating_sub(s.good_end);
                break;
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn row(event: &str, func: Option<&str>) -> Row {
        Row::new(&RowRef {
            ts_micros: -42,
            level: "warning",
            event,
            func,
            scope: None,
            data: r#"{"k":"é"}"#,
        })
    }

    fn segment(dir: &Path, rows: &[Row]) -> PathBuf {
        let path = dir.join(file_name(1));
        let mut bytes = MAGIC.to_vec();
        for r in rows {
            encode(r, &mut bytes);
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn names_round_trip_and_others_are_ignored() {
        assert_eq!(number_of(&file_name(7)), Some(7));
        assert_eq!(number_of("7.seg"), None);
        assert_eq!(number_of("spool.lock"), None);
    }

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [row("a", Some("f")), row("", Some("")), row("c", None)];
        let path = segment(dir.path(), &rows);
        let mut r = Reader::open(&path, 0).unwrap();
        for want in &rows {
            match r.next_record().unwrap() {
                Next::Row(got, _) => assert_eq!(&got, want),
                _ => panic!("record missing"),
            }
        }
        assert!(matches!(r.next_record().unwrap(), Next::End));
        let s = scan(&path, 0).unwrap();
        assert_eq!((s.records, s.lost_bytes), (3, 0));
        assert_eq!(s.first_ts_micros, Some(-42));
    }

    #[test]
    fn a_truncated_or_corrupt_tail_keeps_the_records_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [row("a", None), row("b", None), row("c", None)];
        let path = segment(dir.path(), &rows);
        let whole = std::fs::metadata(&path).unwrap().len();
        // Cut in the middle of the last record.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(whole - 5).unwrap();
        let s = scan(&path, 0).unwrap();
        assert_eq!(s.records, 2);
        assert_eq!(s.lost_bytes, whole - 5 - s.good_end);
        // A flipped byte in the second record's payload.
        let path = segment(dir.path(), &rows);
        let mut bytes = std::fs::read(&path).unwrap();
        let second = 8 + (8 + 9 + 20 + 1 + 9) + 8 + 12;
        bytes[second] ^= 0xff;
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        let s = scan(&path, 0).unwrap();
        assert_eq!(s.records, 1, "reading stops at the damaged record");
        assert!(s.lost_bytes > 0);
    }
}
