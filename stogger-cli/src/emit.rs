//! `stogger emit EVENT [KEY=VALUE ...]`: one event through the configured targets.

use crate::values;
use clap::Args;
use stogger_core::{Event, Level};

/// Arguments of `stogger emit`.
#[derive(Debug, Args)]
pub struct EmitArgs {
    /// The event name (kebab-case by convention: `backup-finished`).
    pub event: String,
    /// Fields as KEY=VALUE (`order_id=12346 amount=99.99 ok=true tags='["a","b"]'`).
    pub fields: Vec<String>,
    /// Level: trace, debug, info, warning, error or critical.
    #[arg(long, default_value = "info", value_parser = parse_level)]
    pub level: Level,
    /// A sentence for humans, with {field} references (becomes `_replace_msg`).
    #[arg(long, value_name = "TEMPLATE")]
    pub message: Option<String>,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| {
        format!("unknown level `{s}` (allowed: trace, debug, info, warning, error, critical)")
    })
}

/// Builds the event: typed fields in order, then `_replace_msg`.
pub fn build_event(args: &EmitArgs) -> Result<Event, String> {
    if args.event.trim().is_empty() {
        return Err("the event name is empty".to_string());
    }
    let mut event = Event::new(args.level, args.event.clone()).with_target("stogger_cli::emit");
    for (key, value) in values::parse_pairs(&args.fields)? {
        event = event.with(key, value);
    }
    if let Some(message) = &args.message {
        event = event.with("_replace_msg", message.clone());
    }
    if args.level == Level::Critical {
        event = event.with("_critical", true);
    }
    Ok(event)
}

/// Runs `stogger emit`; returns the exit code.
pub fn run(args: &EmitArgs) -> u8 {
    let event = match build_event(args) {
        Ok(e) => e,
        Err(e) => {
            crate::error(&e);
            return crate::EXIT_USAGE;
        }
    };
    let guard = match stogger_core::init_logging() {
        Ok(g) => g,
        Err(e) => {
            crate::error(&e.to_string());
            return crate::EXIT_USAGE;
        }
    };
    stogger_core::emit(event);
    // Flushes and closes every target, and says what they did not deliver.
    let report = guard.close();
    if report.is_complete() {
        return 0;
    }
    let missing: Vec<&str> = report
        .not_started()
        .iter()
        .map(|n| n.event.as_str())
        .collect();
    let failed = report.failures();
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!("not started: {}", missing.join(", ")));
    }
    if !cfg!(feature = "postgres") && missing.iter().any(|m| m.starts_with("stogger-postgres-")) {
        why.push(
            "this stogger was built without its `postgres` feature, so it loads \
             libstogger_postgres.so like a service does; install the plugin, or rebuild \
             stogger with default features to link it in"
                .to_string(),
        );
    }
    if failed > 0 {
        why.push(format!("{failed} delivery failure(s)"));
    }
    crate::error(&format!(
        "the event did not reach every enabled target ({}; see the lines above)",
        why.join("; ")
    ));
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use stogger_core::Value;

    fn args(fields: &[&str], message: Option<&str>) -> EmitArgs {
        EmitArgs {
            event: "order-paid".into(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
            level: Level::Warning,
            message: message.map(String::from),
        }
    }

    #[test]
    fn fields_keep_order_and_types_and_message_becomes_replace_msg() {
        let e = build_event(&args(
            &["order_id=12346", "amount=99.99", "paid=true", "who=alice"],
            Some("Order {order_id} paid"),
        ))
        .unwrap();
        assert_eq!(e.name(), "order-paid");
        assert_eq!(e.level(), Level::Warning);
        let keys: Vec<&str> = e.fields().iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["order_id", "amount", "paid", "who", "_replace_msg"]);
        assert_eq!(e.fields()[0].1, Value::I64(12346));
        assert_eq!(e.fields()[1].1, Value::F64(99.99));
        assert_eq!(e.fields()[2].1, Value::Bool(true));
        assert_eq!(e.template(), Some("Order {order_id} paid"));
    }

    #[test]
    fn bad_pairs_and_empty_names_are_refused() {
        assert!(build_event(&args(&["novalue"], None)).is_err());
        let mut a = args(&[], None);
        a.event = " ".into();
        assert!(build_event(&a).is_err());
    }
}
