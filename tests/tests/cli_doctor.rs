//! `stogger doctor` against a real throwaway PostgreSQL: healthy, database
//! down, plugin absent, a table of the wrong shape, bad configuration.

mod cli_support;

use cli_support::{config_entry, doctor_json, status, stogger, Setup, PASSWORD};
use std::process::Command;

#[test]
fn healthy_setup_reports_every_section_and_exits_0() {
    let s = Setup::new("cli-doctor-ok");
    s.create_table_with_schema_command();
    s.sql(
        "INSERT INTO stogger_logs (\"timestamp\", level, event, data) \
         VALUES ('2026-11-24T10:00:00Z', 'info', 'seed', '{}')",
    );
    let out = s.run(&["doctor", "--json"]);
    let doc = doctor_json(&out);
    assert_eq!(out.code, Some(0), "{:#}\n{}", doc, out.stderr);
    assert_eq!(doc["ok"], true);
    for section in [
        "configuration",
        "console",
        "file",
        "journal",
        "postgres",
        "plugin",
        "database",
    ] {
        assert!(doc["sections"][section].is_object(), "{section} missing");
        assert!(doc["sections"][section]["detail"].is_string());
    }
    assert_eq!(
        status(&doc, "database"),
        "ok",
        "{:#}",
        doc["sections"]["database"]
    );
    let db = &doc["sections"]["database"];
    assert_eq!(db["table_present"], true);
    assert_eq!(db["can_insert"], true);
    assert_eq!(db["row_count"], 1);
    assert!(db["newest"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-24T10:00:00"));
    assert!(db["server_version"]
        .as_str()
        .unwrap()
        .starts_with(char::is_numeric));
    assert_eq!(db["columns"].as_array().unwrap().len(), 7);
    assert!(db["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["present"] == true));

    let plugin = &doc["sections"]["plugin"];
    assert_eq!(status(&doc, "plugin"), "ok");
    assert_eq!(plugin["how"], "dynamic");
    assert_eq!(plugin["abi_version"], stogger_core::plugin::ABI_VERSION);
    assert!(plugin["path"]
        .as_str()
        .unwrap()
        .ends_with("libstogger_postgres.so"));

    // Where each value came from.
    let from = |key: &str| {
        config_entry(&doc, key)["from"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(from("postgres_dsn"), "env STOGGER_POSTGRES_DSN");
    assert_eq!(from("postgres_table"), "default");
    assert_eq!(status(&doc, "journal"), "off"); // the harness sets systemd = off
    assert_eq!(
        doc["sections"]["file"]["path"].as_str().unwrap(),
        s.dir.path().join("logs/clitest.log").display().to_string()
    );

    // The text form says the same and exits the same.
    let text = s.run(&["doctor"]);
    assert_eq!(text.code, Some(0), "{}{}", text.stdout, text.stderr);
    assert!(text.stdout.contains("database"), "{}", text.stdout);
    assert!(
        text.stdout.contains("everything enabled works"),
        "{}",
        text.stdout
    );
}

#[test]
fn database_down_is_an_error_with_a_fix_and_never_shows_the_password() {
    let mut s = Setup::new("cli-doctor-down");
    let tcp = s.pg.tcp_dsn("stogger", PASSWORD, "stogger");
    s.set("STOGGER_POSTGRES_DSN", &tcp);
    s.create_table_with_schema_command();
    // Reachable first: the password in the DSN works, and is not printed.
    let up = s.run(&["doctor", "--json"]);
    assert_eq!(up.code, Some(0), "{}{}", up.stdout, up.stderr);
    assert!(!up.stdout.contains(PASSWORD) && !up.stderr.contains(PASSWORD));
    assert!(up.stdout.contains("stogger:***@127.0.0.1"), "{}", up.stdout);

    s.pg.stop_server().unwrap();
    for args in [&["doctor", "--json"][..], &["doctor"][..]] {
        let out = s.run(args);
        assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
        assert!(
            !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
            "password printed:\n{}{}",
            out.stdout,
            out.stderr
        );
        if args.len() == 2 {
            let doc = doctor_json(&out);
            assert_eq!(doc["ok"], false);
            assert_eq!(status(&doc, "database"), "error");
            let db = &doc["sections"]["database"];
            assert_eq!(db["connected"], false);
            assert!(db["hint"].as_str().unwrap().contains("running"), "{db:#}");
        } else {
            assert!(out.stdout.contains("fix: "), "{}", out.stdout);
            assert!(out.stdout.contains("(exit 1)"), "{}", out.stdout);
        }
    }

    // The password through %PASSWORD% is not printed either.
    s.set("STOGGER_POSTGRES_DSN", &tcp.replace(PASSWORD, "%PASSWORD%"));
    s.set("STOGGER_POSTGRES_PASSWORD", PASSWORD);
    let out = s.run(&["doctor", "--json"]);
    assert_eq!(out.code, Some(1));
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD));
}

#[test]
fn absent_plugin_is_an_error_naming_every_place_searched() {
    let s = Setup::new("cli-doctor-noplugin");
    // target/debug holds the plugin next to `stogger`: run a copy from a
    // directory without it, and keep the platform's search away from it.
    let bin_dir = tempfile::tempdir().unwrap();
    let copy = bin_dir.path().join("stogger");
    std::fs::copy(stogger(), &copy).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&copy);
    cmd.args(["doctor", "--json"])
        .current_dir(s.dir.path())
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("STOGGER_POSTGRES_PLUGIN")
        .env("STOGGER_SYSTEMD", "off")
        .env("STOGGER_PLUGIN_DIR", empty.path());
    for (k, v) in &s.env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let plugin = &doc["sections"]["plugin"];
    assert_eq!(plugin["status"], "error", "{plugin:#}");
    assert_eq!(plugin["how"], "absent");
    let searched: Vec<&str> = plugin["searched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let in_empty = empty.path().join("libstogger_postgres.so");
    let next_to_exe = bin_dir.path().join("libstogger_postgres.so");
    assert!(
        searched.contains(&in_empty.to_str().unwrap()),
        "{searched:?}"
    );
    assert!(
        searched.contains(&next_to_exe.to_str().unwrap()),
        "{searched:?}"
    );
    assert!(searched.contains(&"/usr/lib/stogger/libstogger_postgres.so"));
    assert!(plugin["hint"]
        .as_str()
        .unwrap()
        .contains("STOGGER_PLUGIN_DIR"));
    // The database itself is still checked (the CLI has the driver built in).
    assert_eq!(doc["sections"]["database"]["connected"], true);
}

#[test]
fn a_table_with_a_wrong_column_type_is_an_error() {
    let s = Setup::new("cli-doctor-badtable");
    s.sql(
        "CREATE TABLE stogger_logs (id BIGSERIAL PRIMARY KEY, \"timestamp\" TIMESTAMPTZ NOT NULL, \
         level TEXT NOT NULL, event TEXT NOT NULL, func TEXT, scope TEXT, data TEXT NOT NULL); \
         ALTER TABLE stogger_logs OWNER TO stogger",
    );
    let out = s.run(&["doctor", "--json"]);
    let doc = doctor_json(&out);
    assert_eq!(out.code, Some(1), "{doc:#}");
    let db = &doc["sections"]["database"];
    assert_eq!(db["status"], "error", "{db:#}");
    let data = db["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "data")
        .unwrap();
    assert_eq!(data["expected"], "jsonb");
    assert_eq!(data["actual"], "text");
    assert_eq!(data["ok"], false);
    assert!(db["detail"].as_str().unwrap().contains("data"), "{db:#}");
    assert!(db["hint"].as_str().unwrap().contains("stogger schema"));
    // Indexes were never made: reported too.
    assert!(db["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["present"] == false));
}

#[test]
fn invalid_and_unknown_configuration_is_reported_and_the_rest_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stogger.toml"),
        "syslog_identifier = \"svc\"\nlog_rotaton = \"size\"\n",
    )
    .unwrap();
    let run = |env: &[(&str, &str)]| {
        stogger_tests::service::run(&stogger(), &["doctor", "--json"], dir.path(), env)
    };

    // An unknown key is a warning with the nearest key; still healthy.
    let out = run(&[("STOGGER_LOGDIR", "logs")]);
    let doc = doctor_json(&out);
    assert_eq!(out.code, Some(0), "{doc:#}");
    let cfg = &doc["sections"]["configuration"];
    assert_eq!(cfg["status"], "warning");
    let warnings = cfg["warnings"].to_string();
    assert!(
        warnings.contains("log_rotaton") && warnings.contains("log_rotation"),
        "{warnings}"
    );
    assert!(cfg["file"].as_str().unwrap().ends_with("stogger.toml"));
    let from_file = config_entry(&doc, "syslog_identifier");
    assert_eq!(from_file["value"], "svc");
    assert!(from_file["from"]
        .as_str()
        .unwrap()
        .ends_with("stogger.toml"));

    // An invalid value is an error naming key, source and value; the other
    // sections are still there, computed without the faulty variable.
    let out = run(&[("STOGGER_LOG_MAX_BYTES", "lots")]);
    let doc = doctor_json(&out);
    assert_eq!(out.code, Some(1), "{doc:#}");
    let cfg = &doc["sections"]["configuration"];
    assert_eq!(cfg["status"], "error");
    let detail = cfg["detail"].as_str().unwrap();
    assert!(
        detail.contains("log_max_bytes")
            && detail.contains("STOGGER_LOG_MAX_BYTES")
            && detail.contains("lots"),
        "{detail}"
    );
    assert_eq!(status(&doc, "console"), "ok");
    assert_eq!(status(&doc, "postgres"), "off");
    let ident = config_entry(&doc, "syslog_identifier");
    assert_eq!(ident["value"], "svc", "the file's values are still used");
}

#[test]
fn events_dropped_by_a_full_queue_are_a_warning_with_the_count() {
    let s = Setup::new("cli-doctor-dropped");
    s.create_table_with_schema_command();
    // What the writer inserts after its queue overflowed (twice), plus an
    // old report outside the 24-hour window.
    s.sql(
        "INSERT INTO stogger_logs (\"timestamp\", level, event, data) VALUES \
         (now() - interval '1 hour', 'warning', 'stogger-events-dropped', '{\"dropped\": 120}'), \
         (now(), 'warning', 'stogger-events-dropped', '{\"dropped\": 5}'), \
         (now() - interval '3 days', 'warning', 'stogger-events-dropped', '{\"dropped\": 1000}')",
    );
    let out = s.run(&["doctor", "--json"]);
    let doc = doctor_json(&out);
    assert_eq!(out.code, Some(0), "a warning is not a failure: {doc:#}");
    let db = &doc["sections"]["database"];
    assert_eq!(db["dropped_last_24h"], 125, "{db:#}");
    assert_eq!(status(&doc, "database"), "warning");
    assert!(
        db["detail"]
            .as_str()
            .unwrap()
            .contains("125 events dropped"),
        "{db:#}"
    );
    assert!(
        db["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("postgres_queue_capacity"),
        "{db:#}"
    );
}
