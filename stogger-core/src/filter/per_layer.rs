//! stogger's per-layer filter: what stogger's layer receives, and nothing
//! about what the other layers of the subscriber receive.
//!
//! A layer's own `enabled`/`register_callsite` answer for the whole
//! subscriber: a layer at `info` would silence every other layer's debug
//! events, and a stopped stogger everything. As a per-layer filter
//! (`Layer::with_filter`) stogger's answer only decides what reaches
//! stogger; tracing combines it with the other layers' (a callsite nobody
//! wants stays `Interest::never`, one wanted by some layers is asked per
//! event). Answers never take a lock: they read the filters in force
//! through [`state`], and every change of them rebuilds tracing's interest
//! cache.

use super::state;
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Filter};

/// The filter [`crate::layer`] puts in front of stogger's layer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoggerFilter;

fn wants(meta: &Metadata<'_>) -> bool {
    state::wants(meta.is_span(), meta.target(), meta.level())
}

impl<S> Filter<S> for StoggerFilter {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        crate::mark_layer_registered();
        if wants(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(state::max_level())
    }
}
