//! The console logger: rendered lines on stderr.
//!
//! Colour rule (crates disagree on the order, so here it is): `NO_COLOR` set
//! and non-empty → never; otherwise `CLICOLOR_FORCE` set and not `0` →
//! always; otherwise colour only when stderr is a terminal and `TERM` is not
//! `dumb`.

use crate::event::Event;
use crate::render::text::TextLine;
use crate::target::Logger;
use std::io::{self, IsTerminal};
use std::sync::Mutex;

/// Whether the console target colours its lines: [`color_wanted`] for stderr.
pub(crate) fn color_enabled() -> bool {
    color_wanted(io::stderr().is_terminal())
}

/// Whether stogger's colour rule colours output to a stream, given whether
/// that stream is a terminal: `NO_COLOR` set and not empty → never;
/// otherwise `CLICOLOR_FORCE` set and not `0` → always; otherwise only on a
/// terminal whose `TERM` is not `dumb`. The console target decides so for
/// stderr; tools that print to stdout (`stogger query`, `stogger doctor`)
/// decide the same way for theirs.
pub fn color_wanted(stream_is_terminal: bool) -> bool {
    let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    color_rule(
        var("NO_COLOR"),
        var("CLICOLOR_FORCE"),
        var("TERM"),
        stream_is_terminal,
    )
}

/// The colour rule as a pure function of its inputs.
fn color_rule(
    no_color: Option<String>,
    clicolor_force: Option<String>,
    term: Option<String>,
    tty: bool,
) -> bool {
    if no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    tty && term.as_deref() != Some("dumb")
}

/// Writes each line to stderr under the logger's own lock, so lines from
/// different threads never interleave.
///
/// Not under the standard library's stderr lock: a child forked while
/// another thread of its parent held that lock could never take it again.
/// The logger's lock is new with every pipeline, so a child that calls
/// `init_logging()` gets a fresh one. Each line is one `write` call, which
/// keeps it whole next to the process's other stderr output too (for
/// lines up to the pipe buffer size).
#[derive(Debug, Default)]
pub(crate) struct ConsoleLogger {
    lock: Mutex<()>,
}

impl ConsoleLogger {
    /// A logger writing to this process's stderr.
    pub(crate) fn new() -> Self {
        ConsoleLogger::default()
    }
}

impl Logger<TextLine> for ConsoleLogger {
    fn write(&self, line: &TextLine, _event: &Event) -> io::Result<()> {
        let _serial = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        write_stderr(line.console().as_bytes())
    }
}

/// Writes all of `bytes` to file descriptor 2 (no buffering, no lock).
pub(crate) fn write_stderr(mut bytes: &[u8]) -> io::Result<()> {
    // SAFETY: descriptor 2 stays open for the life of the process (it is
    // only borrowed for the calls below).
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(2) };
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::color_rule;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn no_color_wins_over_force() {
        assert!(!color_rule(s("1"), s("1"), s("xterm"), true));
    }

    #[test]
    fn empty_no_color_is_ignored() {
        assert!(color_rule(s(""), None, s("xterm"), true));
    }

    #[test]
    fn force_colours_a_pipe() {
        assert!(color_rule(None, s("1"), None, false));
        assert!(!color_rule(None, s("0"), None, false));
    }

    #[test]
    fn tty_needs_a_real_terminal_type() {
        assert!(color_rule(None, None, s("xterm-256color"), true));
        assert!(!color_rule(None, None, s("dumb"), true));
        assert!(!color_rule(None, None, s("xterm"), false));
    }
}
