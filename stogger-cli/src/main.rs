//! `stogger`: the command-line companion of the stogger logging library.
//!
//! - `stogger doctor [--json] [--service PATH]`: what is configured, found,
//!   reachable and wrong;
//! - `stogger emit EVENT [KEY=VALUE ...]`: one event through the configured targets;
//! - `stogger query [filters]`: rows back from the PostgreSQL table;
//! - `stogger schema [--partitioned] [--apply]`, `stogger schema migrate`:
//!   the DDL, creating what is missing, turning a plain table into a
//!   partitioned one;
//! - `stogger completions SHELL`, `stogger man-pages DIR`: generated from
//!   the same clap definitions as the parser.
//!
//! Configuration is read exactly as the library reads it (same files in
//! the working directory, same `STOGGER_*` variables, same errors).
#![warn(missing_docs)]

mod db;
mod doctor;
mod dsn;
mod emit;
mod generate;
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
    propagate_version = true,
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
        /// Report the plugin as the service executable at PATH would find it
        /// (its directory, ../lib/stogger/, the system places, STOGGER_PLUGIN_DIR,
        /// postgres_plugin), instead of what this command itself uses.
        #[arg(long, value_name = "PATH")]
        service: Option<std::path::PathBuf>,
    },
    /// Send one event through the configured targets.
    ///
    /// Values are typed: integers and floats (JSON numbers), true/false,
    /// JSON objects and arrays; "quoted" JSON strings and anything else are text.
    /// Exits 1 when an enabled target did not accept the event.
    Emit(emit::EmitArgs),
    /// Read events back from the PostgreSQL table, newest last.
    Query(query::QueryArgs),
    /// Print the DDL of the configured table; --apply creates what is missing;
    /// `migrate` turns a plain table into a partitioned one.
    Schema(schema::SchemaArgs),
    /// Print a shell completion script on stdout.
    ///
    /// bash: `stogger completions bash > ~/.local/share/bash-completion/completions/stogger`;
    /// zsh: into a directory on $fpath as `_stogger`; fish: `~/.config/fish/completions/stogger.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (stogger.1 and one per command) into DIR.
    ///
    /// The packages ship them; after `cargo install`, e.g.
    /// `stogger man-pages ~/.local/share/man/man1`.
    ManPages {
        /// The directory (created when missing).
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Doctor { json, service } => doctor::run(json, service.as_deref()),
        Command::Emit(args) => emit::run(&args),
        Command::Query(args) => query::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Completions { shell } => generate::completions(shell),
        Command::ManPages { dir } => generate::man_pages(&dir),
    };
    ExitCode::from(code)
}

/// Prints `stogger: error: <message>` on stderr.
fn error(message: &str) {
    eprintln!("stogger: error: {message}");
}
