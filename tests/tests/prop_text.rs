//! Property: console and file output are terminal-safe. No raw control
//! character (C0, DEL, C1) and no bidirectional override from any field
//! value, key, template or event name reaches the console or the file;
//! the event's line is one line (sections such as `stdout` add exactly
//! their own lines); the colours are the only escape sequences on the
//! console; and every JSON line parses with serde_json and with Python's
//! `json` to the same value, with each key once.
//!
//! Checked on the renderers for many events, and end to end (a real
//! `stogger emit` process, its stderr and its log file) for a few.

mod prop_support;

use prop_support::gen::{self, EventParts};
use prop_support::{check, exact_json, fail, Python, PY_EXACT_JSON};
use proptest::prelude::*;
use std::process::Command;
use std::sync::Mutex;
use stogger_core::config::TimestampPrecision;
use stogger_core::{Config, Event, LineFormat, Value};

/// Keys docs/output-format.md ("Output sections") shows as sections after
/// the line, never in the `key=value` body (`_output` and `_raw_output`
/// are sections too, though hidden from the body anyway as `_`-keys).
const SECTION_KEYS: &[&str] = &[
    "cmd_output_line",
    "_output",
    "_raw_output",
    "stdout",
    "stderr",
    "stack",
    "exception_traceback",
];

/// What must never appear raw: control characters (Unicode category Cc)
/// and the characters that reorder or break lines on a terminal.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// The first forbidden character of `line`, allowing tabs when `tabs`.
fn first_forbidden(line: &str, tabs: bool) -> Option<(usize, char)> {
    line.char_indices()
        .find(|&(_, c)| forbidden(c) && !(tabs && c == '\t'))
}

/// `s` without its SGR sequences (`ESC [ digits ; : m`); `None` when an
/// ESC starts anything else.
fn strip_sgr(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        let seq = rest[i + 1..].strip_prefix('[')?;
        let end = seq.find(|c: char| !(c.is_ascii_digit() || c == ';' || c == ':'))?;
        if !seq[end..].starts_with('m') {
            return None;
        }
        rest = &seq[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The text of a section as the output format documents it.
fn section_text(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Debug(s) => s.clone(),
        Value::Error(chain) => chain.join("\ncaused by: "),
        other => other.to_string(),
    }
}

/// Lines the sections of `event` add after its line: each section's lines,
/// and the separator line docs/output-format.md puts between a `stack` and
/// an `exception_traceback` section that both have a line.
fn section_lines(event: &Event) -> usize {
    let lines = |k: &str| event.get(k).map_or(0, |v| section_text(v).lines().count());
    let separator = usize::from(lines("stack") > 0 && lines("exception_traceback") > 0);
    SECTION_KEYS.iter().map(|k| lines(k)).sum::<usize>() + separator
}

/// How a line is rendered: the layout keys of the configuration, and
/// whether the console colours it.
#[derive(Debug, Clone)]
struct TextOptions {
    config: Config,
    color: bool,
}

fn options() -> impl Strategy<Value = TextOptions> {
    (
        any::<bool>(),
        prop::sample::select(vec![
            TimestampPrecision::Iso,
            TimestampPrecision::IsoSeconds,
            TimestampPrecision::IsoNoZ,
            TimestampPrecision::Relative,
        ]),
        0usize..40,
        any::<(bool, bool)>(),
    )
        .prop_map(|(color, timestamp, pad, (code, caller))| {
            let mut config = Config::default();
            config.format.timestamp_precision = timestamp;
            config.format.pad_event_width = pad;
            config.format.show_code_info = code;
            config.show_caller_info = caller;
            TextOptions { config, color }
        })
}

/// Checks one rendered text event: the plain (file) form and the
/// console form.
fn check_text(event: &Event, opts: &TextOptions) -> Result<(), TestCaseError> {
    let format = LineFormat::from_config(&opts.config);
    let plain = &format.line(event);
    prop_assert!(plain.ends_with('\n'), "no final newline: {plain:?}");
    let lines: Vec<&str> = plain[..plain.len() - 1].split('\n').collect();
    let want = 1 + section_lines(event);
    prop_assert_eq!(lines.len(), want, "lines of {:?}", plain);
    if let Some((at, c)) = first_forbidden(lines[0], false) {
        return Err(fail(format!(
            "raw {c:?} at byte {at} of the event line {:?}",
            lines[0]
        )));
    }
    for l in &lines[1..] {
        if let Some((at, c)) = first_forbidden(l, true) {
            return Err(fail(format!(
                "raw {c:?} at byte {at} of section line {l:?}"
            )));
        }
    }
    if opts.color {
        let colored = format.color(true).line(event);
        // The level letter is always coloured.
        prop_assert!(colored.contains('\x1b'), "no colour in {:?}", colored);
        let stripped = strip_sgr(&colored)
            .ok_or_else(|| fail(format!("an escape other than a colour in {colored:?}")))?;
        prop_assert_eq!(&stripped, plain, "console form without its colours");
    }
    Ok(())
}

/// Checks one JSON line.
fn check_json(event: &Event, python: &Mutex<Python>) -> Result<(), TestCaseError> {
    let line = event.json_line();
    prop_assert!(line.ends_with('\n'));
    let body = &line[..line.len() - 1];
    if let Some((at, c)) = first_forbidden(body, false) {
        return Err(fail(format!(
            "raw {c:?} at byte {at} of JSON line {body:?}"
        )));
    }
    let ours: serde_json::Value =
        serde_json::from_str(body).map_err(|e| fail(format!("serde_json: {e}: {body}")))?;
    let theirs = exact_json(python, body)?;
    let ours_again = serde_json::to_string(&ours).map_err(|e| fail(e.to_string()))?;
    prop_assert!(
        exact_json(python, &ours_again)? == theirs,
        "serde_json and Python read {} differently: {} vs {}",
        body,
        ours,
        theirs
    );
    prop_assert_eq!(ours["event"].as_str(), Some(event.name()));
    prop_assert_eq!(ours["level"].as_str(), Some(event.level().as_str()));
    Ok(())
}

#[test]
fn console_file_and_json_lines_are_terminal_safe() {
    let python = Mutex::new(Python::start(PY_EXACT_JSON));
    check(
        "text_terminal_safety",
        300,
        || (gen::event(), options()),
        |(parts, opts): (EventParts, TextOptions)| {
            let event = parts.event();
            check_text(&event, &opts)?;
            check_json(&event, &python)
        },
    );
}

/// A field for `stogger emit`: `KEY=VALUE` with a key the CLI takes
/// (no `=`, not blank) and that is not an output section or `_`-key, so
/// the event is exactly one line.
fn emit_field() -> impl Strategy<Value = String> {
    (gen::field_name(), gen::arg_text(8)).prop_filter_map("not a plain key", |(k, v)| {
        let k = gen::fit_arg_to(&k.replace('\0', ""), 16 * 1024);
        let plain = !k.contains('=')
            && !k.trim().is_empty()
            && !k.trim().starts_with('_')
            && !SECTION_KEYS.contains(&k.trim());
        plain.then(|| format!("{k}={}", gen::fit_arg_to(&v, 16 * 1024)))
    })
}

#[derive(Debug, Clone)]
struct Emit {
    name: String,
    fields: Vec<String>,
    message: Option<String>,
    json: bool,
}

fn emit_case() -> impl Strategy<Value = Emit> {
    (
        gen::arg_text(8).prop_filter("a name", |n| !n.trim().is_empty()),
        proptest::collection::vec(emit_field(), 0..6),
        prop::option::weighted(0.3, gen::template().prop_map(|t| gen::fit_arg(&t))),
        any::<bool>(),
    )
        .prop_map(|(name, fields, message, json)| Emit {
            name,
            fields,
            message,
            json,
        })
}

#[test]
fn stogger_emit_writes_one_safe_line_to_console_and_file() {
    let stogger = stogger_tests::service::built_binary("stogger");
    let python = Mutex::new(Python::start(PY_EXACT_JSON));
    check("emit_terminal_safety", 16, emit_case, |c| {
        let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let logdir = dir.path().join("logs");
        let mut args = vec!["emit".to_string()];
        if let Some(m) = &c.message {
            args.push(format!("--message={m}"));
        }
        // `--`: a name or field may start with `-`.
        args.push("--".to_string());
        args.push(c.name.clone());
        args.extend(c.fields.iter().cloned());
        let out = Command::new(&stogger)
            .args(&args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CLICOLOR_FORCE", "1")
            .env("STOGGER_SYSTEMD", "off")
            .env("STOGGER_LOGDIR", &logdir)
            .env("STOGGER_SYSLOG_IDENTIFIER", "prop")
            .env("STOGGER_LOG_FORMAT", if c.json { "json" } else { "simple" })
            .output()
            .map_err(|e| fail(format!("cannot run {}: {e}", stogger.display())))?;
        let stderr = String::from_utf8(out.stderr).map_err(|e| fail(e.to_string()))?;
        prop_assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr);
        let console: Vec<&str> = stderr.lines().collect();
        prop_assert_eq!(console.len(), 1, "console: {:?}", stderr);
        let visible = strip_sgr(console[0])
            .ok_or_else(|| fail(format!("an escape other than a colour: {stderr:?}")))?;
        if let Some((at, c)) = first_forbidden(&visible, false) {
            return Err(fail(format!(
                "raw {c:?} at {at} on the console: {stderr:?}"
            )));
        }
        let file = std::fs::read_to_string(logdir.join("prop.log"))
            .map_err(|e| fail(format!("log file: {e}")))?;
        prop_assert!(file.ends_with('\n'), "{:?}", file);
        let lines: Vec<&str> = file[..file.len() - 1].split('\n').collect();
        prop_assert_eq!(lines.len(), 1, "file: {:?}", file);
        if let Some((at, c)) = first_forbidden(lines[0], false) {
            return Err(fail(format!("raw {c:?} at {at} in the file: {file:?}")));
        }
        if c.json {
            let ours: serde_json::Value = serde_json::from_str(lines[0])
                .map_err(|e| fail(format!("serde_json: {e}: {file}")))?;
            let theirs = exact_json(&python, lines[0])?;
            let ours_again = serde_json::to_string(&ours).map_err(|e| fail(e.to_string()))?;
            prop_assert!(
                exact_json(&python, &ours_again)? == theirs,
                "{} vs {}",
                ours,
                theirs
            );
            prop_assert_eq!(ours["event"].as_str(), Some(c.name.as_str()));
        } else {
            prop_assert_eq!(visible.as_str(), lines[0], "console and file differ");
        }
        Ok(())
    });
}
