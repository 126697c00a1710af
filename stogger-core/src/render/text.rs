//! Console and file lines (skeleton).

use crate::config::TimestampPrecision;
use crate::event::Event;
use crate::target::Renderer;
use time::OffsetDateTime;

/// How lines are laid out.
#[derive(Debug, Clone)]
pub struct TextOptions {
    /// Emit ANSI colours in [`TextLine::colored`].
    pub color: bool,
    /// Timestamp form.
    pub timestamp: TimestampPrecision,
    /// Width the event name is padded to.
    pub pad_event_width: usize,
    /// Append `file:line`.
    pub show_code_info: bool,
    /// Append `module:line` after the event name.
    pub show_caller_info: bool,
    /// Show `cmd_output_line` sections.
    pub log_cmd_output: bool,
    /// Start of logging, for relative timestamps.
    pub start: OffsetDateTime,
}

/// One rendered event: the coloured console form (when colours are on) and
/// the plain form for the file. Both end with a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLine {
    /// With ANSI codes; `None` when colours are off.
    pub colored: Option<String>,
    /// Without ANSI codes.
    pub plain: String,
}

impl TextLine {
    /// What the console writes.
    pub fn console(&self) -> &str {
        self.colored.as_deref().unwrap_or(&self.plain)
    }
}

/// Renders console and file lines.
#[derive(Debug, Clone)]
pub struct TextRenderer {
    opts: TextOptions,
}

impl TextRenderer {
    /// A renderer with these options.
    pub fn new(opts: TextOptions) -> Self {
        TextRenderer { opts }
    }
}

impl Renderer for TextRenderer {
    type Output = TextLine;
    fn render(&self, event: &Event) -> TextLine {
        let _ = &self.opts;
        TextLine {
            colored: None,
            plain: format!("{} {}\n", event.level.letter(), event.name),
        }
    }
}
