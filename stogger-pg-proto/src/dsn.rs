//! Connection strings: the password placeholder, taking a DSN apart,
//! and keeping its password out of every message.
//!
//! A DSN is any libpq-style connection string, in URL form
//! (`postgresql://user:pw@host:5432/db?sslmode=require`,
//! `postgresql://stogger:@/logs?host=/var/run/postgresql`) or `key=value`
//! form (`host=/run/postgresql dbname=logs user=stogger`).
//!
//! The password may be written into the DSN, or be the placeholder
//! [`PASSWORD_PLACEHOLDER`], which stogger replaces by the value of the
//! environment variable [`PASSWORD_ENV`] ([`substitute_password`]). Every
//! message that may contain a DSN or a server error goes through
//! [`redact`] or a [`Redactor`], so the password is never shown.

use std::fmt;

/// The placeholder in `postgres_dsn` that stogger replaces by the value of
/// [`PASSWORD_ENV`]. It is not a secret, so [`redact`] and [`Redactor`]
/// leave it visible: it tells the reader where the password comes from.
pub const PASSWORD_PLACEHOLDER: &str = "%PASSWORD%";

/// The environment variable whose value replaces [`PASSWORD_PLACEHOLDER`].
pub const PASSWORD_ENV: &str = "STOGGER_POSTGRES_PASSWORD";

/// A connection string, as configured. Its `Debug` masks the password
/// ([`redact`]) and it has no `Display`: showing it takes a deliberate
/// [`Dsn::redacted`] (for people) or [`Dsn::as_str`] (for a driver), so a
/// struct holding one can derive `Debug` without leaking the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Dsn(String);

impl Dsn {
    /// The connection string itself, password included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The connection string with its password masked, for messages.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dsn").field(&self.redacted()).finish()
    }
}

impl std::ops::Deref for Dsn {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Dsn {
    fn from(dsn: String) -> Dsn {
        Dsn(dsn)
    }
}

impl From<&str> for Dsn {
    fn from(dsn: &str) -> Dsn {
        Dsn(dsn.to_string())
    }
}

/// A DSN taken apart: its parameters decoded, and the DSN without the
/// parameters its reader handles itself (see [`ParsedDsn::parse`]).
/// `Debug` shows no value: any of them may be the password.
#[derive(Clone)]
pub struct ParsedDsn {
    /// The DSN without the parameters that were set aside.
    pub remaining: String,
    /// Every `key=value` parameter (a URL's query parameters), decoded, in order.
    pub params: Vec<(String, String)>,
    /// The password of a URL's user info: as written, and percent-decoded.
    pub url_password: Option<(String, String)>,
    /// `password=` query parameters of a URL as written (percent-encoded);
    /// their decoded form is in [`ParsedDsn::params`].
    pub raw_query_passwords: Vec<String>,
}

impl fmt::Debug for ParsedDsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ParsedDsn")
            .field("remaining", &redact(&self.remaining))
            .field("param_keys", &keys)
            .finish_non_exhaustive()
    }
}

impl ParsedDsn {
    /// Takes `dsn` apart. The parameters named in `set_aside` are left out
    /// of [`ParsedDsn::remaining`] (they are still in
    /// [`ParsedDsn::params`]): the plugin handles the TLS keys itself, for
    /// instance, and gives the driver the rest. An error says what is wrong
    /// without quoting any value.
    pub fn parse(dsn: &str, set_aside: &[&str]) -> Result<ParsedDsn, String> {
        let dsn = dsn.trim();
        let kept = |key: &str| !set_aside.contains(&key);
        if let Some(scheme_len) = url_scheme_len(dsn) {
            let (base, query) = match dsn.find('?') {
                Some(i) => (&dsn[..i], Some(&dsn[i + 1..])),
                None => (dsn, None),
            };
            // Both spellings of the password: as written and decoded.
            let url_password = url_userinfo(&base[scheme_len..])
                .and_then(|u| u.split_once(':').map(|(_, p)| p))
                .map(|p| (p.to_string(), percent_decode(p)));
            let mut params = Vec::new();
            let mut kept_parts = Vec::new();
            let mut raw_query_passwords = Vec::new();
            if let Some(q) = query {
                for part in q.split('&').filter(|p| !p.is_empty()) {
                    let (k, raw) = part.split_once('=').unwrap_or((part, ""));
                    let (k, v) = (percent_decode(k), percent_decode(raw));
                    if k == "password" {
                        raw_query_passwords.push(raw.to_string());
                    }
                    if kept(&k) {
                        kept_parts.push(part);
                    }
                    params.push((k, v));
                }
            }
            let remaining = if kept_parts.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept_parts.join("&"))
            };
            Ok(ParsedDsn {
                remaining,
                params,
                url_password,
                raw_query_passwords,
            })
        } else {
            let params = parse_key_values(dsn)?;
            let remaining = params
                .iter()
                .filter(|(k, _)| kept(k))
                .map(|(k, v)| format!("{k}='{}'", escape_quoted(v)))
                .collect::<Vec<_>>()
                .join(" ");
            Ok(ParsedDsn {
                remaining,
                params,
                url_password: None,
                raw_query_passwords: Vec::new(),
            })
        }
    }

    /// The password the DSN carries (the URL's user info first, then a
    /// `password` parameter), decoded; `None` when there is none or it is
    /// empty.
    pub fn password(&self) -> Option<&str> {
        let from_userinfo = self
            .url_password
            .as_ref()
            .map(|(_, decoded)| decoded.as_str())
            .filter(|p| !p.is_empty());
        from_userinfo
            .or_else(|| {
                self.params
                    .iter()
                    .find(|(k, _)| k == "password")
                    .map(|(_, v)| v.as_str())
            })
            .filter(|p| !p.is_empty())
    }
}

fn is_url(dsn: &str) -> bool {
    url_scheme_len(dsn).is_some()
}

fn url_scheme_len(dsn: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .into_iter()
        .find(|s| dsn.starts_with(s))
        .map(str::len)
}

/// The `user:password` part of a URL after the scheme, if there is an `@`.
fn url_userinfo(after_scheme: &str) -> Option<&str> {
    let authority = after_scheme.split('/').next().unwrap_or("");
    authority.rfind('@').map(|i| &authority[..i])
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A value for inside `'...'` in a `key=value` DSN: `\` and `'` escaped.
fn escape_quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Parses libpq's `key=value key='quoted value'` form (what tokio-postgres
/// accepts: whitespace around `=`, single quotes, backslash escapes).
fn parse_key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = it.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            it.next();
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.next() != Some('=') {
            return Err(format!("expected `=` after `{key}`"));
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        let mut value = String::new();
        if it.peek() == Some(&'\'') {
            it.next();
            loop {
                match it.next() {
                    None => return Err(format!("unterminated quoted value for `{key}`")),
                    Some('\'') => break,
                    Some('\\') => match it.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("unterminated quoted value for `{key}`")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = it.peek() {
                if c.is_whitespace() {
                    break;
                }
                it.next();
                if c == '\\' {
                    if let Some(n) = it.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err("empty key".to_string());
        }
        out.push((key, value));
    }
}

/// Replaces [`PASSWORD_PLACEHOLDER`] in a DSN so that any password
/// survives: percent-encoded in a URL, quoted and escaped in a `key=value`
/// DSN.
pub fn substitute_password(dsn: &str, password: &str) -> String {
    if is_url(dsn) {
        return dsn.replace(PASSWORD_PLACEHOLDER, &percent_encode(password));
    }
    let escaped = escape_quoted(password);
    let needs_quotes = password.is_empty()
        || password
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\');
    let mut out = String::with_capacity(dsn.len() + password.len());
    let mut rest = dsn;
    while let Some(at) = rest.find(PASSWORD_PLACEHOLDER) {
        let before = &rest[..at];
        out.push_str(before);
        if before.ends_with('\'') {
            out.push_str(&escaped);
        } else if needs_quotes {
            out.push('\'');
            out.push_str(&escaped);
            out.push('\'');
        } else {
            out.push_str(password);
        }
        rest = &rest[at + PASSWORD_PLACEHOLDER.len()..];
    }
    out.push_str(rest);
    out
}

fn is_secret(password: &str) -> bool {
    !password.is_empty() && password != PASSWORD_PLACEHOLDER
}

/// Masks the password of a DSN (URL userinfo or `password=` parameter) and
/// returns the rest unchanged, for messages: `postgresql://u:***@h/db`.
/// Empty passwords and the `%PASSWORD%` placeholder stay as they are.
pub fn redact(dsn: &str) -> String {
    let trimmed = dsn.trim();
    if let Some(scheme_len) = url_scheme_len(trimmed) {
        let after = &trimmed[scheme_len..];
        let mut out = trimmed[..scheme_len].to_string();
        let authority_end = after.find('/').unwrap_or(after.len());
        let (authority, tail) = after.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, pw)) if is_secret(pw) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    _ => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        // A password can also be a query parameter.
        match tail.find('?') {
            Some(q) => {
                out.push_str(&tail[..=q]);
                let parts: Vec<String> = tail[q + 1..]
                    .split('&')
                    .map(|p| match p.split_once('=') {
                        Some((k, v)) if percent_decode(k) == "password" && is_secret(v) => {
                            format!("{k}=***")
                        }
                        _ => p.to_string(),
                    })
                    .collect();
                out.push_str(&parts.join("&"));
            }
            None => out.push_str(tail),
        }
        out
    } else {
        match parse_key_values(trimmed) {
            Ok(pairs) => pairs
                .into_iter()
                .map(|(k, v)| {
                    if k == "password" && is_secret(&v) {
                        format!("{k}=***")
                    } else if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '\'') {
                        format!("{k}='{}'", escape_quoted(&v))
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            // Unparseable: show nothing that could be a secret.
            Err(_) => "<unparseable DSN>".to_string(),
        }
    }
}

/// Removes known secrets from any text (messages, errors, stats).
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor that knows no secret yet (usable in a `static`).
    pub const fn new() -> Redactor {
        Redactor {
            secrets: Vec::new(),
        }
    }

    /// A redactor for the password of `dsn` (if it has one), in every
    /// spelling the DSN holds.
    pub fn for_dsn(dsn: &str) -> Redactor {
        let mut r = Redactor::new();
        r.add_dsn(dsn);
        r
    }

    /// Adds the password of `dsn`, in every spelling the DSN holds (as
    /// written and decoded).
    pub fn add_dsn(&mut self, dsn: &str) {
        if let Ok(parsed) = ParsedDsn::parse(dsn, &[]) {
            self.add_parsed(&parsed);
        }
    }

    /// Adds the password of a DSN taken apart, in every spelling it holds.
    pub fn add_parsed(&mut self, parsed: &ParsedDsn) {
        for (k, v) in &parsed.params {
            if k == "password" {
                self.add(v);
            }
        }
        if let Some((raw, decoded)) = &parsed.url_password {
            self.add(raw);
            self.add(decoded);
        }
        for raw in &parsed.raw_query_passwords {
            self.add(raw);
        }
    }

    /// Adds a password as given and in the percent-encoded form it takes in
    /// a URL DSN.
    pub fn add_password(&mut self, password: &str) {
        self.add(password);
        self.add(&percent_encode(password));
    }

    /// Adds a secret (empty ones and the placeholder are ignored).
    pub fn add(&mut self, secret: &str) {
        if is_secret(secret) && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a secret containing another is masked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every secret replaced by `***`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(dsn: &str) -> Option<String> {
        ParsedDsn::parse(dsn, &[])
            .ok()
            .and_then(|p| p.password().map(str::to_owned))
    }

    #[test]
    fn redaction_removes_passwords() {
        assert_eq!(
            redact("postgresql://stogger:s3cret@db:5432/logs"),
            "postgresql://stogger:***@db:5432/logs"
        );
        assert_eq!(
            redact("postgresql://stogger:@/logs?host=/var/run/postgresql"),
            "postgresql://stogger:@/logs?host=/var/run/postgresql"
        );
        assert_eq!(
            redact("postgres://u@h/d?password=s3cret&sslmode=require"),
            "postgres://u@h/d?password=***&sslmode=require"
        );
        let r = redact("host=h user=u password='s3 cret' dbname=d");
        assert!(!r.contains("s3"), "{r}");
        assert!(r.contains("password=***") && r.contains("user=u"), "{r}");
        assert_eq!(redact("host=h password='unterminated"), "<unparseable DSN>");
        // The placeholder is not a secret: it says where the password comes from.
        assert_eq!(
            redact("postgresql://stogger:%PASSWORD%@db/logs"),
            "postgresql://stogger:%PASSWORD%@db/logs"
        );
        assert_eq!(
            redact("password=%PASSWORD% host=h"),
            "password=%PASSWORD% host=h"
        );

        let red = Redactor::for_dsn("postgresql://u:p%40ss@h/d");
        assert_eq!(
            red.apply("auth failed for p@ss and p%40ss"),
            "auth failed for *** and ***"
        );
        let red = Redactor::for_dsn("user=u password=hunter2");
        assert_eq!(red.apply("x hunter2 y"), "x *** y");
    }

    #[test]
    fn url_passwords_are_percent_encoded() {
        assert_eq!(
            substitute_password("postgresql://u:%PASSWORD%@h/db", "p@ss/w:rd ü"),
            "postgresql://u:p%40ss%2Fw%3Ard%20%C3%BC@h/db"
        );
        assert_eq!(
            password("postgresql://u:p%40ss%2Fw%3Ard%20%C3%BC@h/db").as_deref(),
            Some("p@ss/w:rd ü")
        );
    }

    #[test]
    fn key_value_passwords_are_quoted_when_needed() {
        assert_eq!(
            substitute_password("host=h password=%PASSWORD% dbname=d", "simple"),
            "host=h password=simple dbname=d"
        );
        let dsn = substitute_password("host=h password=%PASSWORD% dbname=d", "it's a \\secret");
        assert_eq!(dsn, r"host=h password='it\'s a \\secret' dbname=d");
        assert_eq!(password(&dsn).as_deref(), Some("it's a \\secret"));
        assert_eq!(
            substitute_password("password='%PASSWORD%'", "a'b"),
            r"password='a\'b'"
        );
    }

    #[test]
    fn passwords_in_dsns_are_found() {
        assert_eq!(
            password("postgresql://stogger:secret@db:5432/logs").as_deref(),
            Some("secret")
        );
        assert_eq!(
            password("postgres://db/logs?user=u&password=s%26x").as_deref(),
            Some("s&x")
        );
        assert_eq!(password("postgresql://stogger:@/logs?host=/run/pg"), None);
        assert_eq!(
            password("host=/run/pg password = 'a b' user=x").as_deref(),
            Some("a b")
        );
        assert_eq!(password("host=/run/pg user=x"), None);
        assert_eq!(password("garbage without equals"), None);
    }

    #[test]
    fn a_dsn_never_shows_its_password_in_debug() {
        for (text, secret) in [
            ("postgresql://u:hunter2@h/d", "hunter2"),
            ("host=h password='hunter 2' user=u", "hunter 2"),
            ("postgres://h/d?password=hunter2", "hunter2"),
        ] {
            let dsn = Dsn::from(text);
            let shown = format!("{dsn:?} {:?} {:?}", Some(&dsn), vec![dsn.clone()]);
            assert!(!shown.contains(secret) && shown.contains("***"), "{shown}");
            assert_eq!(dsn.as_str(), text);
            let parsed = ParsedDsn::parse(text, &[]).unwrap();
            let shown = format!("{parsed:?}");
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn set_aside_parameters_leave_the_remaining_dsn() {
        let p = ParsedDsn::parse(
            "postgresql://u:pw@h/d?sslmode=require&application_name=x",
            &["sslmode"],
        )
        .unwrap();
        assert_eq!(p.remaining, "postgresql://u:pw@h/d?application_name=x");
        assert_eq!(p.params.len(), 2);
        let p = ParsedDsn::parse("host=h sslmode=disable password='a b'", &["sslmode"]).unwrap();
        assert_eq!(p.remaining, r"host='h' password='a b'");
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("a b") && shown.contains("sslmode"),
            "{shown}"
        );
    }
}
