//! `KEY=VALUE` arguments with typed values, shared by `emit` (event fields)
//! and `query --field` (JSONB containment filters).
//!
//! A value is, in this order:
//! - a JSON number: an integer (`12346`, `-3`) when it fits 64 bits, else a
//!   float (`99.99`, `1e3`); integers too large for 64 bits stay text, and
//!   so do forms JSON does not call numbers (`007`, `.5`, `nan`, `inf`);
//! - `true` or `false`;
//! - a JSON object or array (`{"a":1}`, `[1,2]`);
//! - a JSON string in double quotes (`"123"`), to force text;
//! - anything else: the text as given.

use serde_json::Value as Json;
use stogger_core::Value;

/// Splits `KEY=VALUE` at the first `=`; the key must be non-empty.
pub fn split_pair(arg: &str) -> Result<(&str, &str), String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim(), value)),
        _ => Err(format!(
            "`{arg}` is not KEY=VALUE (a non-empty key, `=`, then the value)"
        )),
    }
}

/// The typed value of a command-line value (see the module docs).
pub fn parse_value(raw: &str) -> Value {
    let trimmed = raw.trim();
    if let Some(n) = number(trimmed) {
        return n;
    }
    match trimmed {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let structured = trimmed.starts_with('{') || trimmed.starts_with('[');
    let quoted = trimmed.len() >= 2 && trimmed.starts_with('"') && trimmed.ends_with('"');
    if structured || quoted {
        match serde_json::from_str::<Json>(trimmed) {
            Ok(Json::String(s)) => return Value::Str(s),
            Ok(v @ (Json::Object(_) | Json::Array(_))) => return Value::Json(Box::new(v)),
            _ => {}
        }
    }
    Value::Str(raw.to_string())
}

fn number(s: &str) -> Option<Value> {
    if !s.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None;
    }
    let Ok(Json::Number(n)) = serde_json::from_str::<Json>(s) else {
        return None;
    };
    let integer_syntax = !s.contains(['.', 'e', 'E']);
    if let Some(i) = n.as_i64() {
        Some(Value::I64(i))
    } else if let Some(u) = n.as_u64() {
        Some(Value::U64(u))
    } else if integer_syntax {
        None // beyond 64 bits: keep every digit as text
    } else {
        n.as_f64().filter(|x| x.is_finite()).map(Value::F64)
    }
}

/// Parses every `KEY=VALUE` argument.
pub fn parse_pairs(args: &[String]) -> Result<Vec<(String, Value)>, String> {
    args.iter()
        .map(|arg| {
            let (k, v) = split_pair(arg)?;
            Ok((k.to_string(), parse_value(v)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_booleans_and_json_keep_their_types() {
        assert_eq!(parse_value("12346"), Value::I64(12346));
        assert_eq!(parse_value("-3"), Value::I64(-3));
        assert_eq!(parse_value("18446744073709551615"), Value::U64(u64::MAX));
        assert_eq!(parse_value("99.99"), Value::F64(99.99));
        assert_eq!(parse_value("1e3"), Value::F64(1000.0));
        assert_eq!(parse_value("true"), Value::Bool(true));
        assert_eq!(parse_value("false"), Value::Bool(false));
        assert_eq!(
            parse_value(r#"{"a":[1,2]}"#),
            Value::Json(Box::new(serde_json::json!({"a": [1, 2]})))
        );
        assert_eq!(
            parse_value("[1,\"x\"]"),
            Value::Json(Box::new(serde_json::json!([1, "x"])))
        );
    }

    /// Found by the JSON-line property test (`tests/tests/prop_text.rs`):
    /// serde_json's default float parsing was one ulp off for this one.
    #[test]
    fn floats_parse_correctly_rounded() {
        for s in [
            "2.252517404413411e-222",
            "-7.480609793913505e-233",
            "0.1",
            "1e300",
        ] {
            let want: f64 = s.parse().unwrap();
            match parse_value(s) {
                Value::F64(x) => assert_eq!(x.to_bits(), want.to_bits(), "{s}"),
                other => panic!("{s}: {other:?}"),
            }
            let Value::Json(j) = parse_value(&format!("[{s}]")) else {
                panic!("{s}: not JSON");
            };
            assert_eq!(
                j[0].as_f64().map(f64::to_bits),
                Some(want.to_bits()),
                "[{s}]"
            );
        }
    }

    #[test]
    fn everything_else_is_text() {
        for s in [
            "alice",
            "007",
            ".5",
            "nan",
            "inf",
            "1.",
            "+1",
            "True",
            "null",
            "{broken",
            "",
            "12 apples",
        ] {
            assert_eq!(parse_value(s), Value::Str(s.to_string()), "{s:?}");
        }
        let huge = "123456789012345678901234567890";
        assert_eq!(parse_value(huge), Value::Str(huge.to_string()));
        assert_eq!(parse_value("\"123\""), Value::Str("123".to_string()));
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        assert_eq!(split_pair("url=a=b").unwrap(), ("url", "a=b"));
        assert_eq!(split_pair("k=").unwrap(), ("k", ""));
        assert!(split_pair("=v").is_err());
        assert!(split_pair("novalue").is_err());
    }
}
