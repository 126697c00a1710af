//! The doctor's report: sections with a status, a one-line detail, a fix
//! hint, facts and optional tables; printed as text or as one JSON document.

use comfy_table::{presets, ContentArrangement, Table};
use serde_json::{json, Map, Value as Json};
use std::fmt::Write as _;

/// How one concern stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Not enabled: nothing to check.
    Off,
    /// Works.
    Ok,
    /// Works, but something deserves attention.
    Warning,
    /// Enabled and does not work.
    Error,
}

impl Status {
    /// `ok`, `warning`, `error`, `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Error => "error",
            Status::Off => "off",
        }
    }

    fn ansi(self) -> &'static str {
        match self {
            Status::Ok => "\x1b[32m",
            Status::Warning => "\x1b[33m",
            Status::Error => "\x1b[31;1m",
            Status::Off => "\x1b[2m",
        }
    }
}

/// A table inside a section (configuration values, columns, indexes).
#[derive(Debug, Clone)]
pub struct SubTable {
    /// Name in JSON (`values`, `columns`).
    pub name: &'static str,
    /// Column headers; also the keys of each JSON row.
    pub header: Vec<&'static str>,
    /// The rows.
    pub rows: Vec<Vec<Json>>,
    /// Whether the text form shows it (JSON always has it).
    pub in_text: bool,
}

/// One concern of the report.
#[derive(Debug, Clone)]
pub struct Section {
    /// `configuration`, `console`, `file`, `journal`, `postgres`, `plugin`, `database`.
    pub name: &'static str,
    /// How it stands; the worst of what was found.
    pub status: Status,
    /// One line saying what was found.
    pub detail: String,
    /// How to fix what is wrong (or how to turn the concern on).
    pub hint: Option<String>,
    /// Further facts, in order (in JSON).
    pub facts: Vec<(&'static str, Json)>,
    /// Lines the text form prints under the detail.
    pub notes: Vec<String>,
    /// Tables.
    pub tables: Vec<SubTable>,
}

impl Section {
    /// A section with a status and detail.
    pub fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Section {
        Section {
            name,
            status,
            detail: detail.into(),
            hint: None,
            facts: Vec::new(),
            notes: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Adds a line for the text form.
    pub fn note(mut self, line: impl Into<String>) -> Section {
        self.notes.push(line.into());
        self
    }

    /// Sets the fix hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Section {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a fact (JSON only; say it in the detail or a note for text).
    pub fn fact(mut self, key: &'static str, value: impl Into<Json>) -> Section {
        self.facts.push((key, value.into()));
        self
    }

    /// Adds a table.
    pub fn table(mut self, table: SubTable) -> Section {
        self.tables.push(table);
        self
    }

    /// Raises the status to at least `status`.
    pub fn raise(&mut self, status: Status) {
        self.status = self.status.max(status);
    }

    fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("status".into(), self.status.as_str().into());
        m.insert("detail".into(), self.detail.clone().into());
        m.insert(
            "hint".into(),
            self.hint.clone().map(Json::String).unwrap_or(Json::Null),
        );
        for (k, v) in &self.facts {
            m.insert((*k).to_string(), v.clone());
        }
        for t in &self.tables {
            let rows: Vec<Json> = t
                .rows
                .iter()
                .map(|row| {
                    Json::Object(
                        t.header
                            .iter()
                            .zip(row)
                            .map(|(h, v)| ((*h).to_string(), v.clone()))
                            .collect(),
                    )
                })
                .collect();
            m.insert(t.name.to_string(), Json::Array(rows));
        }
        Json::Object(m)
    }
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Sections in the order they are printed.
    pub sections: Vec<Section>,
}

impl Report {
    /// Whether everything enabled works (no section is in error).
    pub fn healthy(&self) -> bool {
        self.sections.iter().all(|s| s.status != Status::Error)
    }

    /// The worst status of any section (`off` counts as fine).
    pub fn overall(&self) -> Status {
        self.sections
            .iter()
            .map(|s| s.status)
            .filter(|s| *s != Status::Off)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// One JSON document: `{"ok", "status", "sections": {name: {...}}}`.
    pub fn to_json(&self) -> Json {
        let sections: Map<String, Json> = self
            .sections
            .iter()
            .map(|s| (s.name.to_string(), s.to_json()))
            .collect();
        json!({
            "ok": self.healthy(),
            "status": self.overall().as_str(),
            "sections": sections,
        })
    }

    /// The text form; `color` adds ANSI colours to the statuses.
    pub fn to_text(&self, color: bool) -> String {
        let mut out = String::new();
        let paint = |s: Status| {
            let word = format!("{:<7}", s.as_str());
            if color {
                format!("{}{word}\x1b[0m", s.ansi())
            } else {
                word
            }
        };
        for s in &self.sections {
            let _ = writeln!(out, "{:<14} {} {}", s.name, paint(s.status), s.detail);
            for line in &s.notes {
                let _ = writeln!(out, "    {line}");
            }
            for t in s.tables.iter().filter(|t| t.in_text) {
                let mut table = Table::new();
                table
                    .load_preset(presets::NOTHING)
                    .set_content_arrangement(ContentArrangement::Disabled)
                    .set_header(t.header.clone());
                for row in &t.rows {
                    table.add_row(row.iter().map(show).collect::<Vec<_>>());
                }
                for line in table.lines() {
                    let _ = writeln!(out, "   {}", line.trim_end());
                }
            }
            if let Some(hint) = &s.hint {
                let _ = writeln!(out, "    fix: {hint}");
            }
        }
        let verdict = if self.healthy() {
            match self.overall() {
                Status::Warning => "everything enabled works, with warnings (exit 0)",
                _ => "everything enabled works (exit 0)",
            }
        } else {
            "something enabled does not work (exit 1)"
        };
        let _ = writeln!(out, "\n{verdict}");
        out
    }
}

/// A JSON value as a short text: strings bare, null as `-`.
fn show(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "-".to_string(),
        Json::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            sections: vec![
                Section::new("console", Status::Ok, "fine"),
                Section::new("journal", Status::Off, "systemd = off").hint("set systemd = auto"),
            ],
        }
    }

    #[test]
    fn off_sections_do_not_make_the_report_unhealthy() {
        let r = report();
        assert!(r.healthy());
        assert_eq!(r.overall(), Status::Ok);
        let doc = r.to_json();
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["sections"]["journal"]["status"], "off");
        assert_eq!(doc["sections"]["journal"]["hint"], "set systemd = auto");
    }

    #[test]
    fn an_error_anywhere_fails_the_report_and_says_so() {
        let mut r = report();
        r.sections
            .push(Section::new("database", Status::Error, "refused").hint("start it"));
        assert!(!r.healthy());
        let text = r.to_text(false);
        assert!(text.contains("database       error   refused"), "{text}");
        assert!(text.contains("    fix: start it"), "{text}");
        assert!(text.contains("(exit 1)"), "{text}");
        assert_eq!(r.to_json()["ok"], false);
    }

    #[test]
    fn tables_become_arrays_of_objects_in_json() {
        let s = Section::new("database", Status::Ok, "x").table(SubTable {
            name: "columns",
            header: vec!["column", "type"],
            rows: vec![vec!["id".into(), "bigint".into()]],
            in_text: false,
        });
        let doc = s.to_json();
        assert_eq!(doc["columns"][0]["column"], "id");
        assert_eq!(doc["columns"][0]["type"], "bigint");
    }
}
