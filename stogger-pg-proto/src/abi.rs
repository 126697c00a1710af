//! The C ABI between stogger-core and the PostgreSQL plugin, declared once.
//!
//! stogger-core calls these entry points whether the plugin is linked in
//! (stogger-core's `postgres` feature) or loaded from
//! `libstogger_postgres.so`; the plugin implements them. Both use the
//! declarations below, so the two sides cannot drift apart. Only primitive
//! types, raw pointers and `#[repr(C)]` structs cross the boundary.

use std::ffi::c_void;

/// The ABI version. The host calls [`SYMBOL_ABI_VERSION`] before looking up
/// anything else and uses the library only when it returns this number.
pub const ABI_VERSION: u32 = 3;

/// Success. `stogger_pg_open`: the writer started; it connects in the
/// background and reports a failure of its first connection through the
/// warn callback (the open never waits for the database).
pub const OK: i32 = 0;
/// `stogger_pg_flush`/`stogger_pg_close`: the deadline passed first.
/// (`stogger_pg_open` returned it up to ABI version 2, when it waited for
/// the first connection.)
pub const RETRYING: i32 = 1;
/// Invalid argument or configuration.
pub const ERR_INVALID: i32 = -1;
/// Database (or runtime) error.
pub const ERR_DATABASE: i32 = -2;
/// A panic was caught.
pub const ERR_PANIC: i32 = -3;

/// A byte buffer filled by the plugin; released with `stogger_pg_buf_free`.
#[repr(C)]
#[derive(Debug)]
pub struct StoggerPgBuf {
    /// Start of the bytes (null when empty).
    pub ptr: *mut u8,
    /// Number of bytes.
    pub len: usize,
    /// Allocated capacity (the plugin needs it to free the buffer).
    pub cap: usize,
}

impl StoggerPgBuf {
    /// An empty buffer, for the plugin to fill.
    pub const fn empty() -> StoggerPgBuf {
        StoggerPgBuf {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    /// The contents as bytes (empty when null).
    ///
    /// # Safety
    /// The buffer is empty, or was filled by the plugin and not freed.
    pub unsafe fn as_bytes(&self) -> &[u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            // SAFETY: the plugin filled `ptr` with `len` initialised bytes
            // that stay valid until the buffer is freed (caller contract).
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// One row, borrowed by the plugin for the duration of a `stogger_pg_write` call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StoggerPgRow {
    /// Event time, microseconds since the Unix epoch (UTC).
    pub ts_micros: i64,
    /// Level text.
    pub level_ptr: *const u8,
    /// Level length.
    pub level_len: usize,
    /// Event name.
    pub event_ptr: *const u8,
    /// Event name length.
    pub event_len: usize,
    /// Function (null = SQL NULL).
    pub func_ptr: *const u8,
    /// Function length.
    pub func_len: usize,
    /// Scope (null = SQL NULL).
    pub scope_ptr: *const u8,
    /// Scope length.
    pub scope_len: usize,
    /// JSON object text for `data` (null = `{}`).
    pub data_ptr: *const u8,
    /// JSON length.
    pub data_len: usize,
}

/// A writer's counters: what `stogger_pg_stats` reports, and the final
/// report of `stogger_pg_close` (the only one with `undelivered` set).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoggerPgReport {
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
    /// lost connection within the bound (not sent again).
    pub uncertain: u64,
    /// Rows in the disk spool, not yet delivered (any run's); at close,
    /// what the next run delivers.
    pub spooled: u64,
    /// Rows dropped because the disk spool was full.
    pub dropped_spool_full: u64,
    /// Batches completed (sync mode: INSERT statements committed; a group
    /// of callers' rows is one).
    pub batches: u64,
    /// Successful reconnections after the first connection.
    pub reconnects: u64,
    /// `stogger_pg_close` only: rows accepted but still queued when its
    /// deadline passed (0 in `stogger_pg_stats`).
    pub undelivered: u64,
    /// Whether the writer had a working connection.
    pub connected: bool,
}

impl StoggerPgReport {
    /// Rows the writer accepted that did not reach the table: still queued
    /// at the close deadline, dropped (queue or spool full, rejected,
    /// database unreachable). Rows of unknown outcome are not counted
    /// (they may have been stored), nor rows kept in the spool (the next
    /// run delivers them).
    pub fn not_delivered(&self) -> u64 {
        self.undelivered
            .saturating_add(self.dropped_queue_full)
            .saturating_add(self.dropped_spool_full)
            .saturating_add(self.dropped_rejected)
            .saturating_add(self.dropped_unavailable)
    }
}

/// The diagnostics callback given to `stogger_pg_open`:
/// `(kind, kind_len, message, message_len)`.
pub type StoggerPgWarnFn =
    extern "C" fn(kind: *const u8, kind_len: usize, msg: *const u8, msg_len: usize);

/// `stogger_pg_abi_version`.
pub type AbiVersionFn = unsafe extern "C" fn() -> u32;
/// `stogger_pg_open`: `(config, config_len, warn, handle_out, err_out)`.
pub type OpenFn = unsafe extern "C" fn(
    *const u8,
    usize,
    Option<StoggerPgWarnFn>,
    *mut *mut c_void,
    *mut StoggerPgBuf,
) -> i32;
/// `stogger_pg_write`: `(handle, rows, n)`.
pub type WriteFn = unsafe extern "C" fn(*mut c_void, *const StoggerPgRow, usize) -> i64;
/// `stogger_pg_flush`: `(handle, timeout_ms)`.
pub type FlushFn = unsafe extern "C" fn(*mut c_void, u64) -> i32;
/// `stogger_pg_stats`: `(handle, out, last_error_out)`.
pub type StatsFn =
    unsafe extern "C" fn(*mut c_void, *mut StoggerPgReport, *mut StoggerPgBuf) -> i32;
/// `stogger_pg_close`: `(handle, timeout_ms, report_out)`.
pub type CloseFn = unsafe extern "C" fn(*mut c_void, u64, *mut StoggerPgReport) -> i32;
/// `stogger_pg_schema_sql`: `(table, table_len, out)`.
pub type SchemaSqlFn = unsafe extern "C" fn(*const u8, usize, *mut StoggerPgBuf) -> i32;
/// `stogger_pg_buf_free`: `(buf)`.
pub type BufFreeFn = unsafe extern "C" fn(*mut StoggerPgBuf);

/// The symbol of [`AbiVersionFn`].
pub const SYMBOL_ABI_VERSION: &str = "stogger_pg_abi_version";
/// The symbol of [`OpenFn`].
pub const SYMBOL_OPEN: &str = "stogger_pg_open";
/// The symbol of [`WriteFn`].
pub const SYMBOL_WRITE: &str = "stogger_pg_write";
/// The symbol of [`FlushFn`].
pub const SYMBOL_FLUSH: &str = "stogger_pg_flush";
/// The symbol of [`StatsFn`].
pub const SYMBOL_STATS: &str = "stogger_pg_stats";
/// The symbol of [`CloseFn`].
pub const SYMBOL_CLOSE: &str = "stogger_pg_close";
/// The symbol of [`SchemaSqlFn`].
pub const SYMBOL_SCHEMA_SQL: &str = "stogger_pg_schema_sql";
/// The symbol of [`BufFreeFn`].
pub const SYMBOL_BUF_FREE: &str = "stogger_pg_buf_free";
