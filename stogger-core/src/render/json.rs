//! `log_format = "json"`: one compact JSON object per event, one per line.
//!
//! ```text
//! {"timestamp":"2026-06-01T17:19:01.123456Z","level":"info","event":"user-login","message":"User alice logged in","user_id":123,"username":"alice","pid":4242,"code_file":"src/main.rs","code_lineno":7,"code_module":"shop"}
//! ```
//!
//! Keys, in this order:
//!
//! | key | when | value |
//! |---|---|---|
//! | `timestamp` | always | RFC 3339, UTC, microseconds, `Z` |
//! | `level` | always | `trace` `debug` `info` `warning` `error` `critical` |
//! | `event` | always | the event name |
//! | `message` | the event has `_replace_msg` | the rendered template |
//! | `scope`, `func` | the event has one | the log scope, the instrumented function |
//! | every visible field | | span context, then the event's own fields (an own field overrides a span field of the same name, in the span field's place), with their JSON types |
//! | `pid`, `code_file`, `code_lineno`, `code_module` | known, and no field has that name | process id and source location |
//!
//! Field values keep their types: integers and floats are JSON numbers,
//! booleans are `true`/`false`, JSON values are written as they are; NaN
//! and the infinities become the strings `"NaN"`, `"Infinity"`,
//! `"-Infinity"`; an error is its `source()` chain joined by `": "`; a
//! `?debug` value is its `Debug` text. Keys starting with `_` never appear.
//! A field named `timestamp`, `level`, `event` (or `message`, `scope`,
//! `func`, when the event writes that key itself) is written as
//! `field_<name>` (with one more `field_` while another field has that name
//! too), so every key appears once. Strings are escaped as JSON
//! requires (control characters as `\n`, `\u001b`, ...), and so are DEL,
//! the C1 controls and the invisible characters that reorder or hide text
//! ([`crate::render::escape::is_unprintable`], as `\u007f`, `\u202e`, ...): one
//! event is always one line, and `cat`ting the file cannot drive a terminal.

use super::escape::is_unprintable;
use super::fields::{self, SystemKey, Visible};
use super::number::non_finite_name;
use super::template::render_template;
use super::time::write_iso;
use super::translate::{template_of, Translations};
use crate::event::{Event, Value};
use crate::target::Renderer;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::ser::Formatter;
use std::io;
use std::sync::Arc;

/// Renders one JSON object per line.
#[derive(Debug, Default, Clone)]
pub(crate) struct JsonRenderer {
    translations: Option<Arc<Translations>>,
}

impl JsonRenderer {
    /// A JSON renderer.
    pub(crate) fn new() -> Self {
        JsonRenderer::default()
    }

    /// `message` is the translated sentence of events the translations
    /// have one for (see [`crate::render::translate`]).
    pub(crate) fn with_translations(mut self, translations: Option<Arc<Translations>>) -> Self {
        self.translations = translations;
        self
    }
}

impl Renderer for JsonRenderer {
    type Output = String;
    fn render(&self, event: &Event) -> String {
        let mut buf = Vec::with_capacity(256);
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, SafeFormatter);
        let template = template_of(event, self.translations.as_deref());
        if (JsonEvent { event, template }).serialize(&mut ser).is_err() {
            // Serialising into memory cannot fail for these types; keep a
            // valid line anyway.
            buf.clear();
            buf.extend_from_slice(b"{}");
        }
        buf.push(b'\n');
        String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

struct JsonEvent<'a> {
    event: &'a Event,
    /// The message template: the translation, or `_replace_msg`.
    template: Option<&'a str>,
}

/// Compact JSON that also escapes what serde_json writes raw but a terminal
/// would act on (see the module docs).
struct SafeFormatter;

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.bytes().all(|b| b < 0x7f) {
            return writer.write_all(fragment.as_bytes()); // serde_json escaped C0 already
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unprintable(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// A field value with its JSON type, serialised without building a `serde_json::Value`.
struct JsonValue<'a>(&'a Value);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Str(v) | Value::Debug(v) => s.serialize_str(v),
            Value::I64(n) => s.serialize_i64(*n),
            Value::U64(n) => s.serialize_u64(*n),
            Value::F64(x) if x.is_finite() => s.serialize_f64(*x),
            Value::F64(x) => s.serialize_str(non_finite_name(*x)),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Error(chain) => s.serialize_str(&chain.join(": ")),
            Value::Json(v) => v.serialize(s),
        }
    }
}

impl Serialize for JsonEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let event = self.event;
        let mut map = s.serialize_map(None)?;
        let mut ts = String::with_capacity(27);
        write_iso(&mut ts, event.timestamp, true, true);
        map.serialize_entry("timestamp", &ts)?;
        map.serialize_entry("level", event.level.as_str())?;
        map.serialize_entry("event", &event.name)?;
        let template = self.template;
        if let Some(template) = template {
            map.serialize_entry("message", &render_template(template, event))?;
        }
        if let Some(scope) = &event.scope {
            map.serialize_entry("scope", scope)?;
        }
        if let Some(func) = &event.func {
            map.serialize_entry("func", func)?;
        }
        let written_before = |key: &str| match key {
            "timestamp" | "level" | "event" => true,
            "message" => template.is_some(),
            "scope" => event.scope.is_some(),
            "func" => event.func.is_some(),
            _ => false,
        };
        let mut fields = event.visible(fields::VISIBLE);
        // Names given to renamed fields so far (rare: only for a field
        // that has one of stogger's own names).
        let mut renamed: Vec<String> = Vec::new();
        for Visible { key, value, .. } in &mut fields {
            if written_before(key) {
                // `field_<name>`, with one more `field_` while another
                // field has that name too: every key appears once. The
                // other fields are looked at again only here, so the
                // common event allocates nothing for this.
                let mut name = format!("field_{key}");
                while event.visible(fields::VISIBLE).any(|f| f.key == name)
                    || renamed.contains(&name)
                {
                    name.insert_str(0, "field_");
                }
                map.serialize_entry(&name, &JsonValue(value))?;
                renamed.push(name);
            } else {
                map.serialize_entry(key, &JsonValue(value))?;
            }
        }
        let taken = fields.taken();
        if !taken.contains(SystemKey::Pid) {
            map.serialize_entry("pid", &event.pid)?;
        }
        if let (Some(v), false) = (&event.code.file, taken.contains(SystemKey::CodeFile)) {
            map.serialize_entry("code_file", v)?;
        }
        if let (Some(v), false) = (&event.code.line, taken.contains(SystemKey::CodeLineno)) {
            map.serialize_entry("code_lineno", v)?;
        }
        if let (Some(v), false) = (&event.code.module, taken.contains(SystemKey::CodeModule)) {
            map.serialize_entry("code_module", v)?;
        }
        map.end()
    }
}
