//! `reload_on_sighup`: a running service re-reads its configuration file on
//! SIGHUP, applies the filters and reports what needs a restart.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use stogger_tests::service::command;

const SERVICE: &str = env!("CARGO_BIN_EXE_stogger-test-service");

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_reloads_the_filters_and_reports_what_needs_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("stogger.toml");
    std::fs::write(
        &config,
        "reload_on_sighup = true\nsyslog_identifier = \"svc\"\nlog_filter = \"info\"\n",
    )
    .expect("write stogger.toml");
    let mut child = command(
        Path::new(SERVICE),
        &["reload"],
        dir.path(),
        &[("NO_COLOR", "1")],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start the service");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read ready");
    assert_eq!(line.trim(), "ready for SIGHUP");

    std::fs::write(
        &config,
        "reload_on_sighup = true\nsyslog_identifier = \"svc\"\nlog_filter = \"debug\"\n\
         logdir = \"elsewhere\"\n",
    )
    .expect("rewrite stogger.toml");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("child pid");
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("send SIGHUP");
    let log = dir.path().join("logs").join("svc.log");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the reload to be logged", || {
        read().contains("config-reload-needs-restart")
    });

    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "go").expect("write go");
    drop(stdin);
    let out = child.wait_with_output().expect("service ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);

    let file = read();
    assert!(!file.contains("debug-before-reload"), "{file}");
    assert!(file.contains(" D debug-after-reload"), "{file}");
    assert!(file.contains(" I config-reloaded"), "{file}");
    let restart = file
        .lines()
        .find(|l| l.contains("config-reload-needs-restart"))
        .unwrap_or_default();
    assert!(
        restart.contains(" W ") && restart.contains("logdir"),
        "{restart}"
    );
    assert!(!restart.contains("log_filter"), "{restart}");
    // The file stays where the running configuration put it.
    assert!(!dir.path().join("elsewhere").exists());
    assert_eq!(stderr.as_ref(), file, "console and file agree");
}

#[test]
fn a_bad_filter_in_the_reloaded_file_keeps_the_filters_in_force() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("stogger.toml");
    std::fs::write(
        &config,
        "reload_on_sighup = true\nsyslog_identifier = \"svc\"\n",
    )
    .expect("write stogger.toml");
    let mut child = command(
        Path::new(SERVICE),
        &["reload"],
        dir.path(),
        &[("NO_COLOR", "1")],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start the service");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read ready");

    std::fs::write(
        &config,
        "reload_on_sighup = true\nsyslog_identifier = \"svc\"\nlog_filter = \"debug,x=loud\"\n",
    )
    .expect("rewrite stogger.toml");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("child pid");
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("send SIGHUP");
    let log = dir.path().join("logs").join("svc.log");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the failed reload to be logged", || {
        read().contains("config-reload-failed")
    });
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "go").expect("write go");
    drop(stdin);
    let out = child.wait_with_output().expect("service ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = read();
    let failed = file
        .lines()
        .find(|l| l.contains("config-reload-failed"))
        .unwrap_or_default();
    assert!(
        failed.contains("\\\"x=loud\\\"") || failed.contains("x=loud"),
        "{failed}"
    );
    assert!(!file.contains("debug-after-reload"), "{file}");
    assert!(file.contains(" I info-after-reload"), "{file}");
}
