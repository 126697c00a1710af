//! What a hung child process was doing: every thread's stack, read with
//! `gdb` when it is installed. A test that kills a hung child puts this in
//! its failure message, so a hang seen once in CI can be diagnosed without
//! reproducing it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every thread's backtrace of process `pid` (gdb's `thread apply all bt`),
/// or a sentence saying why there is none. Gives up after a minute.
pub fn thread_stacks(pid: u32) -> String {
    let child = Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("(no thread stacks: cannot run gdb: {e})"),
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        match child.try_wait() {
            Ok(Some(_)) => {
                return match child.wait_with_output() {
                    Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
                    Err(e) => format!("(no thread stacks: {e})"),
                }
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return format!("(no thread stacks: {e})"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    "(no thread stacks: gdb took over a minute)".to_string()
}
