//! The DSN parser and the password redaction: any bytes as a DSN. Never
//! a panic; what redaction leaves never contains the password of a DSN
//! made of plain `key=value` words.

use stogger_pg_proto::dsn::{redact, Redactor};
use stogger_postgres::validate_dsn;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let dsn = String::from_utf8_lossy(data);
        let redacted = redact(&dsn);
        let _ = Redactor::for_dsn(&dsn).apply(&dsn);
        let _ = validate_dsn(&dsn);
        // A DSN of plain `key=value` words only (no quotes, escapes or
        // blanks around `=`, where libpq's rules make a `password=` inside
        // a value just text): its password never shows.
        let plain = |t: &str| {
            t.split_once('=').is_some_and(|(k, v)| {
                !k.is_empty()
                    && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && !v.is_empty()
                    && !v.contains(['\'', '\\', '='])
            })
        };
        if !dsn.contains("://") && dsn.split_whitespace().all(plain) {
            for pw in dsn
                .split_whitespace()
                .filter_map(|t| t.strip_prefix("password="))
            {
                let secret = pw.len() >= 4 && pw != "%PASSWORD%" && dsn.matches(pw).count() == 1;
                if secret {
                    assert!(!redacted.contains(pw), "{redacted}");
                }
            }
        }
    });
}
