//! The partitions section: how the table is split in time (count, oldest,
//! newest, sizes, the DEFAULT partition), the retention, and the partition
//! maintenance — its last recorded run and result, and when it runs next.

use super::report::{Section, Status, SubTable};
use super::targets::human_bytes;
use serde_json::Value as Json;
use stogger_core::config::{Config, PartitionManager, Partitioning};
use stogger_postgres::CheckReport;

fn bytes(n: i64) -> String {
    human_bytes(u64::try_from(n).unwrap_or(0))
}

fn every(ms: u64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

/// The section for `r`, the database check made with `cfg`.
pub fn section(cfg: &Config, r: &CheckReport) -> Section {
    let configured = cfg.postgres_partitioning;
    let facts = |s: Section| {
        s.fact("postgres_partitioning", configured.as_str())
            .fact("partition_manager", cfg.postgres_partition_manager.as_str())
            .fact("retention_days", cfg.postgres_retention_days)
            .fact(
                "partitions",
                serde_json::to_value(&r.partitions).unwrap_or(Json::Null),
            )
            .fact(
                "maintenance",
                serde_json::to_value(&r.maintenance).unwrap_or(Json::Null),
            )
    };
    if !r.connected || r.table_present != Some(true) {
        return facts(Section::new(
            "partitions",
            Status::Off,
            "not checked: no table to look at (see the database section)",
        ));
    }
    let Some(parts) = &r.partitions else {
        return facts(if configured == Partitioning::None {
            Section::new(
                "partitions",
                Status::Off,
                format!(
                    "table {} is one plain table (postgres_partitioning = none)",
                    r.table
                ),
            )
            .hint(
                "for tables of millions of rows: postgres_partitioning = \"daily\" (and \
                 postgres_retention_days), then `stogger schema migrate` (docs/scaling.md)",
            )
        } else {
            Section::new(
                "partitions",
                Status::Warning,
                format!(
                    "postgres_partitioning = {configured}, but table {} is a plain table: rows \
                     are written to it as it is, nothing is partitioned or expired",
                    r.table
                ),
            )
            .hint("`stogger schema migrate` turns it into a partitioned table while services write")
        });
    };
    let mut status = Status::Ok;
    let mut hints: Vec<String> = Vec::new();
    let mut detail = format!(
        "{} partitions ({}) from {} to {}, {} in all",
        parts.count,
        configured,
        parts.oldest.as_deref().unwrap_or("-"),
        parts.newest.as_deref().unwrap_or("-"),
        bytes(parts.total_bytes)
    );
    match &parts.default_partition {
        Some(d) => detail.push_str(&format!(
            "; default partition {} ({}{})",
            d.name,
            bytes(d.bytes),
            match d.rows_estimate {
                Some(n) if n > 0 => format!(", about {n} rows"),
                _ => String::new(),
            }
        )),
        None => detail.push_str("; no default partition"),
    }
    detail.push_str(&match cfg.postgres_retention_days {
        0 => "; retention: keep everything".to_string(),
        n => format!("; retention {n} days"),
    });
    if !parts.covers_now {
        status = status.max(Status::Warning);
        detail.push_str("; NO partition covers the current time");
        hints.push(format!(
            "rows go to the default partition{}: is a service with \
             postgres_partition_manager = stogger running (it makes partitions at start)?",
            if parts.default_partition.is_some() {
                ""
            } else {
                " — there is none, so they are rejected"
            }
        ));
    }
    match (configured, cfg.postgres_partition_manager) {
        (Partitioning::None, _) => {
            status = status.max(Status::Warning);
            hints.push(
                "the table is partitioned but postgres_partitioning = none here: set it (as in \
                 the services) so that doctor and the services agree"
                    .to_string(),
            );
        }
        (_, PartitionManager::External) => {
            detail.push_str("; partitions are managed outside stogger (external)");
        }
        (_, PartitionManager::Stogger) => {
            detail.push_str(&format!(
                "; maintenance by the services every {}",
                every(cfg.postgres_maintenance_interval_ms)
            ));
            match &r.maintenance {
                None => {
                    status = status.max(Status::Warning);
                    detail.push_str(": no run recorded in the last 8 days");
                    hints.push(
                        "no service has run the partition maintenance lately: services with \
                         enable_postgres and postgres_partitioning set run it at start and on \
                         their schedule"
                            .to_string(),
                    );
                }
                Some(m) => {
                    let who = match (m.by.as_deref(), m.pid) {
                        (Some("schedule") | None, Some(pid)) => format!(" by pid {pid}"),
                        (Some(by), _) => format!(" by {by}"),
                        (None, None) => String::new(),
                    };
                    detail.push_str(&format!(
                        ": last run {}{who}: {}{}{}, next due {}",
                        m.at,
                        m.result,
                        if m.created.is_empty() {
                            String::new()
                        } else {
                            format!(", created {}", m.created.join(" "))
                        },
                        if m.dropped.is_empty() {
                            String::new()
                        } else {
                            format!(", dropped {}", m.dropped.join(" "))
                        },
                        m.next_run.as_deref().unwrap_or("?")
                    ));
                    if let Some(e) = &m.error {
                        status = status.max(Status::Warning);
                        hints.push(format!("the last maintenance failed: {e}"));
                    }
                    if m.overdue {
                        status = status.max(Status::Warning);
                        hints.push(
                            "the next maintenance is overdue: is any service running?".to_string(),
                        );
                    }
                }
            }
        }
    }
    let mut section = facts(Section::new("partitions", status, detail));
    if !hints.is_empty() {
        section = section.hint(hints.join("; "));
    }
    section.table(SubTable {
        name: "list",
        header: vec!["partition", "from", "to", "size", "rows_estimate"],
        rows: parts
            .list
            .iter()
            .chain(parts.default_partition.iter())
            .map(|p| {
                vec![
                    p.name.clone().into(),
                    p.from.clone().map_or(Json::Null, Json::from),
                    p.to.clone().map_or(Json::Null, Json::from),
                    bytes(p.bytes).into(),
                    p.rows_estimate.map_or(Json::Null, Json::from),
                ]
            })
            .collect(),
        in_text: parts.list.len() <= 12,
    })
}
