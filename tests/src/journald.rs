//! A private systemd-journald in its own namespace, for journal tests.
//!
//! [`Journald::start`] runs `systemd-journald <namespace>` with a namespace
//! unique to the test; it serves the native socket
//! `/run/systemd/journal.<namespace>/socket` and stores entries under
//! `/var/log/journal/<machine-id>.<namespace>` (or `/run/log/journal/...`),
//! where `journalctl --namespace=<namespace>` reads them. Dropping the
//! [`Journald`] (also when a test fails) stops the daemon and removes its
//! socket directory and journal files.
//!
//! journald has to run as root (it creates its directories under `/run` and
//! `/var/log`). Without root, or without the binaries, `start` returns an
//! error saying so and how to fix it; tests turn that into a failure.
//! `STOGGER_TEST_JOURNALD` and `STOGGER_TEST_JOURNALCTL` override where the binaries
//! are looked for.
//!
//! A namespaced journald exits after 30 s without clients; the harness keeps
//! a connection to its stdout-stream socket open, so it lives as long as the
//! test does.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long `start` waits for the daemon's socket.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// How long [`Journald::wait_for`] polls for entries.
const QUERY_DEADLINE: Duration = Duration::from_secs(15);
/// How long `drop` waits after SIGTERM before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

const JOURNALD_CANDIDATES: &[&str] = &[
    "/lib/systemd/systemd-journald",
    "/usr/lib/systemd/systemd-journald",
];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running private journald; stopped and cleaned up on drop.
pub struct Journald {
    namespace: String,
    child: Option<Child>,
    run_dir: PathBuf,
    socket: PathBuf,
    journalctl: PathBuf,
    storage: Vec<PathBuf>,
    log: PathBuf,
    _scratch: tempfile::TempDir,
    keepalive: Option<UnixStream>,
}

/// One journal entry as `journalctl -o json` shows it: every field with
/// all its values (journald allows a field several times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Field name to its values, as bytes.
    pub fields: BTreeMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    /// Every value of a field.
    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        self.fields.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first value of a field, as bytes.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.values(name).first().map(Vec::as_slice)
    }

    /// The first value of a field as text (invalid UTF-8 replaced).
    pub fn get(&self, name: &str) -> Option<String> {
        self.bytes(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    fn from_json(line: &str) -> Result<Entry, String> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("bad journalctl JSON {e}: {line}"))?;
        let object = value
            .as_object()
            .ok_or_else(|| format!("journalctl JSON is not an object: {line}"))?;
        let mut fields = BTreeMap::new();
        for (name, v) in object {
            fields.insert(
                name.clone(),
                json_values(v).map_err(|e| format!("{name}: {e}"))?,
            );
        }
        Ok(Entry { fields })
    }
}

/// Decodes journalctl's JSON for one field: a string, an array of byte
/// numbers (binary data), or an array of those (several values).
fn json_values(v: &serde_json::Value) -> Result<Vec<Vec<u8>>, String> {
    match v {
        serde_json::Value::String(s) => Ok(vec![s.as_bytes().to_vec()]),
        serde_json::Value::Array(items) if items.iter().all(|i| i.is_number()) => {
            Ok(vec![json_bytes(items)?])
        }
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                serde_json::Value::String(s) => Ok(s.as_bytes().to_vec()),
                serde_json::Value::Array(bytes) => json_bytes(bytes),
                other => Err(format!("unexpected value {other}")),
            })
            .collect(),
        serde_json::Value::Null => Err("value left out (larger than the data threshold)".into()),
        other => Err(format!("unexpected value {other}")),
    }
}

fn json_bytes(items: &[serde_json::Value]) -> Result<Vec<u8>, String> {
    items
        .iter()
        .map(|i| {
            i.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| format!("not a byte: {i}"))
        })
        .collect()
}

fn find_journald() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("STOGGER_TEST_JOURNALD") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "STOGGER_TEST_JOURNALD={} is not a file",
                p.display()
            ))
        };
    }
    JOURNALD_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "systemd-journald not found (looked at {}); install systemd \
                 (Debian/Ubuntu: `apt-get install systemd`) or set STOGGER_TEST_JOURNALD \
                 to the binary",
                JOURNALD_CANDIDATES.join(", ")
            )
        })
}

fn find_journalctl() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("STOGGER_TEST_JOURNALCTL") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/bin".into()])
        .map(|d| d.join("journalctl"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "journalctl not found in PATH; install systemd (Debian/Ubuntu: \
             `apt-get install systemd`) or set STOGGER_TEST_JOURNALCTL"
                .to_string()
        })
}

fn machine_id() -> Option<String> {
    std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Journald {
    /// Starts a private journald in a fresh namespace and waits until its
    /// socket is there. The error says why it could not and how to fix it.
    pub fn start() -> Result<Journald, String> {
        let journald = find_journald()?;
        let journalctl = find_journalctl()?;
        if !rustix::process::geteuid().is_root() {
            return Err(format!(
                "{} must run as root to serve a journal namespace (it creates \
                 /run/systemd/journal.<namespace>); run the journal tests as root, \
                 e.g. `sudo -E cargo test -p stogger-tests --test journal`",
                journald.display()
            ));
        }
        let machine_id = machine_id().ok_or(
            "/etc/machine-id is missing or empty; journald needs it (create it with \
             `systemd-machine-id-setup`)",
        )?;

        let (namespace, run_dir) = loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let ns = format!("stogger-test-{}-{n}", std::process::id());
            let dir = PathBuf::from(format!("/run/systemd/journal.{ns}"));
            if !dir.exists() {
                break (ns, dir);
            }
        };
        let storage = vec![
            PathBuf::from(format!("/var/log/journal/{machine_id}.{namespace}")),
            PathBuf::from(format!("/run/log/journal/{machine_id}.{namespace}")),
        ];
        let scratch = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let log = scratch.path().join("journald.log");
        let log_file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;

        let child = Command::new(&journald)
            .arg(&namespace)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", journald.display()))?;

        let socket = run_dir.join("socket");
        let mut jd = Journald {
            namespace,
            child: Some(child),
            run_dir,
            socket,
            journalctl,
            storage,
            log,
            _scratch: scratch,
            keepalive: None,
        };
        let deadline = Instant::now() + START_DEADLINE;
        let stdout_socket = jd.run_dir.join("stdout");
        while !(jd.socket.exists() && stdout_socket.exists()) {
            if let Some(child) = jd.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "{} {} exited at start ({status}): {}",
                        journald.display(),
                        jd.namespace,
                        jd.daemon_log()
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} {} did not create {} within {START_DEADLINE:?}: {}",
                    journald.display(),
                    jd.namespace,
                    jd.socket.display(),
                    jd.daemon_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        jd.keepalive = Some(
            UnixStream::connect(&stdout_socket)
                .map_err(|e| format!("connecting to {}: {e}", stdout_socket.display()))?,
        );
        jd.sync()?;
        Ok(jd)
    }

    /// The namespace (`journalctl --namespace=<this>`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The native-protocol socket to point `journal_socket` at.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What the daemon wrote on stdout/stderr so far.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asks journald to process everything it has received and write it out
    /// (`journalctl --sync`).
    pub fn sync(&self) -> Result<(), String> {
        self.journalctl(&["--sync"]).map(|_| ())
    }

    /// Runs `journalctl --namespace=<ns> <args>` and returns its stdout.
    pub fn journalctl(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.journalctl)
            .arg(format!("--namespace={}", self.namespace))
            .arg("--no-pager")
            .args(args)
            .env("SYSTEMD_COLORS", "0")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.journalctl.display()))?;
        if !out.status.success() {
            return Err(format!(
                "journalctl --namespace={} {} failed ({}): {}",
                self.namespace,
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The entries matching `args` (journalctl matches and options, such as
    /// `USER_ID=123` or `-p warning`), read with `-o json --all` so large and
    /// binary values come whole.
    pub fn entries(&self, args: &[&str]) -> Result<Vec<Entry>, String> {
        let mut all = vec!["--all", "-o", "json"];
        all.extend_from_slice(args);
        self.journalctl(&all)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(Entry::from_json)
            .collect()
    }

    /// Syncs and reads the entries matching `args` until there are at least
    /// `count`, for at most [`QUERY_DEADLINE`]. Returns what was found, or
    /// an error naming the count and the daemon's log.
    pub fn wait_for(&self, args: &[&str], count: usize) -> Result<Vec<Entry>, String> {
        let deadline = Instant::now() + QUERY_DEADLINE;
        loop {
            self.sync()?;
            let entries = self.entries(args)?;
            if entries.len() >= count {
                return Ok(entries);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "journalctl --namespace={} {}: {} entries after {QUERY_DEADLINE:?}, \
                     expected {count}; journald said: {}",
                    self.namespace,
                    args.join(" "),
                    entries.len(),
                    self.daemon_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the daemon (SIGTERM, then SIGKILL) and waits for it.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::TERM,
        );
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        self.keepalive = None;
        self.stop();
        let _ = std::fs::remove_dir_all(&self.run_dir);
        for dir in &self.storage {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_decode_strings_bytes_and_repeats() {
        let entry = Entry::from_json(r#"{"MESSAGE":"hi","BIN":[97,10,98],"TWICE":["a",[98,10]]}"#)
            .expect("parses");
        assert_eq!(entry.get("MESSAGE").as_deref(), Some("hi"));
        assert_eq!(entry.bytes("BIN"), Some(&b"a\nb"[..]));
        assert_eq!(entry.values("TWICE"), &[b"a".to_vec(), b"b\n".to_vec()]);
        assert!(entry.get("MISSING").is_none());
    }

    #[test]
    fn left_out_values_are_an_error_not_empty() {
        let err = Entry::from_json(r#"{"BIG":null}"#).expect_err("null is not a value");
        assert!(err.contains("BIG"), "{err}");
    }
}
