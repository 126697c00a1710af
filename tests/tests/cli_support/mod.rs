//! Shared setup of the `stogger` CLI tests: the built binary, a throwaway
//! PostgreSQL with a `stogger` role and database, a private working
//! directory, and the environment that points stogger at them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use stogger_tests::pg::{cluster_or_fail, Cluster};
use stogger_tests::service::{self, Outcome};

/// Password of the `stogger` role (TCP connections need it).
pub const PASSWORD: &str = "Pw-9f3b-never-printed";

/// The `stogger` binary next to the test binary (`cargo xtask test` builds it).
pub fn stogger() -> PathBuf {
    service::built_binary("stogger")
}

/// A throwaway cluster plus a working directory for the CLI.
pub struct Setup {
    /// The cluster (stopped and removed on drop).
    pub pg: Cluster,
    /// The CLI's working directory (logs go to `logs/`).
    pub dir: tempfile::TempDir,
    /// Extra variables for every run.
    pub env: Vec<(String, String)>,
}

impl Setup {
    /// Starts a cluster with a `stogger` role/database; PostgreSQL enabled
    /// over the unix socket, console and file on, journal off.
    pub fn new(name: &str) -> Setup {
        let pg = cluster_or_fail(name);
        pg.create_user_and_db("stogger", PASSWORD)
            .expect("create role and database");
        let dir = tempfile::tempdir().expect("temp dir");
        let env = vec![
            ("STOGGER_ENABLE_POSTGRES".into(), "true".into()),
            (
                "STOGGER_POSTGRES_DSN".into(),
                pg.socket_dsn("stogger", "stogger"),
            ),
            ("STOGGER_SYSLOG_IDENTIFIER".into(), "clitest".into()),
            (
                "STOGGER_LOGDIR".into(),
                dir.path().join("logs").display().to_string(),
            ),
            ("STOGGER_POSTGRES_CONNECT_TIMEOUT_MS".into(), "3000".into()),
            ("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS".into(), "3000".into()),
        ];
        Setup { pg, dir, env }
    }

    /// Replaces (or adds) one variable.
    pub fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Runs `stogger args...` in the working directory.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_exe(&stogger(), args)
    }

    /// Runs another copy of the binary.
    pub fn run_exe(&self, exe: &Path, args: &[&str]) -> Outcome {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        service::run(exe, args, self.dir.path(), &env)
    }

    /// SQL as the superuser in the `stogger` database.
    pub fn sql(&self, sql: &str) -> String {
        self.pg
            .psql("stogger", sql)
            .unwrap_or_else(|e| panic!("psql failed: {e}"))
    }

    /// Creates the log table from `stogger schema` through psql, as a DBA would.
    pub fn create_table_with_schema_command(&self) -> String {
        let out = self.run(&["schema"]);
        assert_eq!(out.code, Some(0), "stogger schema failed: {}", out.stderr);
        self.psql_script(&out.stdout);
        out.stdout
    }

    /// Feeds `script` to psql as the `stogger` role (as a DBA pipes
    /// `stogger schema` into it), failing the test when PostgreSQL refuses it.
    pub fn psql_script(&self, script: &str) {
        let mut psql = Command::new("psql")
            .arg("-h")
            .arg(self.pg.socket_dir())
            .arg("-p")
            .arg(self.pg.port().to_string())
            .args([
                "-U",
                "stogger",
                "-d",
                "stogger",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql");
        {
            use std::io::Write;
            let mut stdin = psql.stdin.take().expect("psql stdin");
            stdin.write_all(script.as_bytes()).expect("feed psql");
        }
        let done = psql.wait_with_output().expect("psql");
        assert!(
            done.status.success(),
            "PostgreSQL refused:\n{script}\n{}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
}

/// Parses `stogger doctor --json` output.
pub fn doctor_json(out: &Outcome) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json is not one JSON document ({e}):\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        )
    })
}

/// The status of a doctor section.
/// The configuration section's entry for `key`: `{"key", "value", "from"}`.
#[allow(dead_code)] // not every test file uses it
pub fn config_entry<'a>(doc: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    doc["sections"]["configuration"]["values"]
        .as_array()
        .and_then(|values| values.iter().find(|v| v["key"] == key))
        .unwrap_or_else(|| panic!("no configuration value {key} in {doc:#}"))
}

pub fn status<'a>(doc: &'a serde_json::Value, section: &str) -> &'a str {
    doc["sections"][section]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no section {section} in {doc:#}"))
}
