//! `cargo xtask ci` and `cargo xtask test`.

use crate::run::{cargo, step};
use std::time::Instant;

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
/// throwaway cluster; those that need journald start a private one.
pub fn test(extra: &[String]) -> Result<(), String> {
    crate::run::trap_ctrl_c();
    step(
        "build the PostgreSQL plugin (libstogger_postgres.so) and the binaries",
        cargo().args(["build", "-p", "stogger-postgres", "-p", "stogger-cli"]),
    )?;
    step(
        "tests (cargo test --workspace)",
        cargo().args(["test", "--workspace"]).args(extra),
    )
}
