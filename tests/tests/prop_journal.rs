//! Property: every event reaches a real journald (a private namespace)
//! with every field, and `journalctl -o json --all` gives each back byte
//! for byte under the name docs/journal.md says: the user's fields
//! (span fields and own fields, `_`-keys left out) named by the
//! documented sanitising rules, their values as documented, stogger's own
//! fields beside them, and nothing else. `MESSAGE` is one line.

mod prop_support;

use prop_support::gen::{self, EventParts};
use prop_support::{check, fail, json_eq};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use stogger_core::{Event, Level, Stogger, Value};
use stogger_tests::journald::{Entry, Journald};

/// The reserved names of docs/journal.md ("Field names"): a user field
/// mapping to one of them gets the prefix `F_`.
const RESERVED: &[&str] = &[
    "MESSAGE",
    "MESSAGE_ID",
    "PRIORITY",
    "SYSLOG_IDENTIFIER",
    "SYSLOG_FACILITY",
    "SYSLOG_PID",
    "SYSLOG_TIMESTAMP",
    "SYSLOG_RAW",
    "CODE_FILE",
    "CODE_LINE",
    "CODE_FUNC",
    "CODE_MODULE",
    "OBJECT_PID",
    "EVENT",
    "LEVEL",
    "STOGGER_EVENT",
    "STOGGER_LEVEL",
    "SCOPE",
    "FUNC",
];

/// The journal name of a field key, by the rules of docs/journal.md
/// ("Field names"), written here independently of stogger's code.
fn journal_name(key: &str) -> String {
    let upper: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                c.to_ascii_uppercase()
            } else if c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let rest = upper.trim_start_matches('_');
    let mut name = if rest.is_empty()
        || rest.starts_with(|c: char| c.is_ascii_digit())
        || RESERVED.contains(&rest)
    {
        format!("F_{rest}")
    } else {
        rest.to_string()
    };
    name.truncate(64);
    name
}

/// A value as the journal should hold it.
#[derive(Debug, Clone)]
enum Want {
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// A JSON number or structure (any spelling of the same value).
    Json(serde_json::Value),
}

impl Want {
    fn matches(&self, got: &[u8]) -> bool {
        match self {
            Want::Bytes(b) => b == got,
            Want::Json(want) => {
                serde_json::from_slice::<serde_json::Value>(got).is_ok_and(|g| json_eq(&g, want))
            }
        }
    }
}

/// docs/journal.md "Values": strings as they are; numbers as digits;
/// booleans `true`/`false`; structured values as compact JSON; NaN and
/// infinities as words; an error chain joined by `": "`.
fn want_value(v: &Value) -> Want {
    let text = |s: &str| Want::Bytes(s.as_bytes().to_vec());
    match v {
        Value::Str(s) | Value::Debug(s) => text(s),
        Value::I64(n) => text(&n.to_string()),
        Value::U64(n) => text(&n.to_string()),
        Value::F64(x) if x.is_nan() => text("NaN"),
        Value::F64(x) if *x == f64::INFINITY => text("Infinity"),
        Value::F64(x) if *x == f64::NEG_INFINITY => text("-Infinity"),
        Value::F64(x) => Want::Json(serde_json::json!(x)),
        Value::Bool(b) => text(if *b { "true" } else { "false" }),
        Value::Error(chain) => text(&chain.join(": ")),
        Value::Json(j) => match j.as_ref() {
            serde_json::Value::String(s) => text(s),
            other => Want::Json(other.clone()),
        },
    }
}

/// Every field the entry of `event` must have, by name.
fn expected(event: &Event, ident: &str) -> BTreeMap<String, Vec<Want>> {
    let mut fields: BTreeMap<String, Vec<Want>> = BTreeMap::new();
    let mut add = |name: &str, want: Want| fields.entry(name.to_string()).or_default().push(want);
    let bytes = |s: &str| Want::Bytes(s.as_bytes().to_vec());
    add(
        "PRIORITY",
        bytes(&event.level().syslog_priority().to_string()),
    );
    add("SYSLOG_IDENTIFIER", bytes(ident));
    add("SYSLOG_FACILITY", bytes("16"));
    add("SYSLOG_PID", bytes(&event.pid().to_string()));
    if let Some(file) = &event.code_location().file {
        add("CODE_FILE", bytes(file));
    }
    if let Some(line) = event.code_location().line {
        add("CODE_LINE", bytes(&line.to_string()));
    }
    if let Some(module) = &event.code_location().module {
        add("CODE_MODULE", bytes(module));
    }
    if let Some(func) = event.func() {
        add("CODE_FUNC", bytes(func));
        add("FUNC", bytes(func));
    }
    if let Some(scope) = event.scope() {
        add("SCOPE", bytes(scope));
    }
    // Python stogger's names, and the earlier ones of stogger for Rust.
    add("EVENT", bytes(event.name()));
    add("LEVEL", bytes(event.level().as_str()));
    add("STOGGER_EVENT", bytes(event.name()));
    add("STOGGER_LEVEL", bytes(event.level().as_str()));
    // Span fields, then own fields; of a key given twice the last value.
    let mut visible: Vec<(&str, &Value)> = Vec::new();
    for (k, v) in event.span_fields().iter().chain(event.fields()) {
        if k.starts_with('_') {
            continue;
        }
        match visible.iter_mut().find(|(key, _)| *key == k.as_ref()) {
            Some(slot) => slot.1 = v,
            None => visible.push((k.as_ref(), v)),
        }
    }
    for (k, v) in visible {
        add(&journal_name(k), want_value(v));
    }
    fields
}

/// Compares one entry with what `event` must have become.
fn compare(entry: &Entry, event: &Event, ident: &str) -> Result<(), TestCaseError> {
    let mut want = expected(event, ident);
    let message = entry
        .bytes("MESSAGE")
        .ok_or_else(|| fail(format!("no MESSAGE in {entry:?}")))?;
    let message = String::from_utf8_lossy(message);
    if let Some(c) = message.chars().find(|c| c.is_control()) {
        return Err(fail(format!(
            "MESSAGE holds a raw {c:?}, not one safe line: {message:?}"
        )));
    }
    want.insert(
        "MESSAGE".into(),
        vec![Want::Bytes(
            entry.bytes("MESSAGE").unwrap_or_default().to_vec(),
        )],
    );
    let stored: BTreeMap<&str, &[Vec<u8>]> = entry
        .fields
        .iter()
        .filter(|(name, _)| !name.starts_with('_'))
        .map(|(name, values)| (name.as_str(), values.as_slice()))
        .collect();
    let want_names: Vec<&str> = want.keys().map(String::as_str).collect();
    let stored_names: Vec<&str> = stored.keys().copied().collect();
    prop_assert_eq!(&stored_names, &want_names, "field names of the entry");
    for (name, wants) in &want {
        let got = stored[name.as_str()];
        for w in wants {
            prop_assert!(
                got.iter().any(|g| w.matches(g)),
                "{}: {:?} not among the stored values {:?}",
                name,
                w,
                got.iter()
                    .map(|g| String::from_utf8_lossy(g))
                    .collect::<Vec<_>>()
            );
        }
        for g in got {
            prop_assert!(
                wants.iter().any(|w| w.matches(g)),
                "{}: stored {:?}, which no field gave",
                name,
                String::from_utf8_lossy(g)
            );
        }
    }
    Ok(())
}

#[test]
fn every_field_reaches_journald_as_documented() {
    let jd = Journald::start().unwrap_or_else(|why| panic!("cannot run the journal test: {why}"));
    let case = AtomicUsize::new(0);
    let batch = || proptest::collection::vec(gen::event(), 1..6);
    check(
        "journal_vs_journald",
        24,
        batch,
        |parts: Vec<EventParts>| {
            let ident = format!("prop-journal-{}", case.fetch_add(1, Ordering::Relaxed));
            // The journal as the only output, every level admitted (debug
            // and trace events too); one configuration per case, for its
            // own identifier.
            let guard = Stogger::builder()
                .set("systemd", "required")
                .set("journal_socket", jd.socket().display().to_string())
                .syslog_identifier(&ident)
                .log_to_console(false)
                .set("log_to_file", false)
                .set("log_filter", "trace")
                .init()
                .map_err(|e| fail(format!("logging to the journal: {e}")))?;
            let events: Vec<Event> = parts.iter().map(EventParts::event).collect();
            let failures = stogger_core::delivery_failures();
            for e in &events {
                stogger_core::emit(e.clone());
            }
            // A last event after the batch: once journald shows it, it has
            // taken every datagram sent before it on this socket.
            let end = format!("{ident}-end");
            stogger_core::emit(Event::new(Level::Info, end.clone()));
            guard.flush();
            prop_assert_eq!(stogger_core::delivery_failures(), failures, "send failures");
            let end_match = format!("STOGGER_EVENT={end}");
            jd.wait_for(&["-t", &ident, &end_match], 1)
                .map_err(|e| fail(e.to_string()))?;
            let mut entries = jd
                .entries(&["-t", &ident])
                .map_err(|e| fail(e.to_string()))?;
            drop(guard);
            // The journal target's own startup event comes first, the end
            // marker last; the batch is what lies between.
            let first = entries.first().and_then(|e| e.get("STOGGER_EVENT"));
            let last = entries.last().and_then(|e| e.get("STOGGER_EVENT"));
            if entries.len() < 2
                || first.as_deref() != Some("systemd-journal-active")
                || last.as_deref() != Some(end.as_str())
            {
                return Err(fail(format!(
                    "the entries of {ident} do not start with systemd-journal-active \
                     and end with {end}: first {first:?}, last {last:?}, {} entries",
                    entries.len()
                )));
            }
            entries.pop();
            entries.remove(0);
            if entries.len() != events.len() {
                let said = jd
                    .journalctl(&["-o", "cat", "--output-fields=SYSLOG_IDENTIFIER,MESSAGE"])
                    .unwrap_or_default()
                    .lines()
                    .map(|l| l.chars().take(100).collect::<String>())
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(fail(format!(
                    "{} of {} events stored; journald's own messages: {said}",
                    entries.len(),
                    events.len()
                )));
            }
            for (entry, event) in entries.iter().zip(&events) {
                compare(entry, event, &ident)?;
            }
            Ok(())
        },
    );
}
