//! Escaping user data for one-line, terminal-safe text: control and
//! invisible characters as `\n`, `\x1b`, `\u202e` (Python's `repr()` escapes),
//! and what is kept of terminal escape sequences in raw command output.

use std::fmt::Write as _;

/// Characters written as escapes wherever field values are shown: control
/// characters (C0, DEL, C1), spaces other than the ASCII space (no-break,
/// en, em, ideographic, ...), and the invisible formatting characters that
/// reorder or hide text (bidirectional controls, zero-width characters, soft
/// hyphen, line and paragraph separators, the byte-order mark). Python's
/// `repr()` escapes all of these too.
pub(crate) fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00a0}'
                | '\u{00ad}'
                | '\u{061c}'
                | '\u{1680}'
                | '\u{180e}'
                | '\u{2000}'..='\u{200f}'
                | '\u{2028}'..='\u{202f}'
                | '\u{205f}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{3000}'
                | '\u{feff}'
        )
}

/// Appends `s` with newline, carriage return and tab written as `\n`, `\r`,
/// `\t` and every other [unprintable](is_unprintable) character as
/// `\xNN` / `\uNNNN` (ESC is `\x1b`). Backslashes are kept as they are.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    push_escaped_with(out, s, false, false);
}

/// Appends `s` quoted the way the `key=value` body shows strings:
/// `'...'` with `\` and `'` escaped (`\\`, `\'`), plus the escapes of
/// [`push_escaped`].
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('\'');
    push_escaped_with(out, s, true, false);
    out.push('\'');
}

/// Length of the leading run of `bytes` that [`push_escaped_with`] copies as
/// it is, found eight bytes at a time (a lower bound: it stops at the first
/// chunk holding a control byte, DEL, a non-ASCII byte or, when `quoted`, a
/// backslash or quote; the byte loop takes it from there).
fn plain_prefix_len(bytes: &[u8], quoted: bool) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut i = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let w = u64::from_ne_bytes(b);
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
        let del_or_high = ((w & LOW7).wrapping_add(ONES) | w) & HIGH != 0;
        let special = quoted
            && (has_zero(w ^ (ONES * u64::from(b'\\'))) || has_zero(w ^ (ONES * u64::from(b'\''))));
        if below_space || del_or_high || special {
            break;
        }
        i += 8;
    }
    i
}

pub(crate) fn push_escaped_with(out: &mut String, s: &str, quoted: bool, keep_tab: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = plain_prefix_len(bytes, quoted);
    while i < bytes.len() {
        let b = bytes[i];
        if (0x20..0x7f).contains(&b) && !(quoted && (b == b'\\' || b == b'\'')) {
            i += 1;
            continue;
        }
        let c = if b < 0x80 {
            char::from(b)
        } else {
            match s[i..].chars().next() {
                Some(c) => c,
                None => break,
            }
        };
        let len = c.len_utf8();
        let escape = match c {
            '\t' => !keep_tab,
            '\\' | '\'' => quoted,
            c => is_unprintable(c),
        };
        if escape {
            out.push_str(&s[start..i]);
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c => push_python_escape(out, c),
            }
            start = i + len;
        }
        i += len;
    }
    out.push_str(&s[start..]);
}

/// Appends one line of `_raw_output`. Escape sequences are removed, except,
/// when `keep_sgr`, the colour and style sequences (`ESC [ ... m`); other
/// control characters are escaped as in [`push_escaped`] (tabs are kept).
/// Returns whether a sequence was kept.
pub(crate) fn push_raw(out: &mut String, s: &str, keep_sgr: bool) -> bool {
    let bytes = s.as_bytes();
    let mut kept = false;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != 0x1b {
            i += 1;
            continue;
        }
        push_escaped_with(out, &s[start..i], false, true);
        let end = escape_sequence_end(bytes, i);
        let seq = &s[i..end];
        if keep_sgr && is_sgr(seq) {
            out.push_str(seq);
            kept = true;
        }
        i = end;
        start = i;
    }
    push_escaped_with(out, &s[start..], false, true);
    kept
}

/// `ESC [ <digits ; :> m`.
fn is_sgr(seq: &str) -> bool {
    seq.len() >= 3
        && seq.starts_with("\x1b[")
        && seq.ends_with('m')
        && seq[2..seq.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b';' || b == b':')
}

/// End (exclusive) of the escape sequence starting with ESC at `i`: CSI
/// (`ESC [` params intermediates final), OSC (`ESC ]` ... BEL or ST),
/// DCS/SOS/PM/APC (`ESC P|X|^|_` ... ST), nF (`ESC` intermediates final) or
/// a two-byte `ESC x`. An unterminated sequence runs to the end of `bytes`.
fn escape_sequence_end(bytes: &[u8], i: usize) -> usize {
    let n = bytes.len();
    let Some(&kind) = bytes.get(i + 1) else {
        return n;
    };
    match kind {
        b'[' => {
            let mut j = i + 2;
            while j < n && (0x30..=0x3f).contains(&bytes[j]) {
                j += 1;
            }
            while j < n && (0x20..=0x2f).contains(&bytes[j]) {
                j += 1;
            }
            if j < n && (0x40..=0x7e).contains(&bytes[j]) {
                j + 1
            } else {
                j // malformed: drop what was read
            }
        }
        b']' | b'P' | b'X' | b'^' | b'_' => {
            let mut j = i + 2;
            while j < n {
                if kind == b']' && bytes[j] == 0x07 {
                    return j + 1;
                }
                if bytes[j] == 0x1b && bytes.get(j + 1) == Some(&b'\\') {
                    return j + 2;
                }
                j += 1;
            }
            n
        }
        0x20..=0x2f => {
            let mut j = i + 1;
            while j < n && (0x20..=0x2f).contains(&bytes[j]) {
                j += 1;
            }
            if j < n && (0x30..=0x7e).contains(&bytes[j]) {
                j + 1
            } else {
                j
            }
        }
        0x30..=0x7e => i + 2,
        _ => i + 1, // ESC followed by something else: drop the ESC alone
    }
}

/// `\xNN`, `\uNNNN` or `\UNNNNNNNN`, as Python writes an escaped character.
pub(crate) fn push_python_escape(out: &mut String, c: char) {
    let n = u32::from(c);
    let _ = if n < 0x100 {
        write!(out, "\\x{n:02x}")
    } else if n < 0x10000 {
        write!(out, "\\u{n:04x}")
    } else {
        write!(out, "\\U{n:08x}")
    };
}

#[cfg(test)]
mod tests {
    use super::plain_prefix_len;

    /// The chunked scan never skips a byte the byte loop would escape.
    #[test]
    fn plain_prefix_stops_before_every_byte_that_needs_escaping() {
        let plain = "abcdefghijklmnopqrstuvwxyz ABC~!@#$%^&*()0123456789";
        for special in [
            "\n", "\t", "\x1b", "\x7f", "\u{a0}", "é", "\\", "'", "\0", "\x1f",
        ] {
            for at in 0..plain.len() {
                let s = format!("{}{special}{}", &plain[..at], &plain[at..]);
                for quoted in [false, true] {
                    let n = plain_prefix_len(s.as_bytes(), quoted);
                    let needs = |b: u8| {
                        !(0x20..0x7f).contains(&b) || (quoted && (b == b'\\' || b == b'\''))
                    };
                    let first = s.bytes().position(needs).unwrap_or(s.len());
                    assert!(n <= first, "{s:?} quoted={quoted}: {n} > {first}");
                    assert!(
                        n + 8 > first || n + 8 > s.len(),
                        "{s:?}: stopped early at {n}"
                    );
                }
            }
        }
        assert_eq!(
            plain_prefix_len(plain.as_bytes(), true),
            plain.len() / 8 * 8
        );
    }
}
