//! `cargo xtask fresh`: what a new user gets from a clean clone, checked in
//! an empty target directory (`target/ci-fresh`, removed first) so that an
//! artefact left by another build can never hide a broken build step:
//!
//! 1. `cargo xtask demo`'s own build and run, against a throwaway
//!    PostgreSQL (required here), rows checked with psql;
//! 2. the `stogger` command built alone (`cargo build -p stogger-cli`, the
//!    demo's second cargo run): a copy in a directory without any plugin
//!    and with no plugin variables is healthy in `doctor` and writes its
//!    `emit` row (checked with psql) — it carries the plugin in;
//! 3. the command built without its `postgres` feature: `emit` says that
//!    it cannot reach PostgreSQL without the plugin, and why.
//!
//! Debug builds: the same profile as the tests, and the demo's. Only what
//! the demo needs is built (no test targets), so this takes a few minutes
//! on two cores.

use crate::run::{capture, cargo, clean_command, expect, heading, step, Captured};
use std::path::{Path, PathBuf};
use stogger_tests::pg::{target_dir, Cluster};

/// The empty target directory of this check.
pub fn fresh_target() -> PathBuf {
    target_dir().join("ci-fresh")
}

/// Runs the three checks.
pub fn fresh() -> Result<(), String> {
    let target = fresh_target();
    heading(&format!("an empty target directory: {}", target.display()));
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .map_err(|e| format!("cannot empty {}: {e}", target.display()))?;
    }
    crate::demo::run(&target, true)?;
    cli_alone(&target)?;
    cli_without_postgres_feature(&target)
}

/// A copy of `exe` in `dir/bin/` (a directory holding no plugin).
fn isolated_copy(exe: &Path, dir: &Path) -> Result<PathBuf, String> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("create {}: {e}", bin.display()))?;
    let name = exe.file_name().ok_or("no file name")?;
    let copy = bin.join(name);
    std::fs::copy(exe, &copy).map_err(|e| format!("copy {}: {e}", exe.display()))?;
    Ok(copy)
}

/// Runs `stogger args...` in `dir` with PostgreSQL enabled on `dsn` and no
/// other configuration.
fn stogger(exe: &Path, dir: &Path, dsn: &str, args: &[&str]) -> Result<Captured, String> {
    capture(
        clean_command(exe)
            .args(args)
            .current_dir(dir)
            .env("STOGGER_ENABLE_POSTGRES", "true")
            .env("STOGGER_POSTGRES_DSN", dsn)
            .env("STOGGER_SYSLOG_IDENTIFIER", "fresh-check")
            .env("STOGGER_LOGDIR", dir.join("logs"))
            .env("NO_COLOR", "1"),
    )
}

/// A scratch directory under `target`, emptied first.
fn scratch(target: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = target.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn cli_alone(target: &Path) -> Result<(), String> {
    step(
        "the stogger command built alone (cargo build -p stogger-cli)",
        cargo()
            .env("CARGO_TARGET_DIR", target)
            .args(["build", "-p", "stogger-cli"]),
    )?;
    heading("the command alone: doctor and emit against a throwaway PostgreSQL, no plugin file anywhere near");
    let dir = scratch(target, "cli-alone")?;
    let exe = isolated_copy(&target.join("debug/stogger"), &dir)?;
    let pg = Cluster::start("cli-alone")?;
    pg.create_user_and_db("stogger", "stogger")?;
    let dsn = pg.socket_dsn("stogger", "stogger");

    let doctor = stogger(&exe, &dir, &dsn, &["doctor"])?;
    print!("{}", doctor.stdout);
    expect(doctor.code == Some(0), "`stogger doctor` exits 0", &doctor)?;
    expect(
        doctor
            .stdout
            .contains("this stogger command: linked in (feature `postgres`)"),
        "doctor says the plugin is linked into the command",
        &doctor,
    )?;

    let emit = stogger(&exe, &dir, &dsn, &["emit", "cli-alone-check", "n=1"])?;
    expect(emit.code == Some(0), "`stogger emit` exits 0", &emit)?;
    let rows = pg.psql(
        "stogger",
        "SELECT count(*), min(data->>'n') FROM stogger_logs WHERE event = 'cli-alone-check'",
    )?;
    expect(rows == "1|1", "psql finds the emitted row", &emit)
}

fn cli_without_postgres_feature(target: &Path) -> Result<(), String> {
    step(
        "the stogger command without its postgres feature (cargo build -p stogger-cli --no-default-features)",
        cargo()
            .env("CARGO_TARGET_DIR", target)
            .args(["build", "-p", "stogger-cli", "--no-default-features"]),
    )?;
    heading("without the feature and without the plugin, emit says what it cannot do");
    let dir = scratch(target, "cli-no-postgres")?;
    let exe = isolated_copy(&target.join("debug/stogger"), &dir)?;
    let dsn = "postgresql://stogger:@/stogger?host=/nonexistent";
    let emit = stogger(&exe, &dir, dsn, &["emit", "no-plugin-check"])?;
    print!("{}", emit.stderr);
    expect(emit.code == Some(1), "`stogger emit` exits 1", &emit)?;
    expect(
        emit.stderr.contains("built without its `postgres` feature")
            && emit.stderr.contains("stogger-postgres-not-available"),
        "it names the missing plugin and the missing feature",
        &emit,
    )?;
    expect(
        emit.stderr.contains("no-plugin-check"),
        "the console still shows the event",
        &emit,
    )
}
