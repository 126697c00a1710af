//! Generators for events, field names, values, format specs and
//! configuration documents.
//!
//! Text is biased towards what breaks encoders: control characters (C0,
//! DEL, C1), terminal escape sequences, the invisible characters that
//! reorder text, quotes and backslashes, braces, NUL, characters from every
//! Unicode plane (noncharacters and private use included), and now and
//! then a long run. Rust strings cannot hold lone surrogates; where bytes
//! can (environment variables), [`os_bytes`] makes them.

use proptest::collection::vec;
use proptest::prelude::*;
use stogger_core::{CodeLocation, Event, Level, Value};
use time::OffsetDateTime;

/// Snippets that break naive encoders, kept whole so shrinking keeps them.
const NASTY: &[&str] = &[
    "\x1b[31m",
    "\x1b[0m",
    "\x1b]0;title\x07",
    "\x1b]8;;http://x\x1b\\",
    "\x1bP1$r\x1b\\",
    "\x1b",
    "\u{9b}2J",
    "\r\n",
    "\n",
    "\r",
    "\t",
    "\0",
    "\x7f",
    "\u{85}",
    "\u{202e}",
    "\u{200b}",
    "\u{2028}",
    "\u{feff}",
    "\u{a0}",
    "'",
    "\"",
    "\\",
    "{",
    "}",
    "{{",
    "}}",
    "=",
    ": ",
    "\u{fffd}",
    "\u{ffff}",
    "\u{10ffff}",
    "\u{1f600}",
    "e\u{301}",
];

/// One character from anywhere in Unicode, weighted towards the troublesome.
pub fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => (0x20u8..0x7f).prop_map(char::from),
        3 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('?')),
        1 => Just('\x7f'),
        2 => (0x80u32..0xa0).prop_map(|c| char::from_u32(c).unwrap_or('?')),
        2 => prop::sample::select(vec![
            '\u{a0}', '\u{ad}', '\u{61c}', '\u{180e}', '\u{200b}', '\u{200e}', '\u{202a}',
            '\u{202e}', '\u{2066}', '\u{2069}', '\u{2028}', '\u{2029}', '\u{3000}', '\u{feff}',
            '\u{fffe}', '\u{ffff}', '\u{fffd}', '\u{1fffe}', '\u{10ffff}', '\u{e000}',
        ]),
        3 => (0xa0u32..0x1_0000).prop_filter_map("surrogate", char::from_u32),
        2 => (0x1_0000u32..0x11_0000).prop_filter_map("not a char", char::from_u32),
    ]
}

/// A piece of text: a character or a whole nasty snippet.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => any_char().prop_map(String::from),
        2 => prop::sample::select(NASTY).prop_map(str::to_string),
        2 => "[a-z]{1,8}",
    ]
}

/// Text of up to about `max` pieces; now and then a long run (tens of kB).
pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        10 => vec(piece(), 0..=max).prop_map(|p| p.concat()),
        1 => (piece(), 1000usize..20_000).prop_map(|(p, n)| p.repeat(n)),
    ]
}

/// Text a process argument can carry: no NUL, and at most 32 kB (Linux
/// refuses a single argument over 128 kB with E2BIG).
pub fn arg_text(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_map(|s| fit_arg(&s))
}

/// Longest argument or environment value the process tests pass.
pub const ARG_MAX_BYTES: usize = 32 * 1024;

/// `s` as a process can be given it: NUL replaced by U+2400, cut to
/// [`ARG_MAX_BYTES`].
pub fn fit_arg(s: &str) -> String {
    fit_arg_to(s, ARG_MAX_BYTES)
}

/// [`fit_arg`] with a smaller limit.
pub fn fit_arg_to(s: &str, max: usize) -> String {
    let mut s = s.replace('\0', "\u{2400}");
    let mut cut = s.len().min(max.min(ARG_MAX_BYTES));
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

/// Field names: identifiers, the names stogger and journald give meaning
/// to, dotted tracing names, empty and odd ones, long ones.
pub fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,12}",
        3 => prop::sample::select(vec![
            "message", "priority", "pid", "code_file", "code_line", "code_lineno", "code_module", "code_func",
            "timestamp", "level", "event", "scope", "func", "syslog_identifier", "stogger_event",
            "_replace_msg", "_critical", "_hidden", "stdout", "stderr", "stack",
            "exception_traceback", "cmd_output_line", "_raw_output", "_output", "user.id",
            "http.status", "2fa", "MESSAGE", "Ä", "größe", "a-b", "a.b", "", "_", "__x", "0",
            "field_timestamp", "f_message", "a b",
        ]).prop_map(str::to_string),
        2 => text(6),
        1 => "[a-zA-Z_][a-zA-Z0-9_.-]{60,80}",
    ]
}

/// Floats, including every special value.
pub fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => prop::sample::select(vec![
            0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.5, 2.5, 99.99, 1e15, 1e16, 1e17, 1e-4, 1e-5, 1e21,
            1e22, 123456.789, 1e300, -1e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY,
            f64::MAX, f64::MIN, f64::MIN_POSITIVE, 5e-324, 9007199254740993.0, 0.3,
        ]),
        3 => any::<f64>(),
        3 => (-1_000_000i64..1_000_000, 0u32..8).prop_map(|(m, e)| m as f64 / 10f64.powi(e as i32)),
    ]
}

/// A JSON value nested up to `depth` levels.
pub fn json(depth: u32) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        float().prop_filter_map("finite", |x| serde_json::Number::from_f64(x)
            .map(serde_json::Value::Number)),
        text(8).prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(depth, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            vec((text(4), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A field value of any type.
pub fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => text(12).prop_map(Value::Str),
        2 => prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -1000i64..1000]
            .prop_map(Value::I64),
        1 => prop_oneof![any::<u64>(), Just(u64::MAX)].prop_map(Value::U64),
        2 => float().prop_map(Value::F64),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => vec(text(6), 1..4).prop_map(Value::Error),
        1 => text(8).prop_map(Value::Debug),
        1 => json(4).prop_map(|j| Value::Json(Box::new(j))),
    ]
}

/// A list of fields.
pub fn fields(max: usize) -> impl Strategy<Value = Vec<(String, Value)>> {
    vec((field_name(), value()), 0..=max)
}

/// Event names: kebab-case ids mostly, anything now and then.
pub fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z]{1,10}(-[a-z]{1,8}){0,3}",
        2 => text(10),
    ]
}

pub fn level() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

/// Event times across the years 1..=9999 (microseconds), and the present.
pub fn timestamp() -> impl Strategy<Value = OffsetDateTime> {
    let min = -62_135_596_800i64; // 0001-01-01
    let max = 253_402_300_799i64; // 9999-12-31T23:59:59
    prop_oneof![
        // The present, at microsecond precision (as `Event::new` stamps it).
        1 => Just(Event::new(Level::Info, "now").timestamp()),
        2 => (min..=max, 0u32..1_000_000).prop_map(|(s, us)| {
            OffsetDateTime::from_unix_timestamp(s)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
                .replace_microsecond(us)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        }),
    ]
}

/// Everything an event carries, before it is put together (so a failing
/// case shows readable parts).
#[derive(Debug, Clone)]
pub struct EventParts {
    pub level: Level,
    pub name: String,
    pub fields: Vec<(String, Value)>,
    pub context: Vec<(String, Value)>,
    pub template: Option<String>,
    pub scope: Option<String>,
    pub func: Option<String>,
    pub code: Option<(String, Option<u32>, Option<String>)>,
    pub timestamp: OffsetDateTime,
    pub pid: u32,
}

impl EventParts {
    pub fn event(&self) -> Event {
        let mut e = Event::new(self.level, self.name.clone())
            .with_timestamp(self.timestamp)
            .with_pid(self.pid);
        for (k, v) in &self.fields {
            e = e.with(k.clone(), v.clone());
        }
        if let Some(t) = &self.template {
            e = e.with("_replace_msg", Value::Str(t.clone()));
        }
        if self.level == Level::Critical {
            e = e.with("_critical", Value::Bool(true));
        }
        for (k, v) in &self.context {
            e = e.with_span_field(k.clone(), v.clone());
        }
        if let Some(scope) = &self.scope {
            e = e.with_scope(scope.clone());
        }
        if let Some(func) = &self.func {
            e = e.with_func(func.clone());
        }
        if let Some((file, line, module)) = &self.code {
            let mut code = CodeLocation::default();
            code.file = Some(file.clone().into());
            code.line = *line;
            code.module = module.clone().map(Into::into);
            e = e.with_code_location(code);
        }
        e
    }
}

/// Whole events: fields and span context of every type, an optional
/// template over them, scope, function and code location.
pub fn event() -> impl Strategy<Value = EventParts> {
    (
        (level(), event_name(), fields(10), fields(3)),
        prop::option::weighted(0.3, template()),
        (
            prop::option::weighted(0.3, text(6)),
            prop::option::weighted(0.3, text(6)),
        ),
        prop::option::weighted(
            0.5,
            (
                text(6),
                prop::option::of(any::<u32>()),
                prop::option::of(text(4)),
            ),
        ),
        (timestamp(), any::<u32>()),
    )
        .prop_map(
            |((level, name, fields, context), template, (scope, func), code, (timestamp, pid))| {
                EventParts {
                    level,
                    name,
                    fields,
                    context,
                    template,
                    scope,
                    func,
                    code,
                    timestamp,
                    pid,
                }
            },
        )
}

// ---------------------------------------------------------------- templates

/// A format spec from Python's mini-language, mostly well formed:
/// `[[fill]align][sign][z][#][0][width][grouping][.precision][type]`.
pub fn format_spec() -> impl Strategy<Value = String> {
    let fill_align = prop::option::of((
        prop::option::weighted(
            0.4,
            prop_oneof![any_char(), Just('0'), Just('{'), Just('}')],
        ),
        prop::sample::select(vec!['<', '>', '=', '^']),
    ));
    let number = || {
        prop::option::weighted(
            0.5,
            prop_oneof![8 => 0usize..40, 1 => 0usize..3000, 1 => Just(10_001usize)],
        )
    };
    let well_formed = (
        fill_align,
        prop::option::of(prop::sample::select(vec!['+', '-', ' '])),
        any::<(bool, bool, bool)>(),
        number(),
        prop::option::of(prop::sample::select(vec![',', '_'])),
        number(),
        prop::option::of(prop::sample::select(vec![
            's', 'd', 'b', 'o', 'x', 'X', 'c', 'e', 'E', 'f', 'F', 'g', 'G', 'n', '%', 'r', 'z',
        ])),
    )
        .prop_map(|(fa, sign, (z, alt, zero), width, group, prec, ty)| {
            let mut s = String::new();
            if let Some((fill, align)) = fa {
                if let Some(f) = fill {
                    s.push(f);
                }
                s.push(align);
            }
            if let Some(c) = sign {
                s.push(c);
            }
            if z {
                s.push('z');
            }
            if alt {
                s.push('#');
            }
            if zero {
                s.push('0');
            }
            if let Some(w) = width {
                s.push_str(&w.to_string());
            }
            if let Some(g) = group {
                s.push(g);
            }
            if let Some(p) = prec {
                s.push('.');
                s.push_str(&p.to_string());
            }
            if let Some(t) = ty {
                s.push(t);
            }
            s
        });
    prop_oneof![
        8 => well_formed,
        1 => "[-+ #0-9.,_<>=^a-zA-Z%]{0,6}",
        1 => text(3),
    ]
}

/// Names a template refers to: mostly the generated fields' names.
fn ref_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["a", "b", "n", "x", "s", "flag", "user.id", "scope", "func"])
            .prop_map(str::to_string),
        1 => prop::sample::select(vec!["", "0", "_hidden", "missing", "a[0]", "a[:]", "a.b"])
            .prop_map(str::to_string),
        1 => text(3),
    ]
}

/// One replacement field's text (between the braces).
fn replacement_field() -> impl Strategy<Value = String> {
    let conversion = prop::option::weighted(
        0.2,
        prop_oneof![5 => prop::sample::select(vec!['r', 's', 'a']), 1 => any_char()],
    );
    let nested = prop::option::weighted(
        0.15,
        (ref_name(), format_spec()).prop_map(|(n, s)| {
            if s.is_empty() {
                format!("{{{n}}}")
            } else {
                format!("{{{n}:{s}}}")
            }
        }),
    );
    (ref_name(), conversion, format_spec(), nested).prop_map(|(name, conv, spec, nested)| {
        let mut f = name;
        if let Some(c) = conv {
            f.push('!');
            f.push(c);
        }
        match nested {
            Some(n) => {
                f.push(':');
                f.push_str(&n);
                f.push_str(&spec);
            }
            None if !spec.is_empty() => {
                f.push(':');
                f.push_str(&spec);
            }
            None => {}
        }
        f
    })
}

/// `_replace_msg` templates: literal text (with `{{` `}}`) and fields.
pub fn template() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        3 => text(4).prop_map(|t| t.replace('{', "{{").replace('}', "}}")),
        4 => replacement_field().prop_map(|f| format!("{{{f}}}")),
        1 => prop::sample::select(vec!["{", "}", "{{", "}}", "{}", "{!}", "{:"]).prop_map(str::to_string),
    ];
    vec(part, 0..6).prop_map(|p| p.concat())
}

/// Values a template formats, under the names [`template`] refers to.
pub fn template_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    let named = |name: &'static str| {
        prop::option::weighted(0.85, value().prop_map(move |v| (name.to_string(), v)))
    };
    let numbers = prop_oneof![
        (0i64..60).prop_map(Value::I64),
        (-5i64..5).prop_map(Value::I64),
        any::<i64>().prop_map(Value::I64),
    ];
    (
        (named("a"), named("b"), named("x"), named("s")),
        (named("flag"), named("user.id"), named("_hidden")),
        prop::option::weighted(0.9, numbers.prop_map(|v| ("n".to_string(), v))),
        fields(2),
    )
        .prop_map(|((a, b, x, s), (flag, user, hidden), n, extra)| {
            [a, b, x, s, flag, user, hidden, n]
                .into_iter()
                .flatten()
                .chain(extra)
                .collect()
        })
}

// ------------------------------------------------------------ configuration

/// A TOML value for any key: right and wrong types, the spellings the
/// keys take, and nonsense.
pub fn toml_value() -> impl Strategy<Value = toml::Value> {
    let word = prop::sample::select(vec![
        "true",
        "false",
        "yes",
        "no",
        "1",
        "0",
        "YES",
        "on",
        "simple",
        "json",
        "auto",
        "required",
        "off",
        "none",
        "size",
        "batch",
        "sync",
        "debug",
        "info",
        "warn",
        "warning",
        "error",
        "critical",
        "trace",
        "iso",
        "iso_seconds",
        "iso_no_z",
        "relative",
        "LOG_LOCAL0",
        "local7",
        "daemon",
        "10MB",
        "10 MiB",
        "1.5MB",
        "0",
        "-1",
        "",
        " ",
        "logs",
        "/tmp/x",
        "a/b",
        ".",
        "..",
        "stogger_logs",
        "s.t",
        "a.b.c",
        "postgresql://u:pw@h/d",
        "host=/tmp user=u",
        "18446744073709551616",
        "4294967296",
        "99999999999TiB",
    ])
    .prop_map(|s| toml::Value::String(s.to_string()));
    let leaf = prop_oneof![
        3 => word,
        2 => text(6).prop_map(toml::Value::String),
        2 => prop_oneof![any::<i64>(), -2i64..300, Just(i64::MAX), Just(4_294_967_296)]
            .prop_map(toml::Value::Integer),
        1 => float().prop_map(toml::Value::Float),
        2 => any::<bool>().prop_map(toml::Value::Boolean),
        1 => Just(toml::Value::Datetime("1979-05-27T07:32:00Z".parse().expect("datetime"))),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(toml::Value::Array),
            vec(("[a-z_]{1,6}", inner), 0..3)
                .prop_map(|kv| toml::Value::Table(kv.into_iter().collect())),
        ]
    })
}

/// Key names for a settings table: every known key (and `format`), typos,
/// other names.
pub fn config_key() -> impl Strategy<Value = String> {
    let known: Vec<String> = stogger_core::config::KEYS
        .iter()
        .map(|k| k.short_name().to_string())
        .collect();
    prop_oneof![
        6 => prop::sample::select(known),
        1 => prop::sample::select(vec!["verbos", "log_dir", "min_level", "logformat", "Verbose",
            "timestamp_precision", "enable_postgress", "x", "", " ", "format.min_level"])
            .prop_map(str::to_string),
        1 => text(4),
    ]
}

/// Values a key takes (by its name without the table), so that most
/// generated documents load and the warnings get checked too.
pub fn valid_values(short: &str) -> Vec<toml::Value> {
    use toml::Value as T;
    let s = |v: &[&str]| {
        v.iter()
            .map(|x| T::String((*x).to_string()))
            .collect::<Vec<_>>()
    };
    let levels = [
        "debug", "info", "warning", "warn", "error", "critical", "INFO", " error ",
    ];
    match short {
        "verbose" | "log_to_console" | "log_to_file" | "show_caller_info" | "enable_postgres"
        | "log_cmd_output" | "show_code_info" => {
            let mut v = vec![
                T::Boolean(true),
                T::Boolean(false),
                T::Integer(1),
                T::Integer(0),
            ];
            v.extend(s(&["yes", "no", "TRUE", "0", " 1 "]));
            v
        }
        "log_format" => s(&["simple", "json", "JSON"]),
        "systemd" => s(&["auto", "off", "Off"]),
        "systemd_facility" => s(&["LOG_LOCAL0", "local7", "daemon", "LOG_USER"]),
        "log_rotation" => s(&["none", "size"]),
        "postgres_write_mode" => s(&["batch", "sync"]),
        "min_level" => s(&levels),
        "console_min_level" | "file_min_level" | "journal_min_level" | "postgres_min_level" => {
            let mut v = s(&levels);
            v.push(T::String(String::new()));
            v
        }
        "timestamp_precision" => s(&["iso", "iso_seconds", "iso_no_z", "relative"]),
        "pad_event_width" => vec![
            T::Integer(0),
            T::Integer(30),
            T::Integer(200),
            T::String("12".into()),
        ],
        "log_max_bytes" => {
            let mut v = vec![T::Integer(1), T::Integer(10_000_000)];
            v.extend(s(&["10MB", "10 MiB", "3kib", "42"]));
            v
        }
        "log_backup_count" => vec![T::Integer(0), T::Integer(5), T::Integer(4_294_967_295)],
        "postgres_queue_capacity"
        | "postgres_batch_size"
        | "postgres_flush_interval_ms"
        | "postgres_connect_timeout_ms" => {
            vec![T::Integer(1), T::Integer(100), T::String("50".into())]
        }
        "postgres_shutdown_timeout_ms" => vec![T::Integer(0), T::Integer(100)],
        "logdir" => s(&["logs", "var/log", "."]),
        "syslog_identifier" => s(&["svc", "my-service", "日本"]),
        "journal_socket" => s(&["/run/stogger-test-none/socket"]),
        "postgres_dsn" => s(&["", "host=/nonexistent-stogger user=u connect_timeout=1"]),
        "postgres_table" => s(&["stogger_logs", "s.t"]),
        "postgres_plugin" | "translation_dir" => s(&["", "/nonexistent-stogger/x"]),
        "language" => s(&["", "de"]),
        _ => Vec::new(),
    }
}

/// A value for `key`: one it takes, mostly; any value else.
fn value_for(key: String) -> impl Strategy<Value = (String, toml::Value)> {
    let valid = valid_values(&key);
    let any = toml_value();
    if valid.is_empty() {
        any.prop_map(move |v| (key.clone(), v)).boxed()
    } else {
        prop_oneof![3 => prop::sample::select(valid), 1 => any]
            .prop_map(move |v| (key.clone(), v))
            .boxed()
    }
}

fn setting() -> impl Strategy<Value = (String, toml::Value)> {
    config_key().prop_flat_map(value_for)
}

/// A table of settings with a `[format]` table now and then.
pub fn settings_table() -> impl Strategy<Value = toml::Table> {
    (
        vec(setting(), 0..8),
        prop::option::weighted(0.4, vec(setting(), 0..4)),
        prop::option::weighted(0.05, toml_value()),
    )
        .prop_map(|(top, format, format_other)| {
            let mut table: toml::Table = top.into_iter().collect();
            if let Some(f) = format {
                table.insert("format".into(), toml::Value::Table(f.into_iter().collect()));
            } else if let Some(v) = format_other {
                table.insert("format".into(), v);
            }
            table
        })
}

/// Which file holds the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFile {
    /// `stogger.toml`, top-level keys.
    Stogger,
    /// `Cargo.toml`, `[package.metadata.stogger]`.
    Cargo,
    /// `pyproject.toml`, `[tool.stogger]`.
    Pyproject,
    /// The path in `STOGGER_CONFIG`.
    Explicit,
}

/// A configuration document: where it lives and its text (a serialised
/// table, now and then damaged into invalid TOML).
pub fn config_document() -> impl Strategy<Value = (ConfigFile, String)> {
    let file = prop::sample::select(vec![
        ConfigFile::Stogger,
        ConfigFile::Cargo,
        ConfigFile::Pyproject,
        ConfigFile::Explicit,
    ]);
    let damage = prop::option::weighted(0.1, (any::<prop::sample::Index>(), text(2)));
    (file, settings_table(), damage).prop_map(|(file, settings, damage)| {
        let wrapped = match file {
            ConfigFile::Cargo => nest(&["package", "metadata", "stogger"], settings),
            ConfigFile::Pyproject => nest(&["tool", "stogger"], settings),
            ConfigFile::Stogger | ConfigFile::Explicit => settings,
        };
        let mut text = toml::to_string(&wrapped).unwrap_or_default();
        if let Some((at, junk)) = damage {
            let mut cut = at.index(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.insert_str(cut, &junk);
        }
        (file, text)
    })
}

fn nest(path: &[&str], settings: toml::Table) -> toml::Table {
    let mut table = settings;
    for key in path.iter().rev() {
        let mut outer = toml::Table::new();
        outer.insert((*key).to_string(), toml::Value::Table(table));
        table = outer;
    }
    table
}

/// `STOGGER_*` variables: those of known keys, unknown ones, and the
/// names stogger reads elsewhere.
pub fn env_name() -> impl Strategy<Value = String> {
    let known: Vec<String> = stogger_core::config::KEYS
        .iter()
        .map(|k| k.env.to_string())
        .collect();
    prop_oneof![
        6 => prop::sample::select(known),
        2 => prop::sample::select(vec!["STOGGER_VERBOS", "STOGGER_LOGDIRECTORY", "STOGGER_",
            "STOGGER_POSTGRES_PASSWORD", "STOGGER_PLUGIN_DIR", "STOGGER_TEST_X", "STOGGER_BENCH_Y",
            "STOGGER_verbose", "STOGGER_FORMAT_MIN_LEVEL"]).prop_map(str::to_string),
        1 => "STOGGER_[A-Z_]{1,12}",
    ]
}

/// A variable and a value as text: one its key takes, mostly.
pub fn env_var() -> impl Strategy<Value = (String, String)> {
    env_name().prop_flat_map(|name| {
        let short = stogger_core::config::KEYS
            .iter()
            .find(|k| k.env == name)
            .map(|k| k.short_name())
            .unwrap_or("");
        let valid: Vec<String> = valid_values(short)
            .into_iter()
            .map(|v| match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
        let value = if valid.is_empty() {
            env_text().boxed()
        } else {
            prop_oneof![3 => prop::sample::select(valid), 1 => env_text()].boxed()
        };
        value.prop_map(move |v| (name.clone(), v))
    })
}

/// A variable's value as text: the spellings of [`toml_value`]'s words,
/// numbers, and any text.
pub fn env_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => toml_value().prop_map(|v| match v {
            toml::Value::String(s) => s,
            other => other.to_string(),
        }),
        1 => text(6).prop_map(|s| s.replace('\0', "")),
    ]
}

/// Raw bytes for an environment variable: valid UTF-8 mostly, else
/// invalid sequences, among them lone surrogates as WTF-8/CESU-8 encodes
/// them (`ED A0 80`) and overlong forms. Never NUL (no environment can
/// hold it).
pub fn os_bytes() -> impl Strategy<Value = Vec<u8>> {
    os_bytes_with_nul().prop_map(|mut v| {
        v.retain(|&b| b != 0);
        v
    })
}

fn os_bytes_with_nul() -> impl Strategy<Value = Vec<u8>> {
    let bad = prop::sample::select(vec![
        vec![0xed, 0xa0, 0x80],
        vec![0xed, 0xbf, 0xbf],
        vec![0xc0, 0x80],
        vec![0xff],
        vec![0x80],
        vec![0xf4, 0x90, 0x80, 0x80],
        vec![0xe2, 0x82],
    ]);
    prop_oneof![
        4 => env_text().prop_map(String::into_bytes),
        2 => (env_text(), bad, env_text()).prop_map(|(a, b, c)| {
            let mut v = a.into_bytes();
            v.extend(b);
            v.extend(c.into_bytes());
            v
        }),
    ]
}
