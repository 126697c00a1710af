//! `log_format = "json"`: one JSON object per event (skeleton).

use crate::event::Event;
use crate::target::Renderer;

/// Renders one JSON object per line.
#[derive(Debug, Default, Clone)]
pub struct JsonRenderer;

impl JsonRenderer {
    /// A JSON renderer.
    pub fn new() -> Self {
        JsonRenderer
    }
}

impl Renderer for JsonRenderer {
    type Output = String;
    fn render(&self, event: &Event) -> String {
        format!(
            "{{\"event\":{}}}\n",
            serde_json::Value::String(event.name.clone())
        )
    }
}
