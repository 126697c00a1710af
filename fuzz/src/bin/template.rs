//! `_replace_msg` templates: any bytes, split at the first NUL into a
//! template and a field value, rendered against fields of every type.
//! Finds panics and output out of all proportion (widths and precisions
//! are bounded by `MAX_WIDTH`).

use stogger_core::render::template::{render_template, MAX_WIDTH};
use stogger_core::{Event, Level, Value};

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
        let out = render_template(template, &event);
        // Each field adds at most one padded value.
        let bound = (template.len() + 1) * (2 * MAX_WIDTH + value.len() + 64);
        assert!(
            out.len() <= bound,
            "{} bytes from a {}-byte template",
            out.len(),
            template.len()
        );
    });
}
