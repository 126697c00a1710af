//! The open configuration (the JSON object given to `stogger_pg_open`), DSN
//! handling and password redaction.
//!
//! The DSN is any libpq-style connection string tokio-postgres understands,
//! in URL form (`postgresql://user:pw@host:5432/db?sslmode=require`,
//! `postgresql://stogger:@/logs?host=/var/run/postgresql`) or key=value form
//! (`host=/run/postgresql dbname=logs user=stogger`). The TLS keys
//! `sslmode` and `sslrootcert` are taken out here and handled by
//! [`crate::tls`], because tokio-postgres itself only knows
//! `disable|prefer|require` and no certificate files.
//!
//! Every message that may contain a DSN or a server error goes through a
//! [`Redactor`], so the password never leaves the plugin.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::schema::{SchemaError, TableName};
use crate::tls::SslMode;

/// How rows reach the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Rows are queued and written by a background task with binary COPY.
    Batch,
    /// Every write is one committed INSERT before the call returns.
    Sync,
}

/// Everything `stogger_pg_open` accepts, validated, with defaults filled in.
#[derive(Clone)]
pub struct OpenConfig {
    /// The connection string (may contain a password; never printed).
    pub dsn: String,
    /// The table, `name` or `schema.name` (taken literally and quoted).
    pub table: String,
    /// Batch (default) or sync.
    pub write_mode: WriteMode,
    /// Maximum number of rows waiting in memory (batch mode).
    pub queue_capacity: usize,
    /// Maximum rows per COPY.
    pub batch_size: usize,
    /// The longest a queued row waits for a fuller batch.
    pub flush_interval: Duration,
    /// Bound for one connection attempt (and for a sync write's reconnect).
    pub connect_timeout: Duration,
    /// Default deadline for flushing on close (used when the handle is dropped).
    pub shutdown_timeout: Duration,
    /// `application_name` reported to the server (overrides the DSN's).
    pub application_name: Option<String>,
}

impl fmt::Debug for OpenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenConfig")
            .field("dsn", &redact(&self.dsn))
            .field("table", &self.table)
            .field("write_mode", &self.write_mode)
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("connect_timeout", &self.connect_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// The default table name.
pub const DEFAULT_TABLE: &str = "stogger_logs";

impl OpenConfig {
    /// A configuration with every default and the given DSN.
    pub fn new(dsn: impl Into<String>) -> OpenConfig {
        OpenConfig {
            dsn: dsn.into(),
            table: DEFAULT_TABLE.to_string(),
            write_mode: WriteMode::Batch,
            queue_capacity: 100_000,
            batch_size: 5000,
            flush_interval: Duration::from_millis(200),
            connect_timeout: Duration::from_millis(5000),
            shutdown_timeout: Duration::from_millis(5000),
            application_name: None,
        }
    }

    /// Parses the JSON object of the ABI. Unknown keys are ignored; a bad
    /// value is an error naming the key.
    pub fn from_json(text: &str) -> Result<OpenConfig, ConfigError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ConfigError::new("config", format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ConfigError::new("config", "expected a JSON object"));
        };
        let dsn = match map.get("dsn") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => return Err(ConfigError::new("dsn", "is empty")),
            Some(_) => return Err(ConfigError::new("dsn", "expected a string")),
            None => return Err(ConfigError::new("dsn", "missing (required)")),
        };
        let mut c = OpenConfig::new(dsn);
        if let Some(t) = get_str(&map, "table")? {
            c.table = t;
        }
        if let Some(m) = get_str(&map, "write_mode")? {
            c.write_mode = match m.as_str() {
                "batch" => WriteMode::Batch,
                "sync" => WriteMode::Sync,
                other => {
                    return Err(ConfigError::new(
                        "write_mode",
                        format!("{other:?} is not one of \"batch\", \"sync\""),
                    ))
                }
            };
        }
        if let Some(n) = get_uint(&map, "queue_capacity", 1, 100_000_000)? {
            c.queue_capacity = n as usize;
        }
        if let Some(n) = get_uint(&map, "batch_size", 1, 1_000_000)? {
            c.batch_size = n as usize;
        }
        if let Some(n) = get_uint(&map, "flush_interval_ms", 0, 3_600_000)? {
            c.flush_interval = Duration::from_millis(n);
        }
        if let Some(n) = get_uint(&map, "connect_timeout_ms", 1, 600_000)? {
            c.connect_timeout = Duration::from_millis(n);
        }
        if let Some(n) = get_uint(&map, "shutdown_timeout_ms", 0, 3_600_000)? {
            c.shutdown_timeout = Duration::from_millis(n);
        }
        if let Some(a) = get_str(&map, "application_name")? {
            c.application_name = Some(a);
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the values that [`OpenConfig::from_json`] also checks, for
    /// configurations built in Rust.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.queue_capacity == 0 {
            return Err(ConfigError::new("queue_capacity", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::new("batch_size", "must be at least 1"));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "connect_timeout_ms",
                "must be at least 1 (the plugin never waits without a bound)",
            ));
        }
        TableName::parse(&self.table).map_err(|e| ConfigError::new("table", e.to_string()))?;
        ConnSettings::parse(self)?;
        Ok(())
    }

    /// The parsed table name.
    pub fn table_name(&self) -> Result<TableName, SchemaError> {
        TableName::parse(&self.table)
    }
}

fn get_str(map: &Map<String, Value>, key: &str) -> Result<Option<String>, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ConfigError::new(
            key,
            format!("expected a string, got {}", type_name(other)),
        )),
    }
}

fn get_uint(
    map: &Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= min && v <= max => Ok(Some(v)),
            _ => Err(ConfigError::new(
                key,
                format!("{n} is out of range (allowed: {min}..={max})"),
            )),
        },
        Some(other) => Err(ConfigError::new(
            key,
            format!("expected an integer, got {}", type_name(other)),
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An invalid configuration value: `key` names the JSON key (or `dsn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending key.
    pub key: String,
    /// What is wrong with it (never contains the password).
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid PostgreSQL configuration: {}: {}",
            self.key, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// A parsed DSN: the tokio-postgres configuration, the TLS settings and the
/// redactor for its password.
#[derive(Clone)]
pub struct ConnSettings {
    /// What tokio-postgres connects with (sslmode mapped to what it knows).
    pub pg: tokio_postgres::Config,
    /// The requested sslmode (including verify-ca / verify-full).
    pub ssl_mode: SslMode,
    /// `sslrootcert` from the DSN, if any (`system` means the system roots).
    pub ssl_root_cert: Option<String>,
    /// Bound for one connection attempt.
    pub connect_timeout: Duration,
    /// Removes the DSN's password from messages.
    pub redactor: Redactor,
    /// The DSN with its password masked, for messages.
    pub display: String,
    /// The rustls connector (None for `sslmode=disable`).
    pub tls: Option<tokio_postgres_rustls_improved::MakeRustlsConnect>,
}

impl fmt::Debug for ConnSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnSettings")
            .field("dsn", &self.display)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// libpq keys we handle ourselves instead of passing them to tokio-postgres.
const TLS_KEYS: [&str; 2] = ["sslmode", "sslrootcert"];
/// libpq TLS keys we do not support; a clear error instead of tokio-postgres'
/// "unknown option".
const UNSUPPORTED_KEYS: [&str; 5] = ["sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir"];

impl ConnSettings {
    /// Parses the DSN of `config` and applies `connect_timeout` and
    /// `application_name`.
    pub fn parse(config: &OpenConfig) -> Result<ConnSettings, ConfigError> {
        let dsn = config.dsn.as_str();
        let display = redact(dsn);
        let mut redactor = Redactor::default();
        let (rest, extracted) =
            split_dsn(dsn).map_err(|m| ConfigError::new("dsn", format!("{m} (in {display})")))?;
        // Whatever parsing happens next, messages must not show the password:
        // register what looks like one before tokio-postgres sees the text.
        for secret in extracted.passwords() {
            redactor.add(secret);
        }
        let mut pg = tokio_postgres::Config::from_str(&rest).map_err(|e| {
            ConfigError::new(
                "dsn",
                format!("{} (in {display})", redactor.apply(&e.to_string())),
            )
        })?;
        if let Some(p) = pg.get_password() {
            redactor.add(&String::from_utf8_lossy(p));
        }
        let mut ssl_mode = SslMode::Prefer;
        let mut ssl_root_cert = None;
        for (k, v) in extracted.all {
            match k.as_str() {
                "sslmode" => {
                    ssl_mode = SslMode::parse(&v).ok_or_else(|| {
                        ConfigError::new(
                            "dsn",
                            format!(
                                "sslmode={v:?} is not one of disable, allow, prefer, require, \
                                 verify-ca, verify-full"
                            ),
                        )
                    })?
                }
                "sslrootcert" => ssl_root_cert = Some(v),
                k if UNSUPPORTED_KEYS.contains(&k) => {
                    return Err(ConfigError::new(
                        "dsn",
                        format!("{k} is not supported (client certificates are not implemented)"),
                    ))
                }
                _ => {}
            }
        }
        pg.ssl_mode(ssl_mode.for_tokio_postgres());
        let tls = crate::tls::connector(ssl_mode, ssl_root_cert.as_deref())
            .map_err(|m| ConfigError::new("dsn", m))?;
        pg.connect_timeout(config.connect_timeout);
        if let Some(name) = &config.application_name {
            pg.application_name(name);
        } else if pg.get_application_name().is_none() {
            pg.application_name("stogger");
        }
        if pg.get_hosts().is_empty() && pg.get_hostaddrs().is_empty() {
            // libpq's default: the local socket directory.
            let dir = ["/var/run/postgresql", "/run/postgresql", "/tmp"]
                .into_iter()
                .find(|d| std::path::Path::new(d).is_dir())
                .unwrap_or("/var/run/postgresql");
            pg.host_path(PathBuf::from(dir));
        }
        if pg.get_user().is_none() {
            // libpq's default: the operating system user.
            match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
                Ok(u) if !u.is_empty() => {
                    pg.user(&u);
                }
                _ => {
                    return Err(ConfigError::new(
                        "dsn",
                        format!("no user given and $USER is not set (in {display})"),
                    ))
                }
            }
        }
        Ok(ConnSettings {
            pg,
            ssl_mode,
            ssl_root_cert,
            connect_timeout: config.connect_timeout,
            redactor,
            display,
            tls,
        })
    }
}

struct Extracted {
    /// Every key=value of the DSN (decoded), in order.
    all: Vec<(String, String)>,
    /// The password of the URL's userinfo, as written and decoded.
    url_password: Option<(String, String)>,
    /// `password=` query parameters of a URL as written (percent-encoded).
    raw_query_passwords: Vec<String>,
}

impl Extracted {
    /// Every spelling of every password in the DSN.
    fn passwords(&self) -> impl Iterator<Item = &str> {
        let decoded = self
            .all
            .iter()
            .filter(|(k, _)| k == "password")
            .map(|(_, v)| v.as_str());
        let url = self
            .url_password
            .iter()
            .flat_map(|(raw, dec)| [raw.as_str(), dec.as_str()]);
        decoded
            .chain(url)
            .chain(self.raw_query_passwords.iter().map(String::as_str))
    }
}

/// Splits the DSN into the part tokio-postgres gets (without the TLS keys)
/// and every key=value parameter (decoded).
fn split_dsn(dsn: &str) -> Result<(String, Extracted), String> {
    let dsn = dsn.trim();
    if let Some(scheme_len) = url_scheme_len(dsn) {
        let (base, query) = match dsn.find('?') {
            Some(i) => (&dsn[..i], Some(&dsn[i + 1..])),
            None => (dsn, None),
        };
        // Both spellings of the password: as written and decoded.
        let url_password = url_userinfo(&base[scheme_len..])
            .and_then(|u| u.split_once(':').map(|(_, p)| p))
            .map(|p| (p.to_string(), percent_decode(p)));
        let mut all = Vec::new();
        let mut kept = Vec::new();
        let mut raw_query_passwords = Vec::new();
        if let Some(q) = query {
            for part in q.split('&').filter(|p| !p.is_empty()) {
                let (k, raw) = part.split_once('=').unwrap_or((part, ""));
                let (k, v) = (percent_decode(k), percent_decode(raw));
                if k == "password" {
                    raw_query_passwords.push(raw.to_string());
                }
                if !TLS_KEYS.contains(&k.as_str()) && !UNSUPPORTED_KEYS.contains(&k.as_str()) {
                    kept.push(part);
                }
                all.push((k, v));
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((
            rest,
            Extracted {
                all,
                url_password,
                raw_query_passwords,
            },
        ))
    } else {
        let pairs = parse_key_values(dsn)?;
        let mut rest = String::new();
        for (k, v) in &pairs {
            if TLS_KEYS.contains(&k.as_str()) || UNSUPPORTED_KEYS.contains(&k.as_str()) {
                continue;
            }
            if !rest.is_empty() {
                rest.push(' ');
            }
            rest.push_str(k);
            rest.push_str("='");
            for c in v.chars() {
                if c == '\'' || c == '\\' {
                    rest.push('\\');
                }
                rest.push(c);
            }
            rest.push('\'');
        }
        Ok((
            rest,
            Extracted {
                all: pairs,
                url_password: None,
                raw_query_passwords: Vec::new(),
            },
        ))
    }
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

/// The placeholder stogger-core replaces by `STOGGER_POSTGRES_PASSWORD`. It
/// is not a secret, so [`redact`] and [`Redactor`] leave it visible: it tells
/// the reader where the password comes from.
pub const PASSWORD_PLACEHOLDER: &str = "%PASSWORD%";

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
                        format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
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
    /// A redactor for the password of `dsn` (if it has one).
    pub fn for_dsn(dsn: &str) -> Redactor {
        let mut r = Redactor::default();
        if let Ok((_, ex)) = split_dsn(dsn) {
            for secret in ex.passwords() {
                r.add(secret);
            }
        }
        r
    }

    /// Adds a password as given and in the percent-encoded form it takes in
    /// a URL DSN.
    pub fn add_password(&mut self, password: &str) {
        self.add(password);
        let mut encoded = String::with_capacity(password.len());
        for b in password.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                encoded.push(char::from(b));
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        self.add(&encoded);
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

    /// The shrunk input of the DSN property test (`tests/tests/prop_dsn.rs`):
    /// a password given as a URL query parameter was only known decoded,
    /// so a message quoting the DSN showed it as written.
    #[test]
    fn a_query_password_is_redacted_as_written_and_decoded() {
        let dsn = "postgres://a@localhost/?password=PWaa%40";
        let text = format!("error near PWaa@ in {dsn}");
        let cleaned = Redactor::for_dsn(dsn).apply(&text);
        assert_eq!(
            cleaned,
            "error near *** in postgres://a@localhost/?password=***"
        );
        let err = ConnSettings::parse(&OpenConfig::new(format!("{dsn}&sslmode=bogus")))
            .expect_err("bogus sslmode");
        assert!(!err.to_string().contains("PWaa"), "{err}");
    }

    #[test]
    fn json_defaults_and_overrides() {
        let c = OpenConfig::from_json(r#"{"dsn":"host=/tmp user=u dbname=d"}"#).unwrap();
        assert_eq!(c.table, "stogger_logs");
        assert_eq!(c.write_mode, WriteMode::Batch);
        assert_eq!(c.queue_capacity, 100_000);
        assert_eq!(c.batch_size, 5000);
        assert_eq!(c.flush_interval, Duration::from_millis(200));
        let c = OpenConfig::from_json(
            r#"{"dsn":"host=/tmp user=u","table":"s.t","write_mode":"sync","queue_capacity":5,
                "batch_size":2,"flush_interval_ms":0,"connect_timeout_ms":250,"future_key":[1]}"#,
        )
        .unwrap();
        assert_eq!(c.table, "s.t");
        assert_eq!(c.write_mode, WriteMode::Sync);
        assert_eq!(c.queue_capacity, 5);
        assert_eq!(c.connect_timeout, Duration::from_millis(250));
    }

    #[test]
    fn json_errors_name_the_key() {
        let cases = [
            ("not json", "config"),
            ("[1]", "config"),
            ("{}", "dsn"),
            (r#"{"dsn": 5}"#, "dsn"),
            (
                r#"{"dsn":"host=/tmp user=u","batch_size":"x"}"#,
                "batch_size",
            ),
            (
                r#"{"dsn":"host=/tmp user=u","queue_capacity":0}"#,
                "queue_capacity",
            ),
            (
                r#"{"dsn":"host=/tmp user=u","connect_timeout_ms":-1}"#,
                "connect_timeout_ms",
            ),
            (
                r#"{"dsn":"host=/tmp user=u","write_mode":"fast"}"#,
                "write_mode",
            ),
            (r#"{"dsn":"host=/tmp user=u","table":""}"#, "table"),
            (r#"{"dsn":"host=/tmp user=u sslmode=sometimes"}"#, "dsn"),
            (r#"{"dsn":"host=/tmp user=u bogus_option=1"}"#, "dsn"),
        ];
        for (json, key) in cases {
            let e = OpenConfig::from_json(json).unwrap_err();
            assert_eq!(e.key, key, "{json}: {e}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn dsn_forms_parse() {
        let mut c = OpenConfig::new("postgresql://stogger:@/logs?host=/var/run/postgresql");
        let s = ConnSettings::parse(&c).unwrap();
        assert_eq!(s.pg.get_user(), Some("stogger"));
        assert_eq!(s.pg.get_dbname(), Some("logs"));
        assert!(matches!(
            s.pg.get_hosts()[0],
            tokio_postgres::config::Host::Unix(ref p) if p == std::path::Path::new("/var/run/postgresql")
        ));
        assert_eq!(s.pg.get_application_name(), Some("stogger"));

        c.dsn = "postgresql://u:p%40ss@db.example:6543/logs?sslmode=require&sslrootcert=/ca.pem&application_name=x".into();
        let s = ConnSettings::parse(&c).unwrap();
        assert_eq!(s.pg.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(s.pg.get_ports(), &[6543]);
        assert_eq!(s.ssl_mode, SslMode::Require);
        assert_eq!(s.ssl_root_cert.as_deref(), Some("/ca.pem"));
        // verify-* load the CA file at parse time: a missing one is a config error.
        c.dsn = "postgresql://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent.pem".into();
        let e = ConnSettings::parse(&c).unwrap_err();
        assert_eq!(e.key, "dsn");
        assert!(e.message.contains("/nonexistent.pem"), "{e}");
        assert_eq!(s.pg.get_application_name(), Some("x"));

        c.dsn =
            "host=localhost port=5433 user=u password='a b\\'c' dbname=d sslmode=disable".into();
        c.application_name = Some("svc".into());
        let s = ConnSettings::parse(&c).unwrap();
        assert_eq!(s.pg.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(s.ssl_mode, SslMode::Disable);
        assert!(s.tls.is_none());
        assert_eq!(s.pg.get_application_name(), Some("svc"));
        assert_eq!(
            s.pg.get_connect_timeout(),
            Some(&Duration::from_millis(5000))
        );
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
    fn config_errors_never_show_the_password() {
        let mut c = OpenConfig::new("postgresql://u:topsecret@h/d?bogus=1");
        let e = ConnSettings::parse(&c).unwrap_err().to_string();
        assert!(!e.contains("topsecret"), "{e}");
        assert!(e.contains("bogus"), "{e}");
        c.dsn = "user=u password=topsecret sslmode=nope".into();
        let e = ConnSettings::parse(&c).unwrap_err().to_string();
        assert!(!e.contains("topsecret"), "{e}");
        assert!(format!("{c:?}").contains("***") && !format!("{c:?}").contains("topsecret"));
    }
}
