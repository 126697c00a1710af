//! `cargo xtask demo`: the guided tour of stogger.
//!
//! 1. builds the demo service (without stogger-core's `postgres` feature:
//!    it loads the plugin at run time), the plugin and the `stogger` CLI —
//!    in two cargo runs, since one run would unify the CLI's `postgres`
//!    feature into the demo service;
//! 2. starts a throwaway PostgreSQL under `target/pg/` (when the server
//!    binaries exist; otherwise says how to get them and goes on with
//!    console + file);
//! 3. runs the demo service (stogger-core/examples/demo.rs) with console,
//!    file and PostgreSQL targets;
//! 4. shows the log file, `stogger doctor`, `stogger doctor --service`,
//!    `stogger emit` and `stogger query` (newest rows, a `--field` filter,
//!    a level/time filter), then checks with psql that the rows are there;
//! 5. stops PostgreSQL — also on failure or Ctrl-C (the cluster is dropped
//!    on every way out of [`demo`]).
//!
//! A failing CLI step does not hide the steps after it: they all run, and
//! the demo exits non-zero at the end naming what failed.

use crate::run::{cargo, heading, interrupted, step, trap_ctrl_c};
use std::path::{Path, PathBuf};
use std::process::Command;
use stogger_tests::pg::{target_dir, Cluster};

/// Runs the demo in the workspace's target directory (`cargo xtask demo`).
pub fn demo() -> Result<(), String> {
    run(&target_dir(), false)
}

/// Runs the demo with its build in `target` (a `CARGO_TARGET_DIR`).
/// `require_pg`: without PostgreSQL the demo fails instead of going on with
/// console and file (CI).
pub fn run(target: &Path, require_pg: bool) -> Result<(), String> {
    trap_ctrl_c();
    build(target)?;
    let bin = target.join("debug");
    let workdir = target.join("demo");
    let _ = std::fs::remove_dir_all(&workdir);
    std::fs::create_dir_all(&workdir).map_err(|e| format!("create {}: {e}", workdir.display()))?;
    let logdir = workdir.join("logs");

    heading("starting a throwaway PostgreSQL under target/pg/");
    let cluster = match Cluster::start("demo") {
        Ok(pg) => {
            pg.create_user_and_db("stogger", "stogger")?;
            println!(
                "    PostgreSQL {} on {}",
                pg.version()?,
                pg.socket_dir().display()
            );
            Some(pg)
        }
        Err(e) if require_pg => return Err(format!("PostgreSQL is required here: {e}")),
        Err(e) => {
            println!("    PostgreSQL is not available, so the demo logs to console and file only:");
            println!("    {e}");
            None
        }
    };
    if interrupted() {
        return Err("interrupted".into());
    }

    let configure = |cmd: &mut Command| {
        cmd.current_dir(&workdir)
            .env("STOGGER_SYSLOG_IDENTIFIER", "demo")
            .env("STOGGER_LOGDIR", &logdir)
            .env("STOGGER_VERBOSE", "true")
            .env("STOGGER_SYSTEMD", "off")
            .env("STOGGER_PLUGIN_DIR", &bin);
        match &cluster {
            Some(pg) => cmd
                .env("STOGGER_ENABLE_POSTGRES", "true")
                .env("STOGGER_POSTGRES_DSN", pg.socket_dsn("stogger", "stogger")),
            None => cmd.env("STOGGER_ENABLE_POSTGRES", "false"),
        };
    };

    let demo_exe = bin.join("examples/demo");
    let mut service = Command::new(&demo_exe);
    configure(&mut service);
    step(
        "running the demo service (console output below is its stderr)",
        &mut service,
    )?;

    heading(&format!(
        "the same events in the log file {}",
        logdir.join("demo.log").display()
    ));
    print_file(&logdir.join("demo.log"));

    let stogger = bin.join("stogger");
    let mut failures: Vec<String> = Vec::new();
    let mut doctor = Command::new(&stogger);
    doctor.arg("doctor");
    configure(&mut doctor);
    keep_going(
        step(
            "stogger doctor: what is configured, found and reachable (exit 0 = healthy)",
            &mut doctor,
        ),
        &mut failures,
    )?;
    let mut doctor_service = Command::new(&stogger);
    doctor_service.arg("doctor").arg("--service").arg(&demo_exe);
    configure(&mut doctor_service);
    keep_going(
        step(
            "stogger doctor --service: the plugin as the demo service finds it (the line above was the CLI's own)",
            &mut doctor_service,
        ),
        &mut failures,
    )?;
    if let Some(pg) = &cluster {
        let mut emit = Command::new(&stogger);
        emit.args([
            "emit",
            "deploy-finished",
            "version=1.4.2",
            "duration_s=42.5",
            "canary=true",
            "--message",
            "Deployed {version} in {duration_s:.0f}s",
        ]);
        configure(&mut emit);
        let mut query = Command::new(&stogger);
        query.args(["query", "--limit", "20"]);
        configure(&mut query);
        let mut field = Command::new(&stogger);
        field.args(["query", "--field", "order_id=12346", "--json"]);
        configure(&mut field);
        let mut errors = Command::new(&stogger);
        errors.args(["query", "--level", "warning", "--since", "10m"]);
        configure(&mut errors);
        for (name, cmd) in [
            (
                "stogger emit: one event from a shell script, typed values (console line on stderr)",
                &mut emit,
            ),
            (
                "stogger query --limit 20: the rows back from PostgreSQL, newest last",
                &mut query,
            ),
            (
                "stogger query --field order_id=12346 --json: JSONB containment, served by the GIN index",
                &mut field,
            ),
            (
                "stogger query --level warning --since 10m: warnings and worse of the last ten minutes",
                &mut errors,
            ),
        ] {
            keep_going(step(name, cmd), &mut failures)?;
        }
        if let Err(e) = check_rows(pg) {
            failures.push(e);
        }
    } else {
        println!("\nTo see the PostgreSQL part, install the server package (Debian: `apt-get install postgresql`) and run `cargo xtask demo` again.");
    }
    let had_cluster = cluster.is_some();
    drop(cluster);
    println!(
        "\ndemo finished{}; files are in {}",
        if had_cluster {
            ": the throwaway PostgreSQL is stopped"
        } else {
            ""
        },
        workdir.display()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("demo steps failed: {}", failures.join("; ")))
    }
}

/// A failed step is noted and the demo goes on; Ctrl-C stops it.
fn keep_going(result: Result<(), String>, failures: &mut Vec<String>) -> Result<(), String> {
    match result {
        Err(e) if interrupted() => Err(e),
        Err(e) => {
            failures.push(e);
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Builds what the demo runs into `target`: the demo service and the
/// plugin in one cargo run (stogger-core without features), the `stogger`
/// command alone in another (its default `postgres` feature would otherwise
/// be unified into the demo service). Target flags apply to every package
/// of a run (`--example demo` alone would build only the example), hence
/// `--lib` for the plugin's cdylib.
pub fn build(target: &Path) -> Result<(), String> {
    step(
        "building the demo service and the PostgreSQL plugin (libstogger_postgres.so)",
        cargo()
            .env("CARGO_TARGET_DIR", target)
            .args(["build", "-p", "stogger-core", "-p", "stogger-postgres"])
            .args(["--lib", "--example", "demo"]),
    )?;
    step(
        "building the stogger command",
        cargo()
            .env("CARGO_TARGET_DIR", target)
            .args(["build", "-p", "stogger-cli"]),
    )?;
    for built in [
        PathBuf::from("examples/demo"),
        PathBuf::from("stogger"),
        PathBuf::from(stogger_core::plugin::library_file_name()),
    ] {
        let path = target.join("debug").join(&built);
        if !path.is_file() {
            return Err(format!("the build did not produce {}", path.display()));
        }
    }
    Ok(())
}

/// Checks with psql that the demo service's and `stogger emit`'s rows are
/// in the table.
fn check_rows(pg: &Cluster) -> Result<(), String> {
    heading("psql: the rows the demo wrote");
    let counts = pg.psql(
        "stogger",
        "SELECT count(*) FILTER (WHERE event = 'demo-finished'), \
                count(*) FILTER (WHERE event = 'deploy-finished'), count(*) \
         FROM stogger_logs",
    )?;
    println!("    demo-finished | deploy-finished | all rows: {counts}");
    match counts.split('|').collect::<Vec<_>>()[..] {
        ["1", "1", total] if total.parse::<u32>().is_ok_and(|n| n > 2) => Ok(()),
        _ => Err(format!(
            "expected the demo service's rows and one emitted row in stogger_logs, found {counts}"
        )),
    }
}

fn print_file(path: &Path) {
    match std::fs::read_to_string(path) {
        Ok(text) => print!("{text}"),
        Err(e) => println!("    cannot read {}: {e}", path.display()),
    }
}
