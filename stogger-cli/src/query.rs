//! `stogger query`: events back from the PostgreSQL table, newest last,
//! rendered like console lines or as JSON lines.
//!
//! Every filter is a bind parameter; the table name is quoted by the
//! plugin's own quoting. `--field` filters become one JSONB containment
//! test, `data @> $n::jsonb`, which the GIN index on `data` serves.

use crate::{db, values};
use clap::Args;
use serde_json::{Map, Value as Json};
use std::io::{IsTerminal, Write};
use std::time::Duration;
use stogger_core::event::CodeLocation;
use stogger_core::output::console::color_rule;
use stogger_core::render::text::{TextOptions, TextRenderer};
use stogger_core::target::Renderer;
use stogger_core::{Config, Event, Level, Value};
use stogger_postgres::LogReader;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Arguments of `stogger query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Only events at this level or more severe (trace, debug, info, warning, error, critical).
    #[arg(long, value_parser = parse_level)]
    pub level: Option<Level>,
    /// Only this event name.
    #[arg(long)]
    pub event: Option<String>,
    /// Only events inside this log scope.
    #[arg(long)]
    pub scope: Option<String>,
    /// Only events from this function: `module::function`, or just `function`.
    #[arg(long)]
    pub func: Option<String>,
    /// Only events since a time: a duration ago (`30m`, `1h`, `2days`) or a
    /// timestamp (`2026-11-24T10:00:00Z`, `2026-11-24 10:00:00` in UTC, `2026-11-24`).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<OffsetDateTime>,
    /// Only events whose data contains KEY=VALUE, typed like `stogger emit`
    /// (`order_id=12346` is a number, `code="123"` text). Repeatable.
    #[arg(long = "field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
    /// How many of the newest matching events to print.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// One JSON object per line: timestamp, level, event, func, scope and the data fields.
    #[arg(long)]
    pub json: bool,
    /// Keep printing new events as they arrive (until Ctrl-C).
    #[arg(long)]
    pub follow: bool,
    /// Print the server's plan of the query (EXPLAIN) instead of rows: which
    /// indexes and, on a partitioned table, which partitions it reads.
    #[arg(long, conflicts_with = "follow")]
    pub explain: bool,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| {
        format!("unknown level `{s}` (allowed: trace, debug, info, warning, error, critical)")
    })
}

/// A duration ago, or an RFC 3339 timestamp (a missing zone means UTC).
pub fn parse_since(s: &str) -> Result<OffsetDateTime, String> {
    parse_since_at(s, OffsetDateTime::now_utc())
}

fn parse_since_at(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    if let Ok(d) = humantime::parse_duration(s) {
        let d = time::Duration::try_from(d).map_err(|e| e.to_string())?;
        return now
            .checked_sub(d)
            .ok_or_else(|| format!("`{s}` reaches too far back"));
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    match humantime::parse_rfc3339_weak(&full) {
        Ok(t) => Ok(OffsetDateTime::from(t)),
        Err(_) => Err(format!(
            "`{s}` is neither a duration (30m, 1h, 2days) nor a timestamp \
             (2026-11-24T10:00:00Z, 2026-11-24 10:00:00, 2026-11-24)"
        )),
    }
}

/// The filters of a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Levels at or above the one asked for.
    pub levels: Option<Vec<String>>,
    /// Exact event name.
    pub event: Option<String>,
    /// Exact scope.
    pub scope: Option<String>,
    /// Function: exact when it has `::`, else the last path segment.
    pub func: Option<String>,
    /// Earliest timestamp.
    pub since: Option<OffsetDateTime>,
    /// JSONB containment object.
    pub data: Option<Json>,
}

/// A bind parameter (the plugin's type: `text`, `text[]`, `timestamptz`,
/// `jsonb`, `bigint`).
pub use stogger_postgres::QueryParam as Param;

impl Filter {
    /// The filter for the command-line arguments.
    pub fn from_args(args: &QueryArgs) -> Result<Filter, String> {
        let data = if args.fields.is_empty() {
            None
        } else {
            let mut object = Map::new();
            for (k, v) in values::parse_pairs(&args.fields)? {
                object.insert(k, v.to_json());
            }
            Some(Json::Object(object))
        };
        Ok(Filter {
            levels: args.level.map(|min| {
                Level::ALL
                    .into_iter()
                    .filter(|l| *l >= min)
                    .map(|l| l.as_str().to_string())
                    .collect()
            }),
            event: args.event.clone(),
            scope: args.scope.clone(),
            func: args.func.clone(),
            since: args.since,
            data,
        })
    }

    /// `WHERE ...` (or nothing) and its parameters, numbered from `$1`.
    fn where_clause(&self, params: &mut Vec<Param>) -> String {
        let mut conds = Vec::new();
        let bind = |p: Param, params: &mut Vec<Param>| {
            params.push(p);
            format!("${}", params.len())
        };
        if let Some(levels) = &self.levels {
            let n = bind(Param::TextArray(levels.clone()), params);
            conds.push(format!("level = ANY({n}::text[])"));
        }
        if let Some(event) = &self.event {
            let n = bind(Param::Text(event.clone()), params);
            conds.push(format!("event = {n}"));
        }
        if let Some(scope) = &self.scope {
            let n = bind(Param::Text(scope.clone()), params);
            conds.push(format!("scope = {n}"));
        }
        if let Some(func) = &self.func {
            let exact = bind(Param::Text(func.clone()), params);
            if func.contains("::") {
                conds.push(format!("func = {exact}"));
            } else {
                let escaped = func
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let like = bind(Param::Text(format!("%::{escaped}")), params);
                conds.push(format!("(func = {exact} OR func LIKE {like} ESCAPE '\\')"));
            }
        }
        if let Some(since) = self.since {
            let n = bind(Param::Time(since), params);
            conds.push(format!("\"timestamp\" >= {n}"));
        }
        if let Some(data) = &self.data {
            let n = bind(Param::Json(data.clone()), params);
            conds.push(format!("data @> {n}::jsonb"));
        }
        if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        }
    }
}

/// RFC 3339 in UTC with exactly six fraction digits (what PostgreSQL stores).
const JSON_TIME: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

const COLUMNS: &str = "id, \"timestamp\", level, event, func, scope, data";

/// The newest `limit` matching rows (newest first; printed reversed).
pub fn newest_sql(table: &str, filter: &Filter, limit: u32) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let wh = filter.where_clause(&mut params);
    params.push(Param::Int(i64::from(limit)));
    let sql = format!(
        "SELECT {COLUMNS} FROM {table}{wh} ORDER BY \"timestamp\" DESC, id DESC LIMIT ${}",
        params.len()
    );
    (sql, params)
}

/// Matching rows written after row `after_id`, oldest first (for `--follow`).
pub fn after_sql(table: &str, filter: &Filter, after_id: i64) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let wh = filter.where_clause(&mut params);
    params.push(Param::Int(after_id));
    let id_cond = format!("id > ${}", params.len());
    let wh = if wh.is_empty() {
        format!(" WHERE {id_cond}")
    } else {
        format!("{wh} AND {id_cond}")
    };
    (
        format!("SELECT {COLUMNS} FROM {table}{wh} ORDER BY id ASC LIMIT 1000"),
        params,
    )
}

/// One row of the table, as the plugin reads it.
pub use stogger_postgres::StoredRow as LogRow;

/// A JSON value from `data` as an event field value.
fn value_from_json(v: &Json) -> Value {
    match v {
        Json::String(s) => Value::Str(s.clone()),
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::I64(i)
            } else if let Some(u) = n.as_u64() {
                Value::U64(u)
            } else {
                Value::F64(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        other => Value::Json(Box::new(other.clone())),
    }
}

/// How `stogger query` shows a row.
pub trait RowOutput {
    /// The event the row was written from, as far as the row tells:
    /// `pid` and `code_*` go back to their places, every other key of
    /// `data` (`_replace_msg` included) becomes a field.
    fn to_event(&self) -> Event;

    /// The JSON line: `timestamp`, `level`, `event`, `func`, `scope`, then
    /// the data fields (a data key named like a column is left out).
    fn to_json_line(&self) -> Json;
}

impl RowOutput for LogRow {
    fn to_event(&self) -> Event {
        let level = match self.level.as_str() {
            "critical" => Level::Critical,
            other => Level::parse(other).unwrap_or(Level::Info),
        };
        let mut event = Event::new(level, self.event.clone());
        event.timestamp = self.timestamp;
        event.func = self.func.clone();
        event.scope = self.scope.clone();
        event.pid = 0;
        event.code = CodeLocation::default();
        event.target = "stogger_cli::query".into();
        if let Json::Object(map) = &self.data {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("pid", Json::Number(n))
                        if n.as_u64().is_some_and(|p| p <= u32::MAX as u64) =>
                    {
                        event.pid = n.as_u64().unwrap_or_default() as u32;
                    }
                    ("code_file", Json::String(s)) => event.code.file = Some(s.clone().into()),
                    ("code_module", Json::String(s)) => event.code.module = Some(s.clone().into()),
                    ("code_lineno" | "code_line", Json::Number(n))
                        if n.as_u64().is_some_and(|l| l <= u32::MAX as u64) =>
                    {
                        event.code.line = n.as_u64().map(|l| l as u32);
                    }
                    _ => event.fields.push((k.clone().into(), value_from_json(v))),
                }
            }
        }
        event
    }

    fn to_json_line(&self) -> Json {
        let mut out = Map::new();
        let ts = self
            .timestamp
            .to_offset(time::UtcOffset::UTC)
            .format(JSON_TIME)
            .unwrap_or_else(|_| self.timestamp.to_string());
        out.insert("timestamp".into(), ts.into());
        out.insert("level".into(), self.level.clone().into());
        out.insert("event".into(), self.event.clone().into());
        out.insert(
            "func".into(),
            self.func.clone().map(Json::String).unwrap_or(Json::Null),
        );
        out.insert(
            "scope".into(),
            self.scope.clone().map(Json::String).unwrap_or(Json::Null),
        );
        if let Json::Object(map) = &self.data {
            for (k, v) in map {
                if !out.contains_key(k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Json::Object(out)
    }
}

fn renderer(cfg: &Config) -> TextRenderer {
    let color = color_rule(
        std::env::var("NO_COLOR").ok(),
        std::env::var("CLICOLOR_FORCE").ok(),
        std::env::var("TERM").ok(),
        std::io::stdout().is_terminal(),
    );
    TextRenderer::new(TextOptions::from_config(
        cfg,
        color,
        OffsetDateTime::now_utc(),
    ))
}

/// Prints rows; `Err` when stdout is gone (a closed pipe ends the query quietly).
fn print_rows(
    out: &mut impl Write,
    rows: &[LogRow],
    json: bool,
    text: &TextRenderer,
) -> std::io::Result<()> {
    for row in rows {
        if json {
            let mut line = row.to_json_line().to_string();
            line.push('\n');
            out.write_all(line.as_bytes())?;
        } else {
            out.write_all(text.render(&row.to_event()).console().as_bytes())?;
        }
    }
    out.flush()
}

/// Runs `stogger query`; returns the exit code.
pub fn run(args: &QueryArgs) -> u8 {
    let loaded = match stogger_core::config::load(&[]) {
        Ok(l) => l,
        Err(e) => {
            crate::error(&format!("stogger configuration: {e}"));
            return crate::EXIT_USAGE;
        }
    };
    let filter = match Filter::from_args(args) {
        Ok(f) => f,
        Err(e) => {
            crate::error(&e);
            return crate::EXIT_USAGE;
        }
    };
    let cfg = &loaded.config;
    let open = || db::settings(cfg, "stogger-cli").and_then(|s| LogReader::connect(&s));
    let db = match open() {
        Ok(db) => db,
        Err(e) => {
            crate::error(&e);
            return 1;
        }
    };
    let text = renderer(cfg);
    let stdout = std::io::stdout();
    let (sql, params) = newest_sql(&db.quoted_table(), &filter, args.limit);
    if args.explain {
        return match db.explain(&sql, &params) {
            Ok(lines) => {
                let mut out = stdout.lock();
                for line in lines {
                    if writeln!(out, "{line}").is_err() {
                        break;
                    }
                }
                0
            }
            Err(e) => {
                crate::error(&e);
                1
            }
        };
    }
    let mut rows = match db.fetch(&sql, &params) {
        Ok(rows) => rows,
        Err(e) => {
            crate::error(&e);
            return 1;
        }
    };
    rows.reverse();
    let mut last_id = rows.iter().map(|r| r.id).max().unwrap_or(0);
    if print_rows(&mut stdout.lock(), &rows, args.json, &text).is_err() {
        return 0;
    }
    if !args.follow {
        return 0;
    }
    if rows.is_empty() {
        // Start after what is there now, even if nothing matched yet.
        last_id = db.max_id().unwrap_or(0);
    }
    let mut db = db;
    let mut reported = false;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let (sql, params) = after_sql(&db.quoted_table(), &filter, last_id);
        match db.fetch(&sql, &params) {
            Ok(rows) => {
                reported = false;
                if let Some(max) = rows.iter().map(|r| r.id).max() {
                    last_id = last_id.max(max);
                }
                if print_rows(&mut stdout.lock(), &rows, args.json, &text).is_err() {
                    return 0;
                }
            }
            Err(e) => {
                if !reported {
                    eprintln!("stogger: query: {e}; retrying");
                    reported = true;
                }
                std::thread::sleep(Duration::from_secs(2));
                if let Ok(again) = open() {
                    db = again;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> QueryArgs {
        QueryArgs {
            level: None,
            event: None,
            scope: None,
            func: None,
            since: None,
            fields: Vec::new(),
            limit: 20,
            json: false,
            follow: false,
            explain: false,
        }
    }

    #[test]
    fn field_filters_use_jsonb_containment_with_typed_values() {
        let mut a = args();
        a.fields = vec!["order_id=12346".into(), "currency=USD".into()];
        let f = Filter::from_args(&a).unwrap();
        let (sql, params) = newest_sql("\"stogger_logs\"", &f, 20);
        assert_eq!(
            sql,
            "SELECT id, \"timestamp\", level, event, func, scope, data FROM \"stogger_logs\" \
             WHERE data @> $1::jsonb ORDER BY \"timestamp\" DESC, id DESC LIMIT $2"
        );
        assert_eq!(
            params,
            vec![
                Param::Json(serde_json::json!({"order_id": 12346, "currency": "USD"})),
                Param::Int(20)
            ]
        );
    }

    #[test]
    fn every_filter_is_a_parameter_never_spliced_text() {
        let mut a = args();
        a.level = Some(Level::Warning);
        a.event = Some("x'; DROP TABLE t; --".into());
        a.scope = Some("order-processing".into());
        a.func = Some("process_payment".into());
        a.since = Some(time::macros::datetime!(2026-11-24 10:00 UTC));
        let f = Filter::from_args(&a).unwrap();
        let (sql, params) = newest_sql("\"t\"", &f, 5);
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(sql.contains("level = ANY($1::text[])"), "{sql}");
        assert!(sql.contains("event = $2"), "{sql}");
        assert!(sql.contains("scope = $3"), "{sql}");
        assert!(
            sql.contains("(func = $4 OR func LIKE $5 ESCAPE '\\')"),
            "{sql}"
        );
        assert!(sql.contains("\"timestamp\" >= $6"), "{sql}");
        assert!(sql.ends_with("LIMIT $7"), "{sql}");
        assert_eq!(
            params[0],
            Param::TextArray(vec!["warning".into(), "error".into(), "critical".into()])
        );
        assert_eq!(params[4], Param::Text("%::process\\_payment".into()));
    }

    #[test]
    fn follow_asks_for_rows_after_the_last_id() {
        let (sql, params) = after_sql("\"t\"", &Filter::default(), 41);
        assert!(
            sql.ends_with("FROM \"t\" WHERE id > $1 ORDER BY id ASC LIMIT 1000"),
            "{sql}"
        );
        assert_eq!(params, vec![Param::Int(41)]);
        let f = Filter {
            event: Some("e".into()),
            ..Filter::default()
        };
        let (sql, _) = after_sql("\"t\"", &f, 1);
        assert!(sql.contains("WHERE event = $1 AND id > $2"), "{sql}");
    }

    #[test]
    fn since_takes_durations_and_timestamps() {
        use time::macros::datetime;
        let now = datetime!(2026-11-24 12:00 UTC);
        for (text, want) in [
            ("1h", datetime!(2026-11-24 11:00 UTC)),
            ("90s", datetime!(2026-11-24 11:58:30 UTC)),
            ("2026-11-24T10:00:00Z", datetime!(2026-11-24 10:00 UTC)),
            ("2026-11-24T10:00:00+02:00", datetime!(2026-11-24 08:00 UTC)),
            ("2026-11-24 10:00:00", datetime!(2026-11-24 10:00 UTC)),
            ("2026-11-24", datetime!(2026-11-24 0:00 UTC)),
        ] {
            assert_eq!(parse_since_at(text, now).unwrap(), want, "{text}");
        }
        assert!(parse_since_at("yesterday-ish", now).is_err());
    }

    fn row() -> LogRow {
        LogRow {
            id: 7,
            timestamp: time::macros::datetime!(2026-11-24 10:00:01.5 UTC),
            level: "warning".into(),
            event: "order-on-hold".into(),
            func: Some("demo::process_payment".into()),
            scope: Some("order-processing".into()),
            data: serde_json::json!({
                "order_id": 12346, "reason": "declined", "pid": 4242,
                "code_file": "src/main.rs", "code_lineno": 12, "level": "shadowed",
                "_replace_msg": "Order {order_id} on hold"
            }),
        }
    }

    #[test]
    fn rows_become_events_with_typed_fields() {
        let e = row().to_event();
        assert_eq!(e.level, Level::Warning);
        assert_eq!(e.pid, 4242);
        assert_eq!(e.code.file.as_deref(), Some("src/main.rs"));
        assert_eq!(e.code.line, Some(12));
        assert_eq!(e.get("order_id"), Some(&Value::I64(12346)));
        assert_eq!(e.template(), Some("Order {order_id} on hold"));
        assert!(e.get("pid").is_none());
        assert_eq!(e.scope.as_deref(), Some("order-processing"));
    }

    #[test]
    fn json_lines_have_columns_first_and_data_flattened() {
        let j = row().to_json_line();
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[..5], ["timestamp", "level", "event", "func", "scope"]);
        assert_eq!(j["timestamp"], "2026-11-24T10:00:01.500000Z");
        assert_eq!(j["level"], "warning");
        assert_eq!(j["order_id"], 12346);
        assert_eq!(j["reason"], "declined");
    }
}
