//! Renderers: pure functions from an [`crate::Event`] to a target's form.

pub mod journal;
pub mod json;
pub mod row;
pub mod template;
pub mod text;
