//! `cargo xtask ci` and `cargo xtask test`.

use crate::run::{cargo, heading, step};
use std::process::Command;
use std::time::Instant;
use stogger_tests::pg::is_root;
use stogger_tests::pgbouncer;

/// fmt, clippy, plugin build, all tests, then the fresh-clone checks and
/// the package installed for real: exactly what CI runs.
pub fn ci() -> Result<(), String> {
    crate::run::trap_ctrl_c();
    let start = Instant::now();
    step(
        "format check (cargo fmt --check)",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    step(
        "lint (cargo clippy -D warnings)",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    test(&[])?;
    crate::fresh::fresh()?;
    crate::install_test::install_test()?;
    println!(
        "\nxtask ci: all checks passed in {:.0}s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds the plugin cdylib (the tests load it from target/debug) and runs
/// every test of the workspace. Tests that need PostgreSQL start their own
/// throwaway cluster; those that need journald start a private one; those
/// that need pgbouncer start one (installed first when missing, as root).
pub fn test(extra: &[String]) -> Result<(), String> {
    crate::run::trap_ctrl_c();
    ensure_pgbouncer()?;
    step(
        "build the PostgreSQL plugin (libstogger_postgres.so) and the binaries",
        cargo().args(["build", "-p", "stogger-postgres", "-p", "stogger-cli"]),
    )?;
    // Every test binary runs even after one fails, so a CI log shows all
    // the failures of a run, not only the first.
    step(
        "tests (cargo test --workspace --no-fail-fast)",
        cargo()
            .args(["test", "--workspace", "--no-fail-fast"])
            .args(extra),
    )
}

/// The transaction-pooling tests start a private pgbouncer: install the
/// Debian package when it is missing and we are root (CI starts from a
/// fresh machine and runs nothing but `cargo xtask ci`). The package's own
/// service is stopped and disabled again: the tests run their own.
/// Without root, say what to do; those tests then fail with the same hint.
pub fn ensure_pgbouncer() -> Result<(), String> {
    if pgbouncer::find_binary().is_ok() {
        return Ok(());
    }
    if !is_root() {
        heading("pgbouncer is missing");
        println!(
            "    the pgbouncer tests will fail: {}",
            pgbouncer::INSTALL_HINT
        );
        return Ok(());
    }
    let install = || {
        let mut c = Command::new("apt-get");
        c.args(["install", "-y", "--no-install-recommends", "pgbouncer"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    if step(
        "install pgbouncer (apt-get; the transaction-pooling tests need it)",
        &mut install(),
    )
    .is_err()
    {
        // A fresh machine may have no package lists yet.
        step(
            "apt-get update",
            Command::new("apt-get")
                .arg("update")
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        step("install pgbouncer (apt-get, after update)", &mut install())?;
    }
    if Command::new("systemctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let _ = Command::new("systemctl")
            .args(["disable", "--now", "pgbouncer"])
            .output();
    }
    pgbouncer::find_binary().map(|_| ())
}
