//! `reload_on_sighup`: a running service re-reads its configuration file on
//! SIGHUP, applies the filters and reports what needs a restart.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
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

/// The `reload` scenario of the test service, run in a directory whose
/// stogger.toml turns reload_on_sighup on.
struct Service {
    dir: tempfile::TempDir,
    child: Child,
}

fn write_config(dir: &Path, settings: &str) {
    let text = format!("reload_on_sighup = true\nsyslog_identifier = \"svc\"\n{settings}");
    std::fs::write(dir.join("stogger.toml"), text).expect("write stogger.toml");
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("logs").join("svc.log")).unwrap_or_default()
}

impl Service {
    /// Starts it with `settings` in stogger.toml and waits for its `ready`.
    fn start(settings: &str) -> Service {
        let dir = tempfile::tempdir().expect("temp dir");
        write_config(dir.path(), settings);
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
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("read ready");
        assert_eq!(line.trim(), "ready for SIGHUP");
        Service { dir, child }
    }

    /// Rewrites stogger.toml, sends SIGHUP and waits until `logged` is in the file.
    fn reload(&self, settings: &str, logged: &str) {
        write_config(self.dir.path(), settings);
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("child pid");
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("send SIGHUP");
        wait_until(logged, || log_of(self.dir.path()).contains(logged));
    }

    /// Lets the service log its last events and exit: its stderr, its log
    /// file, and the directory (to look at afterwards).
    fn finish(mut self) -> (String, String, tempfile::TempDir) {
        let mut stdin = self.child.stdin.take().expect("stdin");
        writeln!(stdin, "go").expect("write go");
        drop(stdin);
        let out = self.child.wait_with_output().expect("service ends");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{}: {stderr}", out.status);
        let file = log_of(self.dir.path());
        (stderr, file, self.dir)
    }
}

#[test]
fn sighup_reloads_the_filters_and_reports_what_needs_a_restart() {
    let service = Service::start("log_filter = \"info\"\n");
    service.reload(
        "log_filter = \"debug\"\nlogdir = \"elsewhere\"\n",
        "config-reload-needs-restart",
    );
    let (stderr, file, dir) = service.finish();
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
    assert_eq!(stderr, file, "console and file agree");
}

#[test]
fn a_bad_filter_in_the_reloaded_file_keeps_the_filters_in_force() {
    let service = Service::start("");
    service.reload("log_filter = \"debug,x=loud\"\n", "config-reload-failed");
    let (_, file, _dir) = service.finish();
    let failed = file
        .lines()
        .find(|l| l.contains("config-reload-failed"))
        .unwrap_or_default();
    assert!(failed.contains("x=loud"), "{failed}");
    assert!(!file.contains("debug-after-reload"), "{file}");
    assert!(file.contains(" I info-after-reload"), "{file}");
}
