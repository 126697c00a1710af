//! Events and options shared by the rendering tests: a fixed clock, a fixed
//! pid, and the example events of the spec.

use crate::config::TimestampPrecision;
use crate::event::CodeLocation;
use crate::render::text::{TextOptions, TextRenderer};
use crate::target::Renderer;
use crate::{Event, Level};
use time::macros::datetime;

/// An event at 2026-06-01T17:19:01.123456Z from pid 4242, without fields.
pub(crate) fn event(level: Level, name: &str) -> Event {
    Event {
        timestamp: datetime!(2026-06-01 17:19:01.123456 UTC),
        level,
        name: name.to_string(),
        fields: Vec::new(),
        context: Vec::new(),
        scope: None,
        func: None,
        pid: 4242,
        code: CodeLocation::default(),
        target: "shop".into(),
    }
}

/// The default line options (no colour, seconds, width 30), logging started
/// 12.123456 s before [`event`]'s timestamp.
pub(crate) fn opts() -> TextOptions {
    TextOptions {
        color: false,
        timestamp: TimestampPrecision::IsoSeconds,
        pad_event_width: 30,
        show_code_info: false,
        show_caller_info: false,
        start: datetime!(2026-06-01 17:18:49.000000 UTC),
    }
}

/// The plain (file) line with options `o`.
pub(crate) fn plain_with(o: TextOptions, e: &Event) -> String {
    TextRenderer::new(o).render(e).plain
}

/// The plain (file) line with the default options.
pub(crate) fn plain(e: &Event) -> String {
    plain_with(opts(), e)
}

/// The spec's template example.
pub(crate) fn user_login() -> Event {
    event(Level::Info, "user-login")
        .with("user_id", 123)
        .with("username", "alice")
        .with("ip", "192.168.1.1")
        .with("_replace_msg", "User {username} logged in from {ip}")
}

/// The spec's key=value example.
pub(crate) fn order_placed() -> Event {
    event(Level::Info, "order-placed")
        .with("order_id", 12345)
        .with("customer_id", 67890)
        .with("amount", 99.99)
        .with("currency", "USD")
}
