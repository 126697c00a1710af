//! The tracing side: [`StoggerLayer`] turns tracing events (and `log`
//! records, through the bridge) into [`Event`]s and hands them to the
//! dispatcher. It never filters: what it receives is decided by the
//! per-layer filter in front of it ([`crate::filter::per_layer`]), so
//! stogger's levels never change what the other layers of a subscriber see.

use crate::dispatch;
use crate::event::{now_micros, CodeLocation, Event, FieldName, Level, Value};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Target of the span a [`crate::LogScope`] opens.
pub(crate) const SCOPE_TARGET: &str = "stogger::scope";

/// The tracing layer that feeds stogger's targets, always behind stogger's
/// per-layer filter (see [`crate::layer`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoggerLayer;

/// What stogger keeps of a span: its fields, and whether it is a scope or a function.
#[derive(Debug, Default)]
pub(crate) struct SpanData {
    pub(crate) fields: Vec<(FieldName, Value)>,
    pub(crate) scope: Option<String>,
    pub(crate) func: Option<String>,
}

/// Threads stogger runs itself (the PostgreSQL writer and its driver) are
/// named `stogger-...`; what they log would loop back into the targets.
/// A thread's name cannot change once it runs, so the answer is kept per
/// thread (asking `thread::current()` on every event costs two atomic
/// reference-count updates).
fn on_internal_thread() -> bool {
    thread_local! {
        static INTERNAL: Cell<Option<bool>> = const { Cell::new(None) };
    }
    let ask = || {
        std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("stogger-"))
    };
    INTERNAL
        .try_with(|known| match known.get() {
            Some(internal) => internal,
            None => {
                let internal = ask();
                known.set(Some(internal));
                internal
            }
        })
        .unwrap_or_else(|_| ask())
}

impl<S> tracing_subscriber::Layer<S> for StoggerLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let meta = attrs.metadata();
        let mut visitor = FieldCollector::default();
        attrs.record(&mut visitor);
        let mut data = SpanData::default();
        if meta.target() == SCOPE_TARGET {
            data.scope = visitor
                .fields
                .iter()
                .find(|(k, _)| k == "scope")
                .map(|(_, v)| v.to_string());
            data.fields = visitor
                .fields
                .into_iter()
                .filter(|(k, _)| k != "scope")
                .collect();
        } else {
            data.func = Some(match meta.module_path() {
                Some(module) => format!("{module}::{}", meta.name()),
                None => meta.name().to_string(),
            });
            data.fields = visitor.fields;
        }
        span.extensions_mut().insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = FieldCollector::default();
        values.record(&mut visitor);
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>() {
            for (k, v) in visitor.fields {
                match data.fields.iter_mut().find(|(key, _)| *key == k) {
                    Some(slot) => slot.1 = v,
                    None => data.fields.push((k, v)),
                }
            }
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if dispatch::in_dispatch() || on_internal_thread() {
            return;
        }
        // A `log` record's metadata is normalized into a value that lives
        // only as long as this call: its file, module and target are copied.
        // A tracing event's metadata is `'static`: they are borrowed.
        let normalized = event.normalized_metadata();
        let (meta, code, target) = match normalized.as_ref() {
            Some(meta) => (
                meta,
                CodeLocation {
                    file: meta.file().map(|f| Cow::Owned(f.to_string())),
                    line: meta.line(),
                    module: meta.module_path().map(|m| Cow::Owned(m.to_string())),
                },
                Cow::Owned(meta.target().to_string()),
            ),
            None => {
                let meta: &'static Metadata<'static> = event.metadata();
                (
                    meta,
                    CodeLocation {
                        file: meta.file().map(Cow::Borrowed),
                        line: meta.line(),
                        module: meta.module_path().map(Cow::Borrowed),
                    },
                    Cow::Borrowed(meta.target()),
                )
            }
        };
        let mut level = Level::from_tracing(meta.level());
        // The collector starts from this thread's recycled buffers (see
        // `Scratch`), sized for every field up front.
        let mut visitor = FieldCollector::from_scratch(take_scratch());
        visitor.fields.reserve(event.metadata().fields().len());
        event.record(&mut visitor);
        if level == Level::Error && visitor.critical {
            level = Level::Critical;
        }
        let FieldCollector {
            message,
            mut fields,
            context,
            strings,
            stack_info,
            func,
            ..
        } = visitor;
        if stack_info {
            fields.push((
                Cow::Borrowed("stack"),
                Value::Str(crate::exception::stack()),
            ));
        }
        let mut out = Event {
            timestamp: now_micros(),
            level,
            name: message,
            fields,
            context,
            scope: None,
            func: None,
            pid: crate::event::pid(),
            code,
            target,
        };
        if let Some(spans) = ctx.event_scope(event) {
            for span in spans.from_root() {
                let ext = span.extensions();
                if let Some(data) = ext.get::<SpanData>() {
                    out.context.extend(data.fields.iter().cloned());
                    if data.scope.is_some() {
                        out.scope.clone_from(&data.scope);
                    }
                    if data.func.is_some() {
                        out.func.clone_from(&data.func);
                    }
                }
            }
        }
        if func.is_some() {
            out.func = func; // `_func`, set by stogger's call macros
        }
        dispatch::dispatch(&out);
        put_back_scratch(Scratch::recycle(out, strings));
    }
}

/// The allocations of the last event this thread logged, kept for the next
/// one: without them every event pays a `malloc`/`free` pair for its field
/// list, its message and each string value. Taken out of the thread-local
/// slot for the duration of an event, so an event logged while another is
/// being collected (a `Debug` impl that logs) simply starts empty.
#[derive(Default)]
struct Scratch {
    message: String,
    fields: Vec<(FieldName, Value)>,
    context: Vec<(FieldName, Value)>,
    /// Cleared strings for the next string values.
    strings: Vec<String>,
}

/// Buffers larger than this are freed rather than kept by [`Scratch`].
const SCRATCH_KEEP_BYTES: usize = 4096;
/// At most this many spare strings are kept by [`Scratch`].
const SCRATCH_KEEP_STRINGS: usize = 32;
/// Field lists with room for more than this many fields are freed rather
/// than kept (one event with thousands of fields must not pin its list).
const SCRATCH_KEEP_FIELDS: usize = 64;

impl Scratch {
    /// Takes an event apart into reusable buffers.
    fn recycle(event: Event, mut strings: Vec<String>) -> Scratch {
        let Event {
            name: mut message,
            mut fields,
            mut context,
            ..
        } = event;
        for list in [&mut fields, &mut context] {
            for (_, value) in list.iter_mut() {
                if let Value::Str(s) | Value::Debug(s) = value {
                    if strings.len() < SCRATCH_KEEP_STRINGS && s.capacity() <= SCRATCH_KEEP_BYTES {
                        s.clear();
                        strings.push(std::mem::take(s));
                    }
                }
            }
            list.clear();
            if list.capacity() > SCRATCH_KEEP_FIELDS {
                *list = Vec::new();
            }
        }
        message.clear();
        if message.capacity() > SCRATCH_KEEP_BYTES {
            message = String::new();
        }
        Scratch {
            message,
            fields,
            context,
            strings,
        }
    }
}

thread_local! {
    static SCRATCH: Cell<Option<Scratch>> = const { Cell::new(None) };
}

fn take_scratch() -> Scratch {
    SCRATCH
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn put_back_scratch(scratch: Scratch) {
    // Fails only while the thread is exiting; the buffers are freed then.
    let _ = SCRATCH.try_with(|slot| slot.set(Some(scratch)));
}

/// Collects tracing fields into typed [`Value`]s, keeping their order.
#[derive(Default)]
pub(crate) struct FieldCollector {
    /// The `message` field (the event name); empty when there was none.
    pub(crate) message: String,
    pub(crate) fields: Vec<(FieldName, Value)>,
    pub(crate) critical: bool,
    /// `stack_info = true` was given: add the stack of the log call.
    stack_info: bool,
    /// `_func = "..."`: the event's function (see [`crate::log_call`]).
    func: Option<String>,
    /// Passed through to the event (span fields are added after collection).
    context: Vec<(FieldName, Value)>,
    /// Cleared strings to fill instead of allocating new ones.
    strings: Vec<String>,
}

impl FieldCollector {
    fn from_scratch(scratch: Scratch) -> Self {
        FieldCollector {
            message: scratch.message,
            fields: scratch.fields,
            critical: false,
            stack_info: false,
            func: None,
            context: scratch.context,
            strings: scratch.strings,
        }
    }

    /// A string holding `value`, reusing a spare allocation when there is one.
    fn string(&mut self, value: &str) -> String {
        let mut s = self.strings.pop().unwrap_or_default();
        s.push_str(value);
        s
    }

    fn push(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name.starts_with("log.") {
            return; // the log bridge's metadata, already in the normalized metadata
        }
        if name == "_critical" {
            self.critical = matches!(value, Value::Bool(true));
        }
        self.fields.push((Cow::Borrowed(name), value));
    }
}

impl Visit for FieldCollector {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(v) => self.push(field, Value::I64(v)),
            Err(_) => self.push(field, Value::Str(value.to_string())),
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(v) => self.push(field, Value::U64(v)),
            Err(_) => self.push(field, Value::Str(value.to_string())),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "stack_info" {
            self.stack_info = value; // Python's `stack_info=True`
            return;
        }
        self.push(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.clear();
            self.message.push_str(value);
        } else if field.name() == "_func" {
            self.func = Some(value.to_string());
        } else {
            let s = self.string(value);
            self.push(field, Value::Str(s));
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if crate::exception::collect(field.name(), value, &mut self.fields) {
            return;
        }
        let mut chain = vec![value.to_string()];
        let mut source = value.source();
        while let Some(err) = source {
            chain.push(err.to_string());
            source = err.source();
        }
        self.push(field, Value::Error(chain));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            self.message.clear();
            // Writing into a String cannot fail; a Debug impl that errs
            // leaves what it wrote so far.
            let _ = write!(self.message, "{value:?}");
        } else {
            let mut s = self.strings.pop().unwrap_or_default();
            let _ = write!(s, "{value:?}");
            self.push(field, Value::Debug(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    /// What a tracing event's metadata gives is borrowed, not copied per event.
    #[test]
    fn names_from_tracing_metadata_are_borrowed_not_copied() {
        let cap = crate::testing::capture();
        tracing::info!(order_id = 7, "order-placed");
        let events = cap.events();
        let e = &events[0];
        assert!(matches!(e.fields[0].0, Cow::Borrowed("order_id")));
        assert!(matches!(e.code.file, Some(Cow::Borrowed(_))));
        assert!(matches!(e.code.module, Some(Cow::Borrowed(_))));
        assert!(matches!(e.target, Cow::Borrowed(_)));
        assert_eq!(e.code.module.as_deref(), Some(module_path!()));
        assert_eq!(e.target, module_path!());
    }
}
