//! The console logger: rendered lines on stderr.
//!
//! Colour rule (crates disagree on the order, so here it is): `NO_COLOR` set
//! and non-empty → never; otherwise `CLICOLOR_FORCE` set and not `0` →
//! always; otherwise colour only when stderr is a terminal and `TERM` is not
//! `dumb`.

use crate::event::Event;
use crate::render::text::TextLine;
use crate::target::Logger;
use std::io::{self, IsTerminal, Write};

/// Decides colours from the environment and stderr (see module docs).
pub fn color_enabled() -> bool {
    color_rule(
        std::env::var_os("NO_COLOR").map(|v| v.to_string_lossy().into_owned()),
        std::env::var_os("CLICOLOR_FORCE").map(|v| v.to_string_lossy().into_owned()),
        std::env::var_os("TERM").map(|v| v.to_string_lossy().into_owned()),
        io::stderr().is_terminal(),
    )
}

/// The colour rule as a pure function of its inputs.
pub fn color_rule(
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

/// Writes each line to stderr with one `write_all` under stderr's lock, so
/// lines from different threads never interleave.
#[derive(Debug, Default)]
pub struct ConsoleLogger;

impl ConsoleLogger {
    /// A logger writing to this process's stderr.
    pub fn new() -> Self {
        ConsoleLogger
    }
}

impl Logger<TextLine> for ConsoleLogger {
    fn write(&self, line: &TextLine, _event: &Event) -> io::Result<()> {
        io::stderr().lock().write_all(line.console().as_bytes())
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().lock().flush()
    }
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
