//! `stogger schema`: the DDL of the configured table, for a DBA to review
//! or run by hand (`stogger schema | psql ...`); `--apply` creates what is
//! missing on the database itself (the table, or the indexes of an existing
//! table, built without blocking writers); `stogger schema migrate` turns
//! a plain table into a partitioned one while services keep writing.

use crate::db;
use clap::{Args, Subcommand};
use stogger_core::config::{Config, Partitioning, PgSettings};
use stogger_postgres::{apply_schema, migrate, schema_sql_for, Layout};

/// Arguments of `stogger schema`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SchemaArgs {
    /// The partitioned DDL (PARTITION BY RANGE on "timestamp"), as
    /// postgres_partitioning says, or daily partitions when it is none.
    #[arg(long)]
    pub partitioned: bool,
    /// Connect and create what is missing instead of printing: the table
    /// (as a service would), or on an existing table each missing index,
    /// with CREATE INDEX CONCURRENTLY (writers go on). Drops nothing.
    #[arg(long)]
    pub apply: bool,
    /// What else to do.
    #[command(subcommand)]
    pub action: Option<SchemaAction>,
}

/// `stogger schema` subcommands.
#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Turn the existing plain table into a table partitioned as
    /// postgres_partitioning says, without losing a row, while services keep
    /// writing (the old table becomes its first partition).
    Migrate {
        /// Print the report as one JSON document.
        #[arg(long)]
        json: bool,
    },
}

fn load() -> Result<Config, u8> {
    match stogger_core::config::load(&[]) {
        Ok(l) => Ok(l.config),
        Err(e) => {
            crate::error(&format!("stogger configuration: {e}"));
            Err(crate::EXIT_USAGE)
        }
    }
}

/// Runs `stogger schema`; returns the exit code.
pub fn run(args: &SchemaArgs) -> u8 {
    let mut cfg = match load() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.partitioned && cfg.postgres_partitioning == Partitioning::None {
        cfg.postgres_partitioning = Partitioning::Daily;
    }
    match &args.action {
        Some(SchemaAction::Migrate { json }) => return run_migrate(&cfg, *json),
        None if args.apply => return run_apply(&cfg),
        None => {}
    }
    let layout = Layout {
        partitioning: cfg.postgres_partitioning,
        gin_opclass: cfg.postgres_gin_opclass,
        default_partition: cfg.postgres_default_partition,
    };
    match schema_sql_for(&cfg.postgres_table, &layout) {
        Ok(sql) => {
            print!("{sql}");
            0
        }
        Err(e) => {
            crate::error(&format!("postgres_table: {e}"));
            1
        }
    }
}

/// The settings `--apply` and `migrate` connect with (as the service does).
fn settings(cfg: &Config) -> Result<PgSettings, u8> {
    db::settings(cfg, "stogger-schema").map_err(|e| {
        crate::error(&e);
        crate::EXIT_USAGE
    })
}

fn run_apply(cfg: &Config) -> u8 {
    let settings = match settings(cfg) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let r = apply_schema(&settings);
    if r.created_table {
        println!("created table {} ({}):", r.table, r.dsn);
    } else if r.statements.is_empty() && r.problems.is_empty() {
        println!("table {}: nothing missing", r.table);
    } else if !r.statements.is_empty() {
        println!("table {}: built what was missing:", r.table);
    }
    for s in &r.statements {
        println!("  {s}");
    }
    for rest in &r.remaining {
        if let Some(fix) = &rest.fix {
            println!(
                "left as it is: index {} ({:?}); to change it: {fix}",
                rest.name, rest.status
            );
        }
    }
    for p in &r.problems {
        crate::error(p);
    }
    u8::from(!r.problems.is_empty())
}

fn run_migrate(cfg: &Config, json: bool) -> u8 {
    let settings = match settings(cfg) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let r = migrate(&settings);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).unwrap_or_else(|e| e.to_string())
        );
    } else if let Some(legacy) = &r.legacy_partition {
        println!(
            "migrated {} to {} partitions: the old table is now partition {legacy} (rows before {}); \
             {} statements, swap in {} attempt(s):",
            r.table,
            cfg.postgres_partitioning,
            r.cutoff.as_deref().unwrap_or("?"),
            r.statements.len(),
            r.swap_attempts
        );
        for s in &r.statements {
            println!("  {s}");
        }
    }
    for p in &r.problems {
        crate::error(p);
    }
    u8::from(!r.problems.is_empty())
}
