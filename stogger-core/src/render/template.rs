//! `_replace_msg` templates: Python's `str.format` with keyword arguments,
//! the arguments being the event's fields.
//!
//! ```
//! use stogger_core::{Event, Level};
//!
//! let event = Event::new(Level::Info, "upload-done")
//!     .with("file", "a.bin")
//!     .with("size_mb", 12.345)
//!     .with("rows", 1234567)
//!     .with("_replace_msg", "{file}: {size_mb:.1f} MB, {rows:,} rows");
//! assert_eq!(
//!     event.message().as_deref(),
//!     Some("a.bin: 12.3 MB, 1,234,567 rows")
//! );
//! ```
//!
//! # Syntax
//!
//! - `{name}`, `{name:spec}`, `{name!r}`, `{name!s:spec}`, `{name!a}`; `{{`
//!   and `}}` are literal braces.
//!   `!r` escapes what the console escapes ([`super::text::is_unprintable`]);
//!   CPython also escapes characters its Unicode tables call unassigned or
//!   private use (tables that change with each Python release).
//! - `spec` is Python's whole format-spec mini-language,
//!   `[[fill]align][sign][z][#][0][width][grouping][.precision][type]`, with
//!   the types `s d b o x X c e E f F g G n %` and no type, printed exactly
//!   as Python 3.11 prints them (`{x:e}` of 1234.5 is `1.234500e+03`,
//!   `{n:.2f}` of the integer 3 is `3.00`, `{x:.1%}` of 0.1234 is `12.3%`).
//!   `n` behaves as in the C locale (like `d` or `g`, without grouping).
//! - A spec may contain nested fields, one level deep: `{x:{width}.{prec}f}`.
//! - The whole name is the key: `{user.id}` looks up the field `user.id`
//!   (tracing's dotted field names); there is no attribute or index access.
//!   Fields are split exactly as CPython splits them: a name ends at the
//!   first `}`, `:` or `!` outside `[...]` (`{a[:]}` is the name `a[:]`), the
//!   conversion is the one character after `!`, and the spec runs to the
//!   `}` that balances the field's braces.
//!
//! # Values
//!
//! A name is looked up in the event's own fields, then in its span context,
//! then `scope` and `func` resolve to the event's scope and function. Keys
//! starting with `_` are never reachable. Strings, `?debug` values and error
//! chains (joined by `": "`) are Python `str`s; integers are `int`s; floats
//! are `float`s (`{x}` prints them as Python's `str()` does, `1e+16`,
//! `0.0001`, `1e-05`); booleans are `bool`s (`{flag}` is `True`, and like in
//! Python a non-empty spec formats them as the integers 1 and 0). Structured
//! JSON values: numbers are numbers, strings are their text, anything else
//! is its compact JSON text.
//!
//! # Never an error
//!
//! - a name that resolves to nothing renders [`MISSING`] (`<missing>`);
//! - a spec Python would reject for the value (`{name:d}` of a string,
//!   `{n:.2d}`, `{x:,n}`, a `c` out of range), an unknown conversion, or a
//!   width or precision above [`MAX_WIDTH`] renders [`BAD_FORMAT`]
//!   (`<bad format>`);
//! - syntax Python rejects for the whole string is kept as text: a single
//!   `}` is written as it is, and so is everything from an unclosed `{` to
//!   the end; a `{` inside a field name makes that field `<bad format>`.

use super::number::write_float;
use super::pad::push_fill;
use crate::event::{Event, Value};
use std::borrow::Cow;
use std::fmt::Write as _;

/// What a field that does not exist renders as.
pub(crate) const MISSING: &str = "<missing>";

/// What a field whose spec does not fit its value renders as.
pub(crate) const BAD_FORMAT: &str = "<bad format>";

/// Largest width or precision a spec may ask for (a larger one renders
/// [`BAD_FORMAT`] rather than allocating without bound).
pub(crate) const MAX_WIDTH: usize = 10_000;

/// Nesting Python allows: fields inside a spec, but no deeper.
const MAX_DEPTH: u8 = 2;

/// Renders `template` against the event's fields. Substituted values are
/// written as they are (no escaping); see the module docs for the rules.
pub(crate) fn render_template(template: &str, event: &Event) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    render_template_into(&mut out, template, event);
    out
}

/// Like [`render_template`], appending to `out`.
pub(crate) fn render_template_into(out: &mut String, template: &str, event: &Event) {
    render(out, template, event, false);
}

/// Like [`render_template_into`], but control characters in the result
/// (the template's text and every substituted value) are escaped with
/// [`crate::render::escape::push_escaped`], so the message stays one line and
/// a value cannot send terminal escape sequences. Used for console and file
/// lines.
pub(crate) fn render_template_escaped_into(out: &mut String, template: &str, event: &Event) {
    render(out, template, event, true);
}

fn push_text(out: &mut String, s: &str, escape: bool) {
    if escape {
        super::escape::push_escaped(out, s);
    } else {
        out.push_str(s);
    }
}

/// Why one replacement field could not be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    Missing,
    Bad,
}

impl Fail {
    fn text(self) -> &'static str {
        match self {
            Fail::Missing => MISSING,
            Fail::Bad => BAD_FORMAT,
        }
    }
}

fn render(out: &mut String, template: &str, event: &Event, escape: bool) {
    // The top level never fails: syntax CPython rejects is kept as text.
    let _ = markup(out, template, event, MAX_DEPTH, escape, true);
}

/// CPython's `build_string`: the literal text and replacement fields of
/// `template` (split as its `MarkupIterator` splits them) into `out`.
///
/// At the top level (`recover`), nothing fails: a field that cannot be
/// rendered writes its [`Fail`] text, and syntax CPython rejects is kept
/// as text (see the module docs). Inside a spec (`!recover`) any failure
/// is the failure of the field that holds the spec.
fn markup(
    out: &mut String,
    template: &str,
    event: &Event,
    depth: u8,
    escape: bool,
    recover: bool,
) -> Result<(), Fail> {
    if depth == 0 {
        return Err(Fail::Bad); // Python: "Max string recursion exceeded"
    }
    let bytes = template.as_bytes();
    let mut i = 0;
    let mut lit_start = 0;
    let mut scratch = String::new();
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                push_text(out, &template[lit_start..=i], escape);
                i += 2;
                lit_start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                push_text(out, &template[lit_start..=i], escape);
                i += 2;
                lit_start = i;
            }
            b'}' if !recover => return Err(Fail::Bad), // "Single '}' encountered"
            b'{' => {
                push_text(out, &template[lit_start..i], escape);
                let (result, end) = match parse_field(template, i + 1) {
                    Some((field, end)) => {
                        scratch.clear();
                        (field.render(&mut scratch, event, depth), end)
                    }
                    None if !recover => return Err(Fail::Bad),
                    // Rejected by CPython: the field up to its matching
                    // brace is bad, or, unclosed, the rest is text.
                    None => match matching_brace(bytes, i) {
                        Some(close) => (Err(Fail::Bad), close + 1),
                        None => {
                            lit_start = i;
                            break;
                        }
                    },
                };
                match result {
                    Ok(()) => push_text(out, &scratch, escape),
                    Err(fail) if recover => out.push_str(fail.text()),
                    Err(fail) => return Err(fail),
                }
                i = end;
                lit_start = i;
            }
            _ => i += 1,
        }
    }
    push_text(out, &template[lit_start..], escape);
    Ok(())
}

/// Index of the `}` closing the field opened at `open`, counting nested braces.
fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// One replacement field, `{name!conversion:spec}`.
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    name: &'a str,
    conversion: Option<char>,
    spec: &'a str,
    /// The spec holds fields of its own (a `{` was seen in it).
    expand: bool,
}

/// CPython's `parse_field`: the field starting at `start` (just after its
/// `{`) and the index after its closing `}`; `None` where CPython raises.
/// A name ends at `}`, `:` or `!` outside `[...]`; the conversion is the
/// one character after `!`, whatever it is; the spec runs to the `}` that
/// balances the field's braces.
fn parse_field(s: &str, start: usize) -> Option<(Field<'_>, usize)> {
    let bytes = s.as_bytes();
    let mut i = start;
    let mut stop = None;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match b {
            b'{' => return None, // "unexpected '{' in field name"
            b'[' => {
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
            }
            b'}' | b':' | b'!' => {
                stop = Some(b);
                break;
            }
            _ => {}
        }
    }
    let mut field = Field {
        name: &s[start..i.saturating_sub(usize::from(stop.is_some()))],
        conversion: None,
        spec: "",
        expand: false,
    };
    match stop? {
        b'}' => return Some((field, i)),
        b'!' => {
            // "end of string while looking for conversion specifier"
            let c = s[i..].chars().next()?;
            i += c.len_utf8();
            field.conversion = Some(c);
            match bytes.get(i) {
                Some(b'}') => return Some((field, i + 1)),
                Some(b':') => i += 1,
                Some(_) => return None, // "expected ':' after conversion specifier"
                None => return None,    // "unmatched '{' in format spec"
            }
        }
        _ => {}
    }
    let spec_start = i;
    let mut open = 1usize;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match b {
            b'{' => {
                field.expand = true;
                open += 1;
            }
            b'}' => {
                open -= 1;
                if open == 0 {
                    field.spec = &s[spec_start..i - 1];
                    return Some((field, i));
                }
            }
            _ => {}
        }
    }
    None // "unmatched '{' in format spec"
}

impl Field<'_> {
    /// Python's `output_markup`: look the name up, convert, expand the
    /// spec (one level less deep), format.
    fn render(&self, buf: &mut String, event: &Event, depth: u8) -> Result<(), Fail> {
        let arg = lookup(event, self.name).ok_or(Fail::Missing)?;
        let arg = match self.conversion {
            // CPython marks "no conversion" with NUL, so `{a!\0}` is `{a}`.
            None | Some('\0') => arg,
            Some('r') => Arg::Str(Cow::Owned(arg.repr(false))),
            Some('a') => Arg::Str(Cow::Owned(arg.repr(true))),
            Some('s') => Arg::Str(Cow::Owned(arg.to_str())),
            Some(_) => return Err(Fail::Bad), // "Unknown conversion specifier"
        };
        let spec: Cow<'_, str> = if self.expand {
            let mut expanded = String::new();
            markup(&mut expanded, self.spec, event, depth - 1, false, false)?;
            Cow::Owned(expanded)
        } else {
            Cow::Borrowed(self.spec)
        };
        format_arg(buf, &arg, &spec)
    }
}

/// A value as Python's `format()` sees it.
#[derive(Debug, Clone)]
enum Arg<'a> {
    Str(Cow<'a, str>),
    Int(i128),
    Float(f64),
    Bool(bool),
}

fn lookup<'a>(event: &'a Event, name: &str) -> Option<Arg<'a>> {
    if name.starts_with('_') {
        return None;
    }
    if let Some(v) = event.get(name) {
        return Some(Arg::from_value(v));
    }
    match name {
        "scope" => event.scope.as_deref().map(|s| Arg::Str(Cow::Borrowed(s))),
        "func" => event.func.as_deref().map(|s| Arg::Str(Cow::Borrowed(s))),
        _ => None,
    }
}

impl<'a> Arg<'a> {
    fn from_value(v: &'a Value) -> Arg<'a> {
        match v {
            Value::Str(s) | Value::Debug(s) => Arg::Str(Cow::Borrowed(s)),
            Value::I64(n) => Arg::Int(i128::from(*n)),
            Value::U64(n) => Arg::Int(i128::from(*n)),
            Value::F64(x) => Arg::Float(*x),
            Value::Bool(b) => Arg::Bool(*b),
            Value::Error(chain) => Arg::Str(Cow::Owned(chain.join(": "))),
            Value::Json(j) => match j.as_ref() {
                serde_json::Value::String(s) => Arg::Str(Cow::Borrowed(s)),
                serde_json::Value::Number(n) => {
                    if let Some(i) = n.as_i64() {
                        Arg::Int(i128::from(i))
                    } else if let Some(u) = n.as_u64() {
                        Arg::Int(i128::from(u))
                    } else {
                        Arg::Float(n.as_f64().unwrap_or(f64::NAN))
                    }
                }
                other => Arg::Str(Cow::Owned(other.to_string())),
            },
        }
    }

    /// Python's `str()`.
    fn to_str(&self) -> String {
        let mut s = String::new();
        self.write_str(&mut s);
        s
    }

    fn write_str(&self, out: &mut String) {
        match self {
            Arg::Str(s) => out.push_str(s),
            Arg::Int(n) => super::number::push_int(out, *n),
            Arg::Float(x) => write_float(out, *x),
            Arg::Bool(true) => out.push_str("True"),
            Arg::Bool(false) => out.push_str("False"),
        }
    }

    /// Python's `repr()` (or `ascii()` with `ascii_only`).
    fn repr(&self, ascii_only: bool) -> String {
        match self {
            Arg::Str(s) => python_repr(s, ascii_only),
            other => other.to_str(),
        }
    }
}

/// Python's `repr()` of a string: single quotes unless the text contains a
/// single quote and no double quote; `\\`, the quote, and unprintable
/// characters escaped.
fn python_repr(s: &str, ascii_only: bool) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if super::escape::is_unprintable(c) || (ascii_only && !c.is_ascii()) => {
                super::escape::push_python_escape(&mut out, c)
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A parsed format spec (`[[fill]align][sign][z][#][0][width][grouping][.precision][type]`).
#[derive(Debug, Clone, Copy)]
struct Spec {
    fill: Option<char>,
    align: Option<char>,
    sign: Option<char>,
    no_neg_zero: bool,
    alt: bool,
    zero: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    ty: Option<char>,
}

fn is_align(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '^')
}

fn parse_number(s: &str, pos: &mut usize) -> Result<Option<usize>, Fail> {
    let digits = s[*pos..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Ok(None);
    }
    let text = &s[*pos..*pos + digits];
    *pos += digits;
    match text.parse::<usize>() {
        Ok(n) if n <= MAX_WIDTH => Ok(Some(n)),
        _ => Err(Fail::Bad),
    }
}

impl Spec {
    fn parse(s: &str) -> Result<Spec, Fail> {
        let mut spec = Spec {
            fill: None,
            align: None,
            sign: None,
            no_neg_zero: false,
            alt: false,
            zero: false,
            width: 0,
            grouping: None,
            precision: None,
            ty: None,
        };
        let mut chars = s.chars();
        let first = chars.next();
        let second = chars.next();
        let mut pos = 0;
        match (first, second) {
            (Some(f), Some(a)) if is_align(a) => {
                spec.fill = Some(f);
                spec.align = Some(a);
                pos = f.len_utf8() + 1;
            }
            (Some(a), _) if is_align(a) => {
                spec.align = Some(a);
                pos = 1;
            }
            _ => {}
        }
        let b = s.as_bytes();
        if let Some(&c) = b.get(pos) {
            if matches!(c, b'+' | b'-' | b' ') {
                spec.sign = Some(char::from(c));
                pos += 1;
            }
        }
        if b.get(pos) == Some(&b'z') {
            spec.no_neg_zero = true;
            pos += 1;
        }
        if b.get(pos) == Some(&b'#') {
            spec.alt = true;
            pos += 1;
        }
        if spec.fill.is_none() && b.get(pos) == Some(&b'0') {
            spec.zero = true;
            pos += 1;
        }
        spec.width = parse_number(s, &mut pos)?.unwrap_or(0);
        if b.get(pos) == Some(&b',') {
            spec.grouping = Some(',');
            pos += 1;
        }
        if b.get(pos) == Some(&b'_') {
            if spec.grouping.is_some() {
                return Err(Fail::Bad); // both ',' and '_'
            }
            spec.grouping = Some('_');
            pos += 1;
        }
        if b.get(pos) == Some(&b',') {
            return Err(Fail::Bad); // ',,' or '_,'
        }
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            spec.precision = Some(parse_number(s, &mut pos)?.ok_or(Fail::Bad)?);
        }
        let mut rest = s[pos..].chars();
        spec.ty = rest.next();
        if rest.next().is_some() {
            return Err(Fail::Bad);
        }
        if spec.grouping.is_some() {
            match spec.ty {
                None | Some('d' | 'e' | 'f' | 'g' | 'E' | 'G' | '%' | 'F') => {}
                Some('b' | 'o' | 'x' | 'X') if spec.grouping == Some('_') => {}
                _ => return Err(Fail::Bad),
            }
        }
        Ok(spec)
    }

    /// Fill and alignment after the `0` flag, for a value whose default
    /// alignment is `default`.
    fn layout(&self, default: char) -> (char, char) {
        let mut fill = self.fill.unwrap_or(' ');
        let mut align = self.align;
        if self.zero {
            fill = '0';
            if align.is_none() && default == '>' {
                align = Some('=');
            }
        }
        (fill, align.unwrap_or(default))
    }
}

/// Formats `arg` with `spec` into `out`, as Python's `format(arg, spec)`.
fn format_arg(out: &mut String, arg: &Arg<'_>, spec: &str) -> Result<(), Fail> {
    if spec.is_empty() {
        arg.write_str(out);
        return Ok(());
    }
    let spec = Spec::parse(spec)?;
    match arg {
        Arg::Str(s) => format_str(out, s, &spec),
        Arg::Int(n) => format_int(out, *n, &spec),
        Arg::Bool(b) => format_int(out, i128::from(*b), &spec),
        Arg::Float(x) => format_float(out, *x, &spec),
    }
}

fn format_str(out: &mut String, s: &str, spec: &Spec) -> Result<(), Fail> {
    if !matches!(spec.ty, None | Some('s'))
        || spec.sign.is_some()
        || spec.no_neg_zero
        || spec.alt
        || spec.grouping.is_some()
        || spec.align == Some('=')
    {
        return Err(Fail::Bad);
    }
    let (fill, align) = spec.layout('<');
    if align == '=' {
        return Err(Fail::Bad);
    }
    let s = match spec.precision {
        Some(p) => match s.char_indices().nth(p) {
            Some((cut, _)) => &s[..cut],
            None => s,
        },
        None => s,
    };
    let len = s.chars().count();
    let pad = spec.width.saturating_sub(len);
    let left = match align {
        '>' => pad,
        '^' => pad / 2,
        _ => 0,
    };
    push_fill(out, fill, left);
    out.push_str(s);
    push_fill(out, fill, pad - left);
    Ok(())
}

/// The pieces of a formatted number, laid out by [`write_number`].
struct Number<'a> {
    sign: &'static str,
    prefix: &'static str,
    /// Integer digits, to be grouped and zero-padded; empty for `nan`, `inf`, `c`.
    digits: &'a str,
    /// Everything after the integer digits (fraction, exponent, `%`), or the
    /// whole text when there are no digits.
    rest: &'a str,
    /// Separator and group size.
    group: Option<(char, usize)>,
}

fn write_number(out: &mut String, n: &Number<'_>, spec: &Spec) {
    let (fill, align) = spec.layout('>');
    let fixed = n.sign.len() + n.prefix.len() + n.rest.chars().count();
    let min_width = if fill == '0' && align == '=' {
        spec.width as isize - fixed as isize
    } else {
        0
    };
    let mut grouped = String::new();
    let digits: &str =
        if n.digits.is_empty() || (n.group.is_none() && min_width <= n.digits.len() as isize) {
            n.digits // nothing to insert: no allocation
        } else {
            group_digits(&mut grouped, n.digits, min_width, n.group);
            &grouped
        };
    let total = fixed + digits.len();
    let pad = spec.width.saturating_sub(total);
    let (left, inner, right) = match align {
        '<' => (0, 0, pad),
        '^' => (pad / 2, 0, pad - pad / 2),
        '=' => (0, pad, 0),
        _ => (pad, 0, 0),
    };
    push_fill(out, fill, left);
    out.push_str(n.sign);
    out.push_str(n.prefix);
    push_fill(out, fill, inner);
    out.push_str(digits);
    out.push_str(n.rest);
    push_fill(out, fill, right);
}

/// Inserts separators into `digits` and pads it with zeros to `min_width`,
/// the way CPython's `_PyUnicode_InsertThousandsGrouping` does (a separator
/// never leads, so the result can be one wider than asked).
fn group_digits(out: &mut String, digits: &str, min_width: isize, group: Option<(char, usize)>) {
    let d = digits.as_bytes();
    // Built right to left, then reversed.
    let mut rev: Vec<u8> = Vec::with_capacity(d.len() + d.len() / 3 + 4);
    let mut remaining = d.len() as isize;
    let mut min_width = min_width;
    let mut end = d.len();
    let emit = |rev: &mut Vec<u8>, l: isize, remaining: &mut isize, end: &mut usize| {
        let n_chars = (*remaining).min(l).max(0) as usize;
        let n_zeros = (l - *remaining).max(0) as usize;
        for k in (*end - n_chars..*end).rev() {
            rev.push(d[k]);
        }
        *end -= n_chars;
        rev.resize(rev.len() + n_zeros, b'0');
        *remaining -= n_chars as isize;
    };
    match group {
        None => {
            let l = remaining.max(min_width).max(1);
            emit(&mut rev, l, &mut remaining, &mut end);
        }
        Some((sep, size)) => {
            let size = size as isize;
            let mut first = true;
            loop {
                if !first {
                    rev.push(sep as u8);
                }
                first = false;
                let l = size.min(remaining.max(min_width).max(1));
                emit(&mut rev, l, &mut remaining, &mut end);
                min_width -= l;
                if remaining <= 0 && min_width <= 0 {
                    break;
                }
                min_width -= 1;
            }
        }
    }
    rev.reverse();
    // Only ASCII digits, zeros and the ASCII separators ',' and '_'.
    out.extend(rev.into_iter().map(char::from));
}

fn sign_for(negative: bool, spec: &Spec) -> &'static str {
    if negative {
        "-"
    } else {
        match spec.sign {
            Some('+') => "+",
            Some(' ') => " ",
            _ => "",
        }
    }
}

fn format_int(out: &mut String, n: i128, spec: &Spec) -> Result<(), Fail> {
    let ty = spec.ty.unwrap_or('d');
    if matches!(ty, 'e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%') {
        return format_float(out, n as f64, spec);
    }
    if spec.precision.is_some() || spec.no_neg_zero {
        return Err(Fail::Bad);
    }
    let magnitude = n.unsigned_abs();
    let mut digits = String::with_capacity(40);
    let prefix = match ty {
        'd' | 'n' => {
            super::number::push_uint(&mut digits, magnitude);
            ""
        }
        'b' | 'o' | 'x' | 'X' => {
            // The digits in the radix, and the prefix `#` adds.
            let (_, alt_prefix) = match ty {
                'b' => (write!(digits, "{magnitude:b}"), "0b"),
                'o' => (write!(digits, "{magnitude:o}"), "0o"),
                'x' => (write!(digits, "{magnitude:x}"), "0x"),
                _ => (write!(digits, "{magnitude:X}"), "0X"),
            };
            if spec.alt {
                alt_prefix
            } else {
                ""
            }
        }
        'c' => {
            if spec.sign.is_some() || spec.alt {
                return Err(Fail::Bad);
            }
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .ok_or(Fail::Bad)?;
            let mut rest = [0u8; 4];
            let rest = c.encode_utf8(&mut rest);
            write_number(
                out,
                &Number {
                    sign: "",
                    prefix: "",
                    digits: "",
                    rest,
                    group: None,
                },
                spec,
            );
            return Ok(());
        }
        _ => return Err(Fail::Bad),
    };
    let group = spec.grouping.map(|sep| {
        let size = if matches!(ty, 'b' | 'o' | 'x' | 'X') {
            4
        } else {
            3
        };
        (sep, size)
    });
    write_number(
        out,
        &Number {
            sign: sign_for(n < 0, spec),
            prefix,
            digits: &digits,
            rest: "",
            group,
        },
        spec,
    );
    Ok(())
}

fn format_float(out: &mut String, x: f64, spec: &Spec) -> Result<(), Fail> {
    let ty = spec.ty;
    if !matches!(
        ty,
        None | Some('e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'n' | '%')
    ) {
        return Err(Fail::Bad);
    }
    let upper = matches!(ty, Some('E' | 'F' | 'G'));
    let mut body = String::new();
    let mut negative = x.is_sign_negative() && !x.is_nan();
    if !x.is_finite() {
        body.push_str(match (x.is_nan(), upper) {
            (true, false) => "nan",
            (true, true) => "NAN",
            (false, false) => "inf",
            (false, true) => "INF",
        });
        if ty == Some('%') {
            body.push('%');
        }
    } else {
        let v = x.abs();
        match ty {
            None => match spec.precision {
                None => float_general(&mut body, v, None, spec.alt, true, 'e'),
                Some(p) => float_general(&mut body, v, Some(p), spec.alt, true, 'e'),
            },
            Some('g' | 'G' | 'n') => float_general(
                &mut body,
                v,
                Some(spec.precision.unwrap_or(6)),
                spec.alt,
                false,
                if upper { 'E' } else { 'e' },
            ),
            Some('e' | 'E') => {
                float_exp(
                    &mut body,
                    v,
                    spec.precision.unwrap_or(6),
                    spec.alt,
                    if upper { 'E' } else { 'e' },
                );
            }
            Some('%') => {
                float_fixed(&mut body, v * 100.0, spec.precision.unwrap_or(6), spec.alt);
                body.push('%');
            }
            _ => float_fixed(&mut body, v, spec.precision.unwrap_or(6), spec.alt),
        }
        if negative && spec.no_neg_zero && body.bytes().all(|b| !matches!(b, b'1'..=b'9')) {
            negative = false;
        }
    }
    let split = body
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(body.len());
    let (digits, rest) = body.split_at(split);
    let group = if ty == Some('n') {
        None
    } else {
        spec.grouping.map(|sep| (sep, 3))
    };
    write_number(
        out,
        &Number {
            sign: sign_for(negative, spec),
            prefix: "",
            digits,
            rest,
            group,
        },
        spec,
    );
    Ok(())
}

/// `f`: `precision` digits after the point (exact, ties to even as Python).
fn float_fixed(out: &mut String, v: f64, precision: usize, alt: bool) {
    let _ = write!(out, "{v:.precision$}");
    if alt && precision == 0 {
        out.push('.');
    }
}

/// `e`: one digit, `precision` digits after the point, exponent with a sign
/// and at least two digits.
fn float_exp(out: &mut String, v: f64, precision: usize, alt: bool, e: char) {
    let s = format!("{v:.precision$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    out.push_str(mantissa);
    if alt && precision == 0 {
        out.push('.');
    }
    push_exponent(out, e, exp.parse().unwrap_or(0));
}

fn push_exponent(out: &mut String, e: char, exp: i32) {
    out.push(e);
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
}

/// Significant digits and the decimal point's position (`0.d1d2... × 10^decpt`).
fn digits_of(v: f64, significant: Option<usize>) -> (String, i32) {
    let s = match significant {
        None => format!("{v:e}"),
        Some(n) => format!("{v:.prec$e}", prec = n.saturating_sub(1)),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    if digits == "0" {
        return (digits, 1);
    }
    (digits, exp + 1)
}

/// `g`, `n` and no type: CPython's `format_float_short` for modes `r`
/// (shortest repr, `precision = None`) and `g`.
fn float_general(
    out: &mut String,
    v: f64,
    precision: Option<usize>,
    alt: bool,
    add_dot_0: bool,
    e: char,
) {
    let p = precision.map(|p| p.max(1));
    let (digits, mut decpt) = digits_of(v, p);
    let dl = digits.len() as i32;
    let use_exp = match p {
        None => decpt <= -4 || decpt > 16,
        Some(p) => {
            let p = p as i32;
            decpt <= -4 || decpt > if add_dot_0 { p - 1 } else { p }
        }
    };
    let mut vend = match p {
        Some(p) if alt => p as i32,
        _ => dl,
    };
    let mut exp = 0;
    if use_exp {
        exp = decpt - 1;
        decpt = 1;
    }
    let vstart = if decpt <= 0 { decpt - 1 } else { 0 };
    vend = if !use_exp && add_dot_0 {
        vend.max(decpt + 1)
    } else {
        vend.max(decpt)
    };
    let zeros = |out: &mut String, n: i32| push_fill(out, '0', n.max(0) as usize);
    if decpt <= 0 {
        zeros(out, decpt - vstart);
        out.push('.');
        zeros(out, -decpt);
    } else {
        zeros(out, -vstart);
    }
    if 0 < decpt && decpt <= dl {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    } else {
        out.push_str(&digits);
    }
    if dl < decpt {
        zeros(out, decpt - dl);
        out.push('.');
        zeros(out, vend - decpt);
    } else {
        zeros(out, vend - dl);
    }
    if !alt && out.ends_with('.') {
        out.pop();
    }
    if use_exp {
        push_exponent(out, e, exp);
    }
}

/// Checks a template for what makes Python's `str.format` reject the whole
/// string: an unclosed `{`, a single `}`, an empty or malformed field name,
/// a conversion other than `!r`, `!s`, `!a`, a format spec that cannot be
/// parsed, or fields nested too deep. `Err` says what is wrong. (Rendering
/// never fails; this is for templates loaded at start, such as
/// translations, so that a mistake is reported once.)
pub(crate) fn check_template(template: &str) -> Result<(), String> {
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let end =
                    matching_brace(bytes, i).ok_or_else(|| format!("unclosed `{{` at byte {i}"))?;
                check_field(&template[i + 1..end], MAX_DEPTH)?;
                i = end + 1;
            }
            b'}' => {
                return Err(format!(
                    "single `}}` at byte {i} (write `}}}}` for a brace)"
                ))
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn check_field(field: &str, depth: u8) -> Result<(), String> {
    if depth == 0 {
        return Err("fields nested more than one level deep".to_string());
    }
    let name_end = field.find([':', '!']).unwrap_or(field.len());
    let name = &field[..name_end];
    if name.is_empty() {
        return Err("a field without a name (`{}`): templates take names only".to_string());
    }
    if name.contains(['{', '}']) {
        return Err(format!("`{{` inside the field name `{name}`"));
    }
    let rest = &field[name_end..];
    let spec = match rest.strip_prefix('!') {
        Some(after) => {
            let mut chars = after.chars();
            match chars.next() {
                Some('r' | 's' | 'a') => {}
                _ => {
                    return Err(format!(
                        "unknown conversion in `{{{field}}}` (use !r, !s or !a)"
                    ))
                }
            }
            let tail = chars.as_str();
            if tail.is_empty() {
                ""
            } else {
                tail.strip_prefix(':')
                    .ok_or_else(|| format!("expected `:` after the conversion in `{{{field}}}`"))?
            }
        }
        None => rest.strip_prefix(':').unwrap_or(""),
    };
    if spec.contains(['{', '}']) {
        let b = spec.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'{' => {
                    let end = matching_brace(b, i)
                        .ok_or_else(|| format!("unclosed `{{` in the spec of `{name}`"))?;
                    check_field(&spec[i + 1..end], depth - 1)?;
                    i = end + 1;
                }
                b'}' => return Err(format!("single `}}` in the spec of `{name}`")),
                _ => i += 1,
            }
        }
        Ok(())
    } else if spec.is_empty() {
        Ok(())
    } else {
        Spec::parse(spec)
            .map(|_| ())
            .map_err(|_| format!("invalid format spec `{spec}` for `{name}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;

    fn fmt(v: impl Into<Value>, spec: &str) -> String {
        let event = Event::new(Level::Info, "t").with("v", v.into());
        render_template(&format!("{{v:{spec}}}"), &event)
    }

    #[test]
    fn zero_padding_with_grouping_never_leads_with_a_separator() {
        assert_eq!(fmt(1234, "08,"), "0,001,234");
        assert_eq!(fmt(1234, "0=10,"), "00,001,234");
        assert_eq!(fmt(-1234, "08,d"), "-001,234");
    }

    #[test]
    fn repr_of_floats_switches_to_exponent_like_python() {
        let mut s = String::new();
        for x in [1e16, 1e15, 1e-5, 0.0001, -0.0, 1.0] {
            super::super::number::write_float(&mut s, x);
            s.push(' ');
        }
        assert_eq!(s, "1e+16 1000000000000000.0 1e-05 0.0001 -0.0 1.0 ");
    }

    /// Shrunk inputs from the property test against CPython
    /// (`tests/tests/prop_template.rs`).
    #[test]
    fn fields_split_where_cpython_splits_them() {
        let e = Event::new(Level::Info, "t").with("a[:]", 1).with("x", 5);
        // `!` takes the next character as the conversion, even a `}`.
        assert_eq!(render_template("{!}}", &e), MISSING);
        // `:` inside `[...]` belongs to the name.
        assert_eq!(render_template("{a[:]}", &e), "1");
        // A spec inside a spec inside a spec: CPython's recursion limit.
        assert_eq!(render_template("{x:{x:{{}}}}", &e), BAD_FORMAT);
        assert_eq!(render_template("{x:{x}}", &e), "    5");
        // NUL after `!` is CPython's "no conversion" (found by
        // `cargo xtask fuzz`).
        assert_eq!(render_template("{x!\0}", &e), "5");
        assert_eq!(render_template("{x!\0:>3}", &e), "  5");
    }

    #[test]
    fn huge_width_is_refused_not_allocated() {
        assert_eq!(fmt(1, "99999999999999999999999"), BAD_FORMAT);
        assert_eq!(fmt(1.5, ".10001f"), BAD_FORMAT);
    }
}
