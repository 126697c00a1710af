//! The plugin's side of the C ABI (declared in [`stogger_pg_proto::abi`],
//! documented in `docs/plugin-abi.md`).
//!
//! Every entry point checks its pointers, catches panics (returning
//! [`ERR_PANIC`]), and never unwinds. Buffers the plugin fills are freed
//! with [`stogger_pg_buf_free`]; rows passed to [`stogger_pg_write`] are
//! copied before it returns.

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use stogger_pg_proto::abi::{
    AbiVersionFn, BufFreeFn, CloseFn, FlushFn, OpenFn, SchemaSqlFn, StatsFn, StoggerPgBuf,
    StoggerPgReport, StoggerPgRow, StoggerPgWarnFn, WriteFn, ABI_VERSION, ERR_DATABASE,
    ERR_INVALID, ERR_PANIC, OK, RETRYING,
};

use crate::diag::WarnSink;
use crate::queue::RowBytes;
use crate::writer::{OpenError, Writer};
use stogger_pg_proto::PgSettings;

// Each entry point has exactly the signature the contract declares.
const _: AbiVersionFn = stogger_pg_abi_version;
const _: OpenFn = stogger_pg_open;
const _: WriteFn = stogger_pg_write;
const _: FlushFn = stogger_pg_flush;
const _: StatsFn = stogger_pg_stats;
const _: CloseFn = stogger_pg_close;
const _: SchemaSqlFn = stogger_pg_schema_sql;
const _: BufFreeFn = stogger_pg_buf_free;

fn guard<R>(on_panic: R, f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// Writes `bytes` into `*out` (nothing when `out` is null).
///
/// # Safety
/// `out` is null or valid for writes.
unsafe fn fill(out: *mut StoggerPgBuf, bytes: Vec<u8>) {
    if out.is_null() {
        return;
    }
    let mut v = ManuallyDrop::new(bytes);
    let buf = if v.capacity() == 0 {
        StoggerPgBuf::empty()
    } else {
        StoggerPgBuf {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    };
    // SAFETY: the caller guarantees `out` is valid for writes.
    unsafe { out.write(buf) };
}

/// The bytes at `ptr..ptr+len`; None for a null pointer with a length.
///
/// # Safety
/// A non-null `ptr` is valid for `len` bytes.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[][..]);
    }
    // SAFETY: the caller guarantees ptr is valid for len bytes.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The byte ranges of one [`StoggerPgRow`]; None when a required pointer
/// is null. The bytes are checked later (see [`RowBytes`]).
///
/// # Safety
/// Every pointer/length pair of `r` as [`bytes`] requires.
unsafe fn row_bytes<'a>(r: &StoggerPgRow) -> Option<RowBytes<'a>> {
    // SAFETY: forwarded.
    unsafe {
        Some(RowBytes {
            ts_micros: r.ts_micros,
            level: bytes(r.level_ptr, r.level_len)?,
            event: bytes(r.event_ptr, r.event_len)?,
            func: (!r.func_ptr.is_null())
                .then(|| bytes(r.func_ptr, r.func_len))
                .flatten(),
            scope: (!r.scope_ptr.is_null())
                .then(|| bytes(r.scope_ptr, r.scope_len))
                .flatten(),
            data: if r.data_ptr.is_null() && r.data_len == 0 {
                b"{}"
            } else {
                bytes(r.data_ptr, r.data_len)?
            },
        })
    }
}

/// The writer behind a handle; None for a null handle.
///
/// # Safety
/// `handle` is null, or comes from [`stogger_pg_open`] and is not closed.
unsafe fn live_writer<'a>(handle: *mut c_void) -> Option<&'a Writer> {
    // SAFETY: a non-null handle is a live Writer (caller contract).
    unsafe { handle.cast::<Writer>().cast_const().as_ref() }
}

/// Returns [`ABI_VERSION`]. Called before anything else.
#[no_mangle]
pub extern "C" fn stogger_pg_abi_version() -> u32 {
    ABI_VERSION
}

fn warn_sink(f: Option<StoggerPgWarnFn>) -> Option<WarnSink> {
    f.map(|f| -> WarnSink {
        Arc::new(move |kind: &str, msg: &str| f(kind.as_ptr(), kind.len(), msg.as_ptr(), msg.len()))
    })
}

/// Starts a writer without waiting for the database. Returns `0` (started:
/// it connects in the background and reports a failure of the first
/// connection through `warn`) or `< 0` (no handle; reason in `err_out`).
///
/// # Safety
/// `config` is valid for `config_len` bytes; `handle_out` is valid for a
/// pointer write; `err_out` is null or valid for a [`StoggerPgBuf`] write.
#[no_mangle]
pub unsafe extern "C" fn stogger_pg_open(
    config: *const u8,
    config_len: usize,
    warn: Option<StoggerPgWarnFn>,
    handle_out: *mut *mut c_void,
    err_out: *mut StoggerPgBuf,
) -> i32 {
    guard(ERR_PANIC, || {
        let fail = |code: i32, msg: String| {
            // SAFETY: err_out is null or valid (caller contract).
            unsafe { fill(err_out, msg.into_bytes()) };
            code
        };
        if handle_out.is_null() {
            return fail(ERR_INVALID, "stogger_pg_open: handle_out is null".into());
        }
        // SAFETY: checked non-null; valid for writes by contract.
        unsafe { handle_out.write(std::ptr::null_mut()) };
        // SAFETY: caller contract.
        let Some(raw) = (unsafe { bytes(config, config_len) }) else {
            return fail(ERR_INVALID, "stogger_pg_open: config is null".into());
        };
        let Ok(json) = std::str::from_utf8(raw) else {
            return fail(
                ERR_INVALID,
                "invalid PostgreSQL configuration: config: not UTF-8".into(),
            );
        };
        let cfg = match PgSettings::from_json(json) {
            Ok(c) => c,
            Err(e) => return fail(ERR_INVALID, e.to_string()),
        };
        // Never waits for the database: the writer connects in the
        // background and reports its first failure through `warn`.
        match Writer::start(&cfg, warn_sink(warn)) {
            Ok(writer) => {
                let handle = Box::into_raw(Box::new(writer));
                // SAFETY: checked non-null above.
                unsafe { handle_out.write(handle.cast()) };
                OK
            }
            Err(e @ OpenError::Config(_)) => fail(ERR_INVALID, e.to_string()),
            Err(e @ OpenError::Runtime(_)) => fail(ERR_DATABASE, e.to_string()),
        }
    })
}

/// Batch mode: enqueues copies of the rows and returns how many were
/// accepted. Sync mode: writes and commits them; returns rows written, or
/// `< 0` on failure. `-1` for a null handle or an invalid row pointer (no
/// row is taken then).
///
/// # Safety
/// `handle` comes from [`stogger_pg_open`] and is not closed; `rows` is
/// valid for `n` rows whose pointers are valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn stogger_pg_write(
    handle: *mut c_void,
    rows: *const StoggerPgRow,
    n: usize,
) -> i64 {
    guard(i64::from(ERR_PANIC), || {
        // SAFETY: caller contract.
        let Some(writer) = (unsafe { live_writer(handle) }) else {
            return i64::from(ERR_INVALID);
        };
        if rows.is_null() && n > 0 {
            return i64::from(ERR_INVALID);
        }
        if n == 0 {
            return 0;
        }
        // SAFETY: rows valid for n (caller contract).
        let rows = unsafe { std::slice::from_raw_parts(rows, n) };
        if let [r] = rows {
            // The common case, one event per log call: no Vec around it.
            // SAFETY: caller contract on every pointer/length pair.
            return match unsafe { row_bytes(r) } {
                Some(row) => writer.write_bytes(&[row]),
                None => i64::from(ERR_INVALID),
            };
        }
        let mut parsed = Vec::with_capacity(n);
        for r in rows {
            // SAFETY: caller contract on every pointer/length pair.
            match unsafe { row_bytes(r) } {
                Some(row) => parsed.push(row),
                None => return i64::from(ERR_INVALID),
            }
        }
        writer.write_bytes(&parsed)
    })
}

/// Waits until everything queued before the call is committed: `0`
/// drained, `1` timed out, `-1` null handle.
///
/// # Safety
/// `handle` comes from [`stogger_pg_open`] and is not closed.
#[no_mangle]
pub unsafe extern "C" fn stogger_pg_flush(handle: *mut c_void, timeout_ms: u64) -> i32 {
    guard(ERR_PANIC, || {
        // SAFETY: caller contract.
        let Some(writer) = (unsafe { live_writer(handle) }) else {
            return ERR_INVALID;
        };
        if writer.flush(Duration::from_millis(timeout_ms)) {
            OK
        } else {
            RETRYING
        }
    })
}

/// Writes the counters into `out` and the last warning (redacted; empty
/// when there was none) into `last_error_out` (may be null). `0`, or `-1`
/// for a null handle or `out`.
///
/// # Safety
/// `handle` comes from [`stogger_pg_open`] and is not closed; `out` is
/// valid for a [`StoggerPgReport`] write; `last_error_out` is null or valid
/// for a [`StoggerPgBuf`] write.
#[no_mangle]
pub unsafe extern "C" fn stogger_pg_stats(
    handle: *mut c_void,
    out: *mut StoggerPgReport,
    last_error_out: *mut StoggerPgBuf,
) -> i32 {
    guard(ERR_PANIC, || {
        // SAFETY: caller contract.
        let Some(writer) = (unsafe { live_writer(handle) }) else {
            return ERR_INVALID;
        };
        if out.is_null() {
            return ERR_INVALID;
        }
        // SAFETY: out checked non-null, valid for writes (caller contract).
        unsafe { out.write(writer.stats()) };
        let last_error = writer.last_error().unwrap_or_default();
        // SAFETY: null or valid (caller contract).
        unsafe { fill(last_error_out, last_error.into_bytes()) };
        OK
    })
}

/// Flushes within `timeout_ms`, stops the writer and its threads, writes
/// the final counters (with `undelivered`) to `report_out` (may be null)
/// and frees the handle. `0` when everything was delivered, `1` when rows
/// were left undelivered, `-1` for a null handle.
///
/// # Safety
/// `handle` comes from [`stogger_pg_open`]; it is invalid afterwards.
/// `report_out` is null or valid for a [`StoggerPgReport`] write.
#[no_mangle]
pub unsafe extern "C" fn stogger_pg_close(
    handle: *mut c_void,
    timeout_ms: u64,
    report_out: *mut StoggerPgReport,
) -> i32 {
    guard(ERR_PANIC, || {
        if handle.is_null() {
            return ERR_INVALID;
        }
        // SAFETY: the handle was created by Box::into_raw in stogger_pg_open.
        let writer = unsafe { Box::from_raw(handle as *mut Writer) };
        let stats = writer.close(Duration::from_millis(timeout_ms));
        let code = if stats.undelivered > 0 { RETRYING } else { OK };
        if !report_out.is_null() {
            // SAFETY: checked non-null, valid for writes (caller contract).
            unsafe { report_out.write(stats) };
        }
        code
    })
}

/// Writes the DDL for `table` into `out`: `0`, or `-1` with the reason in
/// `out` when the name is refused.
///
/// # Safety
/// `table` is valid for `table_len` bytes; `out` is valid for a
/// [`StoggerPgBuf`] write.
#[no_mangle]
pub unsafe extern "C" fn stogger_pg_schema_sql(
    table: *const u8,
    table_len: usize,
    out: *mut StoggerPgBuf,
) -> i32 {
    guard(ERR_PANIC, || {
        if out.is_null() {
            return ERR_INVALID;
        }
        // SAFETY: caller contract.
        let name = match unsafe { bytes(table, table_len) }.map(std::str::from_utf8) {
            Some(Ok(n)) => n,
            _ => {
                // SAFETY: out checked non-null.
                unsafe { fill(out, b"table name is null or not UTF-8".to_vec()) };
                return ERR_INVALID;
            }
        };
        match crate::schema::schema_sql(name) {
            Ok(sql) => {
                // SAFETY: out checked non-null.
                unsafe { fill(out, sql.into_bytes()) };
                OK
            }
            Err(e) => {
                // SAFETY: out checked non-null.
                unsafe { fill(out, e.to_string().into_bytes()) };
                ERR_INVALID
            }
        }
    })
}

/// Frees a buffer filled by this library and empties it (safe on an empty
/// or null buffer).
///
/// # Safety
/// `buf` is null or points to a buffer filled by this library (or empty).
#[no_mangle]
pub unsafe extern "C" fn stogger_pg_buf_free(buf: *mut StoggerPgBuf) {
    guard((), || {
        if buf.is_null() {
            return;
        }
        // SAFETY: caller contract.
        let b = unsafe { &mut *buf };
        if !b.ptr.is_null() && b.cap > 0 {
            // SAFETY: ptr/len/cap come from a Vec<u8> leaked by `fill`.
            drop(unsafe { Vec::from_raw_parts(b.ptr, b.len, b.cap) });
        }
        *b = StoggerPgBuf::empty();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf_string(b: &StoggerPgBuf) -> String {
        // SAFETY: filled by this library.
        String::from_utf8(unsafe { b.as_bytes() }.to_vec()).unwrap()
    }

    #[test]
    fn null_pointers_are_empty_only_with_length_zero() {
        assert_eq!(unsafe { bytes(std::ptr::null(), 0) }, Some(&[][..]));
        assert!(unsafe { bytes(std::ptr::null(), 1) }.is_none());
        let null_event = StoggerPgRow {
            ts_micros: 0,
            level_ptr: b"info".as_ptr(),
            level_len: 4,
            event_ptr: std::ptr::null(),
            event_len: 3,
            func_ptr: std::ptr::null(),
            func_len: 0,
            scope_ptr: std::ptr::null(),
            scope_len: 0,
            data_ptr: std::ptr::null(),
            data_len: 0,
        };
        assert!(unsafe { row_bytes(&null_event) }.is_none());
        let fine = StoggerPgRow {
            event_ptr: b"ev".as_ptr(),
            event_len: 2,
            ..null_event
        };
        let row = unsafe { row_bytes(&fine) }.unwrap();
        assert_eq!(
            (row.event, row.func, row.data),
            (&b"ev"[..], None, &b"{}"[..])
        );
    }

    #[test]
    fn schema_sql_and_buffers() {
        let mut out = StoggerPgBuf::empty();
        let name = "my_logs";
        // SAFETY: valid pointers.
        let rc = unsafe { stogger_pg_schema_sql(name.as_ptr(), name.len(), &mut out) };
        assert_eq!(rc, OK);
        assert!(buf_string(&out).contains("CREATE TABLE IF NOT EXISTS \"my_logs\""));
        // SAFETY: filled above; freeing twice is safe because free empties it.
        unsafe {
            stogger_pg_buf_free(&mut out);
            stogger_pg_buf_free(&mut out);
            stogger_pg_buf_free(std::ptr::null_mut());
        }
        assert!(out.ptr.is_null());
        let bad = "a.b.c";
        // SAFETY: valid pointers.
        let rc = unsafe { stogger_pg_schema_sql(bad.as_ptr(), bad.len(), &mut out) };
        assert_eq!(rc, ERR_INVALID);
        assert!(buf_string(&out).contains("more than one dot"));
        // SAFETY: as above.
        unsafe { stogger_pg_buf_free(&mut out) };
    }

    #[test]
    fn null_pointers_are_refused() {
        let mut out = StoggerPgBuf::empty();
        // SAFETY: null pointers are what is tested.
        unsafe {
            assert_eq!(
                stogger_pg_schema_sql(std::ptr::null(), 3, &mut out),
                ERR_INVALID
            );
            stogger_pg_buf_free(&mut out);
            assert_eq!(
                stogger_pg_schema_sql(std::ptr::null(), 0, std::ptr::null_mut()),
                ERR_INVALID
            );
            assert_eq!(
                stogger_pg_write(std::ptr::null_mut(), std::ptr::null(), 0),
                -1
            );
            assert_eq!(stogger_pg_flush(std::ptr::null_mut(), 0), ERR_INVALID);
            assert_eq!(
                stogger_pg_flush(std::ptr::null_mut(), u64::MAX),
                ERR_INVALID
            );
            let mut report = StoggerPgReport::default();
            assert_eq!(
                stogger_pg_stats(std::ptr::null_mut(), &mut report, &mut out),
                ERR_INVALID
            );
            assert_eq!(
                stogger_pg_close(std::ptr::null_mut(), 0, &mut report),
                ERR_INVALID
            );
            let cfg = b"{}";
            assert_eq!(
                stogger_pg_open(
                    cfg.as_ptr(),
                    cfg.len(),
                    None,
                    std::ptr::null_mut(),
                    &mut out
                ),
                ERR_INVALID
            );
            stogger_pg_buf_free(&mut out);
            let mut h: *mut c_void = std::ptr::null_mut();
            assert_eq!(
                stogger_pg_open(std::ptr::null(), 5, None, &mut h, &mut out),
                ERR_INVALID
            );
            stogger_pg_buf_free(&mut out);
            assert_eq!(
                stogger_pg_open(cfg.as_ptr(), cfg.len(), None, &mut h, &mut out),
                ERR_INVALID
            );
            assert!(buf_string(&out).contains("dsn"));
            assert!(h.is_null());
            stogger_pg_buf_free(&mut out);
        }
    }
}
