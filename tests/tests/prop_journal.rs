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
use stogger_core::config::{Config, SystemdMode};
use stogger_core::output::journal;
use stogger_core::render::journal::RESERVED;
use stogger_core::{Event, Output, Value};
use stogger_tests::journald::{Entry, Journald};

/// The journal name of a field key, by the rules of docs/journal.md
/// ("Field names"), written here independently of stogger's code (only
/// the list of reserved names is taken from it).
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
        bytes(&event.level.syslog_priority().to_string()),
    );
    add("SYSLOG_IDENTIFIER", bytes(ident));
    add("SYSLOG_FACILITY", bytes("16"));
    add("SYSLOG_PID", bytes(&event.pid.to_string()));
    if let Some(file) = &event.code.file {
        add("CODE_FILE", bytes(file));
    }
    if let Some(line) = event.code.line {
        add("CODE_LINE", bytes(&line.to_string()));
    }
    if let Some(module) = &event.code.module {
        add("CODE_MODULE", bytes(module));
    }
    if let Some(func) = &event.func {
        add("CODE_FUNC", bytes(func));
        add("FUNC", bytes(func));
    }
    if let Some(scope) = &event.scope {
        add("SCOPE", bytes(scope));
    }
    // Python stogger's names, and the earlier ones of stogger for Rust.
    add("EVENT", bytes(&event.name));
    add("LEVEL", bytes(event.level.as_str()));
    add("STOGGER_EVENT", bytes(&event.name));
    add("STOGGER_LEVEL", bytes(event.level.as_str()));
    // Span fields, then own fields; of a key given twice the last value.
    let mut visible: Vec<(&str, &Value)> = Vec::new();
    for (k, v) in event.context.iter().chain(&event.fields) {
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
            let cfg = Config {
                systemd: SystemdMode::Required,
                journal_socket: jd.socket().to_path_buf(),
                syslog_identifier: ident.clone(),
                verbose: true, // debug events too
                ..Config::default()
            };
            let mut notes = Vec::new();
            let target = journal::open(&cfg, &mut notes)
                .map_err(|e| fail(format!("journal target: {e}")))?
                .ok_or_else(|| fail("no journal target"))?;
            let events: Vec<Event> = parts.iter().map(EventParts::event).collect();
            let failures = stogger_core::warn::delivery_failures();
            for e in &events {
                target.handle(e, Output::Journal.into());
            }
            target.flush();
            prop_assert_eq!(
                stogger_core::warn::delivery_failures(),
                failures,
                "send failures"
            );
            // A last event after the batch: once journald shows it, it has
            // taken every datagram sent before it on this socket.
            let end = format!("{ident}-end");
            journal::open(
                &Config {
                    syslog_identifier: end.clone(),
                    ..cfg.clone()
                },
                &mut notes,
            )
            .map_err(|e| fail(format!("journal target: {e}")))?
            .ok_or_else(|| fail("no journal target"))?
            .handle(
                &Event::new(stogger_core::Level::Info, "batch-end"),
                Output::Journal.into(),
            );
            jd.wait_for(&["-t", &end], 1)
                .map_err(|e| fail(e.to_string()))?;
            let entries = jd
                .entries(&["-t", &ident])
                .map_err(|e| fail(e.to_string()))?;
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
