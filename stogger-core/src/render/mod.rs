//! Renderers: pure functions from an [`crate::Event`] to a target's form.

mod callsite;
mod escape;
mod fields;
pub(crate) mod journal;
pub(crate) mod json;
mod number;
mod pad;
pub(crate) mod row;
pub(crate) mod template;
pub(crate) mod text;
mod time;
pub(crate) mod translate;

#[cfg(test)]
mod tests;

pub(crate) use fields::VISIBLE;
pub(crate) use number::{format_float, non_finite_name};
