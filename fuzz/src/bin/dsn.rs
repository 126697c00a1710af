//! The DSN parser and the password redaction: any bytes as a DSN. Never
//! a panic; what redaction leaves never contains a password the DSN gave
//! as `password=...` in key=value form.

use stogger_postgres::config::{redact, ConnSettings, OpenConfig, Redactor};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let dsn = String::from_utf8_lossy(data);
        let redacted = redact(&dsn);
        let _ = Redactor::for_dsn(&dsn).apply(&dsn);
        let _ = ConnSettings::parse(&OpenConfig::new(dsn.to_string()));
        // A plain key=value password (no quotes or escapes to interpret).
        if !dsn.contains("://") {
            for part in dsn.split_whitespace() {
                if let Some(pw) = part.strip_prefix("password=") {
                    let plain = pw.len() >= 4
                        && pw.chars().all(|c| c.is_ascii_alphanumeric())
                        && pw != "PASSWORD";
                    if plain && !dsn.contains(&format!("{pw}{pw}")) && dsn.matches(pw).count() == 1
                    {
                        assert!(!redacted.contains(pw), "{redacted}");
                    }
                }
            }
        }
    });
}
