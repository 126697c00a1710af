//! `stogger doctor` against a real throwaway PostgreSQL: healthy, database
//! down, a table of the wrong shape, bad configuration. (`--service`, the
//! plugin search of a service: cli_doctor_service.rs.)

mod cli_support;

use cli_support::{config_entry, doctor_json, status, stogger, Setup, PASSWORD};

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
    // The primary key and the four indexes, compared by definition.
    let indexes = db["indexes"].as_array().unwrap();
    assert_eq!(indexes.len(), 5, "{indexes:#?}");
    assert!(indexes.iter().all(|i| i["status"] == "ok"), "{indexes:#?}");

    // The command links the plugin in (default feature `postgres`), and
    // says that this line is about itself, not a service.
    let plugin = &doc["sections"]["plugin"];
    assert_eq!(status(&doc, "plugin"), "ok");
    assert_eq!(plugin["how"], "static", "{plugin:#}");
    assert_eq!(plugin["for"], "cli");

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
    assert!(
        text.stdout.contains("this stogger command: linked in")
            && text.stdout.contains("--service PATH"),
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
    // Indexes were never made: reported too, each with its statement.
    let missing: Vec<&serde_json::Value> = db["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "missing")
        .collect();
    assert_eq!(missing.len(), 4, "{db:#}");
    assert!(missing.iter().all(|i| i["fix"]
        .as_str()
        .unwrap()
        .starts_with("CREATE INDEX CONCURRENTLY")));
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

#[test]
fn a_world_readable_log_file_is_a_warning_with_a_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("clitest.log");
    std::fs::write(&file, "a line from an earlier run\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let logdir = logs.display().to_string();
    let env = [
        ("STOGGER_SYSLOG_IDENTIFIER", "clitest"),
        ("STOGGER_LOGDIR", logdir.as_str()),
    ];
    let doctor = || {
        let out = stogger_tests::service::run(&stogger(), &["doctor", "--json"], dir.path(), &env);
        assert_eq!(out.code, Some(0), "a warning keeps exit 0: {}", out.stderr);
        doctor_json(&out)
    };

    let doc = doctor();
    let section = &doc["sections"]["file"];
    assert_eq!(status(&doc, "file"), "warning", "{section:#}");
    assert_eq!(section["mode"], "0644");
    let hint = section["hint"].as_str().unwrap();
    assert!(hint.contains("chmod o-r"), "{hint}");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let doc = doctor();
    assert_eq!(status(&doc, "file"), "ok", "{:#}", doc["sections"]["file"]);
    assert_eq!(doc["sections"]["file"]["mode"], "0640");
}

#[test]
fn the_filter_in_force_and_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stogger.toml"),
        "console_min_level = \"warning\"\nsystemd = \"off\"\n",
    )
    .unwrap();
    let run = |env: &[(&str, &str)]| {
        let out = stogger_tests::service::run(&stogger(), &["doctor", "--json"], dir.path(), env);
        let doc = doctor_json(&out);
        doc["sections"]["configuration"]["filters"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no filters table: {doc:#}"))
    };
    let row = |rows: &[serde_json::Value], output: &str| -> (String, String) {
        let r = rows
            .iter()
            .find(|r| r["output"] == output)
            .unwrap_or_else(|| panic!("no row for {output}: {rows:?}"));
        (
            r["filter in force"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            r["from"].as_str().unwrap_or_default().to_string(),
        )
    };

    let rows = run(&[("RUST_LOG", "hyper=warn"), ("STOGGER_FILE_FILTER", "debug")]);
    let (console, from) = row(&rows, "console");
    assert_eq!(console, "warn");
    assert!(
        from.starts_with("console_min_level (") && from.ends_with("stogger.toml)"),
        "{from}"
    );
    assert_eq!(
        row(&rows, "file"),
        (
            "debug".into(),
            "file_filter (env STOGGER_FILE_FILTER)".into()
        )
    );
    assert_eq!(
        row(&rows, "postgres"),
        (
            "info,hyper=warn".into(),
            "log_filter (env RUST_LOG) + format.min_level (default)".into()
        )
    );

    // STOGGER_LOG_FILTER wins over RUST_LOG; an invalid other variable does
    // not make the doctor forget RUST_LOG's place.
    let rows = run(&[
        ("RUST_LOG", "hyper=warn"),
        ("STOGGER_LOG_FILTER", "error"),
        ("STOGGER_LOG_MAX_BYTES", "lots"),
    ]);
    assert_eq!(
        row(&rows, "journal"),
        ("error".into(), "log_filter (env STOGGER_LOG_FILTER)".into())
    );
    let rows = run(&[
        ("RUST_LOG", "hyper=warn"),
        ("STOGGER_LOG_MAX_BYTES", "lots"),
    ]);
    assert_eq!(row(&rows, "journal").0, "info,hyper=warn");
}

#[test]
fn sync_mode_shows_the_pool_size_and_the_services_connections() {
    let mut s = Setup::new("cli-doctor-sync");
    s.create_table_with_schema_command();
    s.set("STOGGER_POSTGRES_WRITE_MODE", "sync");
    s.set("STOGGER_POSTGRES_SYNC_POOL_SIZE", "3");
    // A busy connection of the service (its application_name is the
    // syslog identifier, `clitest`).
    let mut busy = std::process::Command::new("psql")
        .arg(format!(
            "host={} port={} user=stogger dbname=stogger application_name=clitest",
            s.pg.socket_dir().display(),
            s.pg.port()
        ))
        .args(["-c", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'clitest' \
         AND state = 'active'",
    ) != "1"
    {
        assert!(std::time::Instant::now() < deadline, "psql never connected");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = s.run(&["doctor", "--json"]);
    let _ = busy.kill();
    let _ = busy.wait();
    let doc = doctor_json(&out);
    let pool = &doc["sections"]["sync_pool"];
    assert_eq!(status(&doc, "sync_pool"), "ok", "{pool:#}");
    assert_eq!(pool["size"], 3);
    assert_eq!(pool["opened"], 3, "a pool of the configured size opens");
    assert_eq!(pool["service_connections"]["active"], 1, "{pool:#}");
    assert!(pool["free_slots"].as_i64().unwrap() > 0, "{pool:#}");
    let text = s.run(&["doctor"]);
    assert!(
        text.stdout.contains("size 3 per process"),
        "{}",
        text.stdout
    );

    // Batch mode has no pool.
    s.set("STOGGER_POSTGRES_WRITE_MODE", "batch");
    let doc = doctor_json(&s.run(&["doctor", "--json"]));
    assert_eq!(status(&doc, "sync_pool"), "off");
}
