//! The configuration loader: sources and their precedence, file discovery,
//! value spellings, errors and warnings. Every test uses its own temporary
//! directory and an explicit environment; the process environment is never
//! read or changed.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use stogger_core::config::{
    load_from, load_from_vars, syslog_facility_code, ConfigError, GinOpclass, Loaded, LogFormat,
    Origin, PartitionManager, Partitioning, Rotation, SystemdMode, TimestampPrecision, WriteMode,
    KEYS,
};
use stogger_core::{Config, ConfigValue as Value, Level};
use tempfile::TempDir;

fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        fs::write(dir.path().join(name), text).expect("write config file");
    }
    dir
}

/// Loads from `dir` with exactly the variables in `env`.
fn load(
    dir: &Path,
    env: &[(&str, &str)],
    code: &[(&'static str, Value)],
) -> Result<Loaded, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load_from(dir, &|name| env.get(name).cloned(), code)
}

fn load_ok(dir: &Path, env: &[(&str, &str)], code: &[(&'static str, Value)]) -> Loaded {
    match load(dir, env, code) {
        Ok(l) => l,
        Err(e) => panic!("expected the configuration to load, got: {e}"),
    }
}

fn load_err(dir: &Path, env: &[(&str, &str)], code: &[(&'static str, Value)]) -> String {
    match load(dir, env, code) {
        Ok(l) => panic!("expected an error, got {:?}", l.config),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "message {message:?} lacks {part:?}");
    }
}

fn file_origin(dir: &TempDir, name: &str) -> Origin {
    Origin::File(dir.path().join(name))
}

fn env_origin(var: &str) -> Origin {
    Origin::Env(var.to_string())
}

// ---------------------------------------------------------------- sources

#[test]
fn nothing_set_gives_the_defaults_with_every_origin_default() {
    let dir = dir_with(&[]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.config, Config::default());
    assert_eq!(loaded.file, None);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.origins.len(), KEYS.len());
    for key in KEYS {
        assert_eq!(
            loaded.origins.get(key.name),
            Some(&Origin::Default),
            "{}",
            key.name
        );
    }
}

#[test]
fn each_source_overrides_the_ones_below_it() {
    let dir = dir_with(&[(
        "stogger.toml",
        r#"
verbose = true                 # file only
log_format = "json"            # file, then code
systemd = "off"                # file, code, env
[format]
min_level = "error"            # file, then env
"#,
    )]);
    let code = [
        ("log_format", Value::from("simple")),
        ("systemd", Value::from("required")),
        ("log_backup_count", Value::from(9)), // code only
    ];
    let env = [
        ("STOGGER_SYSTEMD", "auto"),
        ("STOGGER_MIN_LEVEL", "critical"),
        ("STOGGER_LOG_ROTATION", "size"), // env only
    ];
    let loaded = load_ok(dir.path(), &env, &code);
    let c = &loaded.config;
    let o = &loaded.origins;

    assert!(c.verbose);
    assert_eq!(o["verbose"], file_origin(&dir, "stogger.toml"));
    assert_eq!(c.log_format, LogFormat::Simple);
    assert_eq!(o["log_format"], Origin::Code);
    assert_eq!(c.systemd, SystemdMode::Auto);
    assert_eq!(o["systemd"], env_origin("STOGGER_SYSTEMD"));
    assert_eq!(c.format.min_level, Level::Critical);
    assert_eq!(o["format.min_level"], env_origin("STOGGER_MIN_LEVEL"));
    assert_eq!(c.log_backup_count, 9);
    assert_eq!(o["log_backup_count"], Origin::Code);
    assert_eq!(c.log_rotation, Rotation::Size);
    assert_eq!(o["log_rotation"], env_origin("STOGGER_LOG_ROTATION"));
    // Untouched keys keep their default and say so.
    assert_eq!(c.postgres_table, "stogger_logs");
    assert_eq!(o["postgres_table"], Origin::Default);
    assert_eq!(loaded.file, Some(dir.path().join("stogger.toml")));
    assert_eq!(loaded.file_table, None);
}

#[test]
fn stogger_toml_sets_every_kind_of_key() {
    let dir = dir_with(&[(
        "stogger.toml",
        r#"
verbose = true
log_filter = "info,hyper=warn"
logdir = "var/log/app"
log_to_console = false
log_to_file = false
syslog_identifier = "billing"
show_caller_info = true
log_format = "json"
systemd = "off"
systemd_facility = "LOG_DAEMON"
journal_socket = "/tmp/journal.sock"
enable_postgres = true
postgres_dsn = "postgresql://stogger:%PASSWORD%@db.example.com:5432/logs"
postgres_table = "audit.events"
postgres_plugin = "/opt/stogger/libstogger_postgres.so"
postgres_write_mode = "sync"
postgres_queue_capacity = 50
postgres_queue_max_bytes = "2MiB"
postgres_write_timeout_ms = 1500
postgres_spool_dir = "/var/spool/billing"
postgres_spool_max_bytes = "2GiB"
postgres_batch_size = 10
postgres_flush_interval_ms = 50
postgres_shutdown_timeout_ms = 0
postgres_connect_timeout_ms = 750
postgres_sync_pool_size = 6
postgres_prepared_statements = true
postgres_partitioning = "daily"
postgres_partition_premake = 7
postgres_retention_days = 30
postgres_default_partition = false
postgres_partition_manager = "external"
postgres_maintenance_interval_ms = 60000
postgres_gin_opclass = "jsonb_ops"
panic_flush_timeout_ms = 25
log_rotation = "size"
log_max_bytes = 4096
log_backup_count = 0
log_file_mode = "0600"
translation_dir = "i18n"
language = "de"
log_cmd_output = true
capture_backtrace = true
console_min_level = "warning"
file_min_level = "debug"
journal_min_level = "error"
postgres_min_level = "critical"
console_filter = "warn"
file_filter = "debug,hyper=info"
journal_filter = "error"
postgres_filter = "my_service::db=trace"
reload_on_sighup = true

[format]
timestamp_precision = "relative"
min_level = "warning"
show_code_info = true
pad_event_width = 0
"#,
    )]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert!(c.verbose);
    assert_eq!(c.logdir, PathBuf::from("var/log/app"));
    assert!(!c.log_to_console);
    assert!(!c.log_to_file);
    assert_eq!(c.syslog_identifier, "billing");
    assert!(c.show_caller_info);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.systemd, SystemdMode::Off);
    assert_eq!(c.systemd_facility, "LOG_DAEMON");
    assert_eq!(c.journal_socket, PathBuf::from("/tmp/journal.sock"));
    assert!(c.enable_postgres);
    assert_eq!(
        c.postgres_dsn.as_deref(),
        Some("postgresql://stogger:%PASSWORD%@db.example.com:5432/logs")
    );
    assert_eq!(c.postgres_table, "audit.events");
    assert_eq!(
        c.postgres_plugin,
        Some(PathBuf::from("/opt/stogger/libstogger_postgres.so"))
    );
    assert_eq!(c.postgres_write_mode, WriteMode::Sync);
    assert_eq!(c.postgres_queue_capacity, 50);
    assert_eq!(c.postgres_queue_max_bytes, 2 << 20);
    assert_eq!(c.postgres_write_timeout_ms, 1500);
    assert_eq!(
        c.postgres_spool_dir,
        Some(PathBuf::from("/var/spool/billing"))
    );
    assert_eq!(c.postgres_spool_max_bytes, 2 << 30);
    assert_eq!(c.postgres_batch_size, 10);
    assert_eq!(c.postgres_flush_interval_ms, 50);
    assert_eq!(c.postgres_shutdown_timeout_ms, 0);
    assert_eq!(c.postgres_connect_timeout_ms, 750);
    assert_eq!(c.postgres_sync_pool_size, 6);
    assert!(c.postgres_prepared_statements);
    assert_eq!(c.postgres_partitioning, Partitioning::Daily);
    assert_eq!(c.postgres_partition_premake, 7);
    assert_eq!(c.postgres_retention_days, 30);
    assert!(!c.postgres_default_partition);
    assert_eq!(c.postgres_partition_manager, PartitionManager::External);
    assert_eq!(c.postgres_maintenance_interval_ms, 60_000);
    assert_eq!(c.postgres_gin_opclass, GinOpclass::JsonbOps);
    assert_eq!(c.panic_flush_timeout_ms, 25);
    assert_eq!(c.log_rotation, Rotation::Size);
    assert_eq!(c.log_max_bytes, 4096);
    assert_eq!(c.log_backup_count, 0);
    assert_eq!(c.log_file_mode, 0o600);
    assert_eq!(c.translation_dir, Some(PathBuf::from("i18n")));
    assert_eq!(c.language.as_deref(), Some("de"));
    assert!(c.log_cmd_output);
    assert!(c.capture_backtrace);
    assert_eq!(c.console_min_level, Some(Level::Warning));
    assert_eq!(c.file_min_level, Some(Level::Debug));
    assert_eq!(c.journal_min_level, Some(Level::Error));
    assert_eq!(c.postgres_min_level, Some(Level::Critical));
    assert_eq!(c.log_filter.as_deref(), Some("info,hyper=warn"));
    assert_eq!(c.console_filter.as_deref(), Some("warn"));
    assert_eq!(c.file_filter.as_deref(), Some("debug,hyper=info"));
    assert_eq!(c.journal_filter.as_deref(), Some("error"));
    assert_eq!(c.postgres_filter.as_deref(), Some("my_service::db=trace"));
    assert!(c.reload_on_sighup);
    assert_eq!(c.format.timestamp_precision, TimestampPrecision::Relative);
    assert_eq!(c.format.min_level, Level::Warning);
    assert!(c.format.show_code_info);
    assert_eq!(c.format.pad_event_width, 0);
    // Every key was set by the file.
    for key in KEYS {
        assert_eq!(
            loaded.origins[key.name],
            file_origin(&dir, "stogger.toml"),
            "{}",
            key.name
        );
    }
}

#[test]
fn every_key_can_be_set_from_its_environment_variable() {
    let dir = dir_with(&[]);
    // One non-default value per key, in the string form the environment has.
    let values: &[(&str, &str)] = &[
        ("verbose", "yes"),
        ("log_filter", "info,hyper=warn"),
        ("logdir", "/var/log/x"),
        ("log_to_console", "0"),
        ("log_to_file", "no"),
        ("syslog_identifier", "svc"),
        ("show_caller_info", "1"),
        ("log_format", "json"),
        ("systemd", "off"),
        ("systemd_facility", "local3"),
        ("journal_socket", "/tmp/j"),
        ("enable_postgres", "true"),
        ("postgres_dsn", "host=/run/postgresql dbname=logs"),
        ("postgres_table", "t"),
        ("postgres_plugin", "/x/libstogger_postgres.so"),
        ("postgres_write_mode", "sync"),
        ("postgres_queue_capacity", "7"),
        ("postgres_queue_max_bytes", "65536"),
        ("postgres_write_timeout_ms", "250"),
        ("postgres_spool_dir", "/var/spool/x"),
        ("postgres_spool_max_bytes", "1MiB"),
        ("postgres_batch_size", "3"),
        ("postgres_flush_interval_ms", "9"),
        ("postgres_shutdown_timeout_ms", "11"),
        ("postgres_connect_timeout_ms", "13"),
        ("postgres_sync_pool_size", "3"),
        ("postgres_prepared_statements", "yes"),
        ("postgres_partitioning", "Hourly"),
        ("postgres_partition_premake", "0"),
        ("postgres_retention_days", "90"),
        ("postgres_default_partition", "no"),
        ("postgres_partition_manager", "external"),
        ("postgres_maintenance_interval_ms", "1000"),
        ("postgres_gin_opclass", "none"),
        ("panic_flush_timeout_ms", "0"),
        ("log_rotation", "size"),
        ("log_max_bytes", "2KiB"),
        ("log_backup_count", "2"),
        ("log_file_mode", "600"),
        ("translation_dir", "tr"),
        ("language", "fr"),
        ("log_cmd_output", "yes"),
        ("capture_backtrace", "1"),
        ("console_min_level", "warn"),
        ("file_min_level", "debug"),
        ("journal_min_level", "error"),
        ("postgres_min_level", "critical"),
        ("console_filter", "warn"),
        ("file_filter", "trace"),
        ("journal_filter", "my_service=debug"),
        ("postgres_filter", "error"),
        ("reload_on_sighup", "yes"),
        ("format.timestamp_precision", "iso"),
        ("format.min_level", "debug"),
        ("format.show_code_info", "TRUE"),
        ("format.pad_event_width", "12"),
    ];
    assert_eq!(values.len(), KEYS.len(), "one value per key");
    for key in KEYS {
        let (_, value) = values
            .iter()
            .find(|(name, _)| *name == key.name)
            .unwrap_or_else(|| panic!("no test value for {}", key.name));
        let loaded = load_ok(dir.path(), &[(key.env, value)], &[]);
        assert_ne!(
            loaded.config,
            Config::default(),
            "{}={value} changed nothing",
            key.env
        );
        assert_eq!(loaded.origins[key.name], env_origin(key.env));
        let others_default = loaded
            .origins
            .iter()
            .filter(|(name, _)| **name != key.name)
            .all(|(_, o)| *o == Origin::Default);
        assert!(others_default, "{} set other keys too", key.env);
    }
}

#[test]
fn format_keys_are_named_by_their_short_name_in_the_environment() {
    for key in KEYS.iter().filter(|k| k.name.starts_with("format.")) {
        let short = &key.name["format.".len()..];
        assert_eq!(key.env, format!("STOGGER_{}", short.to_uppercase()));
    }
    let dir = dir_with(&[]);
    let loaded = load_ok(
        dir.path(),
        &[
            ("STOGGER_TIMESTAMP_PRECISION", "iso_no_z"),
            ("STOGGER_PAD_EVENT_WIDTH", "40"),
        ],
        &[],
    );
    assert_eq!(
        loaded.config.format.timestamp_precision,
        TimestampPrecision::IsoNoZ
    );
    assert_eq!(loaded.config.format.pad_event_width, 40);
}

#[test]
fn code_values_take_dotted_format_keys_or_a_format_table() {
    let dir = dir_with(&[]);
    let table: Value = [("show_code_info", true)].into_iter().collect();
    let loaded = load_ok(
        dir.path(),
        &[],
        &[("format.min_level", Value::from("warn")), ("format", table)],
    );
    assert_eq!(loaded.config.format.min_level, Level::Warning);
    assert!(loaded.config.format.show_code_info);
    assert_eq!(loaded.origins["format.show_code_info"], Origin::Code);
}

// ---------------------------------------------------------------- files

#[test]
fn cargo_toml_package_metadata_table_is_read() {
    let dir = dir_with(&[(
        "Cargo.toml",
        r#"
[package]
name = "billing"
version = "0.1.0"

[package.metadata.stogger]
syslog_identifier = "billing-api"
enable_postgres = true

[package.metadata.stogger.format]
min_level = "debug"
"#,
    )]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.file, Some(dir.path().join("Cargo.toml")));
    assert_eq!(loaded.file_table, Some("package.metadata.stogger"));
    assert_eq!(loaded.config.syslog_identifier, "billing-api");
    assert!(loaded.config.enable_postgres);
    assert_eq!(loaded.config.format.min_level, Level::Debug);
    assert_eq!(
        loaded.origins["enable_postgres"],
        file_origin(&dir, "Cargo.toml")
    );
    // The rest of Cargo.toml (name, version) is not stogger's: no warnings.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn pyproject_tool_table_is_read() {
    let dir = dir_with(&[(
        "pyproject.toml",
        r#"
[project]
name = "svc"

[tool.stogger]
enable_postgres = true
postgres_dsn = "postgresql://stogger:@/logs?host=/var/run/postgresql"
postgres_table = "stogger_logs"
"#,
    )]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.file, Some(dir.path().join("pyproject.toml")));
    assert_eq!(loaded.file_table, Some("tool.stogger"));
    assert!(loaded.config.enable_postgres);
    assert_eq!(
        loaded.config.postgres_dsn.as_deref(),
        Some("postgresql://stogger:@/logs?host=/var/run/postgresql")
    );
}

#[test]
fn discovery_prefers_stogger_toml_then_cargo_then_pyproject() {
    let stogger = ("stogger.toml", "syslog_identifier = \"from-stogger\"\n");
    let cargo = (
        "Cargo.toml",
        "[package]\nname = \"x\"\n[package.metadata.stogger]\nsyslog_identifier = \"from-cargo\"\n",
    );
    let pyproject = (
        "pyproject.toml",
        "[tool.stogger]\nsyslog_identifier = \"from-pyproject\"\n",
    );
    let id = |files: &[(&str, &str)]| {
        let dir = dir_with(files);
        load_ok(dir.path(), &[], &[]).config.syslog_identifier
    };
    assert_eq!(id(&[stogger, cargo, pyproject]), "from-stogger");
    assert_eq!(id(&[cargo, pyproject]), "from-cargo");
    assert_eq!(id(&[pyproject]), "from-pyproject");
}

#[test]
fn manifests_without_a_stogger_table_do_not_count_as_found() {
    let plain_cargo = (
        "Cargo.toml",
        "[package]\nname = \"x\"\nversion = \"0.1.0\"\n",
    );
    let plain_pyproject = (
        "pyproject.toml",
        "[project]\nname = \"x\"\n[tool.black]\nline-length = 88\n",
    );
    let pyproject = ("pyproject.toml", "[tool.stogger]\nverbose = true\n");

    let dir = dir_with(&[plain_cargo, pyproject]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.file, Some(dir.path().join("pyproject.toml")));
    assert!(loaded.config.verbose);

    let dir = dir_with(&[plain_cargo, plain_pyproject]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.file, None);
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn an_empty_stogger_toml_is_found_and_stops_the_search() {
    let dir = dir_with(&[
        ("stogger.toml", "# all defaults\n"),
        ("pyproject.toml", "[tool.stogger]\nverbose = true\n"),
    ]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.file, Some(dir.path().join("stogger.toml")));
    assert!(!loaded.config.verbose);
}

#[test]
fn stogger_config_names_the_file_to_read() {
    let elsewhere = dir_with(&[("prod.toml", "log_format = \"json\"\n")]);
    let cwd = dir_with(&[("stogger.toml", "log_format = \"simple\"\nverbose = true\n")]);
    let path = elsewhere.path().join("prod.toml");
    let loaded = load_ok(
        cwd.path(),
        &[("STOGGER_CONFIG", path.to_str().expect("utf-8 path"))],
        &[],
    );
    assert_eq!(loaded.file, Some(path.clone()));
    assert_eq!(loaded.config.log_format, LogFormat::Json);
    // stogger.toml in the working directory is not read at all.
    assert!(!loaded.config.verbose);
    assert_eq!(loaded.origins["log_format"], Origin::File(path));
}

#[test]
fn stogger_config_relative_path_is_relative_to_the_working_directory() {
    let cwd = dir_with(&[]);
    fs::create_dir(cwd.path().join("etc")).expect("mkdir");
    fs::write(cwd.path().join("etc/app.toml"), "verbose = \"yes\"\n").expect("write");
    let loaded = load_ok(cwd.path(), &[("STOGGER_CONFIG", "etc/app.toml")], &[]);
    assert!(loaded.config.verbose);
    assert_eq!(loaded.file, Some(cwd.path().join("etc/app.toml")));
}

#[test]
fn stogger_config_pointing_at_a_manifest_reads_its_stogger_table() {
    let other = dir_with(&[(
        "Cargo.toml",
        "[package]\nname = \"x\"\n[package.metadata.stogger]\nlog_rotation = \"size\"\n",
    )]);
    let cwd = dir_with(&[]);
    let path = other.path().join("Cargo.toml");
    let loaded = load_ok(
        cwd.path(),
        &[("STOGGER_CONFIG", path.to_str().expect("utf-8"))],
        &[],
    );
    assert_eq!(loaded.config.log_rotation, Rotation::Size);
    assert_eq!(loaded.file_table, Some("package.metadata.stogger"));
}

#[test]
fn stogger_config_missing_file_is_an_error_naming_variable_and_path() {
    let cwd = dir_with(&[("stogger.toml", "verbose = true\n")]);
    let missing = cwd.path().join("nope/stogger.toml");
    let err = load_err(
        cwd.path(),
        &[("STOGGER_CONFIG", missing.to_str().expect("utf-8"))],
        &[],
    );
    assert_contains(
        &err,
        &[
            "STOGGER_CONFIG",
            &missing.display().to_string(),
            "cannot be read",
        ],
    );
}

#[test]
fn an_unreadable_config_file_is_an_error_naming_it() {
    // A directory where stogger.toml should be: it exists but is no file.
    let dir = dir_with(&[]);
    fs::create_dir(dir.path().join("stogger.toml")).expect("mkdir");
    let err = load_err(dir.path(), &[], &[]);
    assert_contains(
        &err,
        &[
            "cannot read config file",
            &dir.path().join("stogger.toml").display().to_string(),
        ],
    );
}

#[test]
fn toml_syntax_error_names_the_file_and_line() {
    let dir = dir_with(&[("stogger.toml", "verbose = true\nlogdir = \"unterminated\n")]);
    let err = load(dir.path(), &[], &[]).expect_err("syntax error");
    let path = dir.path().join("stogger.toml");
    assert!(
        matches!(&err, ConfigError::Syntax { line: Some(2), path: p, .. } if *p == path),
        "{err:?}"
    );
    assert_contains(
        &err.to_string(),
        &["TOML syntax error", &path.display().to_string(), "line 2"],
    );
}

#[test]
fn a_syntax_error_in_pyproject_is_reported_too() {
    let dir = dir_with(&[("pyproject.toml", "[tool.stogger\nverbose = true\n")]);
    let err = load_err(dir.path(), &[], &[]);
    assert_contains(&err, &["pyproject.toml", "line 1"]);
}

// ---------------------------------------------------------------- spellings

#[test]
fn boolean_spellings_in_environment_and_file() {
    let dir = dir_with(&[]);
    for (text, expected) in [
        ("1", true),
        ("true", true),
        ("yes", true),
        ("TRUE", true),
        ("Yes", true),
        (" yes ", true),
        ("0", false),
        ("false", false),
        ("no", false),
        ("NO", false),
        ("False", false),
    ] {
        // Start from the opposite of the expected value so a no-op fails.
        let code = [("verbose", Value::from(!expected))];
        let loaded = load_ok(dir.path(), &[("STOGGER_VERBOSE", text)], &code);
        assert_eq!(loaded.config.verbose, expected, "STOGGER_VERBOSE={text:?}");

        let file = dir_with(&[("stogger.toml", &format!("log_to_console = {text:?}\n"))]);
        let loaded = load_ok(file.path(), &[], &[]);
        assert_eq!(
            loaded.config.log_to_console, expected,
            "log_to_console = {text:?}"
        );
    }
    for (text, expected) in [("true", true), ("false", false), ("1", true), ("0", false)] {
        let file = dir_with(&[(
            "stogger.toml",
            &format!("[format]\nshow_code_info = {text}\n"),
        )]);
        let loaded = load_ok(file.path(), &[], &[]);
        assert_eq!(loaded.config.format.show_code_info, expected, "bare {text}");
    }
}

#[test]
fn every_enum_value_is_accepted_in_any_case() {
    /// The effective value of the key `var` sets, as its Debug name.
    fn shown(c: &Config, var: &str) -> String {
        match var {
            "STOGGER_LOG_FORMAT" => format!("{:?}", c.log_format),
            "STOGGER_SYSTEMD" => format!("{:?}", c.systemd),
            "STOGGER_LOG_ROTATION" => format!("{:?}", c.log_rotation),
            "STOGGER_POSTGRES_WRITE_MODE" => format!("{:?}", c.postgres_write_mode),
            "STOGGER_TIMESTAMP_PRECISION" => format!("{:?}", c.format.timestamp_precision),
            "STOGGER_MIN_LEVEL" => format!("{:?}", c.format.min_level),
            other => panic!("no getter for {other}"),
        }
    }
    let dir = dir_with(&[]);
    let cases = [
        ("STOGGER_LOG_FORMAT", "simple", "Simple"),
        ("STOGGER_LOG_FORMAT", "JSON", "Json"),
        ("STOGGER_SYSTEMD", "auto", "Auto"),
        ("STOGGER_SYSTEMD", "Required", "Required"),
        ("STOGGER_SYSTEMD", "off", "Off"),
        ("STOGGER_LOG_ROTATION", "none", "None"),
        ("STOGGER_LOG_ROTATION", "SIZE", "Size"),
        ("STOGGER_POSTGRES_WRITE_MODE", "batch", "Batch"),
        ("STOGGER_POSTGRES_WRITE_MODE", "sync", "Sync"),
        ("STOGGER_TIMESTAMP_PRECISION", "iso", "Iso"),
        ("STOGGER_TIMESTAMP_PRECISION", "iso_seconds", "IsoSeconds"),
        ("STOGGER_TIMESTAMP_PRECISION", "iso_no_z", "IsoNoZ"),
        ("STOGGER_TIMESTAMP_PRECISION", "relative", "Relative"),
        ("STOGGER_MIN_LEVEL", "debug", "Debug"),
        ("STOGGER_MIN_LEVEL", "info", "Info"),
        ("STOGGER_MIN_LEVEL", "warning", "Warning"),
        ("STOGGER_MIN_LEVEL", "warn", "Warning"),
        ("STOGGER_MIN_LEVEL", "error", "Error"),
        ("STOGGER_MIN_LEVEL", "CRITICAL", "Critical"),
    ];
    for (var, value, expected) in cases {
        let loaded = load_ok(dir.path(), &[(var, value)], &[]);
        assert_eq!(shown(&loaded.config, var), expected, "{var}={value}");
    }
}

#[test]
fn enum_values_from_the_file() {
    let dir = dir_with(&[(
        "stogger.toml",
        "log_format = \"json\"\nsystemd = \"required\"\npostgres_write_mode = \"sync\"\n\
         [format]\ntimestamp_precision = \"iso_no_z\"\nmin_level = \"warn\"\n",
    )]);
    let c = load_ok(dir.path(), &[], &[]).config;
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.systemd, SystemdMode::Required);
    assert_eq!(c.postgres_write_mode, WriteMode::Sync);
    assert_eq!(c.format.timestamp_precision, TimestampPrecision::IsoNoZ);
    assert_eq!(c.format.min_level, Level::Warning);
}

#[test]
fn sizes_accept_integers_and_units() {
    let dir = dir_with(&[]);
    for (text, bytes) in [
        ("1234", 1234u64),
        ("10MB", 10_000_000),
        ("10MiB", 10 * 1024 * 1024),
        ("10 mib", 10 * 1024 * 1024),
        ("5KB", 5_000),
        ("2GiB", 2 << 30),
    ] {
        let loaded = load_ok(dir.path(), &[("STOGGER_LOG_MAX_BYTES", text)], &[]);
        assert_eq!(loaded.config.log_max_bytes, bytes, "{text}");
    }
    let file = dir_with(&[("stogger.toml", "log_max_bytes = 1_048_576\n")]);
    assert_eq!(
        load_ok(file.path(), &[], &[]).config.log_max_bytes,
        1_048_576
    );
    let file = dir_with(&[("stogger.toml", "log_max_bytes = \"3KiB\"\n")]);
    assert_eq!(load_ok(file.path(), &[], &[]).config.log_max_bytes, 3072);
}

#[test]
fn integers_come_from_toml_integers_or_decimal_strings() {
    let dir = dir_with(&[(
        "stogger.toml",
        "postgres_batch_size = \"250\"\nlog_backup_count = 3\n",
    )]);
    let c = load_ok(
        dir.path(),
        &[("STOGGER_POSTGRES_QUEUE_CAPACITY", "5000")],
        &[],
    )
    .config;
    assert_eq!(c.postgres_batch_size, 250);
    assert_eq!(c.log_backup_count, 3);
    assert_eq!(c.postgres_queue_capacity, 5000);
}

#[test]
fn an_empty_string_unsets_optional_keys() {
    let dir = dir_with(&[(
        "stogger.toml",
        "postgres_dsn = \"host=db\"\nlanguage = \"de\"\n",
    )]);
    let c = load_ok(
        dir.path(),
        &[("STOGGER_POSTGRES_DSN", ""), ("STOGGER_LANGUAGE", "")],
        &[],
    )
    .config;
    assert_eq!(c.postgres_dsn, None);
    assert_eq!(c.language, None);
}

#[test]
fn facility_names_are_normalised() {
    let dir = dir_with(&[]);
    let c = load_ok(dir.path(), &[("STOGGER_SYSTEMD_FACILITY", "local5")], &[]).config;
    assert_eq!(c.systemd_facility, "LOG_LOCAL5");
    assert_eq!(syslog_facility_code(&c.systemd_facility), Some(21));
}

#[test]
fn relative_logdir_stays_relative() {
    let dir = dir_with(&[("stogger.toml", "logdir = \"run/logs\"\n")]);
    let c = load_ok(dir.path(), &[], &[]).config;
    assert_eq!(c.logdir, PathBuf::from("run/logs"));
}

// ---------------------------------------------------------------- errors

#[test]
fn invalid_env_enum_names_variable_value_and_allowed_values() {
    let dir = dir_with(&[]);
    let err = load_err(dir.path(), &[("STOGGER_LOG_ROTATION", "sizes")], &[]);
    assert_contains(
        &err,
        &[
            "STOGGER_LOG_ROTATION",
            "sizes",
            "none, size",
            "log_rotation",
        ],
    );
}

#[test]
fn invalid_file_enum_names_file_key_value_and_allowed_values() {
    let dir = dir_with(&[("stogger.toml", "verbose = true\nlog_rotation = \"sizes\"\n")]);
    let path = dir.path().join("stogger.toml");
    let err = load(dir.path(), &[], &[]).expect_err("invalid value");
    assert_contains(
        &err.to_string(),
        &[
            &path.display().to_string(),
            "log_rotation",
            "sizes",
            "none, size",
        ],
    );
    match err {
        ConfigError::InvalidValue {
            key, origin, line, ..
        } => {
            assert_eq!(key, "log_rotation");
            assert_eq!(origin, Origin::File(path));
            assert_eq!(line, Some(2));
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn wrong_toml_types_are_invalid_values() {
    for (text, key, value) in [
        ("verbose = \"maybe\"", "verbose", "maybe"),
        ("log_max_bytes = \"lots\"", "log_max_bytes", "lots"),
        ("log_max_bytes = 1.5", "log_max_bytes", "1.5"),
        ("postgres_table = 42", "postgres_table", "42"),
        ("log_format = true", "log_format", "true"),
        ("verbose = 2", "verbose", "2"),
    ] {
        let dir = dir_with(&[("stogger.toml", text)]);
        let info = KEYS.iter().find(|k| k.name == key).expect("key");
        let err = load_err(dir.path(), &[], &[]);
        assert_contains(&err, &["stogger.toml", key, value, info.allowed]);
    }
}

#[test]
fn out_of_range_values_are_errors() {
    let dir = dir_with(&[]);
    for (var, value) in [
        ("STOGGER_POSTGRES_QUEUE_CAPACITY", "0"),
        ("STOGGER_POSTGRES_BATCH_SIZE", "0"),
        ("STOGGER_PAD_EVENT_WIDTH", "201"),
        ("STOGGER_POSTGRES_FLUSH_INTERVAL_MS", "0"),
        ("STOGGER_POSTGRES_CONNECT_TIMEOUT_MS", "0"),
        ("STOGGER_LOG_MAX_BYTES", "0"),
        ("STOGGER_LOG_BACKUP_COUNT", "-1"),
        ("STOGGER_LOG_BACKUP_COUNT", "4294967296"),
        ("STOGGER_POSTGRES_BATCH_SIZE", "99999999999999999999999"),
        ("STOGGER_SYSLOG_IDENTIFIER", ""),
        ("STOGGER_SYSLOG_IDENTIFIER", "a/b"),
        ("STOGGER_LOGDIR", ""),
        ("STOGGER_POSTGRES_TABLE", "a.b.c"),
        ("STOGGER_POSTGRES_TABLE", ""),
        ("STOGGER_SYSTEMD_FACILITY", "LOG_LOCAL9"),
    ] {
        let err = load_err(dir.path(), &[(var, value)], &[]);
        assert_contains(&err, &[var, value, "allowed:"]);
    }
    // The upper bound of pad_event_width is inclusive.
    let c = load_ok(dir.path(), &[("STOGGER_PAD_EVENT_WIDTH", "200")], &[]).config;
    assert_eq!(c.format.pad_event_width, 200);
}

/// The PostgreSQL writer's own limits are the configuration's: a value the
/// writer would refuse (and so switch PostgreSQL off after `init_logging()`
/// succeeded) is a configuration error naming the key, where the value
/// came from, and the allowed range.
#[test]
fn values_the_postgres_writer_refuses_are_configuration_errors() {
    let file = dir_with(&[(
        "stogger.toml",
        "enable_postgres = true\npostgres_connect_timeout_ms = 900000\n",
    )]);
    let err = load_err(file.path(), &[], &[]);
    let at = format!("{}:2", file.path().join("stogger.toml").display());
    assert_contains(
        &err,
        &[
            "postgres_connect_timeout_ms",
            "900000",
            &at,
            "from 1 to 600000",
        ],
    );

    let dir = dir_with(&[]);
    let err = load_err(
        dir.path(),
        &[("STOGGER_POSTGRES_QUEUE_CAPACITY", "100000001")],
        &[],
    );
    assert_contains(
        &err,
        &[
            "postgres_queue_capacity",
            "STOGGER_POSTGRES_QUEUE_CAPACITY",
            "100000001",
            "from 1 to 100000000",
        ],
    );

    let err = load_err(
        dir.path(),
        &[],
        &[("postgres_shutdown_timeout_ms", Value::from(3_600_001))],
    );
    assert_contains(
        &err,
        &[
            "postgres_shutdown_timeout_ms",
            "3600001",
            "set in code",
            "from 0 to 3600000",
        ],
    );

    // The bounds themselves are allowed, and what loads is what the writer takes.
    let loaded = load_ok(
        dir.path(),
        &[
            ("STOGGER_POSTGRES_DSN", "host=/tmp"),
            ("STOGGER_POSTGRES_CONNECT_TIMEOUT_MS", "600000"),
            ("STOGGER_POSTGRES_QUEUE_CAPACITY", "100000000"),
            ("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "3600000"),
        ],
        &[],
    );
    let settings = loaded.config.postgres_settings("").expect("a DSN is set");
    assert_eq!(settings.validate(), Ok(()));
    assert_eq!(settings.queue_capacity, 100_000_000);
}

#[test]
fn invalid_code_value_is_an_error_naming_the_builder() {
    let dir = dir_with(&[]);
    let err = load_err(dir.path(), &[], &[("systemd", Value::from("sometimes"))]);
    assert_contains(
        &err,
        &["systemd", "sometimes", "auto, required, off", "set in code"],
    );
}

#[test]
fn invalid_value_in_a_manifest_names_the_table_and_line() {
    let dir = dir_with(&[(
        "Cargo.toml",
        "[package]\nname = \"x\"\n\n[package.metadata.stogger.format]\nmin_level = \"loud\"\n",
    )]);
    let err = load_err(dir.path(), &[], &[]);
    assert_contains(
        &err,
        &[
            "[package.metadata.stogger]",
            &format!("{}:5", dir.path().join("Cargo.toml").display()),
            "format.min_level",
            "loud",
            "debug, info, warning (or warn), error, critical",
        ],
    );
}

#[test]
fn the_first_bad_value_in_file_order_is_reported() {
    let dir = dir_with(&[(
        "stogger.toml",
        "systemd = \"sometimes\"\nlog_format = \"xml\"\n",
    )]);
    let err = load_err(dir.path(), &[], &[]);
    assert_contains(&err, &["`systemd`", "stogger.toml:1", "sometimes"]);
}

#[test]
fn an_invalid_file_value_is_an_error_even_when_env_overrides_it() {
    let dir = dir_with(&[("stogger.toml", "log_rotation = \"daily\"\n")]);
    let err = load_err(dir.path(), &[("STOGGER_LOG_ROTATION", "size")], &[]);
    assert_contains(&err, &["stogger.toml", "daily"]);
}

#[test]
fn the_connection_string_never_appears_in_an_error() {
    let dir = dir_with(&[(
        "stogger.toml",
        "postgres_dsn = [\"postgresql://u:hunter2@db/logs\"]\n",
    )]);
    let err = load_err(dir.path(), &[], &[]);
    assert_contains(&err, &["postgres_dsn", "not shown"]);
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_non_table_format_entry_is_an_error() {
    let dir = dir_with(&[("stogger.toml", "format = \"fancy\"\n")]);
    let err = load_err(dir.path(), &[], &[]);
    assert_contains(&err, &["`format`", "fancy", "a table"]);
}

#[test]
fn control_characters_in_values_are_escaped_in_messages() {
    let dir = dir_with(&[]);
    let err = load_err(dir.path(), &[("STOGGER_LOG_FORMAT", "\u{1b}[31mred")], &[]);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert_contains(&err, &["[31mred"]);
}

// ---------------------------------------------------------------- warnings

#[test]
fn unknown_file_key_is_a_warning_with_the_nearest_key() {
    let dir = dir_with(&[("stogger.toml", "log_format = \"json\"\nverbos = true\n")]);
    let loaded = load_ok(dir.path(), &[], &[]);
    // The rest of the file still applies.
    assert_eq!(loaded.config.log_format, LogFormat::Json);
    assert!(!loaded.config.verbose);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert_contains(
        &loaded.warnings[0],
        &[
            "`verbos`",
            &format!("{}:2", dir.path().join("stogger.toml").display()),
            "did you mean `verbose`?",
        ],
    );
}

#[test]
fn keys_in_the_wrong_table_get_pointed_to_the_right_one() {
    let dir = dir_with(&[(
        "stogger.toml",
        "min_level = \"debug\"\n[format]\nverbose = true\npad_event_widht = 20\n",
    )]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.config, Config::default());
    let all = loaded.warnings.join("\n");
    assert_eq!(loaded.warnings.len(), 3, "{all}");
    assert_contains(
        &all,
        &[
            "did you mean `min_level` in the [format] table?",
            "did you mean top-level `verbose`",
            "unknown key `pad_event_widht` in [format]",
            "did you mean `pad_event_width`?",
        ],
    );
}

#[test]
fn unknown_key_in_a_manifest_table_names_the_table() {
    let dir = dir_with(&[(
        "pyproject.toml",
        "[tool.stogger]\nenable_postgress = true\n",
    )]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.warnings.len(), 1);
    assert_contains(
        &loaded.warnings[0],
        &[
            "[tool.stogger]",
            "pyproject.toml:2",
            "`enable_postgress`",
            "`enable_postgres`",
        ],
    );
}

#[test]
fn unknown_key_far_from_any_known_key_has_no_suggestion() {
    let dir = dir_with(&[("stogger.toml", "zzz = 1\n")]);
    let loaded = load_ok(dir.path(), &[], &[]);
    assert_eq!(loaded.warnings.len(), 1);
    assert_contains(&loaded.warnings[0], &["unknown key `zzz`"]);
    assert!(
        !loaded.warnings[0].contains("did you mean"),
        "{}",
        loaded.warnings[0]
    );
}

#[test]
fn unknown_code_key_is_a_warning() {
    let dir = dir_with(&[]);
    let loaded = load_ok(dir.path(), &[], &[("min_level", Value::from("debug"))]);
    assert_eq!(loaded.config.format.min_level, Level::Info);
    assert_eq!(loaded.warnings.len(), 1);
    assert_contains(
        &loaded.warnings[0],
        &[
            "`min_level`",
            "set in code",
            "did you mean `format.min_level`?",
        ],
    );
}

#[test]
fn unknown_stogger_env_var_is_a_warning_with_the_nearest_variable() {
    let dir = dir_with(&[]);
    let loaded = load_from_vars(
        dir.path(),
        [
            ("STOGGER_VERBOS", "1"),
            ("STOGGER_POSTGRES_DNS", "host=x"),
            ("STOGGER_VERBOSE", "1"),
            ("PATH", "/usr/bin"),
        ],
        &[],
    )
    .expect("loads");
    assert!(loaded.config.verbose);
    assert_eq!(loaded.config.postgres_dsn, None);
    let all = loaded.warnings.join("\n");
    assert_eq!(loaded.warnings.len(), 2, "{all}");
    assert_contains(
        &all,
        &[
            "unknown environment variable STOGGER_VERBOS",
            "did you mean STOGGER_VERBOSE (key `verbose`)?",
            "unknown environment variable STOGGER_POSTGRES_DNS",
            "did you mean STOGGER_POSTGRES_DSN (key `postgres_dsn`)?",
        ],
    );
}

#[test]
fn stogger_variables_that_are_not_keys_are_not_warned_about() {
    let dir = dir_with(&[]);
    let loaded = load_from_vars(
        dir.path(),
        [
            ("STOGGER_POSTGRES_PASSWORD", "secret"),
            ("STOGGER_PLUGIN_DIR", "/opt/stogger"),
            (
                "STOGGER_POSTGRES_PLUGIN",
                "/opt/stogger/libstogger_postgres.so",
            ),
            ("STOGGER_TEST_KEEP_PG", "1"),
            ("STOGGER_BENCH_EVENTS", "1000"),
            ("STOGGER_CONFIG", ""),
        ],
        &[],
    )
    .expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // STOGGER_POSTGRES_PLUGIN is the variable of the postgres_plugin key.
    assert_eq!(
        loaded.config.postgres_plugin,
        Some(PathBuf::from("/opt/stogger/libstogger_postgres.so"))
    );
    assert_eq!(
        loaded.origins["postgres_plugin"],
        env_origin("STOGGER_POSTGRES_PLUGIN")
    );
}

#[test]
fn load_from_vars_applies_values_like_load_from() {
    let dir = dir_with(&[("stogger.toml", "log_format = \"json\"\n")]);
    let loaded =
        load_from_vars(dir.path(), [("STOGGER_LOG_FORMAT", "simple")], &[]).expect("loads");
    assert_eq!(loaded.config.log_format, LogFormat::Simple);
    let err = load_from_vars(dir.path(), [("STOGGER_LOG_ROTATION", "sizes")], &[])
        .expect_err("invalid")
        .to_string();
    assert_contains(&err, &["STOGGER_LOG_ROTATION", "sizes", "none, size"]);
}

#[test]
fn batch_larger_than_queue_is_a_warning_when_postgres_is_on() {
    let dir = dir_with(&[]);
    let env = [
        ("STOGGER_POSTGRES_BATCH_SIZE", "500"),
        ("STOGGER_POSTGRES_QUEUE_CAPACITY", "100"),
    ];
    let loaded = load_ok(dir.path(), &env, &[]);
    assert!(
        loaded.warnings.is_empty(),
        "postgres is off: {:?}",
        loaded.warnings
    );
    let env = [env[0], env[1], ("STOGGER_ENABLE_POSTGRES", "yes")];
    let loaded = load_ok(dir.path(), &env, &[]);
    assert_eq!(loaded.warnings.len(), 1);
    assert_contains(
        &loaded.warnings[0],
        &["postgres_batch_size (500)", "postgres_queue_capacity (100)"],
    );
}

// ---------------------------------------------------------------- origins

#[test]
fn origins_cover_every_key_and_name_each_source() {
    let dir = dir_with(&[("stogger.toml", "[format]\npad_event_width = 10\n")]);
    let loaded = load_ok(
        dir.path(),
        &[("STOGGER_SHOW_CODE_INFO", "yes")],
        &[("language", Value::from("en"))],
    );
    let keys: Vec<&str> = loaded.origins.keys().copied().collect();
    let mut expected: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(
        loaded.origins["format.pad_event_width"],
        file_origin(&dir, "stogger.toml")
    );
    assert_eq!(
        loaded.origins["format.show_code_info"],
        env_origin("STOGGER_SHOW_CODE_INFO")
    );
    assert_eq!(loaded.origins["language"], Origin::Code);
    let set = loaded
        .origins
        .values()
        .filter(|o| **o != Origin::Default)
        .count();
    assert_eq!(set, 3);
    assert_eq!(
        loaded.origins["format.show_code_info"].to_string(),
        "env STOGGER_SHOW_CODE_INFO"
    );
}

// ---------------------------------------------------------------- load()

/// Set in the child process the next test starts.
const CHILD: &str = "STOGGER_TEST_CONFIG_CHILD";

/// `load()` reads the real working directory and process environment; the
/// check runs in a child process (this test binary again) so this process's
/// environment is never changed.
#[test]
fn load_reads_the_working_directory_and_process_environment() {
    if std::env::var_os(CHILD).is_some() {
        let loaded = match stogger_core::config::load(&[("log_backup_count", Value::from(8))]) {
            Ok(l) => l,
            Err(e) => panic!("load failed: {e}"),
        };
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(loaded.file, Some(cwd.join("stogger.toml")));
        assert_eq!(loaded.config.log_format, LogFormat::Json);
        assert_eq!(loaded.config.log_backup_count, 8);
        assert!(loaded.config.verbose);
        assert_eq!(loaded.origins["verbose"], env_origin("STOGGER_VERBOSE"));
        let all = loaded.warnings.join("\n");
        assert!(all.contains("STOGGER_VERBOS "), "{all}");
        assert!(!all.contains(CHILD), "{all}");
        return;
    }
    let dir = dir_with(&[("stogger.toml", "log_format = \"json\"\n")]);
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe);
    child
        .args([
            "--exact",
            "load_reads_the_working_directory_and_process_environment",
            "--test-threads=1",
        ])
        .current_dir(dir.path())
        .env(CHILD, "1")
        .env("STOGGER_VERBOSE", "yes")
        .env("STOGGER_VERBOS", "1")
        .env_remove("STOGGER_CONFIG");
    for key in KEYS {
        if key.env != "STOGGER_VERBOSE" {
            child.env_remove(key.env);
        }
    }
    let out = child.output().expect("run child");
    assert!(
        out.status.success(),
        "child failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The filter matched: the child really ran the check.
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

/// A key's variable that is not UTF-8 is an error, not a silent default.
#[cfg(unix)]
#[test]
fn non_utf8_environment_value_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    if std::env::var_os(CHILD).is_some() {
        let err = stogger_core::config::load(&[]).expect_err("not UTF-8");
        assert_contains(&err.to_string(), &["STOGGER_LOGDIR", "UTF-8"]);
        return;
    }
    let dir = dir_with(&[]);
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "non_utf8_environment_value_is_an_error"])
        .current_dir(dir.path())
        .env(CHILD, "1")
        .env(
            "STOGGER_LOGDIR",
            std::ffi::OsStr::from_bytes(b"/var/log/\xff"),
        )
        .output()
        .expect("run child");
    assert!(
        out.status.success(),
        "child failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

// ---------------------------------------------------------------- filters

#[test]
fn rust_log_stands_in_for_log_filter_only_when_nothing_sets_the_key() {
    let dir = dir_with(&[]);
    let loaded = load_ok(dir.path(), &[("RUST_LOG", "warn,my_app=debug")], &[]);
    assert_eq!(
        loaded.config.log_filter.as_deref(),
        Some("warn,my_app=debug")
    );
    assert_eq!(loaded.origins["log_filter"], env_origin("RUST_LOG"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let loaded = load_ok(
        dir.path(),
        &[("RUST_LOG", "trace"), ("STOGGER_LOG_FILTER", "info")],
        &[],
    );
    assert_eq!(loaded.config.log_filter.as_deref(), Some("info"));
    assert_eq!(
        loaded.origins["log_filter"],
        env_origin("STOGGER_LOG_FILTER")
    );

    // Set to nothing on purpose: the shorthands decide, RUST_LOG is not used.
    let loaded = load_ok(
        dir.path(),
        &[("RUST_LOG", "trace"), ("STOGGER_LOG_FILTER", "")],
        &[],
    );
    assert_eq!(loaded.config.log_filter, None);
    assert_eq!(
        loaded.origins["log_filter"],
        env_origin("STOGGER_LOG_FILTER")
    );

    let filed = dir_with(&[("stogger.toml", "log_filter = \"error\"\n")]);
    let loaded = load_ok(filed.path(), &[("RUST_LOG", "trace")], &[]);
    assert_eq!(loaded.config.log_filter.as_deref(), Some("error"));
    let loaded = load_ok(
        dir.path(),
        &[("RUST_LOG", "trace")],
        &[("log_filter", "debug".into())],
    );
    assert_eq!(loaded.config.log_filter.as_deref(), Some("debug"));
    assert_eq!(loaded.origins["log_filter"], Origin::Code);
}

#[test]
fn a_bad_directive_names_key_source_directive_and_syntax() {
    let dir = dir_with(&[]);
    let err = load(
        dir.path(),
        &[("STOGGER_LOG_FILTER", "info,hyper=loud")],
        &[],
    )
    .expect_err("a bad directive");
    let text = err.to_string();
    for part in [
        "\"hyper=loud\"",
        "`log_filter`",
        "environment variable STOGGER_LOG_FILTER",
        "syntax: comma-separated directives as in RUST_LOG",
    ] {
        assert!(text.contains(part), "{part:?} missing in {text}");
    }
    assert!(matches!(
        err,
        ConfigError::InvalidDirective { key: "log_filter", ref directive, .. } if directive == "hyper=loud"
    ));

    let err = load_err(dir.path(), &[("RUST_LOG", "info,my_app=verbose")], &[]);
    assert!(
        err.contains("in `log_filter` from environment variable RUST_LOG"),
        "{err}"
    );

    let filed = dir_with(&[(
        "stogger.toml",
        "verbose = true\nfile_filter = \"info,[req]=debug\"\n",
    )]);
    let text = load_err(filed.path(), &[], &[]);
    assert!(
        text.contains("\"[req]=debug\" in `file_filter` at "),
        "{text}"
    );
    assert!(
        text.contains("stogger.toml:2: span and field directives"),
        "{text}"
    );
}

// ---------------------------------------------------------------- docs

#[test]
fn the_configuration_reference_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let doc = fs::read_to_string(&path).expect("docs/configuration.md");
    for key in KEYS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", key.name)))
            .unwrap_or_else(|| panic!("no row for `{}` in {}", key.name, path.display()));
        assert!(
            row.contains(&format!("`{}`", key.env)),
            "row of `{}` lacks {}",
            key.name,
            key.env
        );
    }
}
