//! The connection settings: the DSN of [`PgSettings`] turned into what
//! tokio-postgres connects with (the settings themselves, DSN parsing and
//! redaction are the contract's, `stogger_pg_proto`).
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
//!
//! [`ConnSettings::parse`] is the one place that turns [`PgSettings`] into a
//! `tokio_postgres::Config` with every time limit of a connection: the
//! connect timeout, TCP keepalives ([`KEEPALIVE_IDLE`],
//! [`KEEPALIVE_INTERVAL`], [`KEEPALIVE_RETRIES`]: a dead idle peer is
//! noticed within 30 s) and `tcp_user_timeout` (= `write_timeout_ms`: sent
//! data that stays unacknowledged that long closes the connection). Every
//! path that connects (batch writer, sync mode, doctor's check) uses it;
//! statements are bounded by [`ConnSettings::write_timeout`] on top.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use stogger_pg_proto::dsn::{redact, ParsedDsn, Redactor};
use stogger_pg_proto::{PgSettings, SettingsError};

use crate::tls::SslMode;

/// TCP keepalive: the first probe after this long without traffic.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
/// TCP keepalive: between two unanswered probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// TCP keepalive: unanswered probes before the connection is closed.
pub const KEEPALIVE_RETRIES: u32 = 3;

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
    /// Bound for one write and for every statement (`write_timeout_ms`).
    pub write_timeout: Duration,
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
            .field("write_timeout", &self.write_timeout)
            .finish()
    }
}

/// libpq TLS keys we do not support; a clear error instead of tokio-postgres'
/// "unknown option".
const UNSUPPORTED_KEYS: [&str; 5] = ["sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir"];
/// The keys tokio-postgres does not get: the TLS keys we handle ourselves
/// (`sslmode`, `sslrootcert`) and the unsupported ones.
const SET_ASIDE: [&str; 7] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
];

impl ConnSettings {
    /// Parses the DSN of `config` and applies `connect_timeout`,
    /// keepalives, `tcp_user_timeout` and `application_name`.
    pub fn parse(config: &PgSettings) -> Result<ConnSettings, SettingsError> {
        let dsn = config.dsn.as_str();
        let display = redact(dsn);
        let mut redactor = Redactor::new();
        let parsed = ParsedDsn::parse(dsn, &SET_ASIDE)
            .map_err(|m| SettingsError::new("dsn", format!("{m} (in {display})")))?;
        // Whatever parsing happens next, messages must not show the password:
        // register what looks like one before tokio-postgres sees the text.
        redactor.add_parsed(&parsed);
        let mut pg = tokio_postgres::Config::from_str(&parsed.remaining).map_err(|e| {
            SettingsError::new(
                "dsn",
                format!("{} (in {display})", redactor.apply(&e.to_string())),
            )
        })?;
        if let Some(p) = pg.get_password() {
            redactor.add(&String::from_utf8_lossy(p));
        }
        let mut ssl_mode = SslMode::Prefer;
        let mut ssl_root_cert = None;
        for (k, v) in parsed.params {
            match k.as_str() {
                "sslmode" => {
                    ssl_mode = SslMode::parse(&v).ok_or_else(|| {
                        SettingsError::new(
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
                    return Err(SettingsError::new(
                        "dsn",
                        format!("{k} is not supported (client certificates are not implemented)"),
                    ))
                }
                _ => {}
            }
        }
        pg.ssl_mode(ssl_mode.for_tokio_postgres());
        let tls = crate::tls::connector(ssl_mode, ssl_root_cert.as_deref())
            .map_err(|m| SettingsError::new("dsn", m))?;
        pg.connect_timeout(config.connect_timeout)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES)
            .tcp_user_timeout(config.write_timeout);
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
                    return Err(SettingsError::new(
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
            write_timeout: config.write_timeout,
            redactor,
            display,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `stogger_pg_open` refuses: the contract's checks (tested in
    /// `stogger_pg_proto::settings`), then the DSN as tokio-postgres and
    /// the TLS set-up read it.
    fn refused(json: &str) -> SettingsError {
        PgSettings::from_json(json)
            .and_then(|c| ConnSettings::parse(&c).map(|_| ()))
            .unwrap_err()
    }

    #[test]
    fn json_errors_name_the_key() {
        let cases = [
            (r#"{"dsn":"host=/tmp user=u","table":""}"#, "table"),
            (r#"{"dsn":"host=/tmp user=u sslmode=sometimes"}"#, "dsn"),
            (r#"{"dsn":"host=/tmp user=u bogus_option=1"}"#, "dsn"),
        ];
        for (json, key) in cases {
            let e = refused(json);
            assert_eq!(e.key, key, "{json}: {e}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn dsn_forms_parse() {
        let mut c = PgSettings::new("postgresql://stogger:@/logs?host=/var/run/postgresql");
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
    fn every_connection_has_its_time_limits() {
        let mut c = PgSettings::new("postgresql://u@db.example/logs");
        c.write_timeout = Duration::from_millis(1500);
        let s = ConnSettings::parse(&c).unwrap();
        assert!(s.pg.get_keepalives());
        assert_eq!(s.pg.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(s.pg.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(s.pg.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
        assert_eq!(
            s.pg.get_tcp_user_timeout(),
            Some(&Duration::from_millis(1500))
        );
        assert_eq!(s.write_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn config_errors_never_show_the_password() {
        let mut c = PgSettings::new("postgresql://u:topsecret@h/d?bogus=1");
        let e = ConnSettings::parse(&c).unwrap_err().to_string();
        assert!(!e.contains("topsecret"), "{e}");
        assert!(e.contains("bogus"), "{e}");
        c.dsn = "user=u password=topsecret sslmode=nope".into();
        let e = ConnSettings::parse(&c).unwrap_err().to_string();
        assert!(!e.contains("topsecret"), "{e}");
        assert!(format!("{c:?}").contains("***") && !format!("{c:?}").contains("topsecret"));
    }
}
