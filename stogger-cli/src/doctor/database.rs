//! The database section: the plugin's read-only check of the configured
//! DSN and table (connect time, server, columns, indexes, privileges, rows).

use super::report::{Section, Status, SubTable};
use crate::db;
use serde_json::Value as Json;
use stogger_core::Config;
use stogger_postgres::{check, CheckReport};

/// Checks the database when PostgreSQL is enabled and a DSN is set.
pub fn section(cfg: &Config) -> Section {
    if !cfg.enable_postgres {
        return Section::new(
            "database",
            Status::Off,
            "not checked: enable_postgres = false",
        );
    }
    match db::settings(cfg, "stogger-doctor") {
        Ok(settings) => from_report(&check(&settings)),
        Err(e) => Section::new("database", Status::Error, format!("not checked: {e}"))
            .hint("see the postgres section above"),
    }
}

fn opt<T: Into<Json>>(v: Option<T>) -> Json {
    v.map(Into::into).unwrap_or(Json::Null)
}

/// Turns the plugin's findings into a section with a status and a fix.
pub fn from_report(r: &CheckReport) -> Section {
    let facts = |s: Section| {
        s.fact("dsn", r.dsn.clone())
            .fact("table", r.table.clone())
            .fact("connected", r.connected)
            .fact("connect_ms", opt(r.connect_ms))
            .fact("server_version", opt(r.server_version.clone()))
            .fact("user", opt(r.user.clone()))
            .fact("tls", opt(r.tls))
            .fact("table_present", opt(r.table_present))
            .fact("can_insert", opt(r.can_insert))
            .fact("can_select", opt(r.can_select))
            .fact("row_count", opt(r.row_count))
            .fact("row_count_estimated", r.row_count_estimated)
            .fact("newest", opt(r.newest.clone()))
            .fact("dropped_last_24h", opt(r.dropped_last_24h))
            .fact("uncertain_last_24h", opt(r.uncertain_last_24h))
            .fact(
                "problems",
                Json::Array(r.problems.iter().map(|p| p.clone().into()).collect()),
            )
    };
    if !r.connected {
        let reason = r
            .problems
            .first()
            .cloned()
            .unwrap_or_else(|| "cannot connect".to_string());
        return facts(Section::new("database", Status::Error, reason).hint(
            "check that the server is running and reachable from here (`psql` with the same \
             DSN), the host/port or socket directory, the user, the password \
             (STOGGER_POSTGRES_PASSWORD for %PASSWORD%) and pg_hba.conf",
        ));
    }
    let server = format!(
        "connected in {} ms to PostgreSQL {}{}",
        r.connect_ms.unwrap_or_default(),
        r.server_version.as_deref().unwrap_or("?"),
        r.user
            .as_deref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default()
    );
    let mut status = Status::Ok;
    let mut explained = 0;
    let mut hints: Vec<String> = Vec::new();
    let mut findings: Vec<String> = Vec::new();
    if r.table_present == Some(false) {
        status = status.max(Status::Warning);
        explained += 1;
        findings.push(format!("table {} does not exist yet", r.table));
        hints.push(
            "the service creates the table when it starts (it needs CREATE on the schema); to \
             create it now: `stogger schema | psql <DSN>`"
                .to_string(),
        );
    }
    let bad_columns: Vec<&str> = r
        .columns
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    if !bad_columns.is_empty() {
        status = status.max(Status::Error);
        explained += bad_columns.len();
        findings.push(format!(
            "columns not as expected: {}",
            bad_columns.join(", ")
        ));
        hints.push(format!(
            "the table {} was not created by stogger: rename it and let the service create a \
             new one, or point postgres_table at another name (`stogger schema` prints the \
             expected DDL)",
            r.table
        ));
    }
    let missing_indexes: Vec<&str> = r
        .indexes
        .iter()
        .filter(|i| !i.present)
        .map(|i| i.name.as_str())
        .collect();
    if !missing_indexes.is_empty() {
        status = status.max(Status::Warning);
        explained += missing_indexes.len();
        findings.push(format!("indexes missing: {}", missing_indexes.join(", ")));
        hints.push(
            "create the missing indexes with the CREATE INDEX lines of `stogger schema` \
             (queries work without them, slower)"
                .to_string(),
        );
    }
    if r.can_insert == Some(false) {
        status = status.max(Status::Error);
        explained += 1;
        findings.push("no INSERT privilege".to_string());
        let user = r.user.as_deref().unwrap_or("<the service's user>");
        hints.push(format!(
            "GRANT INSERT ON {table} TO {user}; GRANT USAGE ON SEQUENCE {table}_id_seq TO {user} \
             (the id column is a BIGSERIAL)",
            table = r.table,
        ));
    }
    if r.can_select == Some(false) {
        status = status.max(Status::Warning);
        findings.push("no SELECT privilege (stogger query will not work)".to_string());
        hints.push(format!(
            "GRANT SELECT ON {} TO {} for stogger query",
            r.table,
            r.user.as_deref().unwrap_or("<the user>")
        ));
    }
    if let Some(n) = r.dropped_last_24h.filter(|n| *n > 0) {
        status = status.max(Status::Warning);
        findings.push(format!(
            "{n} events dropped in the last 24 hours because a service's queue or spool was \
             full (rows with event 'stogger-events-dropped')"
        ));
        hints.push(
            "raise postgres_queue_capacity / postgres_queue_max_bytes, set postgres_spool_dir, \
             or find out why the database was slow or away \
             (`stogger query --event stogger-events-dropped`)"
                .to_string(),
        );
    }
    if let Some(n) = r.uncertain_last_24h.filter(|n| *n > 0) {
        status = status.max(Status::Warning);
        findings.push(format!(
            "{n} events of uncertain fate in the last 24 hours: a COMMIT got no answer and \
             its transaction did not settle within postgres_write_timeout_ms (stored or not; \
             never sent twice)"
        ));
        hints.push(
            "look for half-open connections (firewalls, NAT) between the services and the \
             database (`stogger query --event stogger-events-dropped`)"
                .to_string(),
        );
    }
    if r.problems.len() > explained {
        status = Status::Error;
        for p in r.problems.iter().skip(explained) {
            if !findings.contains(p) {
                findings.push(p.clone());
            }
        }
    }
    let detail = if findings.is_empty() {
        let rows = match (r.row_count, r.row_count_estimated) {
            (Some(1), false) => "1 row".to_string(),
            (Some(n), false) => format!("{n} rows"),
            (Some(n), true) => format!("about {n} rows"),
            (None, _) => "rows not counted".to_string(),
        };
        let newest = r
            .newest
            .as_deref()
            .map(|t| format!(", newest {t}"))
            .unwrap_or_default();
        format!(
            "{server}; table {} as expected, 4 indexes, INSERT and SELECT allowed; {rows}{newest}",
            r.table
        )
    } else {
        format!("{server}; {}", findings.join("; "))
    };
    let mut section = facts(Section::new("database", status, detail));
    if !hints.is_empty() {
        section = section.hint(hints.join("; "));
    }
    if !r.columns.is_empty() {
        let in_text = r.columns.iter().any(|c| !c.ok);
        section = section.table(SubTable {
            name: "columns",
            header: vec!["column", "expected", "actual", "ok"],
            rows: r
                .columns
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone().into(),
                        c.expected.clone().into(),
                        opt(c.actual.clone()),
                        c.ok.into(),
                    ]
                })
                .collect(),
            in_text,
        });
    }
    if !r.indexes.is_empty() {
        let in_text = r.indexes.iter().any(|i| !i.present);
        section = section.table(SubTable {
            name: "indexes",
            header: vec!["index", "present", "definition"],
            rows: r
                .indexes
                .iter()
                .map(|i| {
                    vec![
                        i.name.clone().into(),
                        i.present.into(),
                        opt(i.definition.clone()),
                    ]
                })
                .collect(),
            in_text,
        });
    }
    section
}
