//! Running `stogger-test-service` (or any service binary) as a child process
//! in a private working directory with a controlled environment.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a finished child process left behind.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

/// Runs `exe args...` in `dir` with a clean `STOGGER_*` environment plus
/// `env` (see [`command`]).
pub fn run(exe: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Outcome {
    let out = command(exe, args, dir, env)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The command [`run`] runs, to spawn it yourself. Variables of the test
/// process that start with `STOGGER_`, `RUST_LOG`, `NO_COLOR`,
/// `CLICOLOR_FORCE` and `JOURNAL_STREAM` are removed so the outcome does
/// not depend on who runs the tests.
pub fn command(exe: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("STOGGER_")
            || ["RUST_LOG", "NO_COLOR", "CLICOLOR_FORCE", "JOURNAL_STREAM"].contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    // Never reach a journal the machine may have, unless a test asks.
    cmd.env("STOGGER_SYSTEMD", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A binary built by cargo in the same target directory as the running test
/// (`target/debug/<name>`), or a panic saying how to build it.
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target/debug");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo xtask test` does, or `cargo build --workspace`)",
        path.display()
    );
    path
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
