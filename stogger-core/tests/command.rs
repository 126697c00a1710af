//! `stogger_core::command` with a real child process (`sh -c` writing to
//! both streams) and the real command output file. One test: logging and
//! the command output file are process-global.

use std::process::Command;
use stogger_core::command::{self, Runner};
use stogger_core::testing::capture;
use stogger_core::{Level, Stogger, Value};

#[test]
fn command_lines_are_logged_as_they_arrive_and_written_to_build_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let guard = Stogger::builder()
        .logdir(dir.path())
        .syslog_identifier("cmd-test")
        .log_to_console(false)
        .set("systemd", "off")
        .set("log_cmd_output", true)
        .init()
        .expect("init");
    let build_output = dir.path().join("build-output.log");
    assert_eq!(command::cmd_output_logfile(), Some(build_output.clone()));

    let cap = capture();
    let scope = stogger_core::log_scope("build");
    // The sleeps fix the order in which the lines arrive across the two pipes.
    let done = Runner::new(Command::new("sh").args([
        "-c",
        "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; sleep 0.1; \
         printf 'err2\\r\\n' >&2; sleep 0.1; printf 'no newline'; exit 3",
    ]))
    .stderr_tail(1)
    .run()
    .expect("sh runs");
    drop(scope);
    assert_eq!(done.status.code(), Some(3));
    assert_eq!(done.stderr_tail, ["err2"]);

    let events = cap.events();
    let lines: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.name() == "cmd-output-line")
        .map(|e| {
            assert_eq!(e.level(), Level::Info);
            assert_eq!(e.scope(), Some("build"), "the caller's scope");
            assert_eq!(e.get("cmd"), Some(&Value::from("sh")));
            (
                e.get("stream").map(|v| v.to_string()).unwrap_or_default(),
                e.get("cmd_output_line")
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let want = [
        ("stdout", "out1"),
        ("stderr", "err1"),
        ("stdout", "out2"),
        ("stderr", "err2"),
        ("stdout", "no newline"),
    ];
    assert_eq!(
        lines,
        want.map(|(s, l)| (s.to_string(), l.to_string())),
        "{events:#?}"
    );
    let failed = events
        .iter()
        .find(|e| e.name() == "command-failed")
        .expect("command-failed");
    assert_eq!(failed.level(), Level::Warning);
    assert_eq!(failed.get("exit_code"), Some(&Value::I64(3)));
    assert_eq!(failed.get("stderr"), Some(&Value::from("err2")));
    assert!(matches!(failed.get("duration_ms"), Some(Value::F64(ms)) if *ms >= 300.0));

    // A line logged by hand reaches the file too, as in Python stogger.
    tracing::info!(cmd_output_line = "by hand", "deploy-command");
    let ok = command::run(Command::new("sh").args(["-c", "echo fine"])).expect("sh");
    assert!(ok.status.success());
    assert!(cap.has("command-finished", &[("exit_code", 0.into())]));

    guard.flush();
    let written = std::fs::read_to_string(&build_output).expect("build-output.log");
    assert_eq!(
        written,
        "out1\nerr1\nout2\nerr2\nno newline\nby hand\nfine\n"
    );
    // The log file shows each line as a `> ` section under its event.
    let log = std::fs::read_to_string(dir.path().join("cmd-test.log")).expect("log file");
    assert!(log.contains("cmd-output-line"), "{log}");
    assert!(log.contains("\n> err1\n"), "{log}");
    assert!(
        log.contains("\nerr: err2\n"),
        "the final event's stderr section: {log}"
    );

    assert_eq!(
        command::drop_cmd_output_logfile().ok().flatten(),
        Some(build_output.clone())
    );
    assert!(
        !build_output.exists(),
        "dropped means removed, as in Python"
    );
    assert_eq!(command::cmd_output_logfile(), None);
    tracing::info!(cmd_output_line = "after drop", "late");

    // Under systemd the file name carries the time and the invocation id.
    // (The only test in this binary: setting the variable races nothing.)
    std::env::set_var("INVOCATION_ID", "0123abcd");
    let under_systemd = command::init_command_logging().expect("open");
    std::env::remove_var("INVOCATION_ID");
    let name = under_systemd
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(name.ends_with("_build-output_0123abcd.log"), "{name}");
    assert_eq!(under_systemd.parent(), Some(dir.path()));
    command::drop_cmd_output_logfile().expect("drop");
    drop(guard);
}
