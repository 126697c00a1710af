//! Event → PostgreSQL row: the renderer of the PostgreSQL target.
//!
//! Pure: no I/O. The typed columns (`timestamp`, `level`, `event`, `func`,
//! `scope`) come from the event itself; everything else goes into `data`,
//! a JSON object written straight into a byte buffer (no intermediate
//! `serde_json::Value`):
//!
//! - span fields first, then the event's own fields; on a duplicate key the
//!   event's own field wins (the innermost span wins among spans);
//! - keys starting with `_` are kept (`_replace_msg` included: a query can
//!   rebuild the human sentence), except `_critical`, which the `level`
//!   column already says (`critical`);
//! - `pid`, `code_file`, `code_line`, `code_module` are added unless a field
//!   of the same name exists (then the field is kept);
//! - types are kept: integers and floats stay JSON numbers, booleans stay
//!   booleans; an error is stored as its `source()` chain joined by `": "`
//!   (outermost first, as in the JSON file format); `?debug` values are
//!   strings;
//! - PostgreSQL refuses NUL in `TEXT` and `\u0000` in `JSONB`: every NUL
//!   character, in any string or key, columns and `data` alike, becomes
//!   U+FFFD (`�`); non-finite floats become the strings `"NaN"`,
//!   `"Infinity"` and `"-Infinity"`. No value can make a row fail.

use crate::event::{non_finite_name, Event, Value};
use crate::target::Renderer;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::io;

/// The replacement for NUL characters (U+FFFD REPLACEMENT CHARACTER).
pub const NUL_REPLACEMENT: char = '\u{FFFD}';

/// One rendered row, owned. `data` is a JSON object as UTF-8 bytes, safe
/// for `JSONB`; every string is free of NUL characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Event time in microseconds since the Unix epoch (UTC).
    pub ts_micros: i64,
    /// `debug`, `info`, `warning`, `error` or `critical`.
    pub level: &'static str,
    /// The event name.
    pub event: String,
    /// `<module path>::<function>` of the innermost instrumented span (SQL NULL when absent).
    pub func: Option<String>,
    /// The innermost `log_scope` (SQL NULL when absent).
    pub scope: Option<String>,
    /// The `data` column: a JSON object.
    pub data: Vec<u8>,
}

impl Default for Row {
    fn default() -> Self {
        Row {
            ts_micros: 0,
            level: "info",
            event: String::new(),
            func: None,
            scope: None,
            data: Vec::new(),
        }
    }
}

impl Row {
    /// The `data` column as text.
    pub fn data_str(&self) -> &str {
        // Always valid UTF-8: serde_json writes UTF-8 and the fallback is ASCII.
        std::str::from_utf8(&self.data).unwrap_or("{}")
    }
}

/// Renders [`Row`]s. [`RowRenderer::render_into`] reuses a row's buffers,
/// which is what the PostgreSQL target does on its hot path.
#[derive(Debug, Default, Clone)]
pub struct RowRenderer;

impl RowRenderer {
    /// A row renderer.
    pub fn new() -> Self {
        RowRenderer
    }

    /// Renders `event` into `row`, reusing its allocations.
    pub fn render_into(&self, event: &Event, row: &mut Row) {
        row.ts_micros = micros(event);
        row.level = event.level.as_str();
        set_text(&mut row.event, &event.name);
        set_opt_text(&mut row.func, event.func.as_deref());
        set_opt_text(&mut row.scope, event.scope.as_deref());
        row.data.clear();
        write_data(event, &mut row.data);
    }
}

impl Renderer for RowRenderer {
    type Output = Row;

    fn render(&self, event: &Event) -> Row {
        let mut row = Row {
            data: Vec::with_capacity(256),
            ..Row::default()
        };
        self.render_into(event, &mut row);
        row
    }
}

fn micros(event: &Event) -> i64 {
    let micros = event.timestamp.unix_timestamp_nanos().div_euclid(1_000);
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

/// Replaces every NUL character of `s` by U+FFFD.
pub fn replace_nul(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn set_text(dst: &mut String, src: &str) {
    dst.clear();
    if src.contains('\0') {
        dst.extend(
            src.chars()
                .map(|c| if c == '\0' { NUL_REPLACEMENT } else { c }),
        );
    } else {
        dst.push_str(src);
    }
}

fn set_opt_text(dst: &mut Option<String>, src: Option<&str>) {
    match src {
        Some(s) => set_text(dst.get_or_insert_with(String::new), s),
        None => *dst = None,
    }
}

/// Serialises the `data` object of `event` into `out` (appending).
pub fn write_data(event: &Event, out: &mut Vec<u8>) {
    let start = out.len();
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, NulSafe);
    if DataObject(event).serialize(&mut ser).is_err() {
        // Not reachable with the types an Event holds (string keys only);
        // a row must still be written.
        out.truncate(start);
        out.extend_from_slice(b"{\"_render_error\":\"data could not be serialised\"}");
    }
}

/// A compact JSON formatter that writes NUL as U+FFFD instead of `\u0000`.
struct NulSafe;

impl serde_json::ser::Formatter for NulSafe {
    fn write_char_escape<W>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        use serde_json::ser::CharEscape;
        let s: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(0) => "\u{FFFD}".as_bytes(),
            CharEscape::AsciiControl(byte) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let bytes = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(byte >> 4) as usize],
                    HEX[(byte & 0xF) as usize],
                ];
                return writer.write_all(&bytes);
            }
        };
        writer.write_all(s)
    }
}

/// Keys the row adds itself; a user field of the same name wins.
const SYSTEM_KEYS: [&str; 4] = ["pid", "code_file", "code_line", "code_module"];

struct DataObject<'a>(&'a Event);

impl DataObject<'_> {
    fn entries(&self) -> impl Iterator<Item = &(String, Value)> {
        self.0.context.iter().chain(self.0.fields.iter())
    }

    /// Whether the entry at `index` (of context ++ fields) is the last one
    /// with its key: earlier duplicates are overridden.
    fn is_last_with_key(&self, index: usize, key: &str) -> bool {
        !self.entries().skip(index + 1).any(|(k, _)| k == key)
    }

    fn has_key(&self, key: &str) -> bool {
        self.entries().any(|(k, _)| k == key)
    }
}

impl Serialize for DataObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let mut map = s.serialize_map(None)?;
        for (i, (key, value)) in self.entries().enumerate() {
            if key == "_critical" || !self.is_last_with_key(i, key) {
                continue;
            }
            map.serialize_entry(key.as_str(), &Field(value))?;
        }
        let [pid, file, line, module] = SYSTEM_KEYS;
        if !self.has_key(pid) {
            map.serialize_entry(pid, &event.pid)?;
        }
        if let Some(f) = &event.code.file {
            if !self.has_key(file) {
                map.serialize_entry(file, f)?;
            }
        }
        if let Some(l) = event.code.line {
            if !self.has_key(line) {
                map.serialize_entry(line, &l)?;
            }
        }
        if let Some(m) = &event.code.module {
            if !self.has_key(module) {
                map.serialize_entry(module, m)?;
            }
        }
        map.end()
    }
}

struct Field<'a>(&'a Value);

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Str(v) | Value::Debug(v) => s.serialize_str(v),
            Value::I64(n) => s.serialize_i64(*n),
            Value::U64(n) => s.serialize_u64(*n),
            Value::F64(x) if x.is_finite() => s.serialize_f64(*x),
            Value::F64(x) => s.serialize_str(non_finite_name(*x)),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Error(chain) => s.collect_str(&JoinedChain(chain)),
            Value::Json(v) => v.serialize(s),
        }
    }
}

struct JoinedChain<'a>(&'a [String]);

impl std::fmt::Display for JoinedChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(": ")?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;
    use serde_json::json;
    use time::macros::datetime;

    fn event() -> Event {
        let mut e = Event::new(Level::Info, "user-login");
        e.timestamp = datetime!(2026-06-01 17:19:01.123456 UTC);
        e.pid = 4242;
        e
    }

    fn data(row: &Row) -> serde_json::Value {
        serde_json::from_slice(&row.data).expect("data is valid JSON")
    }

    #[test]
    fn columns_come_from_the_event() {
        let mut e = event();
        e.level = Level::Warning;
        e.func = Some("shop::payments::process_payment".into());
        e.scope = Some("order-processing".into());
        let row = RowRenderer.render(&e);
        assert_eq!(row.ts_micros, 1_780_334_341_123_456);
        assert_eq!(row.level, "warning");
        assert_eq!(row.event, "user-login");
        assert_eq!(row.func.as_deref(), Some("shop::payments::process_payment"));
        assert_eq!(row.scope.as_deref(), Some("order-processing"));
        let mut e = event();
        e.level = Level::Critical;
        let row = RowRenderer.render(&e);
        assert_eq!(row.level, "critical");
        assert_eq!(row.func, None);
        assert_eq!(row.scope, None);
    }

    #[test]
    fn data_keeps_json_types_and_adds_pid_and_code_location() {
        let mut e = event()
            .with("user_id", 123)
            .with("big", u64::MAX)
            .with("amount", 99.99)
            .with("ok", true)
            .with("username", "alice")
            .with("_replace_msg", "User {username} logged in")
            .with("_critical", true);
        e.fields
            .push(("shape".into(), Value::Debug("Point { x: 1 }".into())));
        e.fields
            .push(("extra".into(), Value::Json(json!({"a": [1, "b"]}))));
        e.code.file = Some("src/main.rs".into());
        e.code.line = Some(7);
        e.code.module = Some("shop".into());
        let row = RowRenderer.render(&e);
        assert_eq!(
            data(&row),
            json!({
                "user_id": 123, "big": u64::MAX, "amount": 99.99, "ok": true,
                "username": "alice", "_replace_msg": "User {username} logged in",
                "shape": "Point { x: 1 }", "extra": {"a": [1, "b"]},
                "pid": 4242, "code_file": "src/main.rs", "code_line": 7, "code_module": "shop"
            })
        );
    }

    #[test]
    fn own_fields_override_span_fields_and_user_pid_wins() {
        let mut e = event().with("request_id", "own").with("pid", "user-pid");
        e.context = vec![
            ("request_id".into(), Value::from("span")),
            ("tenant".into(), Value::from("outer")),
            ("tenant".into(), Value::from("inner")),
        ];
        let d = data(&RowRenderer.render(&e));
        assert_eq!(d["request_id"], "own");
        assert_eq!(d["tenant"], "inner");
        assert_eq!(d["pid"], "user-pid");
        let text = RowRenderer.render(&e).data_str().to_string();
        assert_eq!(text.matches("\"request_id\"").count(), 1);
        assert_eq!(text.matches("\"pid\"").count(), 1);
    }

    #[test]
    fn error_chain_is_joined_outermost_first() {
        let mut e = event();
        e.fields.push((
            "error".into(),
            Value::Error(vec!["payment failed".into(), "connection reset".into()]),
        ));
        assert_eq!(
            data(&RowRenderer.render(&e))["error"],
            "payment failed: connection reset"
        );
    }

    #[test]
    fn nul_becomes_replacement_character_everywhere() {
        let mut e = event().with("bad\0key", "a\0b");
        e.name = "ev\0nt".into();
        e.func = Some("f\0".into());
        e.scope = Some("\0s".into());
        e.fields
            .push(("nested".into(), Value::Json(json!({"k\u{0}": ["x\u{0}"]}))));
        let row = RowRenderer.render(&e);
        assert_eq!(row.event, "ev\u{FFFD}nt");
        assert_eq!(row.func.as_deref(), Some("f\u{FFFD}"));
        assert_eq!(row.scope.as_deref(), Some("\u{FFFD}s"));
        assert!(!row.data.contains(&0));
        assert!(!row.data_str().contains("\\u0000"));
        let d = data(&row);
        assert_eq!(d["bad\u{FFFD}key"], "a\u{FFFD}b");
        assert_eq!(d["nested"], json!({"k\u{FFFD}": ["x\u{FFFD}"]}));
    }

    #[test]
    fn other_control_characters_stay_escaped() {
        let e = event().with("s", "tab\there\u{1}\"q\"\\");
        let row = RowRenderer.render(&e);
        assert!(row.data_str().contains(r#""tab\there\u0001\"q\"\\""#));
        assert_eq!(data(&row)["s"], "tab\there\u{1}\"q\"\\");
    }

    #[test]
    fn non_finite_floats_become_strings() {
        let e = event()
            .with("nan", f64::NAN)
            .with("inf", f64::INFINITY)
            .with("ninf", f64::NEG_INFINITY)
            .with("zero", 0.0);
        let d = data(&RowRenderer.render(&e));
        assert_eq!(d["nan"], "NaN");
        assert_eq!(d["inf"], "Infinity");
        assert_eq!(d["ninf"], "-Infinity");
        assert!(d["zero"].is_f64());
    }

    #[test]
    fn render_into_reuses_and_fully_replaces_the_row() {
        let mut row = Row::default();
        let mut first = event().with("a", 1);
        first.func = Some("m::f".into());
        RowRenderer.render_into(&first, &mut row);
        let second = event().with("b", 2);
        RowRenderer.render_into(&second, &mut row);
        assert_eq!(row, RowRenderer.render(&second));
        assert_eq!(row.func, None);
        assert!(data(&row).get("a").is_none());
    }

    #[test]
    fn huge_values_are_kept_whole() {
        let big = "x".repeat(2 * 1024 * 1024);
        let d = data(&RowRenderer.render(&event().with("blob", big.clone())));
        assert_eq!(d["blob"].as_str().map(str::len), Some(big.len()));
    }
}
