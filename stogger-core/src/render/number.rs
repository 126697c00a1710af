//! Integers as decimal text, without going through `core::fmt`.

/// Appends an integer in decimal without going through `core::fmt`.
pub(crate) fn push_int(out: &mut String, n: i128) {
    match i64::try_from(n) {
        Ok(n) => out.push_str(itoa::Buffer::new().format(n)),
        Err(_) => out.push_str(itoa::Buffer::new().format(n)),
    }
}

/// Appends an unsigned integer in decimal.
pub(crate) fn push_uint(out: &mut String, n: u128) {
    match u64::try_from(n) {
        // The common case, without 128-bit division.
        Ok(n) => out.push_str(itoa::Buffer::new().format(n)),
        Err(_) => out.push_str(itoa::Buffer::new().format(n)),
    }
}
