//! Connection strings as the CLI shows them: the password redacted.
//! (`%PASSWORD%` substitution, DSN parsing and redaction are those of the
//! contract crate, `stogger_pg_proto::dsn`, which stogger-core and the
//! plugin use too: there is one implementation of this security-sensitive
//! code.)
//!
//! The password never reaches the output: everything the CLI prints about
//! a DSN goes through [`redact`], and every report is passed through
//! [`Secrets::scrub`] before it is printed, as a second line of defence
//! (a driver error that quoted the connection string, say).

use stogger_pg_proto::dsn::Redactor;
pub use stogger_pg_proto::dsn::{
    redact, PASSWORD_ENV as PASSWORD_VAR, PASSWORD_PLACEHOLDER as PLACEHOLDER,
};

/// The secrets known to this run, removed from anything printed.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    redactor: Redactor,
}

impl Secrets {
    /// The password from `STOGGER_POSTGRES_PASSWORD` and any password written
    /// into the DSN itself.
    pub fn new(dsn: Option<&str>, env_password: Option<&str>) -> Secrets {
        let mut redactor = dsn.map(Redactor::for_dsn).unwrap_or_default();
        if let Some(p) = env_password {
            redactor.add_password(p);
        }
        Secrets { redactor }
    }

    /// `text` with every known secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        self.redactor.apply(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_and_empty_passwords_stay_visible() {
        assert_eq!(
            redact("postgresql://stogger:@/logs?host=/var/run/postgresql"),
            "postgresql://stogger:@/logs?host=/var/run/postgresql"
        );
        assert_eq!(
            redact("postgresql://stogger:%PASSWORD%@db/logs"),
            "postgresql://stogger:%PASSWORD%@db/logs"
        );
        assert_eq!(
            redact("host=db user=app password=hunter2 dbname=logs"),
            "host=db user=app password=*** dbname=logs"
        );
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
        assert_eq!(kv.scrub("got a b"), "got ***");
        let placeholder = Secrets::new(Some("postgresql://u:%PASSWORD%@h/d"), None);
        assert_eq!(placeholder.scrub("uses %PASSWORD%"), "uses %PASSWORD%");
    }
}
