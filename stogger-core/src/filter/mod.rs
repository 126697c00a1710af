//! Filtering: which events stogger takes, per output, in the `RUST_LOG`
//! directive syntax, and changing that while the service runs.
//!
//! - [`directives`]: parsing (`info,hyper=warn`) and matching;
//! - [`spec`]: which directives each output uses, from the configuration;
//! - [`state`]: the filters in force, read on every event without a lock;
//! - [`per_layer`]: the per-layer filter in front of stogger's tracing layer.

pub(crate) mod directives;
pub(crate) mod per_layer;
pub(crate) mod spec;
pub(crate) mod state;

pub(crate) use directives::SYNTAX;
pub use spec::FilterInForce;

use crate::config::{ConfigError, Origin};
use crate::error::Error;
use crate::target::Output;
use directives::DirectiveError;

pub(crate) use state::outputs_for;

/// The configuration error for a bad directive in `key`.
pub(crate) fn invalid(key: &'static str, origin: Origin, bad: DirectiveError) -> ConfigError {
    ConfigError::InvalidDirective {
        key,
        origin,
        table: None,
        line: None,
        directive: bad.directive,
        reason: bad.reason,
    }
}

/// Replaces the global filter (what `log_filter` configures) at once, on
/// every thread: `stogger_core::set_filter("info,my_service::db=debug")`.
///
/// Outputs with a filter or level of their own (`console_filter`,
/// `console_min_level`, ... or [`set_target_filter`]) keep theirs. A target
/// no directive names gets the directives' bare level, else `verbose` /
/// `format.min_level`; `""` leaves only those. A bad directive returns the
/// same configuration error as `log_filter` would (naming the directive and
/// the syntax) and leaves the filter in force unchanged.
///
/// The change lasts until the next `init_logging()` (or SIGHUP reload),
/// which starts again from the configuration. Filtering afterwards costs
/// what it cost before: nothing is locked per event.
pub fn set_filter(directives: &str) -> Result<(), Error> {
    let parsed =
        directives::parse(directives).map_err(|e| invalid("log_filter", Origin::Code, e))?;
    state::update(|spec| spec.set_global(parsed));
    Ok(())
}

/// Replaces one output's own filter (what `console_filter`, `file_filter`,
/// `journal_filter` or `postgres_filter` configures), like [`set_filter`].
/// `""` removes it: the output follows its `<output>_min_level`, else the
/// global filter, again.
pub fn set_target_filter(output: Output, directives: &str) -> Result<(), Error> {
    let key = spec::filter_key(output);
    let parsed = directives::parse(directives).map_err(|e| invalid(key, Origin::Code, e))?;
    let own = (!parsed.is_empty()).then_some(parsed);
    state::update(|spec| spec.set_own(output, own));
    Ok(())
}
