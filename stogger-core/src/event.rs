//! The event model every renderer reads: one structured log event, with its
//! fields in the order they were written and with their types kept.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use time::OffsetDateTime;

/// Severity of an event. `Critical` has no tracing level of its own: it is an
/// `ERROR` event marked with the field `_critical = true` (see [`crate::critical!`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The finest detail (tracing's `TRACE`); off unless a filter enables it.
    Trace,
    /// Diagnostic detail, shown only with `verbose` (or a filter that enables it).
    Debug,
    /// Normal operation (the default minimum).
    Info,
    /// Something unexpected that the service survived.
    Warning,
    /// An operation failed.
    Error,
    /// The service cannot go on as it should.
    Critical,
}

impl Level {
    /// Every level, least severe first.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ];

    /// Lowercase name as stored in PostgreSQL and JSON (`warning`, not `warn`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }

    /// The one-letter form used in console and file lines.
    pub(crate) fn letter(self) -> char {
        match self {
            Level::Trace => 'T',
            Level::Debug => 'D',
            Level::Info => 'I',
            Level::Warning => 'W',
            Level::Error => 'E',
            Level::Critical => 'C',
        }
    }

    /// syslog priority as used by the journal (`PRIORITY=`).
    pub fn syslog_priority(self) -> u8 {
        match self {
            Level::Critical => 2,
            Level::Error => 3,
            Level::Warning => 4,
            Level::Info => 6,
            Level::Debug | Level::Trace => 7,
        }
    }

    /// Parses the names accepted in configuration and on the command line.
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Some(Level::Trace),
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warning" | "warn" => Some(Level::Warning),
            "error" => Some(Level::Error),
            "critical" | "crit" | "fatal" => Some(Level::Critical),
            _ => None,
        }
    }

    /// Maps a tracing level (`ERROR` is `Error`: an event becomes `Critical`
    /// by its `_critical` field, not by its level).
    pub(crate) fn from_tracing(level: &tracing::Level) -> Level {
        match *level {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warning,
            tracing::Level::ERROR => Level::Error,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field value with its type kept, so that numbers stay numbers in JSON,
/// in PostgreSQL's `data` column and in format specs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Str(String),
    /// Signed integer.
    I64(i64),
    /// Unsigned integer.
    U64(u64),
    /// Floating point number (may be NaN or infinite: each renderer says what it does then).
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// An error and its `source()` chain, outermost first.
    Error(Vec<String>),
    /// A value recorded with `?value`: its `Debug` form.
    Debug(String),
    /// A structured JSON value (objects and arrays from `stogger emit`, for
    /// example). Boxed: it is rare, and unboxed it would make every value
    /// (and every field an event collects) more than twice as large.
    Json(Box<serde_json::Value>),
}

impl Value {
    /// The value as JSON. Non-finite floats become the strings `"NaN"`,
    /// `"Infinity"` and `"-Infinity"` (JSON has no such numbers); an error chain
    /// becomes its messages joined by `": "`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) | Value::Debug(s) => serde_json::Value::String(s.clone()),
            Value::I64(n) => (*n).into(),
            Value::U64(n) => (*n).into(),
            Value::F64(x) => match serde_json::Number::from_f64(*x) {
                Some(n) => serde_json::Value::Number(n),
                None => serde_json::Value::String(crate::render::non_finite_name(*x).to_string()),
            },
            Value::Bool(b) => (*b).into(),
            Value::Error(chain) => serde_json::Value::String(chain.join(": ")),
            Value::Json(v) => (**v).clone(),
        }
    }

    /// The string inside, when the value is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// Plain display: strings unquoted, floats as Python prints them (`99.99`, `1.0`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) | Value::Debug(s) => f.write_str(s),
            Value::I64(n) => write!(f, "{n}"),
            Value::U64(n) => write!(f, "{n}"),
            Value::F64(x) => f.write_str(&crate::render::format_float(*x)),
            Value::Bool(true) => f.write_str("true"),
            Value::Bool(false) => f.write_str("false"),
            Value::Error(chain) => f.write_str(&chain.join(": ")),
            Value::Json(v) => write!(f, "{v}"),
        }
    }
}

/// `Value::from(x)` for the types a field value usually has; `usize`
/// widens to `u64` (no platform has a wider one).
macro_rules! value_from {
    ($($t:ty => |$v:ident| $make:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $make
            }
        }
    )*};
}

value_from! {
    &str => |s| Value::Str(s.to_string()),
    String => |s| Value::Str(s),
    i64 => |n| Value::I64(n),
    i32 => |n| Value::I64(n.into()),
    u64 => |n| Value::U64(n),
    u32 => |n| Value::U64(n.into()),
    usize => |n| Value::U64(n as u64),
    f64 => |x| Value::F64(x),
    bool => |b| Value::Bool(b),
}

/// Where in the source an event was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodeLocation {
    /// Source file, as the compiler names it (borrowed from tracing's
    /// `'static` metadata for tracing events, owned otherwise).
    pub file: Option<Cow<'static, str>>,
    /// Line in that file.
    pub line: Option<u32>,
    /// Module path (`my_service::orders`), borrowed or owned like `file`.
    pub module: Option<Cow<'static, str>>,
}

/// One structured log event, as every target sees it: what
/// [`testing::Capture`](crate::testing::Capture) records, and what
/// [`emit`](crate::emit) sends for events built at run time.
///
/// Build one with [`Event::new`] and the `with*` methods; read it with the
/// accessors. (The fields are private so that the model can grow without
/// breaking code that reads it.)
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When the event was created, UTC, microsecond precision.
    pub(crate) timestamp: OffsetDateTime,
    pub(crate) level: Level,
    /// The event id: the tracing message (`"user-login"`).
    pub(crate) name: String,
    /// The event's own fields in the order written, `_`-keys included
    /// (renderers decide what to show). Names come from tracing's `'static`
    /// metadata without a copy; dynamic names (`stogger emit`,
    /// `LogScope::add`, [`Event::with`]) are owned.
    pub(crate) fields: Vec<(FieldName, Value)>,
    /// Fields of the enclosing spans, outermost first (context).
    pub(crate) context: Vec<(FieldName, Value)>,
    /// Name of the innermost [`crate::log_scope`] around the event.
    pub(crate) scope: Option<String>,
    /// `<module path>::<function>` of the innermost instrumented span.
    pub(crate) func: Option<String>,
    pub(crate) pid: u32,
    pub(crate) code: CodeLocation,
    /// The tracing target (module path by default); used to keep stogger's
    /// own dependencies from logging into the target that runs them.
    pub(crate) target: Cow<'static, str>,
}

/// A field name: borrowed when it comes from tracing's `'static` metadata
/// (no allocation per event), owned when it is made at run time.
pub type FieldName = Cow<'static, str>;

impl Event {
    /// A new event stamped with the current time and this process's id.
    pub fn new(level: Level, name: impl Into<String>) -> Event {
        Event {
            timestamp: now_micros(),
            level,
            name: name.into(),
            fields: Vec::new(),
            context: Vec::new(),
            scope: None,
            func: None,
            pid: pid(),
            code: CodeLocation::default(),
            target: Cow::Borrowed("stogger"),
        }
    }

    /// stogger's own warning that the file or socket at `path` could not
    /// be used: the event `name` with the path under `path_key` and the
    /// `error`. The caller adds the sentence (`_replace_msg`).
    pub(crate) fn path_failure(
        name: &str,
        path_key: &str,
        path: &std::path::Path,
        error: impl fmt::Display,
    ) -> Event {
        Event::new(Level::Warning, name)
            .with(path_key, path.display().to_string())
            .with("error", error.to_string())
    }

    /// Adds a field (builder style).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Event {
        self.fields.push((Cow::Owned(key.into()), value.into()));
        self
    }

    /// Adds a field of an enclosing span (builder style; call it outermost
    /// span first): what [`Event::span_fields`] returns, and what an own
    /// field of the same name overrides.
    pub fn with_span_field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Event {
        self.context.push((Cow::Owned(key.into()), value.into()));
        self
    }

    /// Sets when the event happened (a stored row's time, for example);
    /// [`Event::new`] stamps the current time.
    pub fn with_timestamp(mut self, timestamp: OffsetDateTime) -> Event {
        self.timestamp = timestamp;
        self
    }

    /// Sets the log scope the event belongs to (see [`log_scope()`](fn@crate::log_scope)).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Event {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the function the event comes from (`<module path>::<function>`).
    pub fn with_func(mut self, func: impl Into<String>) -> Event {
        self.func = Some(func.into());
        self
    }

    /// Sets the process id; [`Event::new`] stamps this process's.
    pub fn with_pid(mut self, pid: u32) -> Event {
        self.pid = pid;
        self
    }

    /// Sets where in the source the event was written.
    pub fn with_code_location(mut self, code: CodeLocation) -> Event {
        self.code = code;
        self
    }

    /// Sets the target (a module path, as tracing's): what filter
    /// directives match. [`Event::new`] sets `stogger`.
    pub fn with_target(mut self, target: impl Into<String>) -> Event {
        self.target = Cow::Owned(target.into());
        self
    }

    /// When the event happened, UTC, microsecond precision.
    pub fn timestamp(&self) -> OffsetDateTime {
        self.timestamp
    }

    /// Its severity.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The event id: the tracing message (`"user-login"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event's own fields in the order written, `_`-keys included.
    /// Names from tracing's metadata are borrowed (no copy per event);
    /// names made at run time are owned.
    pub fn fields(&self) -> &[(FieldName, Value)] {
        &self.fields
    }

    /// The fields of the spans around the event, outermost first.
    pub fn span_fields(&self) -> &[(FieldName, Value)] {
        &self.context
    }

    /// The innermost [`log_scope()`](fn@crate::log_scope) around the event.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// `<module path>::<function>` of the innermost instrumented span (or
    /// of the function a call macro logs).
    pub fn func(&self) -> Option<&str> {
        self.func.as_deref()
    }

    /// The id of the process that logged the event.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where in the source the event was written, as far as known.
    pub fn code_location(&self) -> &CodeLocation {
        &self.code
    }

    /// The target (the module path by default, as tracing's).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The human sentence: the `_replace_msg` template rendered with the
    /// event's fields, as console, file and journal show it (without the
    /// escaping those apply). `None` without a template.
    pub fn message(&self) -> Option<String> {
        self.template()
            .map(|template| crate::render::template::render_template(template, self))
    }

    /// The line the file target writes for this event with
    /// `log_format = "json"` (untranslated), ending in a newline: one JSON
    /// object, keys and values as `docs/output-format.md` describes them.
    /// For sending events elsewhere in the same form. ([`crate::LineFormat`]
    /// gives the text line.)
    ///
    /// ```
    /// use stogger_core::{Event, Level};
    /// let line = Event::new(Level::Info, "user-login").with("user_id", 123).json_line();
    /// assert!(line.contains(r#""level":"info","event":"user-login","user_id":123,"#));
    /// assert!(line.ends_with("}\n"));
    /// ```
    pub fn json_line(&self) -> String {
        use crate::target::Renderer;
        crate::render::json::JsonRenderer::new().render(self)
    }

    /// Looks a key up in the event's fields, then in its span context.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .or_else(|| self.context.iter().rev().find(|(k, _)| k == key))
            .map(|(_, v)| v)
    }

    /// The `_replace_msg` template, when the event has one.
    /// Only the event's own fields count: a `_replace_msg` on a span must not
    /// become the message of every event inside it.
    pub fn template(&self) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == "_replace_msg")
            .and_then(|(_, v)| v.as_str())
    }

    /// Every field a reader can see: span fields first, then the event's own
    /// (an own field overrides a span field of the same name, in the span
    /// field's place). Keys starting with `_` are left out. These are the
    /// fields of the JSON line and of the journal entry.
    pub fn visible_fields(&self) -> Vec<(&str, &Value)> {
        self.visible(crate::render::VISIBLE)
            .map(|v| (v.key, v.value))
            .collect()
    }
}

/// This process's id, cached: `std::process::id()` is a `getpid` system
/// call, too dear to make per event. 0 means "not read yet".
static PID: AtomicU32 = AtomicU32::new(0);

/// The process id stamped on events (cached; see [`refresh_pid`]).
pub(crate) fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => refresh_pid(),
        pid => pid,
    }
}

/// Reads the process id again and caches it. Every `init_*` call does this,
/// so a process that forks without exec and calls `init_logging` in the
/// child stamps the child's pid from then on.
pub(crate) fn refresh_pid() -> u32 {
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// The current time truncated to microseconds (what PostgreSQL stores).
///
/// Turning a clock reading into a calendar date and time of day is most of
/// the cost; each thread keeps the whole second it converted last and only
/// sets the sub-second part while the second lasts.
pub(crate) fn now_micros() -> OffsetDateTime {
    thread_local! {
        static LAST_SECOND: std::cell::Cell<Option<(u64, OffsetDateTime)>> =
            const { std::cell::Cell::new(None) };
    }
    let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
        // A clock before 1970: no cache for such a machine.
        let now = OffsetDateTime::now_utc();
        let nanos = now.nanosecond();
        return now.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(now);
    };
    let (secs, nanos) = (since_epoch.as_secs(), since_epoch.subsec_nanos());
    let micro_nanos = nanos - nanos % 1_000;
    let whole = LAST_SECOND
        .try_with(|last| match last.get() {
            Some((s, at)) if s == secs => at,
            _ => {
                let at = whole_second(secs);
                last.set(Some((secs, at)));
                at
            }
        })
        .unwrap_or_else(|_| whole_second(secs));
    whole.replace_nanosecond(micro_nanos).unwrap_or(whole)
}

/// `secs` after the Unix epoch as a UTC date and time.
fn whole_second(secs: u64) -> OffsetDateTime {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_micros_matches_the_clock_to_the_microsecond() {
        for _ in 0..3 {
            let before = time::OffsetDateTime::now_utc();
            let now = super::now_micros();
            let after = time::OffsetDateTime::now_utc();
            assert_eq!(now.nanosecond() % 1_000, 0, "truncated to microseconds");
            let floor = before
                .replace_nanosecond(before.nanosecond() / 1_000 * 1_000)
                .unwrap();
            assert!(floor <= now && now <= after, "{before} <= {now} <= {after}");
            assert_eq!(now.offset(), time::UtcOffset::UTC);
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
    }

    #[test]
    fn all_levels_are_listed_by_their_discriminant() {
        for (i, level) in super::Level::ALL.iter().enumerate() {
            assert_eq!(*level as usize, i);
        }
        assert!(super::Level::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
