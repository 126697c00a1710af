//! The two halves of every output: a pure [`Renderer`] that turns an
//! [`Event`] into the target's form, and a [`Logger`] that does the I/O.
//! A [`Target`] is a named pair; the dispatcher only sees `dyn Target`, so
//! adding an output never touches it.

use crate::event::{Event, Level};
use crate::warn;
use std::io;
use std::time::Duration;

/// Turns an event into a target's representation. Pure: no I/O, no global state.
pub trait Renderer: Send + Sync + 'static {
    /// What this renderer produces (a text line, a journal payload, a row, ...).
    type Output;
    /// Renders one event.
    fn render(&self, event: &Event) -> Self::Output;
}

/// Writes rendered output somewhere. I/O only; errors are returned, never
/// printed: the dispatcher decides how a failure is reported.
pub trait Logger<T>: Send + Sync + 'static {
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
pub trait Target: Send + Sync {
    /// The target's name, used in warnings (`console`, `file`, `postgres`, ...).
    fn name(&self) -> &str;
    /// The least severe level this target takes.
    fn min_level(&self) -> Level;
    /// Renders and writes one event. Failures are reported by the target
    /// itself through [`warn`], rate-limited, and never propagate.
    fn handle(&self, event: &Event);
    /// Flushes buffered output.
    fn flush(&self);
    /// Flushes, waiting at most `timeout` for a slow destination; what does
    /// not make it in time stays buffered for a later flush or the close.
    /// The panic hook uses it, so a caught panic costs a short, bounded
    /// wait. The default is [`Target::flush`], for targets that never wait.
    fn flush_within(&self, timeout: Duration) {
        let _ = timeout;
        self.flush();
    }
    /// Flushes and releases resources.
    fn close(&self);
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
pub struct Pair<R: Renderer> {
    name: String,
    min_level: Level,
    renderer: R,
    loggers: Vec<NamedLogger<R::Output>>,
}

/// A logger with its name (for warnings) and the least severe level it takes.
type NamedLogger<T> = (String, Level, Box<dyn Logger<T>>);

impl<R: Renderer> Pair<R> {
    /// A target with no loggers yet.
    pub fn new(name: impl Into<String>, renderer: R) -> Self {
        Pair {
            name: name.into(),
            min_level: Level::Critical,
            renderer,
            loggers: Vec::new(),
        }
    }

    /// Adds a logger taking events at `min_level` and above.
    pub fn logger(
        mut self,
        name: impl Into<String>,
        min_level: Level,
        logger: impl Logger<R::Output>,
    ) -> Self {
        self.min_level = self.min_level.min(min_level);
        self.loggers
            .push((name.into(), min_level, Box::new(logger)));
        self
    }

    /// Whether any logger was added.
    pub fn is_empty(&self) -> bool {
        self.loggers.is_empty()
    }
}

impl<R: Renderer> Target for Pair<R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    fn handle(&self, event: &Event) {
        let rendered = self.renderer.render(event);
        for (name, min, logger) in &self.loggers {
            if event.level < *min {
                continue;
            }
            if let Err(err) = logger.write(&rendered, event) {
                warn::target_failed(name, "write", &err);
            }
        }
    }

    fn flush(&self) {
        for (name, _, logger) in &self.loggers {
            if let Err(err) = logger.flush() {
                warn::target_failed(name, "flush", &err);
            }
        }
    }

    fn close(&self) {
        for (name, _, logger) in &self.loggers {
            match logger.close() {
                Ok(None) => {}
                Ok(Some(note)) => warn::target_lost(name, &note),
                Err(err) => warn::target_failed(name, "close", &err),
            }
        }
    }
}
