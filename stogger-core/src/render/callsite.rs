//! What renderers can work out once per callsite instead of once per event.
//!
//! Every event of one `tracing` callsite has the same field names, in the
//! same order, and those names are `'static` strings from the callsite's
//! metadata: their addresses identify the callsite. A renderer keeps what
//! depends only on the names (which fields are shown, in which order, their
//! escaped key text) in a small per-thread [`CallsiteCache`] and spends the
//! per-event work on the values alone.

use crate::event::{Event, FieldName};
use std::borrow::Cow;

/// Slots of a cache (a power of two); a direct-mapped cache: a callsite
/// that lands on an occupied slot replaces what was there.
const SLOTS: usize = 64;

/// Events with more fields than this are not cached (rare, and a plan's
/// work grows with them).
pub(crate) const MAX_FIELDS: usize = 16;

/// Address and length of a `'static` field name; None for an owned name
/// (`stogger emit`, `LogScope::add`), whose address may be reused for other
/// text and so cannot identify anything.
fn static_name(name: &FieldName) -> Option<(usize, usize)> {
    match name {
        Cow::Borrowed(s) => Some((s.as_ptr() as usize, s.len())),
        Cow::Owned(_) => None,
    }
}

/// A callsite's identity: the address and length of each field name.
type Names = Vec<(usize, usize)>;

/// Plans of type `P` by callsite. Keep one per thread (`thread_local!`):
/// no locking, and a thread's callsites stay warm in its own cache.
pub(crate) struct CallsiteCache<P> {
    slots: Vec<Option<(Names, P)>>,
}

impl<P> CallsiteCache<P> {
    /// An empty cache; it allocates its slots on first use.
    pub(crate) const fn new() -> Self {
        CallsiteCache { slots: Vec::new() }
    }

    /// The plan for the callsite of `event`'s fields, made with `build` the
    /// first time (or when another callsite took the slot since). None when
    /// the event has no fields, more than [`MAX_FIELDS`], or a name that is
    /// not `'static`; the caller then takes its plain path.
    pub(crate) fn plan(&mut self, event: &Event, build: impl FnOnce() -> P) -> Option<&P> {
        let fields = &event.fields;
        if fields.is_empty() || fields.len() > MAX_FIELDS {
            return None;
        }
        let (addr, len) = static_name(&fields[0].0)?;
        let hash = (addr as u64 ^ (len as u64) << 48 ^ fields.len() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = (hash >> (64 - SLOTS.trailing_zeros())) as usize;
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, || None);
        }
        let entry = &mut self.slots[slot];
        let fits = entry.as_ref().is_some_and(|(names, _)| {
            names.len() == fields.len()
                && names
                    .iter()
                    .zip(fields)
                    .all(|(name, (k, _))| static_name(k) == Some(*name))
        });
        if !fits {
            let names = fields
                .iter()
                .map(|(k, _)| static_name(k))
                .collect::<Option<Names>>()?;
            *entry = Some((names, build()));
        }
        entry.as_ref().map(|(_, plan)| plan)
    }
}
