//! Numbers as text: integers without going through `core::fmt`, floats as
//! Python's `repr()` prints them.

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

/// The textual name of a non-finite float, as stored where numbers cannot hold it.
pub(crate) fn non_finite_name(x: f64) -> &'static str {
    if x.is_nan() {
        "NaN"
    } else if x > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Formats a float the way a user reading Python-style logs expects:
/// Python's `repr` (shortest round-trip digits, always with a decimal point
/// or an exponent: `1.0`, `99.99`, `1e+16`, `1.5e-05`, `nan`, `inf`).
pub(crate) fn format_float(x: f64) -> String {
    let mut out = String::with_capacity(24);
    write_float(&mut out, x);
    out
}

/// [`format_float`], appended to `out` without an intermediate string.
pub(crate) fn write_float(out: &mut String, x: f64) {
    use std::fmt::Write;
    if !x.is_finite() {
        out.push_str(match non_finite_name(x) {
            "NaN" => "nan",
            "Infinity" => "inf",
            _ => "-inf",
        });
        return;
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let start = out.len();
        // Python's repr switches to exponent form here: 1e+16, 1.5e-05.
        let _ = write!(out, "{x:e}");
        let Some(e) = out[start..].find('e').map(|i| start + i) else {
            return;
        };
        let exp: String = out.split_off(e + 1);
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp.as_str()),
        };
        out.push(sign);
        if digits.len() < 2 {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    // Fixed notation. zmij writes it for every |x| in [1e-5, 1e16), zero
    // included, with the `.0` Python adds to whole numbers, at a fraction of
    // `core::fmt`'s cost. Its digits are the shortest that round-trip; with
    // at most 15 significant digits that shortest form is unique (15-digit
    // decimals are spaced wider than a double's rounding interval), so it
    // is what `{x}` prints. With 16 or 17 digits two algorithms may pick
    // different last digits: those go through `core::fmt` as before.
    let mut buf = zmij::Buffer::new();
    let fast = buf.format_finite(x);
    if significant_digits(fast) <= 15 {
        out.push_str(fast);
        return;
    }
    let start = out.len();
    let _ = write!(out, "{x}");
    if !out[start..].contains('.') {
        out.push_str(".0");
    }
}

/// Digits of a fixed-notation number after its leading zeros (trailing
/// zeros are counted too: an over-count only sends a number to the slow path).
fn significant_digits(s: &str) -> usize {
    let digits = s.bytes().filter(u8::is_ascii_digit);
    digits.skip_while(|&b| b == b'0').count()
}

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn floats_print_like_python_repr() {
        for (x, want) in [
            (1.0, "1.0"),
            (99.99, "99.99"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (123456789012345.6, "123456789012345.6"),
            (1e300, "1e+300"),
            (-2.5e20, "-2.5e+20"),
            (0.0, "0.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.00012, "0.00012"),
        ] {
            assert_eq!(format_float(x), want, "{x:?}");
        }
    }

    /// The fixed-notation path gives what `core::fmt` gave before it (plus
    /// `.0` on whole numbers), over a spread of bit patterns in its range.
    #[test]
    fn fixed_notation_matches_core_fmt() {
        let mut bits: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut checked = 0;
        for i in 0..200_000u64 {
            bits = bits
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let x = match i % 3 {
                0 => f64::from_bits(bits),
                1 => (bits >> 11) as f64 / (1u64 << (bits % 53)) as f64,
                _ => (bits % 100_000) as f64 * 0.25 / 10f64.powi((bits % 9) as i32),
            };
            let abs = x.abs();
            if !x.is_finite() || (abs != 0.0 && !(1e-4..1e16).contains(&abs)) {
                continue;
            }
            let mut want = format!("{x}");
            if !want.contains('.') {
                want.push_str(".0");
            }
            assert_eq!(format_float(x), want, "{x:?}");
            checked += 1;
        }
        assert!(checked > 100_000);
    }
}
