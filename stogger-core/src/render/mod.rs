//! Renderers: pure functions from an [`crate::Event`] to a target's form.

mod callsite;
pub mod journal;
pub mod json;
pub mod row;
pub mod template;
pub mod text;
pub mod translate;
