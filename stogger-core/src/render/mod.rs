//! Renderers: pure functions from an [`crate::Event`] to a target's form.

mod callsite;
mod escape;
mod fields;
pub mod journal;
pub mod json;
mod number;
mod pad;
pub mod row;
pub mod template;
pub mod text;
mod time;
pub mod translate;

#[cfg(test)]
mod tests;

pub(crate) use fields::VISIBLE;
pub(crate) use number::{format_float, non_finite_name};
