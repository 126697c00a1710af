//! Golden tests of the console/file line, templates and the JSON line.
//! Expected strings are literal; the format-spec table was checked against
//! what Python 3.11 prints for `format(value, spec)`.

use crate::config::TimestampPrecision;
use crate::event::CodeLocation;
use crate::render::json::JsonRenderer;
use crate::render::template::render_template;
use crate::render::text::{write_body, TextLine, TextOptions, TextRenderer};
use crate::target::Renderer;
use crate::{Event, Level, Value};
use time::macros::datetime;

use super::fixtures::*;

fn render_with(o: TextOptions, e: &Event) -> TextLine {
    TextRenderer::new(o).render(e)
}

fn colored(e: &Event) -> String {
    let line = render_with(
        TextOptions {
            color: true,
            ..opts()
        },
        e,
    );
    line.colored.expect("colours were asked for")
}

// ---------------------------------------------------------------- layout

#[test]
fn template_line_is_byte_exact() {
    assert_eq!(
        plain(&user_login()),
        "2026-06-01T17:19:01Z I user-login                     User alice logged in from 192.168.1.1\n"
    );
}

#[test]
fn key_value_line_is_sorted_and_byte_exact() {
    assert_eq!(
        plain(&order_placed()),
        "2026-06-01T17:19:01Z I order-placed                   amount=99.99 currency='USD' customer_id=67890 order_id=12345\n"
    );
}

#[test]
fn long_event_name_is_followed_by_one_space() {
    let e = event(Level::Warning, "an-event-name-longer-than-thirty-chars").with("n", 1);
    assert_eq!(
        plain(&e),
        "2026-06-01T17:19:01Z W an-event-name-longer-than-thirty-chars n=1\n"
    );
}

#[test]
fn empty_body_leaves_no_trailing_spaces() {
    let e = event(Level::Debug, "tick").with("_internal", 1);
    assert_eq!(plain(&e), "2026-06-01T17:19:01Z D tick\n");
    let e = event(Level::Info, "tick").with("_replace_msg", "");
    assert_eq!(plain(&e), "2026-06-01T17:19:01Z I tick\n");
}

#[test]
fn pad_width_is_configurable() {
    let e = event(Level::Error, "x").with("n", 1);
    let line = render_with(
        TextOptions {
            pad_event_width: 5,
            ..opts()
        },
        &e,
    );
    assert_eq!(line.plain, "2026-06-01T17:19:01Z E x     n=1\n");
    let line = render_with(
        TextOptions {
            pad_event_width: 0,
            ..opts()
        },
        &e,
    );
    assert_eq!(line.plain, "2026-06-01T17:19:01Z E x n=1\n");
}

#[test]
fn padding_counts_characters_not_bytes() {
    let e = event(Level::Info, "größe").with("n", 1);
    let line = render_with(
        TextOptions {
            pad_event_width: 8,
            ..opts()
        },
        &e,
    );
    assert_eq!(line.plain, "2026-06-01T17:19:01Z I größe    n=1\n");
}

#[test]
fn level_letters() {
    let letters: String = Level::ALL
        .into_iter()
        .map(|l| plain(&event(l, "e")).chars().nth(21).unwrap_or('?'))
        .collect();
    assert_eq!(letters, "TDIWEC");
}

// ------------------------------------------------------------ timestamps

fn with_precision(p: TimestampPrecision, e: &Event) -> String {
    render_with(
        TextOptions {
            timestamp: p,
            ..opts()
        },
        e,
    )
    .plain
}

#[test]
fn each_timestamp_precision() {
    let e = event(Level::Info, "tick");
    assert_eq!(
        with_precision(TimestampPrecision::Iso, &e),
        "2026-06-01T17:19:01.123456Z I tick\n"
    );
    assert_eq!(
        with_precision(TimestampPrecision::IsoSeconds, &e),
        "2026-06-01T17:19:01Z I tick\n"
    );
    assert_eq!(
        with_precision(TimestampPrecision::IsoNoZ, &e),
        "2026-06-01T17:19:01 I tick\n"
    );
    assert_eq!(
        with_precision(TimestampPrecision::Relative, &e),
        "+12.123s I tick\n"
    );
}

#[test]
fn relative_timestamps_truncate_to_milliseconds_and_keep_their_sign() {
    let mut e = event(Level::Info, "tick");
    e.timestamp = datetime!(2026-06-01 17:18:49.000999 UTC);
    assert_eq!(
        with_precision(TimestampPrecision::Relative, &e),
        "+0.000s I tick\n"
    );
    e.timestamp = datetime!(2026-06-01 19:18:49.5 UTC);
    assert_eq!(
        with_precision(TimestampPrecision::Relative, &e),
        "+7200.500s I tick\n"
    );
    e.timestamp = datetime!(2026-06-01 17:18:48.75 UTC);
    assert_eq!(
        with_precision(TimestampPrecision::Relative, &e),
        "-0.250s I tick\n"
    );
}

#[test]
fn timestamps_are_always_utc() {
    let mut e = event(Level::Info, "tick");
    e.timestamp = datetime!(2026-06-01 19:19:01.5 +02:00);
    assert_eq!(
        with_precision(TimestampPrecision::Iso, &e),
        "2026-06-01T17:19:01.500000Z I tick\n"
    );
}

#[test]
fn a_timestamp_beyond_the_utc_range_does_not_panic() {
    let mut e = event(Level::Info, "tick");
    e.timestamp = datetime!(9999-12-31 23:00:00 -05:00);
    let line = with_precision(TimestampPrecision::Iso, &e);
    assert!(line.starts_with("9999-12-31T23:00:00.000000"), "{line}");
    let json = JsonRenderer::new().render(&e);
    assert!(json.contains("\"9999-12-31T23:00:00.000000"), "{json}");
}

// ------------------------------------------------------- key=value body

#[test]
fn values_are_shown_by_type() {
    let e = event(Level::Info, "types")
        .with("s", "it's a \\ path")
        .with("i", -7)
        .with("u", u64::MAX)
        .with("f", 1.0)
        .with("g", 0.1)
        .with("nan", f64::NAN)
        .with("inf", f64::NEG_INFINITY)
        .with("t", true)
        .with("no", false)
        .with(
            "err",
            Value::Error(vec!["connect failed".into(), "connection refused".into()]),
        )
        .with("dbg", Value::Debug("Some(User { id: 1 })".into()))
        .with(
            "js",
            Value::Json(Box::new(serde_json::json!({"a": [1, "x"]}))),
        );
    assert_eq!(
        plain(&e),
        "2026-06-01T17:19:01Z I types                          dbg=Some(User { id: 1 }) \
         err='connect failed: connection refused' f=1.0 g=0.1 i=-7 inf=-inf \
         js={\"a\":[1,\"x\"]} nan=nan no=False s='it\\'s a \\\\ path' t=True \
         u=18446744073709551615\n"
    );
}

#[test]
fn floats_in_the_body_print_like_python_repr_and_templates() {
    let e = event(Level::Info, "sizes")
        .with("big", 1e16)
        .with("tiny", 1.5e-5)
        .with("neg", -2.5e20)
        .with("_replace_msg", "{big} {tiny}");
    let mut body = String::new();
    write_body(
        &mut body,
        &event(Level::Info, "x")
            .with("big", 1e16)
            .with("tiny", 1.5e-5)
            .with("neg", -2.5e20),
        false,
    );
    assert_eq!(body, "big=1e+16 neg=-2.5e+20 tiny=1.5e-05");
    // The template form prints what Python's str() prints: the same text.
    assert!(plain(&e).ends_with(" 1e+16 1.5e-05\n"), "{}", plain(&e));
}

#[test]
fn span_context_is_shown_and_own_fields_win() {
    let mut e = event(Level::Info, "step")
        .with("request_id", "own")
        .with("n", 2);
    e.context = vec![
        ("request_id".into(), "span".into()),
        ("tenant".into(), "acme".into()),
        ("_hidden".into(), "x".into()),
    ];
    assert!(plain(&e).ends_with(" n=2 request_id='own' tenant='acme'\n"));
}

#[test]
fn underscore_and_section_keys_stay_out_of_the_body() {
    let e = event(Level::Info, "run")
        .with("cmd", "ls")
        .with("_secret", "hidden")
        .with("stdout", "a")
        .with("stderr", "b")
        .with("stack", "c")
        .with("exception_traceback", "d")
        .with("cmd_output_line", "e");
    let out = plain(&e);
    let first = out.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "2026-06-01T17:19:01Z I run                            cmd='ls'"
    );
    assert!(!out.contains("hidden"));
}

#[test]
fn scope_is_shown_and_func_only_with_caller_info() {
    let mut e = event(Level::Info, "step").with("n", 1);
    e.scope = Some("order-processing".into());
    e.func = Some("shop::orders::process".into());
    assert_eq!(
        plain(&e),
        "2026-06-01T17:19:01Z I step                           n=1 scope='order-processing'\n"
    );
    let line = render_with(
        TextOptions {
            show_caller_info: true,
            ..opts()
        },
        &e,
    );
    assert_eq!(
        line.plain,
        "2026-06-01T17:19:01Z I step                           func='shop::orders::process' n=1 scope='order-processing'\n"
    );
}

#[test]
fn code_info_follows_the_body() {
    let mut e = order_placed();
    e.code = CodeLocation {
        file: Some("src/orders.rs".into()),
        line: Some(42),
        module: Some("shop::orders".into()),
    };
    let o = TextOptions {
        show_code_info: true,
        ..opts()
    };
    assert_eq!(
        render_with(o.clone(), &e).plain,
        "2026-06-01T17:19:01Z I order-placed                   amount=99.99 currency='USD' customer_id=67890 order_id=12345 [src/orders.rs:42]\n"
    );
    let mut bare = event(Level::Info, "tick");
    bare.code = e.code.clone();
    assert_eq!(
        render_with(o.clone(), &bare).plain,
        "2026-06-01T17:19:01Z I tick                           [src/orders.rs:42]\n"
    );
    // Without a known file there is nothing to show.
    assert_eq!(
        render_with(o, &event(Level::Info, "tick")).plain,
        "2026-06-01T17:19:01Z I tick\n"
    );
}

#[test]
fn write_body_gives_the_plain_body_alone() {
    let mut out = String::new();
    write_body(&mut out, &order_placed(), false);
    assert_eq!(
        out,
        "amount=99.99 currency='USD' customer_id=67890 order_id=12345"
    );
    out.clear();
    let mut e = user_login();
    e.func = Some("shop::login".into());
    write_body(&mut out, &e, true);
    assert_eq!(out, "User alice logged in from 192.168.1.1");
    out.clear();
    let mut e = event(Level::Info, "x").with("n", 1);
    e.func = Some("shop::login".into());
    write_body(&mut out, &e, true);
    assert_eq!(out, "func='shop::login' n=1");
}

// -------------------------------------------------------------- colours

#[test]
fn colours_are_exact_and_plain_has_none() {
    let e = order_placed();
    assert_eq!(
        colored(&e),
        "\x1b[2m2026-06-01T17:19:01Z\x1b[0m \x1b[32mI\x1b[0m \x1b[1morder-placed\x1b[0m                   \
         \x1b[36mamount\x1b[0m=\x1b[35m99.99\x1b[0m \x1b[36mcurrency\x1b[0m=\x1b[35m'USD'\x1b[0m \
         \x1b[36mcustomer_id\x1b[0m=\x1b[35m67890\x1b[0m \x1b[36morder_id\x1b[0m=\x1b[35m12345\x1b[0m\n"
    );
    let line = render_with(
        TextOptions {
            color: true,
            ..opts()
        },
        &e,
    );
    assert_eq!(line.plain, plain(&e));
    assert!(!line.plain.contains('\x1b'));
    assert_eq!(line.console(), line.colored.as_deref().unwrap_or_default());
}

#[test]
fn no_colour_means_no_coloured_form() {
    let line = render_with(opts(), &order_placed());
    assert_eq!(line.colored, None);
    assert_eq!(line.console(), line.plain);
}

#[test]
fn level_colours() {
    let letter = |l: Level| {
        let c = colored(&event(l, "e"));
        let start = c.find("m ").map(|i| i + 2).unwrap_or(0);
        c[start..start + 11].to_string()
    };
    assert_eq!(letter(Level::Trace), "\x1b[32mT\x1b[0m ");
    assert_eq!(letter(Level::Debug), "\x1b[32mD\x1b[0m ");
    assert_eq!(letter(Level::Info), "\x1b[32mI\x1b[0m ");
    assert_eq!(letter(Level::Warning), "\x1b[33mW\x1b[0m ");
    assert_eq!(letter(Level::Error), "\x1b[31mE\x1b[0m ");
    assert_eq!(letter(Level::Critical), "\x1b[31mC\x1b[0m ");
}

#[test]
fn template_message_is_not_coloured() {
    assert_eq!(
        colored(&user_login()),
        "\x1b[2m2026-06-01T17:19:01Z\x1b[0m \x1b[32mI\x1b[0m \x1b[1muser-login\x1b[0m                     \
         User alice logged in from 192.168.1.1\n"
    );
}

// ------------------------------------------------------------- sections

#[test]
fn sections_in_order_with_their_prefixes() {
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
    assert_eq!(
        plain(&e),
        "2026-06-01T17:19:01Z E job-failed                     job='build'\n\
         > make all\n\
         output as is\n\
         | raw 1\n\
         | raw 2\n\
         out: hello\n\
         out:\n\
         out: world\n\
         err: warning: x\n\
         stack: frame 0\n\
         stack: frame 1\n\
         ===============================================================================\n\
         exception: Traceback:\n\
         exception:   line 1\n"
    );
}

/// Found by `cargo xtask fuzz`: the separator line only stands between
/// two sections that each have a line.
#[test]
fn an_empty_stack_or_traceback_gets_no_separator_line() {
    for (stack, traceback, tail) in [
        ("", "", ""),
        ("frame 0", "", "stack: frame 0\n"),
        ("", "Traceback:", "exception: Traceback:\n"),
    ] {
        let e = event(Level::Error, "failed")
            .with("stack", stack)
            .with("exception_traceback", traceback);
        assert_eq!(
            plain(&e),
            format!("2026-06-01T17:19:01Z E failed\n{tail}"),
            "stack {stack:?}, traceback {traceback:?}"
        );
    }
}

#[test]
fn cmd_output_line_is_dim_on_the_console() {
    let e = event(Level::Info, "cmd").with("cmd_output_line", "make all");
    assert!(colored(&e).ends_with("\n\x1b[2m> make all\x1b[0m\n"));
}

#[test]
fn error_chain_as_exception_shows_each_cause() {
    let e = event(Level::Error, "failed").with(
        "exception_traceback",
        Value::Error(vec!["query failed".into(), "connection reset".into()]),
    );
    assert_eq!(
        plain(&e),
        "2026-06-01T17:19:01Z E failed\n\
         exception: query failed\n\
         exception: caused by: connection reset\n"
    );
}

#[test]
fn raw_output_keeps_colours_on_the_console_and_strips_them_in_the_file() {
    let e = event(Level::Info, "build")
        .with(
            "_raw_output",
            "\x1b[32mok\x1b[0m test a\n\x1b]0;pwned\x07\x1b[2Jcleared\x1b[1;31m red",
        )
        .with("_raw_output_prefix", "  ");
    let line = render_with(
        TextOptions {
            color: true,
            ..opts()
        },
        &e,
    );
    assert_eq!(
        line.plain,
        "2026-06-01T17:19:01Z I build\n  ok test a\n  cleared red\n"
    );
    let console = line.colored.unwrap_or_default();
    assert!(
        console.ends_with("\n  \x1b[32mok\x1b[0m test a\x1b[0m\n  cleared\x1b[1;31m red\x1b[0m\n"),
        "{console:?}"
    );
}

#[test]
fn sections_escape_control_characters_but_keep_tabs() {
    let e = event(Level::Info, "run").with("stdout", "a\tb\x1b[2Jc\rd\x07");
    assert!(plain(&e).ends_with("\nout: a\tb\\x1b[2Jc\\rd\\x07\n"));
}

// ------------------------------------------------------------- escaping

#[test]
fn hostile_values_cannot_rewrite_the_terminal_or_forge_lines() {
    let forged = "x\n2026-06-01T17:19:01Z I admin-login                    user='root'";
    let e = event(Level::Info, "login\x1b[2J")
        .with("user", forged)
        .with("agent", Value::Debug("\x1b]52;c;ZXZpbA==\x07".into()))
        .with("bidi", "abc\u{202e}def")
        .with("c1", "\u{9b}31m")
        .with("key\x1b[31m", 1);
    let expected = "2026-06-01T17:19:01Z I login\\x1b[2J                   \
         agent=\\x1b]52;c;ZXZpbA==\\x07 bidi='abc\\u202edef' c1='\\x9b31m' key\\x1b[31m=1 \
         user='x\\n2026-06-01T17:19:01Z I admin-login                    user=\\'root\\''\n";
    assert_eq!(plain(&e), expected);
    let console = colored(&e);
    assert_eq!(console.matches('\n').count(), 1);
    // Every ESC on the console is one of ours: an SGR sequence.
    for (i, _) in console.match_indices('\x1b') {
        assert!(
            ["\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[32m", "\x1b[35m", "\x1b[36m"]
                .iter()
                .any(|sgr| console[i..].starts_with(sgr)),
            "unexpected escape at {i} in {console:?}"
        );
    }
}

#[test]
fn template_substitutions_are_escaped_on_the_line() {
    let e = event(Level::Info, "greet")
        .with("name", "eve\x1b[8m\nhidden")
        .with("_replace_msg", "Hello {name}!");
    assert_eq!(
        plain(&e),
        "2026-06-01T17:19:01Z I greet                          Hello eve\\x1b[8m\\nhidden!\n"
    );
    // The template function itself returns the value as it is.
    assert_eq!(render_template("{name}", &e), "eve\x1b[8m\nhidden");
}

// ------------------------------------------------------------ templates

fn tmpl(template: &str, e: &Event) -> String {
    render_template(template, e)
}

#[test]
fn spec_table_matches_python() {
    let cases: &[(Value, &str, &str)] = &[
        (Value::Str("alice".into()), "", "alice"),
        (Value::Str("alice".into()), "10", "alice     "),
        (Value::Str("alice".into()), ">10", "     alice"),
        (Value::Str("alice".into()), "^11", "   alice   "),
        (Value::Str("alice".into()), "*^11", "***alice***"),
        (Value::Str("alice".into()), ".3", "ali"),
        (Value::Str("alice".into()), "-<8.2s", "al------"),
        (Value::Str("ab".into()), "05", "ab000"),
        (Value::Str("héllo".into()), "_>7", "__héllo"),
        (Value::Str("alice".into()), "d", "<bad format>"),
        (Value::Str("alice".into()), "+", "<bad format>"),
        (Value::Str("alice".into()), "=", "<bad format>"),
        (Value::Str("alice".into()), "#", "<bad format>"),
        (Value::Str("alice".into()), ",", "<bad format>"),
        (Value::Str("alice".into()), "z", "<bad format>"),
        (Value::Str("alice".into()), "ss", "<bad format>"),
        (Value::I64(1234567), "", "1234567"),
        (Value::I64(1234567), ",", "1,234,567"),
        (Value::I64(1234567), "_", "1_234_567"),
        (Value::I64(-1234567), ",", "-1,234,567"),
        (Value::I64(42), "08d", "00000042"),
        (Value::I64(-42), "08d", "-0000042"),
        (Value::I64(42), "+d", "+42"),
        (Value::I64(42), " d", " 42"),
        (Value::I64(-42), " d", "-42"),
        (Value::I64(42), "<6", "42    "),
        (Value::I64(42), "^6", "  42  "),
        (Value::I64(42), "*>6", "****42"),
        (Value::I64(-42), "*=6", "-***42"),
        (Value::I64(1234), "08,", "0,001,234"),
        (Value::I64(1234), "0=10,", "00,001,234"),
        (Value::I64(255), "b", "11111111"),
        (Value::I64(255), "#b", "0b11111111"),
        (Value::I64(255), "o", "377"),
        (Value::I64(255), "#o", "0o377"),
        (Value::I64(255), "x", "ff"),
        (Value::I64(255), "#X", "0XFF"),
        (Value::I64(-255), "#x", "-0xff"),
        (Value::I64(12345678), "_x", "bc_614e"),
        (Value::I64(255), "#012_b", "0b0_1111_1111"),
        (Value::I64(65), "c", "A"),
        (Value::I64(65), "5c", "    A"),
        (Value::I64(65), "05c", "0000A"),
        (Value::I64(1234567), "n", "1234567"),
        (Value::I64(3), ".2f", "3.00"),
        (Value::I64(3), "e", "3.000000e+00"),
        (Value::I64(3), "%", "300.000000%"),
        (Value::I64(3), ".0%", "300%"),
        (Value::I64(1234567), ",.2f", "1,234,567.00"),
        (Value::I64(1000000000000000000), "g", "1e+18"),
        (Value::I64(3), ".2", "<bad format>"),
        (Value::I64(3), "s", "<bad format>"),
        (Value::I64(3), ",n", "<bad format>"),
        (Value::I64(3), ",x", "<bad format>"),
        (Value::I64(3), "+c", "<bad format>"),
        (Value::I64(-1), "c", "<bad format>"),
        (Value::I64(3), "z", "<bad format>"),
        (Value::F64(99.99), "", "99.99"),
        (Value::F64(1.0), "", "1.0"),
        (Value::F64(1.0e+16), "", "1e+16"),
        (Value::F64(1.0e-05), "", "1e-05"),
        (Value::F64(0.0001), "", "0.0001"),
        (Value::F64(-0.0), "", "-0.0"),
        (Value::F64(12.345), ".1f", "12.3"),
        (Value::F64(12.25), ".1f", "12.2"),
        (Value::F64(2.5), ".0f", "2"),
        (Value::F64(5.55555), "08.2f", "00005.56"),
        (Value::F64(-5.55555), "08.2f", "-0005.56"),
        (Value::F64(5.55555), "+.3f", "+5.556"),
        (Value::F64(0.1234), ".1%", "12.3%"),
        (Value::F64(0.5), "%", "50.000000%"),
        (Value::F64(1234.5), "e", "1.234500e+03"),
        (Value::F64(1234.5), "E", "1.234500E+03"),
        (Value::F64(1234.5), ".2e", "1.23e+03"),
        (Value::F64(0.000123), "e", "1.230000e-04"),
        (Value::F64(1.0), "#.0e", "1.e+00"),
        (Value::F64(1.0), "#.0f", "1."),
        (Value::F64(1234.5), "g", "1234.5"),
        (Value::F64(1234567.0), "g", "1.23457e+06"),
        (Value::F64(1.234e-05), "g", "1.234e-05"),
        (Value::F64(1.0e-05), "G", "1E-05"),
        (Value::F64(100.0), ".2g", "1e+02"),
        (Value::F64(100.0), "#.2g", "1.0e+02"),
        (Value::F64(1.0), "#g", "1.00000"),
        (Value::F64(123.0), ".3", "1.23e+02"),
        (Value::F64(1.0), ".3", "1.0"),
        (Value::F64(1.5), ".0", "2e+00"),
        (Value::F64(1234567.891), ",", "1,234,567.891"),
        (Value::F64(1234567.891), ",.2f", "1,234,567.89"),
        (Value::F64(1234567.891), "_.3f", "1_234_567.891"),
        (Value::F64(1234567.0), "015,.2f", "0,001,234,567.00"),
        (Value::F64(1234.5), "^+12,.1f", "  +1,234.5  "),
        (Value::F64(1234.5), "*<+12,.1f", "+1,234.5****"),
        (Value::F64(1234.5), "n", "1234.5"),
        (Value::F64(-0.0001), ".2f", "-0.00"),
        (Value::F64(-0.0001), "z.2f", "0.00"),
        (Value::F64(f64::NAN), "", "nan"),
        (Value::F64(f64::NAN), "f", "nan"),
        (Value::F64(f64::NAN), "F", "NAN"),
        (Value::F64(f64::INFINITY), "+", "+inf"),
        (Value::F64(f64::NEG_INFINITY), "e", "-inf"),
        (Value::F64(f64::INFINITY), "010", "0000000inf"),
        (Value::F64(f64::NAN), "%", "nan%"),
        (Value::F64(1.5), "d", "<bad format>"),
        (Value::F64(1.5), "x", "<bad format>"),
        (Value::F64(1.5), "c", "<bad format>"),
        (Value::F64(1.5), "s", "<bad format>"),
        (Value::F64(1.5), ",n", "<bad format>"),
        (Value::F64(1.5), ".", "<bad format>"),
        (Value::F64(1.5), ",_", "<bad format>"),
        (Value::F64(1.0e+300), ".3e", "1.000e+300"),
        (Value::F64(0.1), ".20f", "0.10000000000000000555"),
        (Value::Bool(true), "", "True"),
        (Value::Bool(false), "", "False"),
        (Value::Bool(true), "d", "1"),
        (Value::Bool(true), ">6", "     1"),
        (Value::Bool(false), ".2f", "0.00"),
        (Value::Bool(true), "s", "<bad format>"),
    ];
    let mut wrong = Vec::new();
    for (value, spec, want) in cases {
        let e = event(Level::Info, "t").with("v", value.clone());
        let got = tmpl(&format!("{{v:{spec}}}"), &e);
        if got != *want {
            wrong.push(format!("{value:?} {spec:?}: got {got:?}, Python: {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn templates_as_python_formats_them() {
    let e = event(Level::Info, "t")
        .with("user", "alice")
        .with("n", 1234567)
        .with("total", 99.5)
        .with("name", "zoë")
        .with("q", "it's")
        .with("x", 5.55555)
        .with("w", 10)
        .with("p", 2)
        .with("ratio", 0.1234)
        .with("size_mb", 12.345)
        .with("k", 42)
        .with("big", 1234.5);
    assert_eq!(
        tmpl("{{literal}} {user} has {n:,} items worth {total:.2f}", &e),
        "{literal} alice has 1,234,567 items worth 99.50"
    );
    assert_eq!(
        tmpl("{name!r} {name!s:>7} {name!a}", &e),
        "'zoë'     zoë 'zo\\xeb'"
    );
    assert_eq!(tmpl("{q!r}", &e), "\"it's\"");
    assert_eq!(tmpl("{x:{w}.{p}f}|{x:>{w}}", &e), "      5.56|   5.55555");
    assert_eq!(
        tmpl("{ratio:.1%} of {size_mb:.1f} MB; {k:08d}; {big:e}", &e),
        "12.3% of 12.3 MB; 00000042; 1.234500e+03"
    );
}

#[test]
fn missing_and_bad_format_never_fail() {
    let e = event(Level::Info, "t")
        .with("n", 3)
        .with("s", "text")
        .with("_replace_msg", "x");
    assert_eq!(tmpl("{nope} and {n}", &e), "<missing> and 3");
    assert_eq!(
        tmpl("{s:d}|{n:.2d}|{n:q}|{n!z}", &e),
        "<bad format>|<bad format>|<bad format>|<bad format>"
    );
    assert_eq!(tmpl("{nope:d}", &e), "<missing>");
    assert_eq!(tmpl("{n:{nope}}", &e), "<missing>");
    assert_eq!(tmpl("{n:{n:{n}}}", &e), "<bad format>");
    assert_eq!(tmpl("{}", &e), "<missing>");
    assert_eq!(tmpl("{n:99999999999999999999}", &e), "<bad format>");
}

#[test]
fn underscore_keys_are_unreachable() {
    let e = event(Level::Info, "t")
        .with("_secret", "s3cr3t")
        .with("_replace_msg", "{_secret} {_replace_msg}");
    assert_eq!(tmpl("{_secret} {_replace_msg}", &e), "<missing> <missing>");
    assert_eq!(
        plain(&e),
        "2026-06-01T17:19:01Z I t                              <missing> <missing>\n"
    );
}

#[test]
fn broken_template_syntax_is_kept_as_text() {
    let e = event(Level::Info, "t").with("n", 3);
    assert_eq!(tmpl("a } b {n}", &e), "a } b 3");
    assert_eq!(tmpl("{n} and {n", &e), "3 and {n");
    assert_eq!(tmpl("{{n}} {{{n}}}", &e), "{n} {3}");
    assert_eq!(tmpl("{ {n} }", &e), "<bad format>");
}

#[test]
fn lookup_order_fields_then_context_then_scope_and_func() {
    let mut e = event(Level::Info, "t").with("who", "own");
    e.context = vec![
        ("who".into(), "span".into()),
        ("tenant".into(), "acme".into()),
    ];
    e.scope = Some("checkout".into());
    e.func = Some("shop::pay".into());
    assert_eq!(
        tmpl("{who} {tenant} {scope} {func}", &e),
        "own acme checkout shop::pay"
    );
    assert_eq!(tmpl("{scope}", &event(Level::Info, "t")), "<missing>");
}

#[test]
fn dotted_field_names_are_keys() {
    let e = event(Level::Info, "t").with("user.id", 7);
    assert_eq!(tmpl("{user.id:03d}", &e), "007");
}

#[test]
fn other_value_kinds_in_templates() {
    let e = event(Level::Info, "t")
        .with("ok", true)
        .with("err", Value::Error(vec!["outer".into(), "inner".into()]))
        .with("dbg", Value::Debug("[1, 2]".into()))
        .with("js", Value::Json(Box::new(serde_json::json!({"a": 1}))))
        .with("jn", Value::Json(Box::new(serde_json::json!(2.5))))
        .with("jstr", Value::Json(Box::new(serde_json::json!("text"))))
        .with("big", 1e16)
        .with("tiny", 1e-7);
    assert_eq!(
        tmpl(
            "{ok} {ok:d} {err} {dbg} {js} {jn:.2f} {jstr} {big} {tiny}",
            &e
        ),
        "True 1 outer: inner [1, 2] {\"a\":1} 2.50 text 1e+16 1e-07"
    );
}

// ----------------------------------------------------------------- JSON

#[test]
fn json_line_is_exact_and_ordered() {
    let mut e = user_login();
    e.scope = Some("auth".into());
    e.func = Some("shop::login".into());
    e.context = vec![("request_id".into(), "r-1".into())];
    e.code = CodeLocation {
        file: Some("src/main.rs".into()),
        line: Some(7),
        module: Some("shop".into()),
    };
    assert_eq!(
        JsonRenderer::new().render(&e),
        "{\"timestamp\":\"2026-06-01T17:19:01.123456Z\",\"level\":\"info\",\"event\":\"user-login\",\
         \"message\":\"User alice logged in from 192.168.1.1\",\"scope\":\"auth\",\"func\":\"shop::login\",\
         \"request_id\":\"r-1\",\"user_id\":123,\"username\":\"alice\",\"ip\":\"192.168.1.1\",\
         \"pid\":4242,\"code_file\":\"src/main.rs\",\"code_lineno\":7,\"code_module\":\"shop\"}\n"
    );
}

#[test]
fn json_keeps_types_and_never_writes_invalid_numbers() {
    let e = event(Level::Critical, "types")
        .with("f", 1.5)
        .with("nan", f64::NAN)
        .with("inf", f64::INFINITY)
        .with("t", false)
        .with("err", Value::Error(vec!["a".into(), "b".into()]))
        .with("dbg", Value::Debug("Some(1)".into()))
        .with(
            "js",
            Value::Json(Box::new(serde_json::json!([1, {"k": null}]))),
        )
        .with("_critical", true);
    let line = JsonRenderer::new().render(&e);
    assert_eq!(
        line,
        "{\"timestamp\":\"2026-06-01T17:19:01.123456Z\",\"level\":\"critical\",\"event\":\"types\",\
         \"f\":1.5,\"nan\":\"NaN\",\"inf\":\"Infinity\",\"t\":false,\"err\":\"a: b\",\"dbg\":\"Some(1)\",\
         \"js\":[1,{\"k\":null}],\"pid\":4242}\n"
    );
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
    assert_eq!(parsed["level"], "critical");
}

#[test]
fn json_levels_are_lowercase_words() {
    let levels: Vec<String> = [Level::Trace, Level::Debug, Level::Warning, Level::Error]
        .into_iter()
        .map(|l| {
            let line = JsonRenderer::new().render(&event(l, "e"));
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            v["level"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(levels, ["trace", "debug", "warning", "error"]);
}

#[test]
fn json_renames_fields_that_collide_with_its_own_keys() {
    let e = event(Level::Info, "e")
        .with("level", "user level")
        .with("event", "user event")
        .with("pid", "user pid")
        .with("scope", "user scope");
    assert_eq!(
        JsonRenderer::new().render(&e),
        "{\"timestamp\":\"2026-06-01T17:19:01.123456Z\",\"level\":\"info\",\"event\":\"e\",\
         \"field_level\":\"user level\",\"field_event\":\"user event\",\"pid\":\"user pid\",\
         \"scope\":\"user scope\"}\n"
    );
}

/// The shrunk input of the JSON-line property test
/// (`tests/tests/prop_text.rs`): `timestamp` renamed to `field_timestamp`
/// met a field of that name, and the key appeared twice.
#[test]
fn json_renames_around_fields_that_already_have_the_new_name() {
    let e = event(Level::Info, "e")
        .with("timestamp", "a")
        .with("field_timestamp", "b")
        .with("field_field_timestamp", "c");
    assert_eq!(
        JsonRenderer::new().render(&e),
        "{\"timestamp\":\"2026-06-01T17:19:01.123456Z\",\"level\":\"info\",\"event\":\"e\",\
         \"field_field_field_timestamp\":\"a\",\"field_timestamp\":\"b\",\
         \"field_field_timestamp\":\"c\",\"pid\":4242}\n"
    );
}

#[test]
fn json_escapes_what_could_drive_a_terminal_and_stays_one_line() {
    let e = event(Level::Info, "e").with("v", "a\nb\x1b[31m\u{7f}\u{9b}\u{202e}é");
    assert_eq!(
        JsonRenderer::new().render(&e),
        "{\"timestamp\":\"2026-06-01T17:19:01.123456Z\",\"level\":\"info\",\"event\":\"e\",\
         \"v\":\"a\\nb\\u001b[31m\\u007f\\u009b\\u202eé\",\"pid\":4242}\n"
    );
}

#[test]
fn json_message_is_the_raw_template_result() {
    let e = event(Level::Info, "e")
        .with("path", "/tmp/a\tb")
        .with("_replace_msg", "Wrote {path!r}");
    let line = JsonRenderer::new().render(&e);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
    assert_eq!(v["message"], "Wrote '/tmp/a\\tb'");
    assert_eq!(v["path"], "/tmp/a\tb");
    assert!(!line.contains("_replace_msg"));
}
