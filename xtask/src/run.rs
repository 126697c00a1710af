//! Running steps: commands with a visible heading, timing and a clear failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Keeps Ctrl-C from killing xtask itself: the children in the foreground
/// get the signal and stop, and xtask then cleans up (stops PostgreSQL).
pub fn trap_ctrl_c() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(".."))
}

/// The cargo that runs us.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Prints a step heading.
pub fn heading(text: &str) {
    println!("\n==> {text}");
}

/// Runs a command as a named step; fails with the step name and exit status.
pub fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    heading(name);
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: cannot run {cmd:?}: {e}"))?;
    if interrupted() {
        return Err(format!("{name}: interrupted"));
    }
    if !status.success() {
        return Err(format!("{name} failed ({status})"));
    }
    println!("    {name}: ok in {:.1}s", start.elapsed().as_secs_f64());
    Ok(())
}

/// A command for `exe` that sees none of this process's `STOGGER_*`
/// variables nor `LD_LIBRARY_PATH` (cargo's points at a target directory,
/// which may hold a plugin), with the journal off: what a service started
/// on a clean machine sees.
pub fn clean_command(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("STOGGER_") || key == "LD_LIBRARY_PATH" {
            cmd.env_remove(key);
        }
    }
    cmd.env("STOGGER_SYSTEMD", "off");
    cmd
}

/// What a finished command printed.
pub struct Captured {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Captured {
    /// Both streams, for an error message.
    pub fn shown(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion, capturing both streams.
pub fn capture(cmd: &mut Command) -> Result<Captured, String> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    Ok(Captured {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Fails with `what` and the command's output unless `ok` holds.
pub fn expect(ok: bool, what: &str, out: &Captured) -> Result<(), String> {
    if ok {
        println!("    ok: {what}");
        Ok(())
    } else {
        Err(format!("{what}: not so\n{}", out.shown()))
    }
}
