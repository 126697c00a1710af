//! The renderers' golden tests: literal expected lines, and every example
//! of `docs/output-format.md` rendered.

mod fixtures;
mod golden;
mod output_format_doc;
