//! End to end against a real systemd-journald: events go through
//! stogger-core's journal target (renderer + native-protocol logger) into a
//! private journald namespace and are read back with `journalctl`.
//!
//! Needs root and systemd-journald/journalctl; without them these tests fail
//! with a message saying how to fix it.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use stogger_core::testing::capture;
use stogger_core::{CodeLocation, Event, Level, LoggingGuard, Stogger, Value};
use stogger_tests::journald::{Entry, Journald};

fn start() -> Journald {
    Journald::start().unwrap_or_else(|why| panic!("cannot run the journal tests: {why}"))
}

/// One configuration of stogger per process: the tests of this file that
/// install one take turns.
static INSTALLED: Mutex<()> = Mutex::new(());

/// stogger with the journal at `socket` as its only output (`systemd =
/// "required"`), plus `more` keys; the returned lock keeps the other tests
/// of this file from replacing it meanwhile.
fn journal_only(
    socket: &Path,
    identifier: &str,
    more: &[(&'static str, &str)],
) -> (MutexGuard<'static, ()>, LoggingGuard) {
    let turn = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    let mut builder = Stogger::builder()
        .set("systemd", "required")
        .set("journal_socket", socket.display().to_string())
        .syslog_identifier(identifier)
        .log_to_console(false)
        .set("log_to_file", false);
    for (key, value) in more {
        builder = builder.set(key, *value);
    }
    let cap = capture();
    let guard = builder.init().expect("journal socket is there");
    assert!(
        cap.events()
            .iter()
            .any(|n| n.name() == "systemd-journal-active"),
        "{:?}",
        cap.events()
    );
    (turn, guard)
}

/// The entries of `ident` once `n` of them are the test's own events (the
/// journal target logs its start, `systemd-journal-active`, too: left out).
fn logged(jd: &Journald, ident: &str, n: usize) -> Vec<Entry> {
    jd.wait_for(&["-t", ident], n + 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|e| e.get("STOGGER_EVENT").as_deref() != Some("systemd-journal-active"))
        .collect()
}

fn located(event: Event, line: u32) -> Event {
    let mut code = CodeLocation::default();
    code.file = Some(file!().into());
    code.line = Some(line);
    event.with_code_location(code)
}

fn text(entry: &Entry, name: &str) -> String {
    entry
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing in {entry:?}"))
}

fn only(entries: Vec<Entry>, what: &str) -> Entry {
    assert_eq!(entries.len(), 1, "{what}: {entries:?}");
    entries.into_iter().next().expect("one entry")
}

#[test]
fn events_arrive_as_queryable_journal_fields() {
    let jd = start();
    let ident = "stogger-e2e-fields";
    let (_turn, guard) = journal_only(jd.socket(), ident, &[("systemd_facility", "LOG_LOCAL3")]);

    let login = located(
        Event::new(Level::Info, "user-login")
            .with("user_id", 123)
            .with("username", "alice")
            .with("_replace_msg", "User {username} logged in"),
        line!(),
    )
    .with_func("billing::auth::login")
    .with_scope("session");
    stogger_core::emit(login.clone());
    stogger_core::emit(
        Event::new(Level::Warning, "disk-low")
            .with("free_mb", 12)
            .with("mount", "/var"),
    );
    stogger_core::emit(Event::new(Level::Info, "other-user").with("user_id", 7));
    guard.flush();

    let all = logged(&jd, ident, 3);
    assert_eq!(all.len(), 3, "{all:?}");

    let e = only(
        jd.entries(&["USER_ID=123"]).expect("query USER_ID"),
        "USER_ID=123",
    );
    assert_eq!(text(&e, "MESSAGE"), "user-login: User alice logged in");
    assert_eq!(text(&e, "PRIORITY"), "6");
    assert_eq!(text(&e, "SYSLOG_IDENTIFIER"), ident);
    assert_eq!(text(&e, "SYSLOG_FACILITY"), "19");
    assert_eq!(text(&e, "SYSLOG_PID"), std::process::id().to_string());
    assert_eq!(text(&e, "USERNAME"), "alice");
    assert_eq!(text(&e, "STOGGER_EVENT"), "user-login");
    assert_eq!(text(&e, "STOGGER_LEVEL"), "info");
    assert_eq!(text(&e, "CODE_FILE"), file!());
    assert_eq!(
        text(&e, "CODE_LINE"),
        login.code_location().line.expect("line").to_string()
    );
    assert_eq!(text(&e, "CODE_FUNC"), "billing::auth::login");
    assert_eq!(text(&e, "SCOPE"), "session");
    // journald's own view of the sender: it came over the native protocol.
    assert_eq!(text(&e, "_TRANSPORT"), "journal");
    assert_eq!(text(&e, "_PID"), std::process::id().to_string());
    assert!(e.get("REPLACE_MSG").is_none(), "_-keys are not data: {e:?}");

    let warn = only(
        jd.entries(&["-t", ident, "-p", "warning"])
            .expect("query -p"),
        "-p warning",
    );
    assert_eq!(text(&warn, "MESSAGE"), "disk-low: free_mb=12 mount='/var'");
    assert_eq!(text(&warn, "PRIORITY"), "4");

    let by_event = only(
        jd.entries(&["STOGGER_EVENT=user-login"])
            .expect("query event"),
        "STOGGER_EVENT=user-login",
    );
    assert_eq!(by_event, e);

    // What a user sees (shown with --nocapture; used in docs/journal.md).
    let short = jd
        .journalctl(&["-t", ident, "-o", "short-iso"])
        .expect("short output");
    eprintln!("journalctl --namespace=NS -t {ident}:\n{short}");
    assert!(
        short.contains(&format!(
            "{ident}[{}]: user-login: User alice logged in",
            std::process::id()
        )),
        "{short}"
    );
}

#[test]
fn multi_line_and_reserved_fields_arrive_unchanged() {
    let jd = start();
    let ident = "stogger-e2e-multiline";
    let (_turn, guard) = journal_only(jd.socket(), ident, &[]);
    let trace = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom\n";
    stogger_core::emit(
        Event::new(Level::Error, "job-failed")
            .with("exception_traceback", trace)
            .with("message", "the user own message")
            .with("priority", "high")
            .with("code_line", 99)
            .with("2fa", true)
            .with("http.status", 502)
            .with(
                "details",
                Value::Json(Box::new(serde_json::json!({"retry": [1, 2]}))),
            ),
    );
    guard.flush();

    let e = only(logged(&jd, ident, 1), ident);
    assert_eq!(e.bytes("EXCEPTION_TRACEBACK"), Some(trace.as_bytes()));
    assert_eq!(text(&e, "PRIORITY"), "3");
    assert_eq!(text(&e, "F_PRIORITY"), "high");
    assert_eq!(text(&e, "F_MESSAGE"), "the user own message");
    assert_eq!(text(&e, "F_CODE_LINE"), "99");
    assert!(
        e.get("CODE_LINE").is_none(),
        "the event had no code line: {e:?}"
    );
    assert_eq!(text(&e, "F_2FA"), "true");
    assert_eq!(text(&e, "HTTP_STATUS"), "502");
    assert_eq!(text(&e, "DETAILS"), r#"{"retry":[1,2]}"#);
    assert_eq!(
        text(&e, "MESSAGE"),
        "job-failed: 2fa=True code_line=99 details={\"retry\":[1,2]} http.status=502 \
         message='the user own message' priority='high'"
    );
    // Each field once: none was written twice.
    for (name, values) in &e.fields {
        assert_eq!(values.len(), 1, "{name} has {} values", values.len());
    }
}

#[test]
fn a_300_kb_field_arrives_whole() {
    let jd = start();
    let ident = "stogger-e2e-large";
    let (_turn, guard) = journal_only(jd.socket(), ident, &[]);
    // Larger than any datagram the default socket buffer allows, so the
    // logger has to take the memfd path (unit tests check which path is used).
    let sndbuf: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_default")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let size = (300 * 1024).max(sndbuf + 64 * 1024);
    let blob: String = (0..size)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let lines = "line one\n".repeat(size / 9);
    stogger_core::emit(
        Event::new(Level::Info, "blob-stored")
            .with("blob", blob.as_str())
            .with("lines", lines.as_str())
            .with("blob_id", 42),
    );
    guard.flush();

    let e = only(
        jd.wait_for(&["-t", ident, "BLOB_ID=42"], 1)
            .unwrap_or_else(|e| panic!("{e}")),
        "BLOB_ID=42",
    );
    let got = e.bytes("BLOB").expect("BLOB");
    assert_eq!(got.len(), blob.len());
    assert!(got == blob.as_bytes(), "BLOB content differs");
    let got = e.bytes("LINES").expect("LINES");
    assert_eq!(got.len(), lines.len());
    assert!(got == lines.as_bytes(), "LINES content differs");
    assert_eq!(text(&e, "STOGGER_EVENT"), "blob-stored");
}

#[test]
fn levels_and_filters_decide_what_reaches_the_journal() {
    let jd = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = jd.socket().display().to_string();
    let run = |ident: &str, env: &[(&str, &str)]| {
        let mut all = vec![
            ("STOGGER_SYSTEMD", "required"),
            ("STOGGER_JOURNAL_SOCKET", socket.as_str()),
            ("STOGGER_SYSLOG_IDENTIFIER", ident),
        ];
        all.extend_from_slice(env);
        let out = service("levels", dir.path(), &all)
            .output()
            .expect("run the test service");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let events = |ident: &str, n: usize| -> Vec<(String, String)> {
        jd.wait_for(&["-t", ident], n)
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|e| (text(e, "STOGGER_EVENT"), text(e, "PRIORITY")))
            .filter(|(name, _)| name != "systemd-journal-active")
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };

    // Defaults: info and up.
    run("stogger-e2e-levels", &[]);
    assert_eq!(
        events("stogger-e2e-levels", 4),
        pairs(&[
            ("info-event", "6"),
            ("warning-event", "4"),
            ("critical-event", "2")
        ])
    );
    // The journal's own filter lets trace through (the console keeps warning).
    run(
        "stogger-e2e-trace",
        &[
            ("STOGGER_JOURNAL_FILTER", "trace"),
            ("STOGGER_CONSOLE_MIN_LEVEL", "warning"),
        ],
    );
    let got = events("stogger-e2e-trace", 6);
    assert_eq!(
        got,
        pairs(&[
            ("trace-event", "7"),
            ("debug-event", "7"),
            ("info-event", "6"),
            ("warning-event", "4"),
            ("critical-event", "2"),
        ])
    );
    let trace = only(
        jd.entries(&["-t", "stogger-e2e-trace", "STOGGER_EVENT=trace-event"])
            .expect("query"),
        "trace-event",
    );
    assert_eq!(text(&trace, "STOGGER_LEVEL"), "trace");
    let crit = only(
        jd.entries(&["-t", "stogger-e2e-trace", "-p", "crit"])
            .expect("query -p crit"),
        "-p crit",
    );
    assert_eq!(text(&crit, "STOGGER_LEVEL"), "critical");
}

#[test]
fn required_mode_fails_once_journald_is_gone() {
    let jd = start();
    let socket = jd.socket().to_path_buf();
    let (_turn, guard) = journal_only(&socket, "stogger-e2e-gone", &[]);
    drop(jd);
    // The harness removed the socket with the daemon: a send now fails
    // (reported by the target as a warning), and `required` refuses to start.
    stogger_core::emit(Event::new(Level::Info, "into-the-void"));
    let required = Stogger::builder()
        .set("systemd", "required")
        .set("journal_socket", socket.display().to_string())
        .log_to_console(false)
        .set("log_to_file", false)
        .init();
    match required {
        Err(stogger_core::Error::JournalRequired { socket: checked }) => {
            assert_eq!(checked, socket)
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("journald is gone, required mode must fail"),
    }
    let report = guard.close();
    assert!(
        report.failures() >= 1,
        "the failed send is counted: {report}"
    );
    // `auto` without the socket: no journal target, and nothing said about it.
    let cap = capture();
    let auto = Stogger::builder()
        .set("systemd", "auto")
        .set("journal_socket", socket.display().to_string())
        .log_to_console(false)
        .set("log_to_file", false)
        .init()
        .expect("auto never fails");
    let notes: Vec<String> = cap
        .events()
        .iter()
        .map(|e| e.name().to_string())
        .filter(|n| n.contains("journal"))
        .collect();
    assert!(notes.is_empty(), "{notes:?}");
    drop(auto);
}

/// Runs the test service (`tests/src/bin/stogger-test-service.rs`) with a
/// scenario, configured through the environment like a real service.
fn service(scenario: &str, dir: &Path, env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stogger-test-service"));
    cmd.arg(scenario)
        .current_dir(dir)
        .env_remove("JOURNAL_STREAM")
        .env("NO_COLOR", "1")
        .env("STOGGER_LOGDIR", dir.join("logs"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn a_service_logs_to_journald_through_tracing() {
    let jd = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let ident = "stogger-e2e-service";
    let socket = jd.socket().display().to_string();
    let child = service(
        "readme",
        dir.path(),
        &[
            ("STOGGER_SYSTEMD", "required"),
            ("STOGGER_JOURNAL_SOCKET", &socket),
            ("STOGGER_SYSLOG_IDENTIFIER", ident),
        ],
    )
    .output()
    .expect("run the test service");
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "{}: {stderr}", child.status);
    // stderr is not the journal here: the console shows the event too.
    assert!(stderr.contains("User alice logged in"), "{stderr}");

    let all = jd
        .wait_for(&["-t", ident], 3)
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = all.iter().map(|e| text(e, "STOGGER_EVENT")).collect();
    assert_eq!(
        names,
        ["systemd-journal-active", "user-login", "order-charged"]
    );

    let note = &all[0];
    assert_eq!(text(note, "SOCKET"), socket);
    assert_eq!(text(note, "IDENTIFIER"), ident);
    assert_eq!(text(note, "PRIORITY"), "6");

    let login = &all[1];
    assert_eq!(
        text(login, "MESSAGE"),
        "user-login: User alice logged in from 192.168.1.1"
    );
    assert_eq!(text(login, "USER_ID"), "123");
    assert_eq!(text(login, "IP"), "192.168.1.1");
    assert!(
        text(login, "CODE_FILE").ends_with("stogger-test-service.rs"),
        "{login:?}"
    );
    assert!(text(login, "CODE_LINE").parse::<u32>().is_ok(), "{login:?}");
    assert_eq!(text(login, "SYSLOG_PID"), text(login, "_PID"));
    assert_ne!(text(login, "SYSLOG_PID"), std::process::id().to_string());

    let order = &all[2];
    assert_eq!(
        text(order, "MESSAGE"),
        "order-charged: amount=99.99 currency='USD' customer_id=67890 order_id=12345"
    );
    assert_eq!(text(order, "AMOUNT"), "99.99");

    let by_user = only(
        jd.entries(&["-t", ident, "USER_ID=123"]).expect("query"),
        "USER_ID=123",
    );
    assert_eq!(&by_user, login);
}

#[test]
fn console_is_suppressed_when_stderr_is_the_journal_stream() {
    use std::os::unix::fs::MetadataExt;

    let jd = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = jd.socket().display().to_string();
    let decoy = std::fs::File::create(dir.path().join("decoy")).expect("decoy file");
    let decoy_meta = decoy.metadata().expect("stat decoy");

    for (ident, matching) in [
        ("stogger-e2e-stream-yes", true),
        ("stogger-e2e-stream-no", false),
    ] {
        let err_path = dir.path().join(format!("{ident}.stderr"));
        let err_file = std::fs::File::create(&err_path).expect("stderr file");
        let meta = err_file.metadata().expect("stat stderr file");
        let stream = if matching {
            format!("{}:{}", meta.dev(), meta.ino())
        } else {
            format!("{}:{}", decoy_meta.dev(), decoy_meta.ino())
        };
        let status = service(
            "readme",
            dir.path(),
            &[
                ("STOGGER_SYSTEMD", "auto"),
                ("STOGGER_JOURNAL_SOCKET", &socket),
                ("STOGGER_SYSLOG_IDENTIFIER", ident),
            ],
        )
        .env("JOURNAL_STREAM", &stream)
        .stderr(err_file)
        .status()
        .expect("run the test service");
        let stderr = std::fs::read_to_string(&err_path).expect("read stderr");
        assert!(status.success(), "{status}: {stderr}");

        let logins = jd
            .wait_for(&["-t", ident, "STOGGER_EVENT=user-login"], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(logins.len(), 1, "{logins:?}");
        if matching {
            assert!(
                !stderr.contains("user-login"),
                "stderr is the journal stream, yet the console wrote: {stderr}"
            );
        } else {
            assert!(stderr.contains("user-login"), "console missing: {stderr}");
        }
        // The file target is not affected either way.
        let log = std::fs::read_to_string(dir.path().join("logs").join(format!("{ident}.log")))
            .expect("log file");
        assert!(log.contains("user-login"), "{log}");
    }
}

#[test]
fn a_service_requiring_a_missing_journal_fails_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-journal-here").join("socket");
    let out = service(
        "readme",
        dir.path(),
        &[
            ("STOGGER_SYSTEMD", "required"),
            ("STOGGER_JOURNAL_SOCKET", &missing.display().to_string()),
        ],
    )
    .output()
    .expect("run the test service");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started without its journal: {stderr}"
    );
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("required"), "{stderr}");
    assert!(!stderr.contains("user-login"), "{stderr}");
}
