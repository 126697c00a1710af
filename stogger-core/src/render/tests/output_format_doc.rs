//! Every example in `docs/output-format.md` is what the renderers print:
//! each test renders an event and asserts the doc contains the result.

use crate::config::TimestampPrecision;
use crate::event::CodeLocation;
use crate::render::json::JsonRenderer;
use crate::render::template::render_template;
use crate::render::text::{ansi, TextOptions, TextRenderer};
use crate::target::Renderer;
use crate::{Level, Value};
use time::macros::datetime;

use super::fixtures::*;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/output-format.md");
    std::fs::read_to_string(path).unwrap_or_default()
}

fn assert_documented(text: &str) {
    let doc = doc();
    assert!(!doc.is_empty(), "docs/output-format.md is missing");
    assert!(
        doc.contains(text),
        "docs/output-format.md does not show:\n{text}"
    );
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[test]
fn example_lines() {
    let login = event(Level::Info, "user-login")
        .with("username", "alice")
        .with("ip", "192.168.1.1")
        .with("_replace_msg", "User {username} logged in from {ip}");
    assert_documented(&format!(
        "```text\n{}{}```",
        plain(&login),
        plain(&order_placed())
    ));
    let long = event(Level::Warning, "an-event-name-longer-than-thirty-chars").with("n", 1);
    assert_documented(&format!("\n  {}", plain(&long)));
    assert_documented(&format!(
        "`{}`",
        first_line(&plain(&event(Level::Debug, "tick")))
    ));
}

#[test]
fn value_table() {
    let e = event(Level::Info, "types")
        .with("s", "it's a \\ path")
        .with("i", -7)
        .with("f", 1.0)
        .with("t", true)
        .with(
            "err",
            Value::Error(vec!["connect failed".into(), "connection refused".into()]),
        )
        .with("dbg", Value::Debug("Some(User { id: 1 })".into()))
        .with(
            "js",
            Value::Json(Box::new(serde_json::json!({"a": [1, "x"]}))),
        );
    let line = plain(&e);
    for shown in [
        "s='it\\'s a \\\\ path'",
        "i=-7",
        "f=1.0",
        "t=True",
        "err='connect failed: connection refused'",
        "dbg=Some(User { id: 1 })",
        "js={\"a\":[1,\"x\"]}",
    ] {
        assert!(line.contains(shown), "{shown} not in {line}");
        assert_documented(&format!("| `{shown}` |"));
    }
}

#[test]
fn code_info_example() {
    let mut e = order_placed();
    e.code.file = Some("src/orders.rs".into());
    e.code.line = Some(42);
    let line = plain_with(
        TextOptions {
            show_code_info: true,
            ..opts()
        },
        &e,
    );
    assert_documented(&format!("\n  {line}"));
}

#[test]
fn timestamp_forms() {
    let e = event(Level::Info, "tick");
    for (p, key) in [
        (TimestampPrecision::Iso, "`iso`"),
        (TimestampPrecision::IsoSeconds, "`iso_seconds` (default)"),
        (TimestampPrecision::IsoNoZ, "`iso_no_z`"),
        (TimestampPrecision::Relative, "`relative`"),
    ] {
        let line = plain_with(
            TextOptions {
                timestamp: p,
                ..opts()
            },
            &e,
        );
        let ts = line.split(' ').next().unwrap_or_default();
        assert_documented(&format!("| {key} | `{ts}` |"));
    }
    let mut before = event(Level::Info, "tick");
    before.timestamp = datetime!(2026-06-01 17:18:48.75 UTC);
    let o = TextOptions {
        timestamp: TimestampPrecision::Relative,
        ..opts()
    };
    let ts = plain_with(o, &before);
    assert_documented(&format!("`{}`.", ts.split(' ').next().unwrap_or_default()));
}

#[test]
fn colour_example_and_table() {
    let line = TextRenderer::new(TextOptions {
        color: true,
        ..opts()
    })
    .render(&order_placed());
    let shown = line.colored.unwrap_or_default().replace('\x1b', "\\x1b");
    assert_documented(&format!("```text\n{shown}```"));
    for (part, seq) in [
        ("timestamp", ansi::DIM),
        ("level letter `T`, `D`, `I`", ansi::GREEN),
        ("level letter `W`", ansi::YELLOW),
        ("level letter `E`, `C`", ansi::RED),
        ("event name", ansi::BOLD),
        ("key in `key=value`", ansi::CYAN),
        ("value in `key=value`", ansi::MAGENTA),
    ] {
        let seq = seq.replace('\x1b', "\\x1b");
        assert_documented(&format!("| {part} | "));
        let doc = doc();
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {part} | ")))
            .unwrap_or_default();
        assert!(row.ends_with(&format!("`{seq}` |")), "{row}");
    }
    assert_documented(&format!("reset `{}`", ansi::RESET.replace('\x1b', "\\x1b")));
}

#[test]
fn sections_example() {
    let e = event(Level::Error, "job-failed")
        .with("exception_traceback", "Traceback:\n  line 1")
        .with("stack", "frame 0\nframe 1")
        .with("stderr", "warning: x\n")
        .with("stdout", "hello\n\nworld\r\n")
        .with("_raw_output", "raw 1\nraw 2")
        .with("_raw_output_prefix", "| ")
        .with("_output", "output as is")
        .with("cmd_output_line", "make all")
        .with("job", "build");
    assert_documented(&format!("```text\n{}```", plain(&e)));
}

#[test]
fn hostile_value_example() {
    let e = event(Level::Info, "login")
        .with("user", "x\n2026-06-01T17:19:01Z I admin-login user='root'");
    let line = plain(&e);
    assert_eq!(line.lines().count(), 1);
    assert_documented(&format!("```text\n{line}```"));
}

/// Template, its fields, what it renders.
type TemplateRow<'a> = (&'a str, &'a [(&'a str, Value)], &'a str);

#[test]
fn template_table() {
    let rows: &[TemplateRow<'_>] = &[
        ("{size_mb:.1f}", &[("size_mb", Value::F64(12.345))], "12.3"),
        ("{n:,}", &[("n", Value::I64(1234567))], "1,234,567"),
        ("{n:_}", &[("n", Value::I64(1234567))], "1_234_567"),
        ("{x:08.2f}", &[("x", Value::F64(5.55555))], "00005.56"),
        ("{x:.1%}", &[("x", Value::F64(0.1234))], "12.3%"),
        ("{n:08d}", &[("n", Value::I64(42))], "00000042"),
        ("{x:e}", &[("x", Value::F64(1234.5))], "1.234500e+03"),
        ("{x:.3g}", &[("x", Value::F64(1234.5))], "1.23e+03"),
        ("{n:.2f}", &[("n", Value::I64(3))], "3.00"),
        ("{n:#x}", &[("n", Value::I64(255))], "0xff"),
        ("{n:#010_b}", &[("n", Value::I64(255))], "0b1111_1111"),
        ("{n:c}", &[("n", Value::I64(65))], "A"),
        (
            "{name:>8}",
            &[("name", Value::Str("alice".into()))],
            "   alice",
        ),
        (
            "{name:*^9}",
            &[("name", Value::Str("alice".into()))],
            "**alice**",
        ),
        ("{name:.3}", &[("name", Value::Str("alice".into()))], "ali"),
        (
            "{name!r}",
            &[("name", Value::Str("alice".into()))],
            "'alice'",
        ),
        ("{x:+.2f}", &[("x", Value::F64(-0.001))], "-0.00"),
        ("{x:z.2f}", &[("x", Value::F64(-0.001))], "0.00"),
        ("{x}", &[("x", Value::F64(1e16))], "1e+16"),
        ("{ok}", &[("ok", Value::Bool(true))], "True"),
        ("{ok:d}", &[("ok", Value::Bool(true))], "1"),
        (
            "{x:{w}.{p}f}",
            &[
                ("x", Value::F64(5.55555)),
                ("w", Value::I64(8)),
                ("p", Value::I64(1)),
            ],
            "     5.6",
        ),
        ("{{literal}}", &[], "{literal}"),
    ];
    for (template, fields, want) in rows {
        let mut e = event(Level::Info, "t");
        for (k, v) in fields.iter() {
            e.fields.push((k.to_string().into(), v.clone()));
        }
        assert_eq!(render_template(template, &e), *want, "{template}");
        let described = if fields.is_empty() {
            "—".to_string()
        } else {
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| match v {
                    Value::Str(s) => format!("{k} = \"{s}\""),
                    Value::F64(x) if *x == 1e16 => format!("{k} = 1e16"),
                    other => format!("{k} = {other}"),
                })
                .collect();
            format!("`{}`", parts.join(", "))
        };
        assert_documented(&format!("| `{template}` | {described} | `{want}` |"));
    }
    let e = event(Level::Info, "t").with("n", 3);
    assert_eq!(render_template("{nope:d}", &e), "<missing>");
    assert_documented("`{nope:d}` is `<missing>`");
}

#[test]
fn json_example() {
    let mut e = event(Level::Info, "user-login")
        .with("user_id", 123)
        .with("username", "alice")
        .with("ip", "192.168.1.1")
        .with("_replace_msg", "User {username} logged in from {ip}");
    e.scope = Some("auth".into());
    e.func = Some("shop::login".into());
    e.context = vec![("request_id".into(), "r-1".into())];
    e.code = CodeLocation {
        file: Some("src/main.rs".into()),
        line: Some(7),
        module: Some("shop".into()),
    };
    assert_documented(&format!("```text\n{}```", JsonRenderer::new().render(&e)));
}
