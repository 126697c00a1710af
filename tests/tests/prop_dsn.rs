//! Property: the DSN parser never panics, and a DSN's password never
//! shows in anything made from it: the redacted form, the parse error,
//! the parsed settings' debug form, and any text the DSN's redactor
//! cleaned. Passwords hold the characters that make DSNs hard (`@ : / ? #
//! & = % ' \` and spaces), written as each form requires (percent-encoded
//! in a URL, quoted and escaped in key=value form).

mod prop_support;

use prop_support::{check, fail};
use proptest::prelude::*;
use stogger_pg_proto::dsn::{redact, ParsedDsn, Redactor};
use stogger_postgres::validate_dsn;

/// A password: `PW` (which no other part of a generated DSN contains)
/// and then anything.
fn password() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => "[a-zA-Z0-9]",
            2 => prop::sample::select(vec!["@", ":", "/", "?", "#", "&", "=", "%", "'", "\\", " ", "%41", "é", "+", ";"])
                .prop_map(str::to_string),
        ],
        3..12,
    )
    .prop_map(|p| format!("PW{}", p.concat()))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn kv_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[derive(Debug, Clone)]
struct Dsn {
    text: String,
    password: String,
}

fn extra_params() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        prop::sample::select(vec![
            ("sslmode", "disable"),
            ("sslmode", "require"),
            ("sslmode", "verify-full"),
            ("sslmode", "bogus"),
            ("connect_timeout", "3"),
            ("application_name", "svc"),
            ("host", "/run/postgresql"),
            ("port", "5433"),
            ("sslrootcert", "/nonexistent/ca.pem"),
            ("options", "-c x=y"),
            ("sslcert", "/x"),
            ("target_session_attrs", "read-write"),
            ("unknown_key", "1"),
        ])
        .prop_map(|(k, v)| (k.to_string(), v.to_string())),
        0..3,
    )
}

fn dsn() -> impl Strategy<Value = Dsn> {
    let user = "[a-z]{1,6}";
    let host = prop::sample::select(vec!["localhost", "127.0.0.1", "db.example", "[::1]", ""]);
    let url = (
        user,
        password(),
        host,
        "[a-z]{0,5}",
        extra_params(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(user, pw, host, db, params, in_query, scheme)| {
            let scheme = if scheme { "postgresql" } else { "postgres" };
            let mut query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                .collect();
            let text = if in_query {
                query.push(format!("password={}", percent_encode(&pw)));
                format!("{scheme}://{user}@{host}/{db}?{}", query.join("&"))
            } else {
                let q = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", query.join("&"))
                };
                format!("{scheme}://{user}:{}@{host}/{db}{q}", percent_encode(&pw))
            };
            Dsn { text, password: pw }
        });
    let kv = (user, password(), extra_params()).prop_map(|(user, pw, params)| {
        let mut parts = vec![
            format!("user={user}"),
            format!("password={}", kv_quote(&pw)),
        ];
        parts.extend(params.iter().map(|(k, v)| format!("{k}={}", kv_quote(v))));
        Dsn {
            text: parts.join(" "),
            password: pw,
        }
    });
    prop_oneof![url, kv]
}

/// Whether `text` shows the password, decoded or as written.
fn shows(text: &str, dsn: &Dsn) -> bool {
    text.contains(&dsn.password) || text.contains(&percent_encode(&dsn.password))
}

#[test]
fn a_dsn_password_never_shows() {
    check("dsn_password_never_shows", 400, dsn, |d| {
        let redacted = redact(&d.text);
        prop_assert!(!shows(&redacted, &d), "redact: {}", redacted);
        let cleaned =
            Redactor::for_dsn(&d.text).apply(&format!("error near {} in {}", d.password, d.text));
        prop_assert!(!shows(&cleaned, &d), "redactor: {}", cleaned);
        let parsed = format!("{:?}", ParsedDsn::parse(&d.text, &[]));
        prop_assert!(!shows(&parsed, &d), "parsed: {}", parsed);
        if let Err(e) = validate_dsn(&d.text) {
            let message = e.to_string();
            prop_assert!(!shows(&message, &d), "error: {}", message);
        }
        Ok(())
    });
}

#[test]
fn any_text_as_a_dsn_never_panics() {
    let text = prop_oneof![
        prop_support::gen::text(20),
        "(postgres(ql)?://)?[a-z:@/?&=%'\\\\ ]{0,30}",
    ];
    check(
        "dsn_any_text",
        400,
        move || text,
        |s: String| {
            let _ = redact(&s);
            let _ = Redactor::for_dsn(&s).apply("x");
            let _ = validate_dsn(&s).map_err(|e| fail(e.to_string()));
            Ok(())
        },
    );
}
