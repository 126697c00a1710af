//! Property: every event reaches a real PostgreSQL as docs/postgres.md
//! promises. Generated events go through the PostgreSQL target (the
//! plugin loaded as in production, batch mode, binary COPY) into a
//! throwaway cluster; each batch is read back and compared, row by row,
//! with what the docs say is stored: the typed columns, and `data` with
//! span fields then own fields (the own field wins), `_critical` left out,
//! `pid` and the code location added unless a field has that name, NUL
//! as U+FFFD in every string and key, NaN and the infinities as the
//! strings `"NaN"`, `"Infinity"`, `"-Infinity"`. No row may be lost: no
//! batch is rejected as a whole, and no row on its own.

mod postgres_support;
mod prop_support;

use prop_support::gen::{self, EventParts};
use prop_support::{check, exact_json, fail, Python, PY_EXACT_JSON};
use proptest::prelude::*;
use serde_json::{json, Map, Value as J};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use stogger_core::{Event, Value};

/// Text from the hex digits `encode(..., 'hex')` writes (psql breaks its
/// lines).
fn from_hex(hex: &str) -> Result<String, String> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = digits
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("not hex: {p:?}"))
        })
        .collect::<Result<Vec<u8>, String>>()?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// Every NUL replaced by U+FFFD.
fn nul(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

/// A structured value with NUL replaced in every key and string (of two
/// keys that become one, the later wins, as in JSONB).
fn nul_json(v: &J) -> J {
    match v {
        J::String(s) => J::String(nul(s)),
        J::Array(items) => J::Array(items.iter().map(nul_json).collect()),
        J::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(nul(k), nul_json(v));
            }
            J::Object(out)
        }
        other => other.clone(),
    }
}

/// A field value as docs/postgres.md says `data` holds it.
fn stored(v: &Value) -> J {
    match v {
        Value::Str(s) | Value::Debug(s) => J::String(nul(s)),
        Value::I64(n) => json!(n),
        Value::U64(n) => json!(n),
        Value::F64(x) if x.is_nan() => json!("NaN"),
        Value::F64(x) if *x == f64::INFINITY => json!("Infinity"),
        Value::F64(x) if *x == f64::NEG_INFINITY => json!("-Infinity"),
        Value::F64(x) => json!(x),
        Value::Bool(b) => json!(b),
        Value::Error(chain) => J::String(nul(&chain.join(": "))),
        Value::Json(j) => nul_json(j),
    }
}

/// The row docs/postgres.md promises for `event`, as the read-back query
/// gives it.
fn expected_row(event: &Event) -> J {
    let mut data = Map::new();
    for (k, v) in event.span_fields().iter().chain(event.fields()) {
        if k == "_critical" {
            continue;
        }
        data.insert(nul(k), stored(v));
    }
    let has = |key: &str| {
        event
            .span_fields()
            .iter()
            .chain(event.fields())
            .any(|(k, _)| k == key)
    };
    if !has("pid") {
        data.insert("pid".into(), json!(event.pid()));
    }
    if let (Some(file), false) = (&event.code_location().file, has("code_file")) {
        data.insert("code_file".into(), J::String(nul(file)));
    }
    if let (Some(line), false) = (event.code_location().line, has("code_lineno")) {
        data.insert("code_lineno".into(), json!(line));
    }
    if let (Some(module), false) = (&event.code_location().module, has("code_module")) {
        data.insert("code_module".into(), J::String(nul(module)));
    }
    let t = event.timestamp();
    json!({
        "ts": t.unix_timestamp() * 1_000_000 + i64::from(t.microsecond()),
        "level": event.level().as_str(),
        "event": nul(event.name()),
        "func": event.func().map(nul),
        "scope": event.scope().map(nul),
        "data": data,
    })
}

#[test]
fn every_event_is_stored_as_documented() {
    let pg = postgres_support::cluster("prop-row");
    let plugin = postgres_support::plugin_so();
    let guard = stogger_core::Stogger::builder()
        .set("enable_postgres", true)
        .set("postgres_dsn", pg.socket_dsn("stogger", "stogger"))
        .set("postgres_plugin", plugin.to_string_lossy().into_owned())
        .set("log_to_console", false)
        .set("log_to_file", false)
        .set("systemd", "off")
        .set("log_filter", "trace") // every level, trace included
        .init()
        .expect("logging with PostgreSQL starts");
    let failures = stogger_core::delivery_failures();
    let last_id = AtomicI64::new(0);
    let python = Mutex::new(Python::start(PY_EXACT_JSON));
    let batch = || proptest::collection::vec(gen::event(), 1..12);
    check("row_vs_postgres", 48, batch, |events: Vec<EventParts>| {
        let events: Vec<Event> = events.iter().map(EventParts::event).collect();
        for e in &events {
            stogger_core::emit(e.clone());
        }
        guard.flush();
        // As hex: psql's display drops characters it thinks invalid
        // (U+10FFFF), so only ASCII may pass through it.
        let query = format!(
            "SELECT encode(convert_to(coalesce(json_agg(t ORDER BY id), '[]')::text, \
                 'UTF8'), 'hex') FROM (SELECT id, \
                 (extract(epoch FROM timestamp) * 1000000)::bigint AS ts, level, event, func, \
                 scope, data FROM stogger_logs WHERE id > {}) t",
            last_id.load(Ordering::Relaxed)
        );
        let hex = pg
            .psql("stogger", &query)
            .map_err(|e| fail(format!("reading back: {e}")))?;
        let text = from_hex(&hex).map_err(|e| fail(format!("psql: {e}: {hex:.200}")))?;
        // Both sides read by Python: numbers compare by their decimal
        // values (JSONB writes 1e16 as 10000000000000000).
        let rows = exact_json(&python, &text)?
            .as_array()
            .cloned()
            .ok_or_else(|| fail(format!("not a JSON array: {text:.300}")))?;
        if let Some(id) = rows.last().and_then(|r| r["id"]["$num"].as_str()) {
            last_id.store(id.parse().unwrap_or(0), Ordering::Relaxed);
        }
        prop_assert_eq!(
            rows.len(),
            events.len(),
            "rows stored for the batch (delivery failures: {})",
            stogger_core::delivery_failures() - failures
        );
        for (i, (row, event)) in rows.iter().zip(&events).enumerate() {
            let mut row = row.clone();
            if let Some(o) = row.as_object_mut() {
                o.remove("id");
            }
            let want = exact_json(&python, &expected_row(event).to_string())?;
            prop_assert!(
                row == want,
                "row {} of the batch:\nstored   {}\nexpected {}",
                i,
                row,
                want
            );
        }
        prop_assert_eq!(stogger_core::delivery_failures(), failures);
        Ok(())
    });
    drop(guard);
}
