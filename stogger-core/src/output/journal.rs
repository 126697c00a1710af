//! The systemd journal logger (skeleton: the journal issue fills it in).

use crate::config::Config;
use crate::error::Error;
use crate::event::Event;
use crate::target::Target;

/// Builds the journal target when the configuration and the machine allow it.
pub(crate) fn build(
    _cfg: &Config,
    _notes: &mut Vec<Event>,
) -> Result<Option<Box<dyn Target>>, Error> {
    Ok(None)
}

/// Whether stderr is connected to the journal (`JOURNAL_STREAM` matches it).
pub(crate) fn stderr_is_journal() -> bool {
    false
}
