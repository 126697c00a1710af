//! Event to systemd-journal fields, encoded in journald's native protocol.
//!
//! [`JournalRenderer`] is pure: it turns one [`Event`] into the bytes of one
//! native-protocol payload (a `Vec<u8>`), which
//! [`crate::output::journal::JournalLogger`] sends.
//!
//! # Fields written
//!
//! | field | value |
//! |---|---|
//! | `MESSAGE` | `<event>: <body>`, the body being what the console line shows after the event name: the rendered `_replace_msg`, or the visible fields as sorted `k=v` (strings quoted `'...'`); control characters in the event name and the body escaped as on the console, so it stays one line; just `<event>` when the body is empty |
//! | `PRIORITY` | `2` critical, `3` error, `4` warning, `6` info, `7` debug |
//! | `SYSLOG_IDENTIFIER` | config `syslog_identifier` |
//! | `SYSLOG_FACILITY` | number of config `systemd_facility` (`LOG_LOCAL0` → `16`) |
//! | `SYSLOG_PID` | the process id |
//! | `CODE_FILE`, `CODE_LINE` | source location, when known |
//! | `CODE_FUNC` | `<module path>::<function>` of the instrumented function, when known |
//! | `CODE_MODULE` | the module path, when known |
//! | `EVENT`, `LEVEL` | event name, level name (`warning`): the names Python stogger writes |
//! | `STOGGER_EVENT`, `STOGGER_LEVEL` | the same again, under the names earlier versions wrote |
//! | `SCOPE`, `FUNC` | the event's log scope and function, when known |
//! | one per field | every visible field (span context and the event's own fields) |
//!
//! # Field names
//!
//! journald accepts field names of `A-Z`, `0-9` and `_`, not starting with a
//! digit, at most 64 characters, and drops names starting with `_` (those
//! are reserved for fields journald itself adds). A field key becomes a
//! journal name by [`field_name`]:
//!
//! 1. ASCII letters are uppercased; every other character except `0-9` and
//!    `_` becomes `_` (one `_` per character, so `user-id` is `USER_ID` and
//!    `größe` is `GR__E`);
//! 2. leading `_` are removed;
//! 3. if nothing is left, or the name starts with a digit, or the name is
//!    one of [`RESERVED`] (a field stogger writes itself or one journald
//!    interprets), it gets the prefix `F_` (`2fa` → `F_2FA`,
//!    `message` → `F_MESSAGE`);
//! 4. the name is cut to 64 characters.
//!
//! Two keys that map to the same name are both kept: journald stores a field
//! with several values.
//!
//! # Values
//!
//! Strings are written as they are, every other value as JSON
//! ([`Value::to_json`]: numbers, `true`/`false`, objects; NaN and infinities
//! as the words `NaN`, `Infinity`, `-Infinity`; an error chain as its
//! messages joined by `": "`). A value without a newline goes as
//! `NAME=value\n`; a value with a newline in the binary form
//! `NAME\n<length as u64 little-endian><value>\n`.

use super::fields::{self, Visible};
use crate::event::{Event, Value};
use crate::render::escape::push_escaped;
use crate::render::text::write_body_translated;
use crate::render::translate::Translations;
use crate::target::Renderer;
use std::sync::Arc;

/// Longest field name journald accepts.
pub(crate) const MAX_FIELD_NAME: usize = 64;

/// Names a user field may not take, because stogger writes the field itself
/// or journald gives it a meaning: a user field mapping to one of these is
/// written with the prefix `F_` (`message` → `F_MESSAGE`).
pub(crate) const RESERVED: &[&str] = &[
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

/// The prefix that marks a renamed field.
pub(crate) const RENAME_PREFIX: &str = "F_";

/// The facility used when the configured name is unknown (`LOG_LOCAL0`);
/// names map to numbers with [`crate::config::syslog_facility_code`].
pub(crate) const DEFAULT_FACILITY: u8 = 16;

/// The journal field name for a field key (rules in the module docs).
pub(crate) fn field_name(key: &str) -> String {
    let mapped: String = key
        .chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' | '_' => c,
            _ => '_',
        })
        .collect();
    let trimmed = mapped.trim_start_matches('_');
    let needs_prefix = trimmed.is_empty()
        || trimmed.starts_with(|c: char| c.is_ascii_digit())
        || RESERVED.contains(&trimmed);
    let mut name = if needs_prefix {
        format!("{RENAME_PREFIX}{trimmed}")
    } else {
        trimmed.to_string()
    };
    // Only ASCII is left, so byte truncation is character truncation.
    name.truncate(MAX_FIELD_NAME);
    name
}

/// A value as journal field text: strings as they are, the rest as JSON.
pub(crate) fn field_value(value: &Value) -> String {
    match value {
        Value::Str(s) => s.clone(),
        other => match other.to_json() {
            serde_json::Value::String(s) => s,
            json => json.to_string(),
        },
    }
}

/// Appends one field in the native protocol: `NAME=value\n`, or the binary
/// form `NAME\n<u64 LE length><value>\n` when the value contains a newline.
/// `name` must already be a valid journal field name.
pub(crate) fn encode_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Renders events as native-protocol payloads.
#[derive(Debug, Clone)]
pub(crate) struct JournalRenderer {
    identifier: String,
    facility: u8,
    show_func: bool,
    translations: Option<Arc<Translations>>,
}

impl JournalRenderer {
    /// A renderer writing `SYSLOG_IDENTIFIER=identifier` and
    /// `SYSLOG_FACILITY=facility` (a number, see
    /// [`crate::config::syslog_facility_code`]).
    pub(crate) fn new(identifier: impl Into<String>, facility: u8) -> Self {
        JournalRenderer {
            identifier: identifier.into(),
            facility,
            show_func: false,
            translations: None,
        }
    }

    /// `MESSAGE` shows the translated sentence of events the translations
    /// have one for (see [`crate::render::translate`]).
    pub(crate) fn with_translations(mut self, translations: Option<Arc<Translations>>) -> Self {
        self.translations = translations;
        self
    }

    /// Also show the event's function (`func='...'`) in the `k=v` body of
    /// `MESSAGE`, as the console does with `show_caller_info`. It is always
    /// in `CODE_FUNC` and `FUNC`.
    pub(crate) fn show_func(mut self, on: bool) -> Self {
        self.show_func = on;
        self
    }

    /// The `MESSAGE` text of an event: `<event>: <body>`, the body being
    /// exactly what the console line shows after the event name (see
    /// [`crate::render::text::write_body`]), or `<event>` alone when the
    /// body is empty.
    pub(crate) fn message(&self, event: &Event) -> String {
        let mut msg = String::with_capacity(event.name.len() + 64);
        // Escaped as on the console: a name is user data too.
        push_escaped(&mut msg, &event.name);
        let name_end = msg.len();
        msg.push_str(": ");
        let head = msg.len();
        write_body_translated(
            &mut msg,
            event,
            self.show_func,
            self.translations.as_deref(),
        );
        if msg.len() == head {
            msg.truncate(name_end);
        }
        msg
    }
}

impl Renderer for JournalRenderer {
    type Output = Vec<u8>;

    fn render(&self, event: &Event) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        encode_field(&mut out, "MESSAGE", self.message(event).as_bytes());
        encode_field(
            &mut out,
            "PRIORITY",
            event.level.syslog_priority().to_string().as_bytes(),
        );
        encode_field(&mut out, "SYSLOG_IDENTIFIER", self.identifier.as_bytes());
        encode_field(
            &mut out,
            "SYSLOG_FACILITY",
            self.facility.to_string().as_bytes(),
        );
        encode_field(&mut out, "SYSLOG_PID", event.pid.to_string().as_bytes());
        if let Some(file) = &event.code.file {
            encode_field(&mut out, "CODE_FILE", file.as_bytes());
        }
        if let Some(line) = event.code.line {
            encode_field(&mut out, "CODE_LINE", line.to_string().as_bytes());
        }
        if let Some(func) = &event.func {
            encode_field(&mut out, "CODE_FUNC", func.as_bytes());
        }
        if let Some(module) = &event.code.module {
            encode_field(&mut out, "CODE_MODULE", module.as_bytes());
        }
        encode_field(&mut out, "EVENT", event.name.as_bytes());
        encode_field(&mut out, "LEVEL", event.level.as_str().as_bytes());
        encode_field(&mut out, "STOGGER_EVENT", event.name.as_bytes());
        encode_field(&mut out, "STOGGER_LEVEL", event.level.as_str().as_bytes());
        if let Some(scope) = &event.scope {
            encode_field(&mut out, "SCOPE", scope.as_bytes());
        }
        if let Some(func) = &event.func {
            encode_field(&mut out, "FUNC", func.as_bytes());
        }
        for Visible { key, value, .. } in event.visible(fields::VISIBLE) {
            encode_field(&mut out, &field_name(key), field_value(value).as_bytes());
        }
        out
    }
}

/// Decodes a native-protocol payload into its fields, in order (the inverse
/// of [`encode_field`]); `None` when the payload is malformed.
#[cfg(test)]
pub(crate) fn decode(payload: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut fields = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let name = String::from_utf8(line[..eq].to_vec()).ok()?;
            fields.push((name, line[eq + 1..].to_vec()));
            rest = &rest[nl + 1..];
        } else {
            let name = String::from_utf8(line.to_vec()).ok()?;
            let after = &rest[nl + 1..];
            let len_bytes: [u8; 8] = after.get(..8)?.try_into().ok()?;
            let len = usize::try_from(u64::from_le_bytes(len_bytes)).ok()?;
            let value = after.get(8..8 + len)?;
            if after.get(8 + len) != Some(&b'\n') {
                return None;
            }
            fields.push((name, value.to_vec()));
            rest = &after[8 + len + 1..];
        }
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;

    fn renderer() -> JournalRenderer {
        JournalRenderer::new("billing", 16)
    }

    fn fields(event: &Event) -> Vec<(String, Vec<u8>)> {
        decode(&renderer().render(event)).expect("payload decodes")
    }

    fn values<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Vec<&'a [u8]> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    fn one<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> &'a str {
        let v = values(fields, name);
        assert_eq!(v.len(), 1, "{name} once in {fields:?}");
        std::str::from_utf8(v[0]).expect("utf-8")
    }

    #[test]
    fn field_names_are_sanitised() {
        assert_eq!(field_name("user_id"), "USER_ID");
        assert_eq!(field_name("user-id"), "USER_ID");
        assert_eq!(field_name("http.status"), "HTTP_STATUS");
        assert_eq!(field_name("größe"), "GR__E");
        assert_eq!(field_name("-leading"), "LEADING");
        assert_eq!(field_name("__x"), "X");
        assert_eq!(field_name("2fa"), "F_2FA");
        assert_eq!(field_name("_9"), "F_9");
        assert_eq!(field_name(""), "F_");
        assert_eq!(field_name("日本"), "F_");
        let long = "a".repeat(100);
        assert_eq!(field_name(&long), "A".repeat(64));
        let long_digit = format!("1{}", "b".repeat(100));
        let name = field_name(&long_digit);
        assert_eq!(name.len(), 64);
        assert!(name.starts_with("F_1B"));
    }

    #[test]
    fn every_sanitised_name_is_valid_for_journald() {
        for key in [
            "a", "Ä", "0", "_", "x y", "é1", "MESSAGE", "a.b-c/d", "__a__",
        ] {
            let name = field_name(key);
            assert!(!name.is_empty() && name.len() <= 64, "{key:?} -> {name:?}");
            assert!(!name.starts_with('_'), "{key:?} -> {name:?}");
            assert!(!name.starts_with(|c: char| c.is_ascii_digit()));
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
        }
    }

    #[test]
    fn reserved_user_fields_are_prefixed_and_ours_win() {
        let event = Event::new(Level::Info, "clash")
            .with("message", "user text")
            .with("priority", 1)
            .with("code_file", "fake.rs")
            .with("syslog_identifier", "impostor")
            .with("stogger_event", "other")
            .with("event", "user's")
            .with("level", "high");
        let f = fields(&event);
        assert_eq!(one(&f, "MESSAGE"), "clash: code_file='fake.rs' event='user\\'s' level='high' message='user text' priority=1 stogger_event='other' syslog_identifier='impostor'");
        assert_eq!(one(&f, "EVENT"), "clash");
        assert_eq!(one(&f, "LEVEL"), "info");
        assert_eq!(one(&f, "F_EVENT"), "user's");
        assert_eq!(one(&f, "F_LEVEL"), "high");
        assert_eq!(one(&f, "PRIORITY"), "6");
        assert_eq!(one(&f, "SYSLOG_IDENTIFIER"), "billing");
        assert_eq!(one(&f, "STOGGER_EVENT"), "clash");
        assert!(values(&f, "CODE_FILE").is_empty());
        assert_eq!(one(&f, "F_MESSAGE"), "user text");
        assert_eq!(one(&f, "F_PRIORITY"), "1");
        assert_eq!(one(&f, "F_CODE_FILE"), "fake.rs");
        assert_eq!(one(&f, "F_SYSLOG_IDENTIFIER"), "impostor");
        assert_eq!(one(&f, "F_STOGGER_EVENT"), "other");
    }

    #[test]
    fn single_line_value_uses_text_form() {
        let mut out = Vec::new();
        encode_field(&mut out, "USER_ID", b"123");
        assert_eq!(out, b"USER_ID=123\n");
    }

    #[test]
    fn multi_line_value_uses_binary_form_with_exact_length() {
        let mut out = Vec::new();
        encode_field(&mut out, "STACK", b"a\nbc");
        let mut want = b"STACK\n".to_vec();
        want.extend_from_slice(&[4, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(b"a\nbc\n");
        assert_eq!(out, want);

        let big = "line\n".repeat(70_000); // 350 000 bytes: length needs 3 bytes
        let mut out = Vec::new();
        encode_field(&mut out, "BIG", big.as_bytes());
        assert_eq!(&out[..4], b"BIG\n");
        assert_eq!(&out[4..12], &[0x30, 0x57, 0x05, 0, 0, 0, 0, 0]);
        assert_eq!(out.len(), 4 + 8 + 350_000 + 1);
    }

    #[test]
    fn multi_line_field_round_trips_in_event() {
        let event = Event::new(Level::Error, "job-failed").with("stderr", "boom\nat line 2\n");
        let f = fields(&event);
        assert_eq!(values(&f, "STDERR"), vec![&b"boom\nat line 2\n"[..]]);
        // Output sections stay out of the k=v body.
        assert_eq!(one(&f, "MESSAGE"), "job-failed");
    }

    #[test]
    fn message_lists_sorted_fields_with_quoted_strings() {
        let event = Event::new(Level::Info, "user-login")
            .with("username", "alice")
            .with("user_id", 123)
            .with("ratio", 1.0)
            .with("ok", true)
            .with("_hidden", "x");
        assert_eq!(
            renderer().message(&event),
            "user-login: ok=True ratio=1.0 user_id=123 username='alice'"
        );
    }

    #[test]
    fn message_includes_scope_and_span_context() {
        let mut event = Event::new(Level::Info, "order-charged").with("amount", 99.99);
        event.context.push(("order_id".into(), Value::I64(12345)));
        event.scope = Some("order-processing".into());
        assert_eq!(
            renderer().message(&event),
            "order-charged: amount=99.99 order_id=12345 scope='order-processing'"
        );
        let f = fields(&event);
        assert_eq!(one(&f, "SCOPE"), "order-processing");
        assert_eq!(one(&f, "ORDER_ID"), "12345");
    }

    #[test]
    fn message_stays_one_line_while_the_field_keeps_the_newline() {
        let event = Event::new(Level::Info, "note").with("text", "a\nb");
        let f = fields(&event);
        assert_eq!(one(&f, "MESSAGE"), "note: text='a\\nb'");
        assert_eq!(one(&f, "TEXT"), "a\nb");
    }

    #[test]
    fn func_joins_the_message_body_only_when_asked() {
        let mut event = Event::new(Level::Info, "charged").with("amount", 5);
        event.func = Some("shop::pay".into());
        assert_eq!(renderer().message(&event), "charged: amount=5");
        assert_eq!(
            renderer().show_func(true).message(&event),
            "charged: amount=5 func='shop::pay'"
        );
    }

    /// Shrunk inputs from the property test against journald
    /// (`tests/tests/prop_journal.rs`): the name reached `MESSAGE` raw.
    #[test]
    fn message_escapes_control_characters_in_the_event_name() {
        assert_eq!(renderer().message(&Event::new(Level::Debug, "\0")), "\\x00");
        let event = Event::new(Level::Info, "a\x1b[31m\nb").with("k", 1);
        assert_eq!(renderer().message(&event), "a\\x1b[31m\\nb: k=1");
        let f = fields(&event);
        assert_eq!(
            one(&f, "STOGGER_EVENT"),
            "a\x1b[31m\nb",
            "the field keeps the bytes"
        );
    }

    #[test]
    fn message_without_fields_is_the_event_name() {
        assert_eq!(
            renderer().message(&Event::new(Level::Info, "started")),
            "started"
        );
    }

    #[test]
    fn message_uses_the_template_when_present() {
        let event = Event::new(Level::Info, "user-login")
            .with("username", "alice")
            .with("_replace_msg", "User {username} logged in");
        assert_eq!(
            renderer().message(&event),
            "user-login: User alice logged in"
        );
    }

    #[test]
    fn priority_follows_level() {
        for (level, want) in [
            (Level::Critical, "2"),
            (Level::Error, "3"),
            (Level::Warning, "4"),
            (Level::Info, "6"),
            (Level::Debug, "7"),
            (Level::Trace, "7"),
        ] {
            let f = fields(&Event::new(level, "e"));
            assert_eq!(one(&f, "PRIORITY"), want, "{level:?}");
            assert_eq!(one(&f, "STOGGER_LEVEL"), level.as_str());
            assert_eq!(one(&f, "LEVEL"), level.as_str());
        }
    }

    #[test]
    fn standard_fields_are_written() {
        let mut event = Event::new(Level::Warning, "disk-low").with("free_mb", 12u64);
        event.pid = 4242;
        event.code.file = Some("src/disk.rs".into());
        event.code.line = Some(17);
        event.func = Some("svc::disk::check".into());
        event.code.module = Some("svc::disk".into());
        let f = fields(&event);
        assert_eq!(one(&f, "CODE_MODULE"), "svc::disk");
        assert_eq!(one(&f, "EVENT"), "disk-low");
        assert_eq!(one(&f, "SYSLOG_IDENTIFIER"), "billing");
        assert_eq!(one(&f, "SYSLOG_FACILITY"), "16");
        assert_eq!(one(&f, "SYSLOG_PID"), "4242");
        assert_eq!(one(&f, "CODE_FILE"), "src/disk.rs");
        assert_eq!(one(&f, "CODE_LINE"), "17");
        assert_eq!(one(&f, "CODE_FUNC"), "svc::disk::check");
        assert_eq!(one(&f, "FUNC"), "svc::disk::check");
        assert_eq!(one(&f, "FREE_MB"), "12");
        assert_eq!(one(&f, "STOGGER_EVENT"), "disk-low");
    }

    #[test]
    fn non_string_values_are_json() {
        let event = Event::new(Level::Info, "v")
            .with("nan", f64::NAN)
            .with("neg", -5)
            .with("flag", false)
            .with(
                "obj",
                Value::Json(Box::new(serde_json::json!({"a": [1, 2]}))),
            )
            .with("err", Value::Error(vec!["outer".into(), "inner".into()]));
        let f = fields(&event);
        assert_eq!(one(&f, "NAN"), "NaN");
        assert_eq!(one(&f, "NEG"), "-5");
        assert_eq!(one(&f, "FLAG"), "false");
        assert_eq!(one(&f, "OBJ"), r#"{"a":[1,2]}"#);
        assert_eq!(one(&f, "ERR"), "outer: inner");
    }
}
