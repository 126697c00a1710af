//! `stogger`: the command-line companion of the stogger logging library.
//!
//! - `stogger doctor [--json]`: what is configured, found, reachable and wrong;
//! - `stogger emit EVENT [KEY=VALUE ...]`: one event through the configured targets;
//! - `stogger query [filters]`: rows back from the PostgreSQL table;
//! - `stogger schema`: the DDL the PostgreSQL plugin runs.
//!
//! Configuration is read exactly as the library reads it (same files in
//! the working directory, same `STOGGER_*` variables, same errors).
#![warn(missing_docs)]

mod db;
mod doctor;
mod dsn;
mod emit;
mod query;
mod schema;
mod settings;
mod values;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for a configuration or usage error (clap uses 2 for usage too).
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "stogger",
    version,
    about = "Check, feed and query stogger's log targets",
    long_about = "Check, feed and query stogger's log targets.\n\n\
        Configuration is read like the library reads it: STOGGER_CONFIG or the first of \
        stogger.toml, Cargo.toml [package.metadata.stogger], pyproject.toml [tool.stogger] \
        in the working directory, then STOGGER_* environment variables."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report configuration, targets, plugin and database, with a fix for every problem.
    ///
    /// Exits 0 when everything enabled works, 1 otherwise.
    Doctor {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send one event through the configured targets.
    ///
    /// Values are typed: integers and floats (JSON numbers), true/false,
    /// JSON objects and arrays; "quoted" JSON strings and anything else are text.
    /// Exits 1 when an enabled target did not accept the event.
    Emit(emit::EmitArgs),
    /// Read events back from the PostgreSQL table, newest last.
    Query(query::QueryArgs),
    /// Print the DDL the PostgreSQL plugin runs for the configured table.
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Doctor { json } => doctor::run(json),
        Command::Emit(args) => emit::run(&args),
        Command::Query(args) => query::run(&args),
        Command::Schema => schema::run(),
    };
    ExitCode::from(code)
}

/// Prints `stogger: error: <message>` on stderr.
fn error(message: &str) {
    eprintln!("stogger: error: {message}");
}
