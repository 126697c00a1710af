//! stogger-core seen from outside: a real service process, its stderr and
//! its log file, under different configurations.

use std::fs;
use std::path::{Path, PathBuf};
use stogger_tests::service::{run, strip_ansi, Outcome};

const SERVICE: &str = env!("CARGO_BIN_EXE_stogger-test-service");

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn logdir(&self) -> PathBuf {
        self.path().join("logs")
    }

    fn run(&self, scenario: &str, env: &[(&str, &str)]) -> Outcome {
        let logdir = self.logdir();
        let mut all = vec![
            ("STOGGER_SYSLOG_IDENTIFIER", "svc"),
            ("STOGGER_LOGDIR", logdir.to_str().unwrap()),
        ];
        all.extend_from_slice(env);
        run(Path::new(SERVICE), &[scenario], self.path(), &all)
    }

    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.logdir().join(name)).unwrap_or_default()
    }
}

/// `2026-06-01T17:19:01Z` at the start of a line.
fn starts_with_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 21
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'Z'
        && b[20] == b' '
}

/// The part of a line after the timestamp.
fn after_timestamp(line: &str) -> &str {
    &line[21..]
}

#[test]
fn readme_service_writes_the_documented_lines_to_stderr_and_file() {
    let sb = Sandbox::new();
    let out = sb.run("readme", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "stderr: {}", out.stderr);
    assert!(lines.iter().all(|l| starts_with_timestamp(l)), "{lines:?}");
    assert_eq!(
        after_timestamp(lines[0]),
        "I user-login                     User alice logged in from 192.168.1.1"
    );
    assert_eq!(
        after_timestamp(lines[1]),
        "I order-charged                  amount=99.99 currency='USD' customer_id=67890 order_id=12345"
    );
    assert_eq!(sb.log("svc.log"), out.stderr, "the file gets the same text");
}

#[test]
fn colours_only_on_the_console_never_in_the_file() {
    let sb = Sandbox::new();
    let out = sb.run("readme", &[("CLICOLOR_FORCE", "1")]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("\u{1b}["),
        "CLICOLOR_FORCE colours a pipe: {:?}",
        out.stderr
    );
    let file = sb.log("svc.log");
    assert!(!file.contains('\u{1b}'));
    assert_eq!(strip_ansi(&out.stderr), file);
    let out = sb.run("readme", &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!out.stderr.contains('\u{1b}'), "NO_COLOR wins");
}

#[test]
fn invalid_env_value_is_an_error_naming_variable_value_and_choices() {
    let sb = Sandbox::new();
    let out = sb.run("readme", &[("STOGGER_LOG_ROTATION", "sizes")]);
    assert_eq!(out.code, Some(2), "init_logging must fail: {}", out.stderr);
    for part in ["STOGGER_LOG_ROTATION", "sizes", "none, size"] {
        assert!(
            out.stderr.contains(part),
            "missing {part:?} in {}",
            out.stderr
        );
    }
}

#[test]
fn invalid_file_value_is_an_error_naming_file_and_key() {
    let sb = Sandbox::new();
    fs::write(sb.path().join("stogger.toml"), "log_rotation = \"sizes\"\n").unwrap();
    let out = sb.run("readme", &[]);
    assert_eq!(out.code, Some(2), "init_logging must fail: {}", out.stderr);
    for part in ["stogger.toml", "log_rotation", "sizes", "none, size"] {
        assert!(
            out.stderr.contains(part),
            "missing {part:?} in {}",
            out.stderr
        );
    }
}

#[test]
fn unwritable_logdir_is_a_warning_event_and_the_service_goes_on() {
    let sb = Sandbox::new();
    let blocker = sb.path().join("not-a-dir");
    fs::write(&blocker, "a file where the log directory should be").unwrap();
    let logdir = blocker.join("logs");
    let out = run(
        Path::new(SERVICE),
        &["readme"],
        sb.path(),
        &[
            ("STOGGER_LOGDIR", logdir.to_str().unwrap()),
            ("NO_COLOR", "1"),
        ],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(" W file-logging-setup-failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("I user-login"),
        "console keeps working: {}",
        out.stderr
    );
}

#[test]
fn early_logging_then_configured_logging() {
    let sb = Sandbox::new();
    let out = sb.run("early", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stderr.contains("I early-event"));
    assert!(out.stderr.contains("I configured-event"));
    let file = sb.log("svc.log");
    assert!(
        file.contains("configured-event") && !file.contains("early-event"),
        "{file}"
    );
}

#[test]
fn second_init_replaces_the_first_configuration() {
    let sb = Sandbox::new();
    // No STOGGER_SYSLOG_IDENTIFIER here: the environment would override the
    // identifiers the service sets in code.
    let logdir = sb.logdir();
    let out = run(
        Path::new(SERVICE),
        &["reinit"],
        sb.path(),
        &[
            ("STOGGER_LOGDIR", logdir.to_str().unwrap()),
            ("NO_COLOR", "1"),
        ],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let first = sb.log("first.log");
    let second = sb.log("second.log");
    assert!(
        first.contains("to-first") && !first.contains("to-second"),
        "first: {first}"
    );
    assert!(
        second.contains("to-second") && !second.contains("to-first"),
        "second: {second}"
    );
    assert!(
        second.contains("after-first-guard-dropped"),
        "dropping the replaced guard leaves the second configuration on: {second}"
    );
}

#[test]
fn stogger_layer_composes_with_a_users_registry() {
    let sb = Sandbox::new();
    let out = sb.run("own-registry", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stdout.contains("composed-event"),
        "the other layer sees it: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("I composed-event"),
        "stogger sees it: {}",
        out.stderr
    );
}

#[test]
fn log_crate_records_reach_stogger() {
    let sb = Sandbox::new();
    let out = sb.run("log-bridge", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(" W from the log crate"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_panic_is_logged_and_flushed_to_the_file() {
    let sb = Sandbox::new();
    let out = sb.run("panic", &[("NO_COLOR", "1")]);
    assert_eq!(
        out.code,
        Some(101),
        "a panicking main exits 101: {}",
        out.stderr
    );
    let file = sb.log("svc.log");
    assert!(file.contains("before-panic"), "{file}");
    assert!(
        file.contains(" C panic"),
        "the panic is a critical event: {file}"
    );
    assert!(file.contains("worker exploded"), "{file}");
    assert!(
        file.contains("scope-failed"),
        "the scope ended by the panic: {file}"
    );
}

#[test]
fn debug_only_with_verbose() {
    let sb = Sandbox::new();
    let quiet = sb.run("levels", &[("NO_COLOR", "1")]);
    assert!(
        !quiet.stderr.contains("debug-event") && quiet.stderr.contains("info-event"),
        "{}",
        quiet.stderr
    );
    let verbose = sb.run("levels", &[("NO_COLOR", "1"), ("STOGGER_VERBOSE", "yes")]);
    assert!(
        verbose.stderr.contains("D debug-event"),
        "{}",
        verbose.stderr
    );
    let warn_only = sb.run(
        "levels",
        &[("NO_COLOR", "1"), ("STOGGER_MIN_LEVEL", "warning")],
    );
    assert!(
        !warn_only.stderr.contains("info-event") && warn_only.stderr.contains("W warning-event")
    );
}

#[test]
fn json_log_format_writes_one_object_per_line() {
    let sb = Sandbox::new();
    let out = sb.run(
        "readme",
        &[("STOGGER_LOG_FORMAT", "json"), ("NO_COLOR", "1")],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let file = sb.log("svc.log");
    let objects: Vec<serde_json::Value> = file
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["event"], "user-login");
    assert_eq!(objects[0]["user_id"], 123);
    assert_eq!(objects[1]["amount"], 99.99);
    assert!(out.stderr.contains("I user-login"), "console stays text");
}

#[test]
fn log_to_file_false_creates_no_file_and_keeps_the_console() {
    let sb = Sandbox::new();
    let out = sb.run(
        "readme",
        &[("NO_COLOR", "1"), ("STOGGER_LOG_TO_FILE", "false")],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stderr.contains("I user-login"));
    assert!(!sb.logdir().exists(), "no log directory is created");
}

#[test]
fn per_target_levels_keep_debug_in_the_file_and_only_warnings_on_the_console() {
    let sb = Sandbox::new();
    let out = sb.run(
        "levels",
        &[
            ("NO_COLOR", "1"),
            ("STOGGER_FILE_MIN_LEVEL", "debug"),
            ("STOGGER_CONSOLE_MIN_LEVEL", "warning"),
        ],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(!out.stderr.contains("info-event") && !out.stderr.contains("debug-event"));
    assert!(out.stderr.contains("W warning-event"), "{}", out.stderr);
    let file = sb.log("svc.log");
    for event in ["D debug-event", "I info-event", "W warning-event"] {
        assert!(file.contains(event), "file lacks {event}: {file}");
    }
}

// ------------------------------------------------------------ filtering

/// Lines of `text` holding `needle`.
fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn stogger_filters_only_what_stogger_receives() {
    let sb = Sandbox::new();
    let out = sb.run("composed", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let (fmt, ours) = (&out.stdout, &out.stderr);
    // The user's fmt layer at debug gets its debug events, before, during
    // and after stogger's lifetime, `log` records included.
    for event in [
        "debug-before-init",
        "debug-event",
        "db-debug",
        "log-crate-debug",
        "noisy-info",
        "debug-after-shutdown",
        "error-after-shutdown",
    ] {
        assert_eq!(count(fmt, event), 1, "fmt lacks {event}: {fmt}");
    }
    assert_eq!(count(fmt, "trace-event"), 0, "fmt is at debug: {fmt}");
    // stogger at its default (info) takes info and up, and nothing after
    // its shutdown.
    for event in [
        "I info-event",
        "W warning-event",
        "C critical-event",
        "I noisy-info",
        "I log-crate-info",
    ] {
        assert_eq!(count(ours, event), 1, "stogger lacks {event}: {ours}");
    }
    for event in ["debug", "trace-event", "after-shutdown"] {
        assert_eq!(count(ours, event), 0, "stogger took {event}: {ours}");
    }
    assert_eq!(
        sb.log("svc.log"),
        *ours,
        "the file gets what the console gets"
    );
}

#[test]
fn stoggers_trace_level_stays_stoggers() {
    let sb = Sandbox::new();
    let out = sb.run(
        "composed",
        &[("NO_COLOR", "1"), ("STOGGER_LOG_FILTER", "trace")],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    for event in [
        "T trace-event",
        "D debug-event",
        "D db-debug",
        "D log-crate-debug",
    ] {
        assert_eq!(count(&out.stderr, event), 1, "{event}: {}", out.stderr);
    }
    assert_eq!(count(&out.stdout, "trace-event"), 0, "{}", out.stdout);
}

#[test]
fn a_module_set_to_warn_loses_its_info_in_stogger_but_not_in_fmt() {
    let sb = Sandbox::new();
    for env in [
        [
            ("STOGGER_LOG_FILTER", "info,svc::noisy=warn"),
            ("NO_COLOR", "1"),
        ],
        // RUST_LOG stands in for log_filter when nothing sets the key.
        [("RUST_LOG", "info,svc::noisy=warn"), ("NO_COLOR", "1")],
    ] {
        let out = sb.run("composed", &env);
        assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
        assert_eq!(
            count(&out.stderr, "noisy-info"),
            0,
            "{env:?}: {}",
            out.stderr
        );
        assert_eq!(count(&out.stderr, "W noisy-warning"), 1, "{}", out.stderr);
        assert_eq!(count(&out.stderr, "I core-info"), 1, "{}", out.stderr);
        assert_eq!(
            count(&out.stdout, "noisy-info"),
            1,
            "fmt keeps it: {}",
            out.stdout
        );
        assert_eq!(count(&sb.log("svc.log"), "noisy-info"), 0);
    }
    // log_filter set: RUST_LOG is not used.
    let out = sb.run(
        "composed",
        &[
            ("RUST_LOG", "info,svc::noisy=warn"),
            ("STOGGER_LOG_FILTER", "info,svc::core=warn"),
            ("NO_COLOR", "1"),
        ],
    );
    assert_eq!(count(&out.stderr, "I noisy-info"), 1, "{}", out.stderr);
    assert_eq!(count(&out.stderr, "core-info"), 0, "{}", out.stderr);
}

#[test]
fn a_bad_directive_fails_init_naming_key_and_directive() {
    let sb = Sandbox::new();
    for (var, key) in [
        ("STOGGER_LOG_FILTER", "`log_filter`"),
        ("RUST_LOG", "`log_filter`"),
        ("STOGGER_CONSOLE_FILTER", "`console_filter`"),
    ] {
        let out = sb.run("readme", &[(var, "info,svc=loud")]);
        assert_eq!(out.code, Some(2), "init_logging must fail: {}", out.stderr);
        for part in [
            key,
            var,
            "\"svc=loud\"",
            "syntax: comma-separated directives",
        ] {
            assert!(
                out.stderr.contains(part),
                "{var}: {part:?} missing in {}",
                out.stderr
            );
        }
        assert!(!out.stderr.contains("user-login"), "{}", out.stderr);
    }
}

#[test]
fn per_target_filters_and_the_trace_level_on_console_and_file() {
    let sb = Sandbox::new();
    let out = sb.run(
        "levels",
        &[
            ("NO_COLOR", "1"),
            ("STOGGER_FILE_FILTER", "trace"),
            ("STOGGER_CONSOLE_FILTER", "warn"),
        ],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let file = sb.log("svc.log");
    let letters = |text: &str| -> String { text.lines().filter_map(|l| l.get(21..22)).collect() };
    assert_eq!(letters(&file), "TDIWC", "{file}");
    assert_eq!(letters(&out.stderr), "WC", "{}", out.stderr);
    assert!(file.contains(" T trace-event"), "{file}");

    let sb = Sandbox::new();
    let out = sb.run(
        "levels",
        &[
            ("STOGGER_LOG_FORMAT", "json"),
            ("STOGGER_FILE_MIN_LEVEL", "trace"),
        ],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let first: serde_json::Value = sb
        .log("svc.log")
        .lines()
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("a JSON line");
    assert_eq!(first["level"], "trace");
    assert_eq!(first["event"], "trace-event");
}

#[test]
fn set_filter_from_another_thread_applies_to_every_thread() {
    let sb = Sandbox::new();
    let out = sb.run("set-filter", &[("NO_COLOR", "1")]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    // A bad directive is refused with the configuration error, and the
    // filter in force stays.
    let refused = out.stdout.lines().find(|l| l.starts_with("refused: "));
    let refused = refused.unwrap_or_else(|| panic!("no refusal: {}", out.stdout));
    for part in [
        "\"svc::noisy=loud\"",
        "`log_filter`",
        "set in code",
        "syntax:",
    ] {
        assert!(refused.contains(part), "{part:?} missing in {refused}");
    }
    let ours = &out.stderr;
    for gone in [
        "main-debug-before",
        "worker-debug-before",
        "noisy-info",
        "db-debug",
    ] {
        assert_eq!(count(ours, gone), 0, "{gone}: {ours}");
    }
    for shown in [
        "D main-debug-after",
        "D worker-debug-after",
        "W noisy-warning",
        "I core-info",
    ] {
        assert_eq!(count(ours, shown), 1, "{shown}: {ours}");
    }
    // set_target_filter: the file alone takes trace.
    assert_eq!(count(ours, "file-only-trace"), 0, "{ours}");
    assert_eq!(count(&sb.log("svc.log"), "T file-only-trace"), 1);
}
