//! The PostgreSQL target: rows through the plugin ABI (skeleton).

use crate::config::Config;
use crate::event::Event;
use crate::target::Target;

/// Builds the PostgreSQL target when `enable_postgres` is on and the plugin is found.
pub(crate) fn build(_cfg: &Config, _notes: &mut Vec<Event>) -> Option<Box<dyn Target>> {
    None
}
