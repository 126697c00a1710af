//! The database section: the plugin's read-only check of the configured
//! DSN and table (connect time, server, columns, indexes by definition,
//! privileges, rows); and from the same check, the partitions section.

use super::partitions;
use super::report::{Section, Status, SubTable};
use crate::db;
use serde_json::Value as Json;
use stogger_core::Config;
use stogger_postgres::{check, check_sync_pool, CheckReport, IndexStatus, SyncPoolCheck};

/// The database and partitions sections: checked when PostgreSQL is
/// enabled and a DSN is set.
pub fn sections(cfg: &Config) -> Vec<Section> {
    if !cfg.enable_postgres {
        return vec![
            Section::new(
                "database",
                Status::Off,
                "not checked: enable_postgres = false",
            ),
            Section::new(
                "partitions",
                Status::Off,
                "not checked: enable_postgres = false",
            ),
        ];
    }
    match db::settings(cfg, "stogger-doctor") {
        Ok(settings) => {
            let report = check(&settings);
            vec![from_report(&report), partitions::section(cfg, &report)]
        }
        Err(e) => vec![
            Section::new("database", Status::Error, format!("not checked: {e}"))
                .hint("see the postgres section above"),
            Section::new(
                "partitions",
                Status::Off,
                "not checked: see the database section",
            ),
        ],
    }
}

fn status_word(s: IndexStatus) -> &'static str {
    match s {
        IndexStatus::Ok => "ok",
        IndexStatus::Missing => "missing",
        IndexStatus::Duplicate => "duplicate",
        IndexStatus::Invalid => "invalid",
        IndexStatus::Unexpected => "unexpected",
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
            .fact("table_kind", opt(r.table_kind.clone()))
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
             create it now: `stogger schema --apply` (or `stogger schema | psql <DSN>`)"
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
    let index_problems: Vec<_> = r.indexes.iter().filter(|i| i.status.is_problem()).collect();
    if !index_problems.is_empty() {
        status = status.max(Status::Warning);
        explained += index_problems.len();
        findings.push(format!(
            "indexes: {}",
            index_problems
                .iter()
                .map(|i| format!(
                    "{} {} ({})",
                    status_word(i.status),
                    i.name,
                    i.role.as_deref().unwrap_or("not stogger's")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        // The missing ones: one command (each statement is in the table);
        // the others: their statements.
        let mut fixes: Vec<String> = index_problems
            .iter()
            .filter(|i| i.status != IndexStatus::Missing)
            .filter_map(|i| {
                i.fix
                    .as_deref()
                    .map(|f| f.trim_end_matches(';').to_string())
            })
            .collect();
        if index_problems
            .iter()
            .any(|i| i.status == IndexStatus::Missing)
        {
            fixes.insert(
                0,
                "`stogger schema --apply` builds the missing indexes without blocking writers \
                 (the `fix` column has each statement; queries work without them, slower)"
                    .to_string(),
            );
        }
        hints.push(fixes.join("; "));
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
        let ours = r
            .indexes
            .iter()
            .filter(|i| i.status == IndexStatus::Ok && i.role.as_deref() != Some("primary key"))
            .count();
        let others = r
            .indexes
            .iter()
            .filter(|i| i.status == IndexStatus::Unexpected)
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>();
        let others = match others.len() {
            0 => String::new(),
            _ => format!(" (and {} of your own: {})", others.len(), others.join(", ")),
        };
        let kind = match r.table_kind.as_deref() {
            Some("partitioned") => "partitioned table",
            _ => "table",
        };
        format!(
            "{server}; {kind} {} as expected, {ours} indexes{others}, INSERT and SELECT allowed; \
             {rows}{newest}",
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
        let in_text = r.indexes.iter().any(|i| i.status.is_problem());
        section = section.table(SubTable {
            name: "indexes",
            header: vec!["index", "role", "status", "definition", "fix"],
            rows: r
                .indexes
                .iter()
                .map(|i| {
                    vec![
                        i.name.clone().into(),
                        opt(i.role.clone()),
                        status_word(i.status).into(),
                        opt(i.definition.clone().or_else(|| i.expected.clone())),
                        opt(i.fix.clone()),
                    ]
                })
                .collect(),
            in_text,
        });
    }
    section
}

/// Sync mode's pool: its size, a pool of that size opened now, and the
/// service's connections on the server (its processes' pools as they are).
pub fn sync_pool(cfg: &Config) -> Section {
    if !cfg.enable_postgres || cfg.postgres_write_mode != stogger_core::config::WriteMode::Sync {
        return Section::new(
            "sync_pool",
            Status::Off,
            "not used: postgres_write_mode is not sync",
        );
    }
    match db::settings(cfg, "stogger-doctor") {
        Ok(settings) => from_pool_check(&check_sync_pool(&settings, &cfg.syslog_identifier)),
        Err(e) => Section::new("sync_pool", Status::Error, format!("not checked: {e}")),
    }
}

/// Turns the pool check into a section.
pub fn from_pool_check(p: &SyncPoolCheck) -> Section {
    let held: i64 = p.service_connections.iter().map(|(_, n)| n).sum();
    let states = p
        .service_connections
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    let service = if held == 0 {
        format!(
            "no connection of application {:?} open now",
            p.application_name
        )
    } else {
        format!(
            "application {:?} holds {held} connection(s) now ({states})",
            p.application_name
        )
    };
    let free = p
        .free_slots
        .map(|f| format!("; {f} connection slot(s) free on the server"))
        .unwrap_or_default();
    let detail = format!(
        "size {} per process; a pool of {} opened {} connection(s) in {} ms; {service}{free}",
        p.size,
        p.size,
        p.opened,
        p.open_ms.unwrap_or_default()
    );
    let status = if p.opened == 0 {
        Status::Error
    } else if p.problems.is_empty() {
        Status::Ok
    } else {
        Status::Warning
    };
    let detail = if p.problems.is_empty() {
        detail
    } else {
        format!("{detail}; {}", p.problems.join("; "))
    };
    let mut section = Section::new("sync_pool", status, detail)
        .fact("size", p.size as u64)
        .fact("opened", p.opened as u64)
        .fact("open_ms", opt(p.open_ms))
        .fact("application_name", p.application_name.clone())
        .fact(
            "service_connections",
            Json::Object(
                p.service_connections
                    .iter()
                    .map(|(s, n)| (s.clone(), Json::from(*n)))
                    .collect(),
            ),
        )
        .fact("free_slots", opt(p.free_slots))
        .fact(
            "problems",
            Json::Array(p.problems.iter().map(|m| m.clone().into()).collect()),
        );
    if status != Status::Ok {
        section = section.hint(
            "each process of the service holds up to postgres_sync_pool_size connections: \
             lower it, or raise max_connections on the server (or put pgbouncer in between)",
        );
    }
    section
}
