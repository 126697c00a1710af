//! The two halves of every output: a pure [`Renderer`] that turns an
//! [`Event`] into the target's form, and a [`Logger`] that does the I/O.
//! A [`Target`] is a named pair; the dispatcher only sees `dyn Target`, so
//! adding an output never touches it. Which [`Output`]s take an event is the
//! dispatcher's decision (each output has its own filter); a target only
//! writes where it is told to.

use crate::delivery::Failures;
use crate::event::Event;
use crate::warn;
use std::io;
use std::ops::{BitAnd, BitOr};
use std::time::Duration;

/// One of stogger's outputs. Each has its own filter (`console_filter`,
/// `file_filter`, ...; see [`crate::set_target_filter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    /// Lines on stderr.
    Console,
    /// The log file (text or JSON lines).
    File,
    /// The systemd journal.
    Journal,
    /// The PostgreSQL table.
    Postgres,
}

impl Output {
    /// Every output, in the order of the configuration reference.
    pub const ALL: [Output; 4] = [
        Output::Console,
        Output::File,
        Output::Journal,
        Output::Postgres,
    ];

    /// The output's name, as in its configuration keys (`console`, `file`,
    /// `journal`, `postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            Output::Console => "console",
            Output::File => "file",
            Output::Journal => "journal",
            Output::Postgres => "postgres",
        }
    }

    /// Position in [`Output::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A set of [`Output`]s (a bit per output), and whether the running
/// captures ([`crate::testing`]) observe an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Outputs(u8);

impl Outputs {
    /// No output.
    pub(crate) const NONE: Outputs = Outputs(0);

    /// The captures: not an output, but one more place the dispatcher
    /// hands an event to while a capture runs.
    pub(crate) const CAPTURES: Outputs = Outputs(1 << Output::ALL.len());

    /// The set holding only `output`.
    pub(crate) const fn only(output: Output) -> Outputs {
        Outputs(1 << output as u8)
    }

    /// Whether `output` is in the set.
    pub(crate) fn contains(self, output: Output) -> bool {
        self.0 & Outputs::only(output).0 != 0
    }

    /// Whether the captures observe the event.
    pub(crate) fn contains_captures(self) -> bool {
        self.0 & Outputs::CAPTURES.0 != 0
    }

    /// Whether the set is empty.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The outputs in the set, in the order of [`Output::ALL`].
    pub(crate) fn iter(self) -> impl Iterator<Item = Output> {
        Output::ALL.into_iter().filter(move |o| self.contains(*o))
    }
}

impl BitOr for Outputs {
    type Output = Outputs;
    fn bitor(self, other: Outputs) -> Outputs {
        Outputs(self.0 | other.0)
    }
}

impl BitAnd for Outputs {
    type Output = Outputs;
    fn bitand(self, other: Outputs) -> Outputs {
        Outputs(self.0 & other.0)
    }
}

impl From<Output> for Outputs {
    fn from(output: Output) -> Outputs {
        Outputs::only(output)
    }
}

/// Turns an event into a target's representation. Pure: no I/O, no global state.
pub(crate) trait Renderer: Send + Sync + 'static {
    /// What this renderer produces (a text line, a journal payload, a row, ...).
    type Output;
    /// Renders one event.
    fn render(&self, event: &Event) -> Self::Output;
}

/// Writes rendered output somewhere. I/O only; errors are returned, never
/// printed: the dispatcher decides how a failure is reported.
pub(crate) trait Logger<T>: Send + Sync + 'static {
    /// Writes one rendered event.
    fn write(&self, rendered: &T, event: &Event) -> io::Result<()>;
    /// Pushes buffered output to its destination.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    /// Flushes and releases the destination; called once, when stogger's
    /// configuration is replaced or shut down. Returns a note for the user
    /// when something was lost (e.g. "12 events not delivered").
    fn close(&self) -> io::Result<Option<String>> {
        self.flush().map(|()| None)
    }
}

/// What the dispatcher holds: something that takes events.
pub(crate) trait Target: Send + Sync {
    /// The target's name, used in warnings (`console`, `file`, `postgres`, ...).
    fn name(&self) -> &str;
    /// The outputs this target writes to.
    fn outputs(&self) -> Outputs;
    /// Renders and writes one event to the outputs in `to` (a non-empty
    /// part of [`Target::outputs`], chosen by the dispatcher's filters).
    /// Failures are reported by the target itself through [`warn`],
    /// rate-limited, and never propagate: the target returns how many
    /// there were, and the pipeline counts them (see [`crate::delivery`]).
    fn handle(&self, event: &Event, to: Outputs) -> Failures;
    /// Flushes buffered output.
    fn flush(&self) -> Failures;
    /// Flushes, waiting at most `timeout` for a slow destination; what does
    /// not make it in time stays buffered for a later flush or the close.
    /// The panic hook uses it, so a caught panic costs a short, bounded
    /// wait. The default is [`Target::flush`], for targets that never wait.
    fn flush_within(&self, timeout: Duration) -> Failures {
        let _ = timeout;
        self.flush()
    }
    /// Flushes and releases resources.
    fn close(&self) -> Failures;
}

/// What a logger returns for a write that arrives after its `close`: an
/// event racing with `init_logging()` (or `shutdown_logging()`) on another
/// thread met the pipeline being replaced. The target reports it like any
/// failed write, so the loss is counted and shown, never silent.
pub(crate) fn closed_error() -> io::Error {
    io::Error::other(
        "the target was already closed (logging was re-initialised or shut down while the \
         event was being logged); event dropped",
    )
}

/// A named renderer feeding one or more loggers (console text and the file
/// copy come from one rendering).
pub(crate) struct RenderingTarget<R: Renderer> {
    name: String,
    outputs: Outputs,
    renderer: R,
    loggers: Vec<OutputLogger<R::Output>>,
}

/// A logger and the output it writes.
type OutputLogger<T> = (Output, Box<dyn Logger<T>>);

impl<R: Renderer> RenderingTarget<R> {
    /// A target with no loggers yet.
    pub(crate) fn new(name: impl Into<String>, renderer: R) -> Self {
        RenderingTarget {
            name: name.into(),
            outputs: Outputs::NONE,
            renderer,
            loggers: Vec::new(),
        }
    }

    /// Adds the logger of `output` (its name in warnings is the output's).
    pub(crate) fn logger(mut self, output: Output, logger: impl Logger<R::Output>) -> Self {
        self.outputs = self.outputs | output.into();
        self.loggers.push((output, Box::new(logger)));
        self
    }

    /// Whether any logger was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.loggers.is_empty()
    }
}

impl<R: Renderer> Target for RenderingTarget<R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn outputs(&self) -> Outputs {
        self.outputs
    }

    fn handle(&self, event: &Event, to: Outputs) -> Failures {
        let mut failures = Failures::NONE;
        if (to & self.outputs).is_empty() {
            return failures;
        }
        let rendered = self.renderer.render(event);
        for (output, logger) in &self.loggers {
            if !to.contains(*output) {
                continue;
            }
            if let Err(err) = logger.write(&rendered, event) {
                failures += warn::target_failed(output.as_str(), "write", &err);
            }
        }
        failures
    }

    fn flush(&self) -> Failures {
        let mut failures = Failures::NONE;
        for (output, logger) in &self.loggers {
            if let Err(err) = logger.flush() {
                failures += warn::target_failed(output.as_str(), "flush", &err);
            }
        }
        failures
    }

    fn close(&self) -> Failures {
        let mut failures = Failures::NONE;
        for (output, logger) in &self.loggers {
            failures += match logger.close() {
                Ok(None) => Failures::NONE,
                Ok(Some(note)) => warn::target_lost(output.as_str(), &note),
                Err(err) => warn::target_failed(output.as_str(), "close", &err),
            };
        }
        failures
    }
}
