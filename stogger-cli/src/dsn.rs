//! Connection strings as the CLI shows them: the password redacted.
//! (`%PASSWORD%` is filled in by the library's own substitution,
//! `stogger_core::output::postgres::dsn_with_password`.)
//!
//! The password never reaches the output: everything the CLI prints about
//! a DSN goes through [`redact`], and every report is passed through
//! [`Secrets::scrub`] before it is printed, as a second line of defence
//! (a driver error that quoted the connection string, say).

/// The placeholder replaced by `STOGGER_POSTGRES_PASSWORD`.
pub const PLACEHOLDER: &str = "%PASSWORD%";
/// The variable holding the password.
pub const PASSWORD_VAR: &str = "STOGGER_POSTGRES_PASSWORD";
/// What a password is replaced by in output.
pub const REDACTED: &str = "***";

/// Whether the DSN is a URL (`postgresql://...`) rather than `key=value` pairs.
fn is_url(dsn: &str) -> bool {
    let lower = dsn.trim_start().to_ascii_lowercase();
    lower.starts_with("postgresql://") || lower.starts_with("postgres://")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The DSN with every password (URL user info, `password=` parameter or
/// `key=value` pair) replaced by `***`. The `%PASSWORD%` placeholder and
/// empty passwords are kept: they are not secrets, and the placeholder says
/// where the password comes from.
pub fn redact(dsn: &str) -> String {
    let mut out = String::with_capacity(dsn.len());
    let mut last = 0;
    for (start, end) in password_spans(dsn) {
        out.push_str(&dsn[last..start]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&dsn[last..]);
    out
}

/// Byte ranges of the passwords written in a DSN (for `key=value` pairs
/// including their quotes), leaving out empty ones and the placeholder.
fn password_spans(dsn: &str) -> Vec<(usize, usize)> {
    let spans = if is_url(dsn) {
        url_spans(dsn)
    } else {
        pair_spans(dsn)
    };
    spans
        .into_iter()
        .filter(|&(s, e)| {
            let bare = dsn[s..e].trim_matches('\'');
            !bare.is_empty() && bare != PLACEHOLDER
        })
        .collect()
}

fn url_spans(dsn: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let Some(authority) = dsn.find("://").map(|i| i + 3) else {
        return spans;
    };
    let query = dsn[authority..]
        .find('?')
        .map_or(dsn.len(), |i| authority + i);
    if let Some(at) = dsn[authority..query].rfind('@').map(|i| authority + i) {
        if let Some(colon) = dsn[authority..at].find(':').map(|i| authority + i) {
            spans.push((colon + 1, at));
        }
    }
    let mut pos = query + 1;
    while pos < dsn.len() {
        let end = dsn[pos..].find('&').map_or(dsn.len(), |i| pos + i);
        if let Some(eq) = dsn[pos..end].find('=').map(|i| pos + i) {
            if dsn[pos..eq].eq_ignore_ascii_case("password") {
                spans.push((eq + 1, end));
            }
        }
        pos = end + 1;
    }
    spans
}

/// `key = value` pairs, values optionally in single quotes with `\` escapes.
fn pair_spans(dsn: &str) -> Vec<(usize, usize)> {
    let b = dsn.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    while i < b.len() {
        i = skip_ws(i);
        let key_start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &dsn[key_start..i];
        i = skip_ws(i);
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i = skip_ws(i + 1);
        let value_start = i;
        let quoted = i < b.len() && b[i] == b'\'';
        if quoted {
            i += 1;
        }
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'\'' if quoted => {
                    i += 1;
                    break;
                }
                c if !quoted && c.is_ascii_whitespace() => break,
                _ => i += 1,
            }
        }
        i = i.min(b.len());
        if key.eq_ignore_ascii_case("password") {
            spans.push((value_start, i));
        }
    }
    spans
}

/// The secrets known to this run, removed from anything printed.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// The password from `STOGGER_POSTGRES_PASSWORD` and any password written
    /// into the DSN itself.
    pub fn new(dsn: Option<&str>, env_password: Option<&str>) -> Secrets {
        let mut values = Vec::new();
        if let Some(p) = env_password.filter(|p| !p.is_empty()) {
            values.push(p.to_string());
            values.push(percent_encode(p));
        }
        if let Some(dsn) = dsn {
            values.extend(embedded_passwords(dsn));
        }
        values.retain(|v| !v.is_empty() && v != PLACEHOLDER);
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    /// `text` with every known secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.values {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Passwords written literally in a DSN (the parts [`redact`] hides), as
/// they appear in it and unquoted.
fn embedded_passwords(dsn: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (s, e) in password_spans(dsn) {
        let raw = &dsn[s..e];
        found.push(raw.to_string());
        let bare = raw.trim_matches('\'');
        found.push(bare.to_string());
        found.push(bare.replace("\\'", "'").replace("\\\\", "\\"));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact("postgresql://app:s3cr%40t@db.example.com:5432/logs?sslmode=require"),
            "postgresql://app:***@db.example.com:5432/logs?sslmode=require"
        );
        assert_eq!(
            redact("postgres://app@db/logs?password=x1&sslmode=disable"),
            "postgres://app@db/logs?password=***&sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://stogger:@/logs?host=/var/run/postgresql"),
            "postgresql://stogger:@/logs?host=/var/run/postgresql"
        );
        assert_eq!(
            redact("postgresql://stogger:%PASSWORD%@db/logs"),
            "postgresql://stogger:%PASSWORD%@db/logs"
        );
    }

    #[test]
    fn key_value_passwords_are_redacted() {
        assert_eq!(
            redact("host=db user=app password=hunter2 dbname=logs"),
            "host=db user=app password=*** dbname=logs"
        );
        assert_eq!(
            redact("host=db password = 'two words\\' here' dbname=logs"),
            "host=db password = *** dbname=logs"
        );
        assert_eq!(redact("password=%PASSWORD%"), "password=%PASSWORD%");
    }

    #[test]
    fn scrub_removes_env_and_embedded_passwords() {
        let secrets = Secrets::new(
            Some("postgresql://u:inline-pw@h/d?password=query-pw"),
            Some("env-pw!"),
        );
        let text = "inline-pw query-pw env-pw! env-pw%21 other";
        assert_eq!(secrets.scrub(text), "*** *** *** *** other");
        let kv = Secrets::new(Some("host=h password='a b' user=u"), None);
        assert_eq!(kv.scrub("got 'a b'"), "got ***");
    }
}
