//! The spool section: what the PostgreSQL writer's disk spool
//! (`postgres_spool_dir`) holds — files, bytes, events waiting and the
//! oldest of them, damaged bytes — read without touching it.

use super::report::{Section, Status};
use serde_json::Value as Json;
use stogger_core::Config;
use stogger_postgres::{spool_status, SpoolStatus};

/// Reports the spool when PostgreSQL is enabled and a spool is configured.
pub fn section(cfg: &Config) -> Section {
    if !cfg.enable_postgres {
        return Section::new("spool", Status::Off, "not checked: enable_postgres = false");
    }
    let Some(dir) = cfg.postgres_spool_dir.as_deref() else {
        return Section::new(
            "spool",
            Status::Off,
            "no spool (postgres_spool_dir is not set): during an outage events beyond the \
             memory queue are dropped, and a process that exits loses what is queued",
        );
    };
    from_status(&spool_status(dir), cfg.postgres_spool_max_bytes)
}

/// Turns what the spool holds into a section.
pub fn from_status(s: &SpoolStatus, max_bytes: u64) -> Section {
    let mut status = Status::Ok;
    let mut findings = Vec::new();
    let mut hints = Vec::new();
    if !s.exists {
        findings.push(format!(
            "{} does not exist yet (the writer creates it when it starts)",
            s.dir
        ));
    } else if s.events == 0 {
        findings.push(format!("{} holds no events waiting", s.dir));
    } else {
        status = Status::Warning;
        findings.push(format!(
            "{} events wait in {} ({} bytes of {max_bytes}), the oldest from {}",
            s.events,
            s.dir,
            s.bytes,
            s.oldest.as_deref().unwrap_or("?")
        ));
        hints.push(if s.in_use {
            "a running service holds the spool and writes it to the table once it reaches the \
             database"
                .to_string()
        } else {
            "no service holds the spool now: the next start of the service writes it to the \
             table (it must reach the database)"
                .to_string()
        });
    }
    if s.damaged_bytes > 0 {
        status = status.max(Status::Warning);
        findings.push(format!(
            "{} bytes of damaged segment tails (lost events, e.g. after a power loss)",
            s.damaged_bytes
        ));
    }
    if !s.problems.is_empty() {
        status = Status::Error;
        findings.extend(s.problems.iter().cloned());
        hints.push(format!("check the permissions of {}", s.dir));
    }
    let mut section = Section::new("spool", status, findings.join("; "))
        .fact("dir", s.dir.clone())
        .fact("exists", s.exists)
        .fact("in_use", s.in_use)
        .fact("segments", s.segments)
        .fact("bytes", s.bytes)
        .fact("max_bytes", max_bytes)
        .fact("events", s.events)
        .fact("oldest", s.oldest.clone().map_or(Json::Null, Json::from))
        .fact("damaged_bytes", s.damaged_bytes);
    if !hints.is_empty() {
        section = section.hint(hints.join("; "));
    }
    section
}
