//! The filters in force: one [`FilterSet`] shared by every thread, replaced
//! as a whole by `init_logging`, `shutdown_logging`, `set_filter` and a
//! SIGHUP reload, each replacement followed by a rebuild of tracing's
//! interest cache. Between replacements nothing is locked: tracing caches
//! each callsite's interest, and the per-event checks read this thread's
//! copy of the set (one atomic load), so a filter changed a thousand times
//! costs an event exactly what a filter never changed does.

use super::directives::{Matcher, Threshold};
use super::spec::FilterSpec;
use crate::event::{Event, Level};
use crate::fork::PerProcess;
use crate::layer::SCOPE_TARGET;
use crate::published::{Published, ThreadCopy};
use crate::target::{Output, Outputs};
use crate::testing;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tracing_subscriber::filter::LevelFilter;

/// Compiled filters: one matcher per output and their union.
#[derive(Debug)]
pub(crate) struct FilterSet {
    spec: FilterSpec,
    /// The outputs the running pipeline has (none when stogger is stopped).
    present: Outputs,
    outputs: [Matcher; 4],
    /// What any present output takes: what stogger asks tracing for.
    union: Matcher,
    /// A capture runs ([`testing::capture`]): it sees every event that
    /// reaches stogger, and debug events are enabled for it.
    capturing: bool,
}

impl FilterSet {
    fn new(spec: FilterSpec, present: Outputs) -> FilterSet {
        let outputs = Output::ALL.map(|o| spec.matcher(o));
        let parts: Vec<&Matcher> = present.iter().map(|o| &outputs[o.index()]).collect();
        let union = Matcher::union(&parts);
        FilterSet {
            spec,
            present,
            outputs,
            union,
            capturing: testing::active(),
        }
    }

    /// The present outputs whose filters admit an event of `target` at
    /// `level`, and the captures while one runs.
    #[inline]
    fn outputs_for(&self, target: &str, level: Level) -> Outputs {
        let mut to = if self.capturing {
            Outputs::CAPTURES
        } else {
            Outputs::NONE
        };
        for output in self.present.iter() {
            if self.outputs[output.index()].admits(target, level) {
                to = to | output.into();
            }
        }
        to
    }
}

static CURRENT: Published<FilterSet> = Published::new();

thread_local! {
    static CACHED: ThreadCopy<FilterSet> = const { RefCell::new((u64::MAX, None)) };
}

/// Serialises replacements (a `set_filter` racing an `init_logging`).
static UPDATE: Mutex<()> = Mutex::new(());

/// Takes [`UPDATE`], also after a panic in another update (the lock guards
/// no data of its own: the filters it orders are replaced whole). Without
/// this a poisoned lock would be an `Err` bound to `_lock`, and updates
/// would go on unserialised.
fn lock_updates() -> std::sync::MutexGuard<'static, ()> {
    UPDATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether stogger installed the `log` crate's logger (its bridge): then
/// stogger owns `log`'s max level and keeps it equal to tracing's.
static OWNS_LOG_BRIDGE: AtomicBool = AtomicBool::new(false);

/// Records that stogger's `log` bridge is the `log` crate's logger.
pub(crate) fn log_bridge_installed() {
    OWNS_LOG_BRIDGE.store(true, Ordering::Relaxed);
}

/// Starts filtering for a pipeline with the outputs `present`.
pub(crate) fn start(spec: FilterSpec, present: Outputs) {
    let _lock = lock_updates();
    publish(FilterSet::new(spec, present));
}

/// Stops asking tracing for anything (the filters are kept for the next
/// [`update`], which still applies to nothing until the next start).
pub(crate) fn stop() {
    let _lock = lock_updates();
    let spec = CURRENT.get().map(|s| s.spec.clone()).unwrap_or_default();
    publish(FilterSet::new(spec, Outputs::NONE));
}

/// Changes the filters in force with `change`, for the same outputs.
pub(crate) fn update(change: impl FnOnce(&mut FilterSpec)) {
    let _lock = lock_updates();
    let current = CURRENT.get();
    let mut spec = current.as_ref().map(|s| s.spec.clone()).unwrap_or_default();
    change(&mut spec);
    let present = current.map_or(Outputs::NONE, |s| s.present);
    publish(FilterSet::new(spec, present));
}

/// A capture started or the last one ended: the same filters, with the
/// captures observing or not.
pub(crate) fn captures_changed() {
    update(|_| {});
}

fn publish(set: FilterSet) {
    CURRENT.replace(Some(Arc::new(set)));
    rebuild();
}

/// Serialises [`rebuild`]; per process, so a forked child never waits on a
/// lock a parent's thread held at fork.
static REBUILDING: PerProcess<Mutex<()>> = PerProcess::new(|| Mutex::new(()));

/// Makes tracing ask every callsite again (after a filter or a capture
/// changed), then brings the `log` crate's max level in line.
///
/// One rebuild at a time: each computes the interest and the max level from
/// the state it reads, and a rebuild that started earlier but finished later
/// would overwrite a newer answer with a stale one (a capture ending on one
/// thread while another starts left every callsite disabled). Whoever
/// changes the state stores it first and rebuilds after, so the last
/// rebuild always reads the newest state.
pub(crate) fn rebuild() {
    let _one_at_a_time = REBUILDING.get().lock().unwrap_or_else(|p| p.into_inner());
    tracing_core::callsite::rebuild_interest_cache();
    sync_log_max_level();
}

/// `log` records pass `log`'s own max level before they reach the bridge.
/// Ours: kept equal to tracing's max level, so a disabled `log::debug!`
/// costs one comparison and an enabled one is not lost. Someone else's
/// logger (their `LogTracer`, set when tracing's max level was lower, or
/// another logger): only raised, never lowered below what it chose.
fn sync_log_max_level() {
    use tracing_log::AsLog;
    let wanted = LevelFilter::current().as_log();
    if OWNS_LOG_BRIDGE.load(Ordering::Relaxed) || wanted > log::max_level() {
        log::set_max_level(wanted);
    }
}

/// The outputs that take `event` under the filters in force.
pub(crate) fn outputs_for(event: &Event) -> Outputs {
    let mut to = Outputs::NONE;
    CURRENT.with(&CACHED, |set| {
        if let Some(set) = set {
            to = set.outputs_for(&event.target, event.level);
        }
    });
    to
}

/// Whether stogger wants events and spans at all (it has an output that
/// takes something, or a capture is running).
fn running(set: &FilterSet) -> bool {
    set.union.most_verbose() != Threshold::OFF
}

/// Whether stogger wants a span or event of `target` at tracing's `level`.
///
/// Events: when some output's filter admits them (an `ERROR` callsite
/// counts as critical: its events may be). Spans: the same, and every span
/// at `INFO` or above whatever the filters say, so `log_scope` (an
/// `ERROR` span) and `#[instrument]` functions (`INFO` by default) give
/// their scope, func and fields to events stogger takes.
pub(crate) fn wants(is_span: bool, target: &str, level: &tracing::Level) -> bool {
    // A `log_scope` span is stogger's own: always wanted. Its one callsite
    // is shared by every thread, and tracing caches a callsite's interest
    // from the moment it is first registered; a thread registering it just
    // while the last capture ended (or logging stopped) would otherwise
    // leave it disabled for every later scope (the interest cache rebuild
    // does not see a callsite whose registration is still under way).
    if is_span && target == SCOPE_TARGET {
        return true;
    }
    let level = match Level::from_tracing(level) {
        Level::Error => Level::Critical,
        other => other,
    };
    let mut wanted = false;
    CURRENT.with(&CACHED, |set| {
        wanted = set.is_some_and(|set| {
            (set.capturing && level >= Level::Debug)
                || (running(set)
                    && ((is_span && level >= Level::Info) || set.union.admits(target, level)))
        });
    });
    wanted
}

/// The most verbose level stogger may want: tracing's global max level
/// skips every callsite beyond it without asking.
pub(crate) fn max_level() -> LevelFilter {
    let mut most = Threshold::OFF;
    CURRENT.with(&CACHED, |set| {
        let Some(set) = set else { return };
        if running(set) {
            // Spans at INFO and above are always wanted while running.
            most = set.union.most_verbose().min(Threshold::at(Level::Info));
        }
        if set.capturing {
            most = most.min(Threshold::at(Level::Debug));
        }
    });
    most.as_level_filter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn only_present_outputs_count() {
        let cfg = Config {
            log_filter: Some("info,db=trace".into()),
            console_filter: Some("warn".into()),
            ..Config::default()
        };
        let spec = FilterSpec::from_config(&cfg).unwrap();
        let console = FilterSet::new(spec.clone(), Output::Console.into());
        assert!(!console.union.admits("db", Level::Info));
        assert_eq!(console.outputs_for("db", Level::Trace), Outputs::NONE);
        let both = FilterSet::new(
            spec.clone(),
            Outputs::from(Output::Console) | Output::File.into(),
        );
        assert_eq!(both.outputs_for("db", Level::Trace), Output::File.into());
        assert_eq!(
            both.outputs_for("x", Level::Error),
            Outputs::from(Output::Console) | Output::File.into()
        );
        assert!(!running(&FilterSet::new(spec, Outputs::NONE)));
    }
}
