//! The C ABI as a loader sees it: the built `libstogger_postgres.so` is
//! opened with libloading (as stogger-core does without the `postgres`
//! feature), its version checked, and every entry point called through
//! its C signature, including the error paths.

mod common;

use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::Mutex;

use common::*;
use libloading::{Library, Symbol};

// The contract's own declarations: this test checks the built library
// against them, never against a copy.
use stogger_pg_proto::abi::{
    StoggerPgBuf as Buf, StoggerPgReport as Report, StoggerPgRow as Row, StoggerPgWarnFn as WarnFn,
    SYMBOL_ABI_VERSION,
};

static WARNINGS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

extern "C" fn on_warn(kind: *const u8, kind_len: usize, msg: *const u8, msg_len: usize) {
    // SAFETY: the plugin passes valid (ptr, len) pairs for the call.
    let (k, m) = unsafe {
        (
            std::slice::from_raw_parts(kind, kind_len),
            std::slice::from_raw_parts(msg, msg_len),
        )
    };
    WARNINGS.lock().unwrap().push((
        String::from_utf8_lossy(k).into_owned(),
        String::from_utf8_lossy(m).into_owned(),
    ));
}

/// The newest `libstogger_postgres.so` cargo built for this workspace.
fn plugin_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("target/debug/deps");
    let debug = deps.parent().expect("target/debug");
    let name = libloading::library_filename("stogger_postgres");
    let newest = [debug.join(&name), deps.join(&name)]
        .into_iter()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max();
    match newest {
        Some((_, p)) => p,
        None => panic!(
            "{} is missing: run `cargo build -p stogger-postgres` first",
            debug.join(&name).display()
        ),
    }
}

struct Plugin {
    lib: Library,
}

impl Plugin {
    fn load() -> Plugin {
        let path = plugin_path();
        // SAFETY: loading our own plugin; its initialisers are Rust's.
        let lib = unsafe { Library::new(&path) }
            .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()));
        Plugin { lib }
    }

    fn sym<T>(&self, name: &[u8]) -> Symbol<'_, T> {
        // SAFETY: the types below match docs/plugin-abi.md.
        unsafe { self.lib.get(name) }
            .unwrap_or_else(|e| panic!("symbol {}: {e}", String::from_utf8_lossy(name)))
    }

    fn text(&self, b: &mut Buf) -> String {
        let s = if b.ptr.is_null() {
            String::new()
        } else {
            // SAFETY: filled by the plugin.
            String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(b.ptr, b.len) })
                .into_owned()
        };
        let free: Symbol<'_, unsafe extern "C" fn(*mut Buf)> = self.sym(b"stogger_pg_buf_free");
        // SAFETY: b was filled by the plugin (or is empty).
        unsafe { free(b) };
        assert!(b.ptr.is_null() && b.len == 0, "free empties the buffer");
        s
    }

    fn open(&self, config: &str, warn: Option<WarnFn>) -> (i32, *mut c_void, String) {
        let open: Symbol<
            '_,
            unsafe extern "C" fn(
                *const u8,
                usize,
                Option<WarnFn>,
                *mut *mut c_void,
                *mut Buf,
            ) -> i32,
        > = self.sym(b"stogger_pg_open");
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut err = Buf::empty();
        // SAFETY: valid pointers.
        let rc = unsafe { open(config.as_ptr(), config.len(), warn, &mut handle, &mut err) };
        let msg = self.text(&mut err);
        (rc, handle, msg)
    }
}

fn row(event: &'static str, func: Option<&'static str>, data: &'static str) -> Row {
    Row {
        ts_micros: 1_700_000_000_000_001,
        level_ptr: b"error".as_ptr(),
        level_len: 5,
        event_ptr: event.as_ptr(),
        event_len: event.len(),
        func_ptr: func.map_or(std::ptr::null(), str::as_ptr),
        func_len: func.map_or(0, str::len),
        scope_ptr: b"abi-scope".as_ptr(),
        scope_len: 9,
        data_ptr: data.as_ptr(),
        data_len: data.len(),
    }
}

#[test]
fn the_built_plugin_works_through_its_c_abi() {
    let plugin = Plugin::load();
    let version: Symbol<'_, extern "C" fn() -> u32> = plugin.sym(SYMBOL_ABI_VERSION.as_bytes());
    assert_eq!(version(), stogger_pg_proto::abi::ABI_VERSION);

    // Invalid configurations: negative codes and a reason, never a handle.
    for (config, expect) in [
        ("not json", "config"),
        ("{}", "dsn"),
        (
            r#"{"dsn": "host=/tmp user=u", "batch_size": 0}"#,
            "batch_size",
        ),
        (r#"{"dsn": "host=/tmp user=u", "table": "a.b.c"}"#, "table"),
    ] {
        let (rc, handle, msg) = plugin.open(config, None);
        assert_eq!(rc, -1, "{config}");
        assert!(handle.is_null());
        assert!(msg.contains(expect), "{config}: {msg}");
    }

    let write: Symbol<'_, unsafe extern "C" fn(*mut c_void, *const Row, usize) -> i64> =
        plugin.sym(b"stogger_pg_write");
    let flush: Symbol<'_, unsafe extern "C" fn(*mut c_void, u64) -> i32> =
        plugin.sym(b"stogger_pg_flush");
    let stats: Symbol<'_, unsafe extern "C" fn(*mut c_void, *mut Report, *mut Buf) -> i32> =
        plugin.sym(b"stogger_pg_stats");
    let close: Symbol<'_, unsafe extern "C" fn(*mut c_void, u64, *mut Report) -> i32> =
        plugin.sym(b"stogger_pg_close");
    let schema: Symbol<'_, unsafe extern "C" fn(*const u8, usize, *mut Buf) -> i32> =
        plugin.sym(b"stogger_pg_schema_sql");

    // Null pointers are refused, not dereferenced.
    let mut out = Buf::empty();
    // SAFETY: null pointers are what is tested.
    unsafe {
        assert_eq!(write(std::ptr::null_mut(), std::ptr::null(), 1), -1);
        assert_eq!(flush(std::ptr::null_mut(), 10), -1);
        let mut report = Report::default();
        assert_eq!(stats(std::ptr::null_mut(), &mut report, &mut out), -1);
        assert_eq!(close(std::ptr::null_mut(), 10, &mut report), -1);
        assert_eq!(schema(std::ptr::null(), 4, &mut out), -1);
    }
    plugin.text(&mut out);

    // The DDL, also for a hostile name.
    let name = "x\"; DROP TABLE t; --";
    // SAFETY: valid pointers.
    assert_eq!(unsafe { schema(name.as_ptr(), name.len(), &mut out) }, 0);
    let ddl = plugin.text(&mut out);
    assert!(
        ddl.starts_with("CREATE TABLE IF NOT EXISTS \"x\"\"; DROP TABLE t; --\" ("),
        "{ddl}"
    );

    // A real writer.
    let pg = cluster("pgabi");
    let config = serde_json::json!({
        "dsn": pg.socket_dsn("stogger", "stogger"),
        "table": "abi_logs",
        "flush_interval_ms": 20,
        "application_name": "abi-test",
        "some_future_key": true,
    })
    .to_string();
    let (rc, handle, msg) = plugin.open(&config, Some(on_warn));
    assert_eq!(rc, 0, "{msg}");
    assert!(!handle.is_null());
    let rows: Vec<Row> = (0..100)
        .map(|i| {
            if i % 2 == 0 {
                row("abi-even", Some("abi::func"), r#"{"k": "v"}"#)
            } else {
                row("abi-odd", None, "{}")
            }
        })
        .collect();
    // SAFETY: handle from open; rows valid for the call.
    unsafe {
        assert_eq!(write(handle, rows.as_ptr(), rows.len()), 100);
        assert_eq!(write(handle, std::ptr::null(), 3), -1, "null rows refused");
        let mut broken = row("x", None, "{}");
        broken.event_ptr = std::ptr::null();
        assert_eq!(
            write(handle, &broken, 1),
            -1,
            "null event with a length refused"
        );
        // "No limit" must not overflow a deadline (that would be a caught panic, -3).
        assert_eq!(flush(handle, u64::MAX), 0);
    }
    let mut s = Report::default();
    // SAFETY: handle from open; a report and a buffer for the plugin to fill.
    assert_eq!(unsafe { stats(handle, &mut s, &mut out) }, 0);
    let last_error = plugin.text(&mut out);
    assert_eq!((s.delivered, s.connected), (100, true), "{s:?}");
    assert_eq!((s.queued, s.undelivered), (0, 0), "{s:?}");
    assert_eq!(last_error, "", "no warning yet");
    // A null last-error buffer is allowed.
    // SAFETY: as above.
    assert_eq!(unsafe { stats(handle, &mut s, std::ptr::null_mut()) }, 0);
    let mut report = Report::default();
    // SAFETY: handle from open, not used afterwards.
    assert_eq!(unsafe { close(handle, u64::MAX, &mut report) }, 0);
    assert_eq!(report.undelivered, 0, "{report:?}");
    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT event, count(*), count(func), min(scope), min(level), min(data->>'k') \
             FROM abi_logs GROUP BY event ORDER BY event"
        ),
        "abi-even|50|50|abi-scope|error|v\nabi-odd|50|0|abi-scope|error|"
    );
    // The server notices the closed socket a moment later: poll, bounded.
    let mut sessions = String::new();
    for _ in 0..200 {
        sessions = sql(
            &pg,
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'abi-test'",
        );
        if sessions == "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(sessions, "0", "close ends the connection");

    // Unreachable: open does not wait for it (status 0); the reason comes
    // through the callback, from the writer's thread.
    let config = serde_json::json!({
        "dsn": "postgresql://stogger:abi-secret@127.0.0.1:1/logs",
        "queue_capacity": 2,
    })
    .to_string();
    let (rc, handle, msg) = plugin.open(&config, Some(on_warn));
    assert_eq!(rc, 0, "{msg}");
    let mut startup = None;
    for _ in 0..200 {
        startup = WARNINGS
            .lock()
            .unwrap()
            .iter()
            .find(|(k, m)| k == "connect" && m.contains("cannot connect at startup"))
            .cloned();
        if startup.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (_, msg) = startup.expect("a startup warning through the callback");
    assert!(
        msg.contains("Connection refused") && !msg.contains("abi-secret"),
        "{msg}"
    );
    let three = [
        row("a", None, "{}"),
        row("b", None, "{}"),
        row("c", None, "{}"),
    ];
    let mut report = Report::default();
    // SAFETY: handle from open.
    unsafe {
        assert_eq!(write(handle, three.as_ptr(), 3), 2, "queue of two");
        assert_eq!(flush(handle, 50), 1, "cannot drain: timed out");
        assert_eq!(stats(handle, &mut report, &mut out), 0);
    }
    let last_error = plugin.text(&mut out);
    assert!(
        !last_error.is_empty() && !last_error.contains("abi-secret"),
        "{last_error}"
    );
    // SAFETY: handle from open, not used afterwards.
    assert_eq!(
        unsafe { close(handle, 50, &mut report) },
        1,
        "rows left undelivered"
    );
    assert_eq!(
        (report.undelivered, report.dropped_queue_full),
        (2, 1),
        "{report:?}"
    );
    let warnings = WARNINGS.lock().unwrap().clone();
    assert!(
        warnings
            .iter()
            .any(|(k, m)| k == "queue-full" && m.contains("dropped 1 row(s)")),
        "{warnings:?}"
    );
    assert!(warnings.iter().all(|(_, m)| !m.contains("abi-secret")));
}
