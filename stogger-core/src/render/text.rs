//! Console and file lines.
//!
//! One rendering gives both forms: [`TextLine::plain`] (the file, and the
//! console when colours are off) and [`TextLine::colored`] (the console when
//! colours are on). The exact format is in `docs/output-format.md`; in short:
//!
//! ```text
//! 2026-06-01T17:19:01Z I user-login                     User alice logged in from 192.168.1.1
//! 2026-06-01T17:19:01Z I order-placed                   amount=99.99 currency='USD' customer_id=67890 order_id=12345
//! ```
//!
//! `{timestamp} {level letter} {event, left-aligned in pad_event_width} {body}`,
//! where the body is the rendered `_replace_msg` template or every visible
//! field as sorted `key=value`. Output sections (`stdout`, `stack`, ...)
//! follow on their own lines. Field values are user data: control characters
//! and terminal escape sequences in them are escaped (ESC is written `\x1b`),
//! so a value can neither start a new line nor rewrite the terminal.

use super::callsite::CallsiteCache;
use super::number::write_float;
use crate::config::TimestampPrecision;
use crate::event::{Event, Level, Value};
use crate::target::Renderer;
use std::cell::RefCell;
use std::fmt::Write as _;
use time::OffsetDateTime;

use super::escape::{push_escaped, push_escaped_with, push_quoted, push_raw};
use super::fields::{self, SystemKey, Visible};
use super::number::push_int;
use super::pad::push_fill;
use super::template::render_template_escaped_into;
use super::time::{write_iso, write_relative};
use super::translate::{template_of, Translations};
use std::sync::Arc;

/// How lines are laid out.
#[derive(Debug, Clone)]
pub(crate) struct TextOptions {
    /// Emit ANSI colours in [`TextLine::colored`].
    pub color: bool,
    /// Timestamp form.
    pub timestamp: TimestampPrecision,
    /// Width the event name is padded to.
    pub pad_event_width: usize,
    /// Append the code location, ` [src/orders.rs:42]`, after the body.
    pub show_code_info: bool,
    /// Show the event's function (`func='my_service::orders::process'`,
    /// from the innermost `#[instrument]`ed span) among the `key=value` fields.
    pub show_caller_info: bool,
    /// Start of logging, for relative timestamps.
    pub start: OffsetDateTime,
}

impl TextOptions {
    /// The layout a configuration asks for (`format.*`, `show_caller_info`),
    /// with colours as decided by the caller and relative
    /// timestamps counted from `start`.
    pub(crate) fn from_config(
        cfg: &crate::Config,
        color: bool,
        start: OffsetDateTime,
    ) -> TextOptions {
        TextOptions {
            color,
            timestamp: cfg.format.timestamp_precision,
            pad_event_width: cfg.format.pad_event_width,
            show_code_info: cfg.format.show_code_info,
            show_caller_info: cfg.show_caller_info,
            start,
        }
    }
}

/// One rendered event: the coloured console form (when colours are on) and
/// the plain form for the file. Both end with a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextLine {
    /// With ANSI codes; `None` when colours are off.
    pub colored: Option<String>,
    /// Without ANSI codes.
    pub plain: String,
}

impl TextLine {
    /// What the console writes.
    pub(crate) fn console(&self) -> &str {
        self.colored.as_deref().unwrap_or(&self.plain)
    }
}

/// How stogger lays out console and file lines, for a program that shows
/// events the same way: `stogger query` prints stored rows with it.
///
/// ```
/// use stogger_core::{Config, Event, Level, LineFormat};
/// let format = LineFormat::from_config(&Config::default());
/// let event = Event::new(Level::Info, "user-login").with("user_id", 123);
/// assert!(format.line(&event).ends_with(" I user-login                     user_id=123\n"));
/// ```
///
/// The layout is in `docs/output-format.md`. Lines are not translated.
#[derive(Debug, Clone)]
pub struct LineFormat {
    renderer: TextRenderer,
}

impl LineFormat {
    /// The layout `cfg` gives console and file lines (`format.*`,
    /// `show_caller_info`), without colours. Relative timestamps
    /// (`timestamp_precision = "relative"`) count from now.
    pub fn from_config(cfg: &crate::Config) -> LineFormat {
        let options = TextOptions::from_config(cfg, false, OffsetDateTime::now_utc());
        LineFormat {
            renderer: TextRenderer::new(options),
        }
    }

    /// Colours the lines with ANSI codes, as the console does (for a
    /// stream [`crate::color_wanted`] says should be coloured).
    pub fn color(mut self, on: bool) -> LineFormat {
        self.renderer.opts.color = on;
        self
    }

    /// The line of `event`, ending in a newline; output sections
    /// (`stdout`, `stack`, ...) follow on lines of their own.
    pub fn line(&self, event: &Event) -> String {
        let line = self.renderer.render(event);
        line.colored.unwrap_or(line.plain)
    }
}

/// Renders console and file lines.
#[derive(Debug, Clone)]
pub(crate) struct TextRenderer {
    opts: TextOptions,
    translations: Option<Arc<Translations>>,
}

impl TextRenderer {
    /// A renderer with these options.
    pub(crate) fn new(opts: TextOptions) -> Self {
        TextRenderer {
            opts,
            translations: None,
        }
    }

    /// Shows the translated message of events the translations have one
    /// for (see [`crate::render::translate`]).
    pub(crate) fn with_translations(mut self, translations: Option<Arc<Translations>>) -> Self {
        self.translations = translations;
        self
    }
}

/// ANSI SGR sequences used in [`TextLine::colored`].
pub(crate) mod ansi {
    /// Ends every coloured piece.
    pub(crate) const RESET: &str = "\x1b[0m";
    /// Timestamps, `cmd_output_line` sections and the code location.
    pub(crate) const DIM: &str = "\x1b[2m";
    /// The event name.
    pub(crate) const BOLD: &str = "\x1b[1m";
    /// Level letters `T`, `D` and `I`.
    pub(crate) const GREEN: &str = "\x1b[32m";
    /// Level letter `W`.
    pub(crate) const YELLOW: &str = "\x1b[33m";
    /// Level letters `E` and `C`.
    pub(crate) const RED: &str = "\x1b[31m";
    /// Keys in the `key=value` body.
    pub(crate) const CYAN: &str = "\x1b[36m";
    /// Values in the `key=value` body.
    pub(crate) const MAGENTA: &str = "\x1b[35m";
}

/// Keys shown as output sections after the line, never in the `key=value`
/// body, in the order they are written (`_output`, `_raw_output` and
/// `_raw_output_prefix` are hidden from the body anyway, being `_`-keys).
pub(crate) const SECTION_KEYS: &[&str] = &[
    "cmd_output_line",
    "_output",
    "_raw_output",
    "stdout",
    "stderr",
    "stack",
    "exception_traceback",
];

/// The line between a `stack` and an `exception_traceback` section: 79
/// `=`, as Python stogger writes it.
const STACK_SEPARATOR: &str =
    "===============================================================================";

/// A value shown in the `key=value` body.
#[derive(Clone, Copy)]
enum BodyValue<'a> {
    Value(&'a Value),
    /// `scope` and `func`: quoted like strings.
    Text(&'a str),
}

/// What follows the event name.
enum Body<'a> {
    Message(String),
    Fields(Vec<(&'a str, BodyValue<'a>)>),
}

/// The fields the body shows, sorted by key: the `_`-keys and section keys
/// left out, and of a key given twice the last value. Events without span
/// context, scope or shown function take their callsite's cached order
/// (see [`super::callsite`]).
fn collect_fields(event: &Event, show_func: bool) -> Vec<(&str, BodyValue<'_>)> {
    let only_fields =
        event.context.is_empty() && event.scope.is_none() && !(show_func && event.func.is_some());
    if only_fields {
        if let Some(shown) = collect_fields_planned(event) {
            return shown;
        }
    }
    collect_fields_plain(event, show_func)
}

thread_local! {
    /// Per callsite: the indices of the shown fields, in the order shown.
    static SHOWN_ORDER: RefCell<CallsiteCache<Vec<usize>>> = const { RefCell::new(CallsiteCache::new()) };
}

/// [`collect_fields`] for an event whose body is its own fields only. The
/// order is made once per callsite from the same fields
/// [`collect_fields_plain`] shows, so both paths show the same.
fn collect_fields_planned(event: &Event) -> Option<Vec<(&str, BodyValue<'_>)>> {
    SHOWN_ORDER
        .try_with(|cell| {
            let mut plans = cell.try_borrow_mut().ok()?;
            let order = plans.plan(event, || {
                let mut shown: Vec<Visible<'_>> = event.visible(fields::BODY).collect();
                shown.sort_unstable_by(|a, b| a.key.cmp(b.key));
                shown.iter().map(|v| v.index).collect()
            })?;
            Some(
                order
                    .iter()
                    .map(|&i| {
                        let (key, value) = &event.fields[i];
                        (key.as_ref(), BodyValue::Value(value))
                    })
                    .collect(),
            )
        })
        .ok()
        .flatten()
}

fn collect_fields_plain(event: &Event, show_func: bool) -> Vec<(&str, BodyValue<'_>)> {
    let mut out: Vec<(&str, BodyValue<'_>)> =
        Vec::with_capacity(event.fields.len() + event.context.len() + 2);
    let mut fields = event.visible(fields::BODY);
    out.extend(fields.by_ref().map(|v| (v.key, BodyValue::Value(v.value))));
    let taken = fields.taken();
    if let Some(scope) = event.scope.as_deref() {
        if !taken.contains(SystemKey::Scope) {
            out.push(("scope", BodyValue::Text(scope)));
        }
    }
    if show_func {
        if let Some(func) = event.func.as_deref() {
            if !taken.contains(SystemKey::Func) {
                out.push(("func", BodyValue::Text(func)));
            }
        }
    }
    out.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out
}

fn body_of<'a>(event: &'a Event, show_func: bool, template: Option<&str>) -> Body<'a> {
    match template {
        Some(template) => {
            let mut msg = String::with_capacity(template.len() + 32);
            render_template_escaped_into(&mut msg, template, event);
            Body::Message(msg)
        }
        None => Body::Fields(collect_fields(event, show_func)),
    }
}

/// Writes the plain body of a line: the rendered `_replace_msg` template
/// (escaped), or every visible field as sorted `key=value` joined by single
/// spaces, with `scope` and (when `show_func`) `func` among them. The
/// journal's `MESSAGE` and other one-line forms can reuse it.
#[cfg(test)]
pub(crate) fn write_body(out: &mut String, event: &Event, show_func: bool) {
    write_body_translated(out, event, show_func, None);
}

/// [`write_body`] with the translated message, when `translations` has one
/// for the event, in place of `_replace_msg`.
pub(crate) fn write_body_translated(
    out: &mut String,
    event: &Event,
    show_func: bool,
    translations: Option<&Translations>,
) {
    match body_of(event, show_func, template_of(event, translations)) {
        Body::Message(msg) => out.push_str(&msg),
        Body::Fields(fields) => write_fields(out, &fields, false),
    }
}

fn write_fields(out: &mut String, fields: &[(&str, BodyValue<'_>)], color: bool) {
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if color {
            out.push_str(ansi::CYAN);
            push_escaped(out, key);
            out.push_str(ansi::RESET);
            out.push('=');
            out.push_str(ansi::MAGENTA);
            write_value(out, *value);
            out.push_str(ansi::RESET);
        } else {
            push_escaped(out, key);
            out.push('=');
            write_value(out, *value);
        }
    }
}

fn write_value(out: &mut String, value: BodyValue<'_>) {
    let value = match value {
        BodyValue::Text(s) => return push_quoted(out, s),
        BodyValue::Value(v) => v,
    };
    match value {
        Value::Str(s) => push_quoted(out, s),
        Value::I64(n) => push_int(out, i128::from(*n)),
        Value::U64(n) => push_int(out, i128::from(*n)),
        Value::F64(x) => push_float(out, *x),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Error(chain) => {
            out.push('\'');
            for (i, part) in chain.iter().enumerate() {
                if i > 0 {
                    out.push_str(": ");
                }
                push_escaped_with(out, part, true, false);
            }
            out.push('\'');
        }
        Value::Debug(s) => push_escaped(out, s),
        Value::Json(j) => push_escaped(out, &j.to_string()),
    }
}

impl Renderer for TextRenderer {
    type Output = TextLine;
    fn render(&self, event: &Event) -> TextLine {
        let template = template_of(event, self.translations.as_deref());
        let body = body_of(event, self.opts.show_caller_info, template);
        let mut plain = String::with_capacity(128);
        self.write_line(&mut plain, event, &body, false);
        let colored = self.opts.color.then(|| {
            let mut colored = String::with_capacity(plain.len() + 96);
            self.write_line(&mut colored, event, &body, true);
            colored
        });
        TextLine { colored, plain }
    }
}

fn level_color(level: Level) -> &'static str {
    match level {
        Level::Trace | Level::Debug | Level::Info => ansi::GREEN,
        Level::Warning => ansi::YELLOW,
        Level::Error | Level::Critical => ansi::RED,
    }
}

impl TextRenderer {
    fn write_line(&self, out: &mut String, event: &Event, body: &Body<'_>, color: bool) {
        if color {
            out.push_str(ansi::DIM);
        }
        self.write_timestamp(out, event.timestamp);
        if color {
            out.push_str(ansi::RESET);
            out.push(' ');
            out.push_str(level_color(event.level));
            out.push(event.level.letter());
            out.push_str(ansi::RESET);
            out.push(' ');
            out.push_str(ansi::BOLD);
        } else {
            out.push(' ');
            out.push(event.level.letter());
            out.push(' ');
        }
        let name_start = out.len();
        push_escaped(out, &event.name);
        let name_width = out[name_start..].chars().count();
        if color {
            out.push_str(ansi::RESET);
        }

        let code = self.opts.show_code_info.then(|| code_info(event)).flatten();
        let body_empty = match body {
            Body::Message(m) => m.is_empty(),
            Body::Fields(f) => f.is_empty(),
        };
        if !body_empty || code.is_some() {
            push_fill(
                out,
                ' ',
                self.opts.pad_event_width.saturating_sub(name_width) + 1,
            );
            match body {
                Body::Message(m) => out.push_str(m),
                Body::Fields(f) => write_fields(out, f, color),
            }
            if let Some((file, line)) = code {
                if !body_empty {
                    out.push(' ');
                }
                if color {
                    out.push_str(ansi::DIM);
                }
                out.push('[');
                push_escaped(out, file);
                if let Some(line) = line {
                    let _ = write!(out, ":{line}");
                }
                out.push(']');
                if color {
                    out.push_str(ansi::RESET);
                }
            }
        }
        out.push('\n');
        self.write_sections(out, event, color);
    }

    fn write_timestamp(&self, out: &mut String, ts: OffsetDateTime) {
        match self.opts.timestamp {
            TimestampPrecision::Relative => write_relative(out, ts - self.opts.start),
            TimestampPrecision::Iso => write_iso(out, ts, true, true),
            TimestampPrecision::IsoSeconds => write_iso(out, ts, false, true),
            TimestampPrecision::IsoNoZ => write_iso(out, ts, false, false),
        }
    }

    fn write_sections(&self, out: &mut String, event: &Event, color: bool) {
        for key in SECTION_KEYS {
            let Some(value) = event.get(key) else {
                continue;
            };
            let text = section_text(value);
            match *key {
                "_raw_output" => {
                    let prefix = event
                        .get("_raw_output_prefix")
                        .map(section_text)
                        .unwrap_or_default();
                    for line in text.lines() {
                        let prefix = if line.is_empty() {
                            prefix.trim_end()
                        } else {
                            &prefix
                        };
                        let kept_prefix = push_raw(out, prefix, color);
                        let kept_line = push_raw(out, line, color);
                        if kept_prefix || kept_line {
                            out.push_str(ansi::RESET);
                        }
                        out.push('\n');
                    }
                }
                _ => {
                    let (prefix, dim) = match *key {
                        "cmd_output_line" => ("> ", true),
                        "stdout" => ("out: ", false),
                        "stderr" => ("err: ", false),
                        "stack" => ("stack: ", false),
                        "exception_traceback" => {
                            // Python's separator between the two blocks,
                            // only when both have a line (Python tests
                            // the stack's truth: an empty one is none).
                            let has_lines = |t: &str| t.lines().next().is_some();
                            let stack_shown = event
                                .get("stack")
                                .is_some_and(|v| has_lines(&section_text(v)));
                            if stack_shown && has_lines(&text) {
                                out.push_str(STACK_SEPARATOR);
                                out.push('\n');
                            }
                            ("exception: ", false)
                        }
                        _ => ("", false),
                    };
                    for line in text.lines() {
                        let dim = dim && color;
                        if dim {
                            out.push_str(ansi::DIM);
                        }
                        if line.is_empty() {
                            out.push_str(prefix.trim_end());
                        } else {
                            out.push_str(prefix);
                            push_escaped_with(out, line, false, true);
                        }
                        if dim {
                            out.push_str(ansi::RESET);
                        }
                        out.push('\n');
                    }
                }
            }
        }
    }
}

/// `(file, line)` of the event, when the file is known.
fn code_info(event: &Event) -> Option<(&str, Option<u32>)> {
    event.code.file.as_deref().map(|f| (f, event.code.line))
}

/// The text of a section: strings as they are, an error chain one cause per
/// line (`caused by: ...`), anything else as displayed.
fn section_text(value: &Value) -> String {
    match value {
        Value::Str(s) | Value::Debug(s) => s.clone(),
        Value::Error(chain) => chain.join("\ncaused by: "),
        other => other.to_string(),
    }
}

/// [`format_float`](super::number::format_float), written in place.
fn push_float(out: &mut String, x: f64) {
    write_float(out, x);
}

#[cfg(test)]
mod tests {
    /// Events with only their own `'static`-named fields take a cached
    /// order per callsite; the line must be exactly the plain path's.
    #[test]
    fn cached_field_order_shows_exactly_what_the_plain_path_shows() {
        use super::{TextOptions, TextRenderer, TimestampPrecision};
        use crate::event::{Event, Level, Value};
        use crate::target::Renderer;
        use std::borrow::Cow;
        let renderer = TextRenderer::new(TextOptions {
            color: true,
            timestamp: TimestampPrecision::Iso,
            pad_event_width: 10,
            show_code_info: true,
            show_caller_info: true,
            start: time::OffsetDateTime::UNIX_EPOCH,
        });
        static FIRST: &str = "user_id";
        let callsites: [&[&'static str]; 6] = [
            &[FIRST, "username", "amount", "active"],
            // Same slot as the one before, shown in the other order.
            &[FIRST, "amount"],
            &[FIRST, "zone"],
            &["b", "a", "b", "_hidden", "stdout"],
            &["z\u{e9}", "Z", "a b", "_critical"],
            &["stack", "x"],
        ];
        for round in 0..3_i64 {
            for names in callsites {
                let mut e = Event::new(Level::Info, "ev");
                e.fields = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let v = match (i as i64 + round) % 3 {
                            0 => Value::I64(round * 10 + i as i64),
                            1 => Value::Str(format!("s{round} {i}")),
                            _ => Value::F64(round as f64 + 0.5),
                        };
                        (Cow::Borrowed(*n), v)
                    })
                    .collect();
                let mut owned = e.clone();
                for (k, _) in &mut owned.fields {
                    *k = Cow::Owned(k.to_string());
                }
                let (planned, plain) = (renderer.render(&e), renderer.render(&owned));
                assert_eq!(planned.plain, plain.plain, "{names:?} round {round}");
                assert_eq!(planned.colored, plain.colored);
            }
        }
    }
}
