//! `_replace_msg` templates: any bytes, split at the first NUL into a
//! template and a field value, rendered against fields of every type.
//! Finds panics and output out of all proportion (widths and precisions
//! are bounded by `MAX_WIDTH`).

use stogger_core::{Event, Level, Value};

/// The largest width or precision a template may ask for; above it the
/// field renders `<bad format>` (docs/output-format.md, "Templates").
const MAX_WIDTH: usize = 10_000;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        let (template, value) = text.split_once('\0').unwrap_or((&text, "v"));
        let event = Event::new(Level::Info, "fuzz")
            .with("s", value)
            .with("n", value.len() as i64 - 7)
            .with("u", u64::MAX)
            .with("x", value.len() as f64 / 7.0)
            .with("nan", f64::NAN)
            .with("b", value.is_empty())
            .with(
                "j",
                Value::Json(Box::new(serde_json::json!({ "k": value, "n": [1.5] }))),
            );
        let out = event
            .with("_replace_msg", template)
            .message()
            .expect("an event with a template has a message");
        // Each field adds at most one padded value; the longest value is
        // `s` or the template itself (as the `_replace_msg` field).
        let longest = value.len().max(template.len());
        let bound = (template.len() + 1) * (2 * MAX_WIDTH + longest + 64);
        assert!(
            out.len() <= bound,
            "{} bytes from a {}-byte template",
            out.len(),
            template.len()
        );
    });
}
