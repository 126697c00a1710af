//! Property: `_replace_msg` templates render exactly as CPython's
//! `str.format` renders the same values (python3 as the oracle, one
//! process for the whole run), with `<missing>` and `<bad format>` exactly
//! where CPython raises for that field. Templates CPython rejects as a
//! whole (a single `}`, an unclosed `{`) must still render without a panic.

mod prop_support;

use prop_support::{check, fail, gen, Python};
use proptest::prelude::*;
use serde_json::json;
use std::sync::Mutex;
use stogger_core::{Event, Level, Value};

const ORACLE: &str = include_str!("prop_support/template_oracle.py");

/// A value as the oracle's Python sees it (the template module docs'
/// mapping: text is `str`, integers `int`, floats `float`, booleans
/// `bool`; a JSON string is its text, a JSON number a number, any other
/// JSON its compact text).
fn python_value(v: &Value) -> serde_json::Value {
    let float = |x: f64| json!({ "f": format!("{:016x}", x.to_bits()) });
    match v {
        Value::Str(s) | Value::Debug(s) => json!({ "s": s }),
        Value::I64(n) => json!({ "i": n }),
        Value::U64(n) => json!({ "i": n }),
        Value::F64(x) => float(*x),
        Value::Bool(b) => json!({ "b": b }),
        Value::Error(chain) => json!({ "s": chain.join(": ") }),
        Value::Json(j) => match j.as_ref() {
            serde_json::Value::String(s) => json!({ "s": s }),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => json!({ "i": i }),
                (_, Some(u)) => json!({ "i": u }),
                _ => float(n.as_f64().unwrap_or(f64::NAN)),
            },
            other => json!({ "s": other.to_string() }),
        },
    }
}

#[derive(Debug, Clone)]
struct Case {
    template: String,
    fields: Vec<(String, Value)>,
    scope: Option<String>,
    func: Option<String>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        gen::template(),
        gen::template_fields(),
        prop::option::weighted(0.3, gen::text(4)),
        prop::option::weighted(0.3, gen::text(4)),
    )
        .prop_map(|(template, fields, scope, func)| Case {
            template,
            fields,
            scope,
            func,
        })
}

#[test]
fn templates_render_like_cpython_str_format() {
    let python = Mutex::new(Python::start(ORACLE));
    let compared = std::sync::atomic::AtomicUsize::new(0);
    check("template_vs_cpython", 500, case, |c| {
        let mut event = Event::new(Level::Info, "t");
        for (k, v) in &c.fields {
            event = event.with(k.clone(), v.clone());
        }
        if let Some(scope) = &c.scope {
            event = event.with_scope(scope.clone());
        }
        if let Some(func) = &c.func {
            event = event.with_func(func.clone());
        }
        // The template as an event carries it: the last `_replace_msg`
        // (the generated fields may have one of their own).
        let ours = event
            .with("_replace_msg", c.template.clone())
            .message()
            .ok_or_else(|| fail("an event with a template has no message"))?;
        let mut fields = serde_json::Map::new();
        for (k, v) in &c.fields {
            fields.insert(k.clone(), python_value(v));
        }
        let request = json!({
            "template": c.template, "fields": fields, "scope": c.scope, "func": c.func,
        });
        let answer = python
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ask(&request)?;
        if answer.get("syntax").is_some() || answer.get("skip").is_some() {
            // Rejected as a whole by CPython (rendering without a panic is
            // all), or a documented difference (see the oracle's docs).
            return Ok(());
        }
        let want = answer["out"]
            .as_str()
            .ok_or_else(|| fail(format!("oracle answered {answer}")))?;
        compared.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        prop_assert_eq!(ours, want, "template {:?}", c.template);
        Ok(())
    });
    let compared = compared.into_inner();
    assert!(compared > 0, "no template was compared with CPython");
}
