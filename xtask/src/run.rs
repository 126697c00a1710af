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
