//! The DSN's password never appears in `{:?}` of anything holding it: the
//! configuration, what the loader returns, the builder, the PostgreSQL
//! settings built from them, and the connection string itself.

use std::collections::HashMap;
use stogger_core::config::{load_from, Dsn};
use stogger_core::{Config, Stogger};

const SECRETS: [&str; 3] = ["url-secret", "kv secret", "env-secret"];

fn assert_hidden(what: &str, shown: &str) {
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{what} shows {secret:?}: {shown}");
    }
}

#[test]
fn debug_output_never_shows_a_password() {
    for dsn in [
        "postgresql://stogger:url-secret@db.example.com/logs",
        "host=db user=stogger password='kv secret' dbname=logs",
        "postgresql://stogger:%PASSWORD%@db.example.com/logs",
    ] {
        let cfg = Config {
            enable_postgres: true,
            postgres_dsn: Some(dsn.into()),
            ..Config::default()
        };
        let shown = format!("{cfg:?}");
        assert_hidden("Config", &shown);
        assert!(shown.contains("db"), "the rest stays visible: {shown}");
        assert_hidden("Config (pretty)", &format!("{cfg:#?}"));

        let settings = cfg.postgres_settings("env-secret").expect("a DSN is set");
        assert_hidden("PgSettings", &format!("{settings:?}"));
        assert_hidden("Dsn", &format!("{:?}", Dsn::from(dsn)));

        let builder = Stogger::builder()
            .postgres_dsn(dsn)
            .set("postgres_dsn", dsn)
            .verbose(true);
        let shown = format!("{builder:?}");
        assert_hidden("Builder", &shown);
        assert!(shown.contains("verbose"), "{shown}");

        let dir = tempfile::tempdir().expect("temp dir");
        let env: HashMap<&str, &str> = [("STOGGER_POSTGRES_DSN", dsn)].into();
        let loaded = load_from(
            dir.path(),
            &|name| env.get(name).map(|v| v.to_string()),
            &[],
        )
        .expect("loads");
        assert_hidden("Loaded", &format!("{loaded:?}"));
    }
}
