//! Padding to a width.

/// Appends `n` copies of `c`; up to 64 spaces in one copy.
pub(crate) fn push_fill(out: &mut String, c: char, n: usize) {
    const SPACES: &str = "                                                                ";
    if c == ' ' && n <= SPACES.len() {
        out.push_str(&SPACES[..n]);
    } else {
        for _ in 0..n {
            out.push(c);
        }
    }
}
