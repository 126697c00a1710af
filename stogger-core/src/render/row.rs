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
//! - `pid`, `code_file`, `code_lineno`, `code_module` are added unless a field
//!   of the same name exists (then the field is kept);
//! - types are kept: integers and floats stay JSON numbers, booleans stay
//!   booleans; an error is stored as its `source()` chain joined by `": "`
//!   (outermost first, as in the JSON file format); `?debug` values are
//!   strings;
//! - PostgreSQL refuses NUL in `TEXT` and `\u0000` in `JSONB`: every NUL
//!   character, in any string or key, columns and `data` alike, becomes
//!   U+FFFD (`�`); non-finite floats become the strings `"NaN"`,
//!   `"Infinity"` and `"-Infinity"`. No value can make a row fail.

use super::callsite::CallsiteCache;
use super::fields::{self, SystemKey, Taken, Visible};
use super::number::non_finite_name;
use crate::event::{Event, Value};
use crate::target::Renderer;
use std::borrow::Cow;
use std::cell::RefCell;
use std::io;

/// The replacement for NUL characters (U+FFFD REPLACEMENT CHARACTER).
pub(crate) const NUL_REPLACEMENT: char = '\u{FFFD}';

/// One rendered row, owned. `data` is a JSON object as UTF-8 bytes, safe
/// for `JSONB`; every string is free of NUL characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
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
    #[cfg(test)]
    pub(crate) fn data_str(&self) -> &str {
        // Always valid UTF-8: serde_json writes UTF-8 and the fallback is ASCII.
        std::str::from_utf8(&self.data).unwrap_or("{}")
    }
}

/// Renders [`Row`]s. [`RowRenderer::render_into`] reuses a row's buffers,
/// which is what the PostgreSQL target does on its hot path.
#[derive(Debug, Default, Clone)]
pub(crate) struct RowRenderer;

impl RowRenderer {
    /// A row renderer.
    pub(crate) fn new() -> Self {
        RowRenderer
    }

    /// Renders `event` into `row`, reusing its allocations.
    pub(crate) fn render_into(&self, event: &Event, row: &mut Row) {
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
    // Seconds and microseconds apart: no 128-bit division per event.
    let t = event.timestamp;
    t.unix_timestamp()
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(t.microsecond()))
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
///
/// Written by hand rather than through serde: this runs once per event on
/// the caller's thread (BENCHMARKS.md has what that saves). Only structured
/// [`Value::Json`] values go through serde_json (with a formatter that also
/// turns NUL into U+FFFD).
pub(crate) fn write_data(event: &Event, out: &mut Vec<u8>) {
    let mut obj = ObjectWriter::new(out);
    let taken = match write_fields_planned(event, &mut obj) {
        Some(taken) => taken,
        None => {
            let mut fields = event.visible(fields::STORED);
            for Visible { key, value, .. } in &mut fields {
                obj.key(key);
                write_value(value, obj.out);
            }
            fields.taken()
        }
    };
    match TailKey::of(event).filter(|_| taken.code_tail_free()) {
        Some(key) => write_code_tail_cached(key, event, &mut obj),
        None => write_code_tail(event, taken, &mut obj),
    }
    obj.end();
}

/// The keys of one callsite's fields, rendered once (see
/// [`super::callsite`]): which fields are written (duplicates and
/// `_critical` are not) and each one's `"key":` text.
struct KeyPlan {
    /// The `"key":` texts, back to back.
    keys: Vec<u8>,
    /// Per field, its text in `keys`; None for a field not written.
    spans: Vec<Option<(usize, usize)>>,
    /// The code tail's keys a field takes.
    taken: Taken,
}

impl KeyPlan {
    /// The plan of an event without span fields (indices are its own fields').
    fn of(event: &Event) -> KeyPlan {
        let mut keys = Vec::new();
        let mut spans = vec![None; event.fields.len()];
        let mut fields = event.visible(fields::STORED);
        for Visible { index, key, .. } in &mut fields {
            let start = keys.len();
            ObjectWriter::entries(&mut keys).key(key);
            spans[index] = Some((start, keys.len()));
        }
        KeyPlan {
            keys,
            spans,
            taken: fields.taken(),
        }
    }
}

thread_local! {
    static KEY_PLANS: RefCell<CallsiteCache<KeyPlan>> = const { RefCell::new(CallsiteCache::new()) };
}

/// Writes the fields of an event without span context through its
/// callsite's [`KeyPlan`]; None (nothing written) when there is none.
fn write_fields_planned(event: &Event, obj: &mut ObjectWriter<'_>) -> Option<Taken> {
    if !event.context.is_empty() {
        return None;
    }
    KEY_PLANS
        .try_with(|cell| {
            let mut plans = cell.try_borrow_mut().ok()?;
            let plan = plans.plan(event, || KeyPlan::of(event))?;
            for ((_, value), span) in event.fields.iter().zip(&plan.spans) {
                if let Some((start, end)) = *span {
                    obj.raw_key(&plan.keys[start..end]);
                    write_value(value, obj.out);
                }
            }
            Some(plan.taken)
        })
        .ok()
        .flatten()
}

/// Writes the entries `pid`, `code_file`, `code_lineno` and `code_module`
/// (those no field has `taken`).
fn write_code_tail(event: &Event, taken: Taken, obj: &mut ObjectWriter<'_>) {
    if !taken.contains(SystemKey::Pid) {
        obj.key("pid");
        write_u64(u64::from(event.pid), obj.out);
    }
    if let (Some(file), false) = (&event.code.file, taken.contains(SystemKey::CodeFile)) {
        obj.key("code_file");
        write_str(file, obj.out);
    }
    if let (Some(line), false) = (event.code.line, taken.contains(SystemKey::CodeLineno)) {
        obj.key("code_lineno");
        write_u64(u64::from(line), obj.out);
    }
    if let (Some(module), false) = (&event.code.module, taken.contains(SystemKey::CodeModule)) {
        obj.key("code_module");
        write_str(module, obj.out);
    }
}

/// What the code tail of an event depends on, when it can be cached: the
/// addresses of its `'static` file and module names (never freed, never
/// changed, so the address stands for the text), the line and the pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TailKey {
    file: (usize, usize),
    module: (usize, usize),
    line: Option<u32>,
    pid: u32,
}

impl TailKey {
    /// The key of `event`'s tail; None when its file or module name is
    /// owned (from a `log` record), as an owned string's address may be
    /// reused for other text.
    fn of(event: &Event) -> Option<TailKey> {
        fn addr(name: &Option<Cow<'static, str>>) -> Option<(usize, usize)> {
            match name {
                None => Some((0, 0)),
                Some(Cow::Borrowed(s)) => Some((s.as_ptr() as usize, s.len())),
                Some(Cow::Owned(_)) => None,
            }
        }
        Some(TailKey {
            file: addr(&event.code.file)?,
            module: addr(&event.code.module)?,
            line: event.code.line,
            pid: event.pid,
        })
    }

    fn slot(&self) -> usize {
        let h = (self.file.0 as u64)
            ^ (u64::from(self.line.unwrap_or(0)) << 40)
            ^ (self.module.0 as u64).rotate_left(21);
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TAIL_SLOTS.trailing_zeros())) as usize
    }
}

/// Slots of the per-thread code tail cache (a power of two).
const TAIL_SLOTS: usize = 64;

thread_local! {
    /// Rendered code tails by callsite, direct-mapped: a tail (four keys,
    /// two escaped strings, two numbers) is the same bytes for every event
    /// of one callsite, so it is written once per callsite.
    static TAILS: RefCell<Vec<(Option<TailKey>, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// [`write_code_tail`] through the per-thread cache.
fn write_code_tail_cached(key: TailKey, event: &Event, obj: &mut ObjectWriter<'_>) {
    let cached = TAILS.try_with(|cell| {
        let Ok(mut tails) = cell.try_borrow_mut() else {
            return false;
        };
        if tails.is_empty() {
            tails.resize_with(TAIL_SLOTS, || (None, Vec::new()));
        }
        let (slot_key, bytes) = &mut tails[key.slot()];
        if *slot_key != Some(key) {
            bytes.clear();
            write_code_tail(event, Taken::default(), &mut ObjectWriter::entries(bytes));
            *slot_key = Some(key);
        }
        obj.raw_entries(bytes);
        true
    });
    if cached != Ok(true) {
        write_code_tail(event, Taken::default(), obj);
    }
}

/// Keys up to this length without characters to escape are written from a
/// stack buffer in one copy.
const PLAIN_KEY_MAX: usize = 60;

/// Writes `{`, then `"key":` with commas between entries, then `}`.
struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    /// A writer of entries only (no braces), for a fragment to splice in
    /// with [`ObjectWriter::raw_entries`].
    fn entries(out: &'a mut Vec<u8>) -> Self {
        ObjectWriter { out, first: true }
    }

    fn key(&mut self, key: &str) {
        let bytes = key.as_bytes();
        // Keys are nearly always plain names: `,"name":` in one copy.
        if bytes.len() <= PLAIN_KEY_MAX && first_escape(bytes).is_none() {
            let mut buf = [0u8; PLAIN_KEY_MAX + 4];
            let start = usize::from(self.first);
            buf[0] = b',';
            buf[1] = b'"';
            buf[2..2 + bytes.len()].copy_from_slice(bytes);
            buf[2 + bytes.len()..4 + bytes.len()].copy_from_slice(b"\":");
            self.out.extend_from_slice(&buf[start..4 + bytes.len()]);
        } else {
            if !self.first {
                self.out.push(b',');
            }
            write_str(key, self.out);
            self.out.push(b':');
        }
        self.first = false;
    }

    /// Writes a key rendered by [`ObjectWriter::key`] on an
    /// [`ObjectWriter::entries`] writer that wrote nothing before it (so
    /// without a leading comma).
    fn raw_key(&mut self, key: &[u8]) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.extend_from_slice(key);
    }

    /// Appends entries rendered by an [`ObjectWriter::entries`] writer.
    fn raw_entries(&mut self, entries: &[u8]) {
        if entries.is_empty() {
            return;
        }
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.extend_from_slice(entries);
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(v) | Value::Debug(v) => write_str(v, out),
        Value::I64(n) => write_i64(*n, out),
        Value::U64(n) => write_u64(*n, out),
        Value::F64(x) => write_f64(*x, out),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Error(chain) => {
            out.push(b'"');
            for (i, part) in chain.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b": ");
                }
                write_str_body(part, out);
            }
            out.push(b'"');
        }
        Value::Json(v) => {
            let start = out.len();
            let mut ser = serde_json::Serializer::with_formatter(&mut *out, NulSafe);
            if serde::Serialize::serialize(v, &mut ser).is_err() {
                // Not reachable for a serde_json::Value (string keys, finite
                // numbers); a row must still be written.
                out.truncate(start);
                out.extend_from_slice(b"null");
            }
        }
    }
}

fn write_u64(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn write_i64(n: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn write_f64(x: f64, out: &mut Vec<u8>) {
    if x.is_finite() {
        // Shortest round-trip digits, `1.0` for integral values: what
        // serde_json writes (it formats finite floats with zmij too).
        out.extend_from_slice(zmij::Buffer::new().format_finite(x).as_bytes());
    } else {
        out.push(b'"');
        out.extend_from_slice(non_finite_name(x).as_bytes());
        out.push(b'"');
    }
}

/// A JSON string: quoted, escaped, NUL as U+FFFD.
fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    write_str_body(s, out);
    out.push(b'"');
}

/// The inside of a JSON string. Only `"`, `\` and control characters need
/// escapes (all of them ASCII, so slicing at them keeps UTF-8 intact); NUL,
/// which JSONB refuses even escaped, becomes U+FFFD. Most strings (keys,
/// names, paths) need none: they are one search and one copy.
fn write_str_body(s: &str, out: &mut Vec<u8>) {
    let mut rest = s.as_bytes();
    while let Some(i) = first_escape(rest) {
        out.extend_from_slice(&rest[..i]);
        match rest[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0 => out.extend_from_slice(NUL_REPLACEMENT_UTF8),
            b => out.extend_from_slice(&control_escape(b)),
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// `\u00XX` for an ASCII control byte.
fn control_escape(b: u8) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 0xF)],
    ]
}

/// Index of the first byte of `bytes` that needs an escape. Skips eight
/// bytes at a time while none of them does.
fn first_escape(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut skipped = 0;
    for chunk in words.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        if any_needs_escape(word) {
            break;
        }
        skipped += 8;
    }
    bytes[skipped..]
        .iter()
        .position(|&b| NEEDS_ESCAPE[usize::from(b)])
        .map(|i| skipped + i)
}

/// Bytes that need an escape in a JSON string: controls, `"` and `\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Whether any of the eight bytes in `word` is below 0x20, `"` or `\`
/// (the classic "has a zero byte" bit trick; exact for "any").
fn any_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = has_zero(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
    (below_space | quote | backslash) != 0
}

/// U+FFFD as UTF-8.
const NUL_REPLACEMENT_UTF8: &[u8] = "\u{FFFD}".as_bytes();

/// A compact JSON formatter that writes NUL as U+FFFD instead of `\u0000`
/// (for structured [`Value::Json`] values).
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
            CharEscape::AsciiControl(0) => NUL_REPLACEMENT_UTF8,
            CharEscape::AsciiControl(byte) => {
                return writer.write_all(&control_escape(byte));
            }
        };
        writer.write_all(s)
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
        e.level = Level::Trace;
        assert_eq!(RowRenderer.render(&e).level, "trace");
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
        e.fields.push((
            "extra".into(),
            Value::Json(Box::new(json!({"a": [1, "b"]}))),
        ));
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
                "pid": 4242, "code_file": "src/main.rs", "code_lineno": 7, "code_module": "shop"
            })
        );
    }

    /// The code tail is cached per callsite; every part of its key must
    /// count, and a field overriding a tail key must still win.
    #[test]
    fn cached_code_tails_follow_line_pid_names_and_overrides() {
        static FILE: &str = "src/orders.rs";
        let at = |line: u32, pid: u32, module: Cow<'static, str>| {
            let mut e = event();
            e.pid = pid;
            e.code.file = Some(Cow::Borrowed(FILE));
            e.code.line = Some(line);
            e.code.module = Some(module);
            e
        };
        let tail = |e: &Event| {
            let d = data(&RowRenderer.render(e));
            (
                d["pid"].clone(),
                d["code_lineno"].clone(),
                d["code_module"].clone(),
            )
        };
        let m = || Cow::Borrowed("orders");
        for _ in 0..2 {
            assert_eq!(
                tail(&at(10, 1, m())),
                (json!(1), json!(10), json!("orders"))
            );
            assert_eq!(
                tail(&at(11, 1, m())),
                (json!(1), json!(11), json!("orders"))
            );
            assert_eq!(
                tail(&at(10, 2, m())),
                (json!(2), json!(10), json!("orders"))
            );
            let owned = at(10, 1, Cow::Owned("log_module".to_string()));
            assert_eq!(tail(&owned), (json!(1), json!(10), json!("log_module")));
            let overriding = at(10, 1, m()).with("code_lineno", "mine");
            assert_eq!(
                tail(&overriding),
                (json!(1), json!("mine"), json!("orders"))
            );
            let text = RowRenderer.render(&overriding).data_str().to_string();
            assert_eq!(text.matches("\"code_lineno\"").count(), 1, "{text}");
        }
        // No location at all: only the pid.
        let mut bare = event();
        bare.code = Default::default();
        assert_eq!(RowRenderer.render(&bare).data_str(), r#"{"pid":4242}"#);
        assert_eq!(RowRenderer.render(&bare).data_str(), r#"{"pid":4242}"#);
    }

    /// Events whose field names are tracing's `'static` names go through a
    /// per-callsite key plan; the result must be exactly what the plain
    /// path writes for the same event with owned names.
    #[test]
    fn key_plans_write_exactly_what_the_plain_path_writes() {
        fn borrowed(names: &[&'static str], values: &[Value]) -> Event {
            let mut e = event();
            e.fields = names
                .iter()
                .zip(values)
                .map(|(n, v)| (Cow::Borrowed(*n), v.clone()))
                .collect();
            e
        }
        fn owned(e: &Event) -> Event {
            let mut o = e.clone();
            for (k, _) in &mut o.fields {
                *k = Cow::Owned(k.to_string());
            }
            o
        }
        // Same first name (one address), same count: the same cache slot,
        // so the plan of one must not be taken for the other.
        static FIRST: &str = "user_id";
        let callsites: [&[&'static str]; 7] = [
            &[FIRST, "username", "amount"],
            &[FIRST, "username"],
            &[FIRST, "order_id"],
            &["a", "b", "a"],
            &["_critical", "pid", "code_lineno", "x"],
            &["quo\"te", "back\\slash", "tab\tkey", "nul\0"],
            &["_replace_msg", "n"],
        ];
        for round in 0..3 {
            for names in callsites {
                let values: Vec<Value> = (0..names.len())
                    .map(|i| match (i + round) % 3 {
                        0 => Value::I64(i as i64 * 7 - round as i64),
                        1 => Value::Str(format!("v{round}\"{i}")),
                        _ => Value::Bool(round % 2 == 0),
                    })
                    .collect();
                let e = borrowed(names, &values);
                let planned = RowRenderer.render(&e).data_str().to_string();
                let plain = RowRenderer.render(&owned(&e)).data_str().to_string();
                assert_eq!(planned, plain, "{names:?} round {round}");
                serde_json::from_str::<serde_json::Value>(&planned).expect("valid JSON");
            }
        }
        // A field that overrides a code-tail key wins through the plan too.
        let e = borrowed(&["code_lineno", "x"], &[Value::from("mine"), Value::I64(1)]);
        let d = data(&RowRenderer.render(&e));
        assert_eq!(
            (d["code_lineno"].clone(), d["x"].clone()),
            (json!("mine"), json!(1))
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
    fn many_fields_with_duplicates_render_like_few() {
        // Above SMALL entries the duplicate check uses a map: same output,
        // same order (each key where its last entry is) as the linear scan.
        let mut e = event().with("k3", "own").with("pid", "user-pid");
        e.context = (0..20)
            .map(|i| (format!("k{i}").into(), Value::from(i as i64)))
            .collect();
        e.context.push(("k7".into(), Value::from("inner")));
        let text = RowRenderer.render(&e).data_str().to_string();
        let mut want: Vec<String> = (0..20)
            .filter(|i| *i != 3 && *i != 7)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect();
        want.push("\"k7\":\"inner\"".into());
        want.push("\"k3\":\"own\"".into());
        want.push("\"pid\":\"user-pid\"".into());
        assert_eq!(text, format!("{{{}}}", want.join(",")));
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
        e.fields.push((
            "nested".into(),
            Value::Json(Box::new(json!({"k\u{0}": ["x\u{0}"]}))),
        ));
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
    fn every_character_survives_the_round_trip_except_nul() {
        let all: String = (1u32..0x800).filter_map(char::from_u32).collect();
        let e = event()
            .with(all.as_str(), all.as_str())
            .with("neg", i64::MIN)
            .with("tiny", 1e-300)
            .with("whole", 2.0);
        let row = RowRenderer.render(&e);
        let d = data(&row);
        assert_eq!(d[all.as_str()], all.as_str());
        assert_eq!(d["neg"], i64::MIN);
        assert_eq!(d["tiny"], 1e-300);
        assert!(
            row.data_str().contains(r#""whole":2.0"#),
            "{}",
            row.data_str()
        );
    }

    #[test]
    fn the_word_check_finds_every_byte_that_needs_an_escape() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for pos in 0..8 {
                let mut word = *b"abcdefgh";
                word[pos] = special;
                assert!(
                    any_needs_escape(u64::from_le_bytes(word)),
                    "{special} at {pos}"
                );
            }
        }
        for plain in (0x20u8..=0xff).filter(|b| *b != b'"' && *b != b'\\') {
            assert!(!any_needs_escape(u64::from_le_bytes([plain; 8])), "{plain}");
        }
        let text = "a long value with a \"quote\" and a\ttab and \\ backslash, 8+ bytes";
        let row = RowRenderer.render(&event().with("k", text));
        assert_eq!(data(&row)["k"], text);
    }

    #[test]
    fn finite_floats_are_written_as_serde_json_writes_them() {
        for x in [
            0.0,
            -0.0,
            1.0,
            0.25,
            1e21,
            1.5e-7,
            123456789.125,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let mut out = Vec::new();
            write_f64(x, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&x).unwrap()
            );
        }
    }

    #[test]
    fn timestamps_before_1970_round_down_to_the_microsecond() {
        let mut e = event();
        e.timestamp = datetime!(1969-12-31 23:59:59.999999 UTC);
        assert_eq!(RowRenderer.render(&e).ts_micros, -1);
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
