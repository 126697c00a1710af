//! `cargo xtask <command>`: everything a developer or CI runs, in Rust so it
//! works the same on every machine with cargo.
//!
//! - `ci`: fmt check, clippy `-D warnings`, build of the plugin cdylib, all
//!   tests, then `fresh` and `install-test`.
//! - `test`: the tests only (after building the plugin cdylib they load).
//! - `demo`: the guided tour (throwaway PostgreSQL, demo service, doctor, query).
//! - `fresh`: the demo and the `stogger` command built alone, in an empty
//!   target directory.
//! - `dist`: release packages (`.deb`, `.tar.gz`) in `target/dist/`.
//! - `install-test`: the `.deb` installed, used and removed (root).
//! - `pg start|stop|status`: a throwaway PostgreSQL under `target/pg/` for manual use.
//! - `bench [--quick]`: the benchmarks, each as a ratio against a baseline (BENCHMARKS.md).
//! - `fuzz [--minutes N]`: property tests with many more cases, and the AFL fuzzers (docs/testing.md).

mod bench;
mod bench_scale;
mod ci;
mod demo;
mod dist;
mod fresh;
mod fuzz;
mod install_test;
mod pg;
mod run;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci                 everything CI checks: fmt, clippy, plugin build, all tests,
                     then fresh and install-test
  test [ARGS...]     build the plugin and run the tests (ARGS go to cargo test)
  demo               start a throwaway PostgreSQL, run the demo service, show doctor and query
  fresh              in an empty target/ci-fresh: the demo (PostgreSQL required) and the
                     stogger command built alone, with and without its postgres feature
  dist               release packages in target/dist/: stogger_<version>_<arch>.deb and
                     stogger-<version>-<target>.tar.gz
  install-test       (root) dist, dpkg -i, a featureless service writing rows through the
                     installed plugin, man pages, --help, dpkg -r
  pg start|stop|status
                     a throwaway PostgreSQL under target/pg/dev for trying things by hand
  bench [--quick]    release build, then every benchmark against its baseline;
                     table on stdout, target/bench/results.json (see BENCHMARKS.md)
  fuzz [--minutes N] the property tests with many more cases, then the AFL fuzzers of
                     the parsers (cargo-afl), N minutes in all (default 10; docs/testing.md)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::ci(),
        Some("test") => ci::test(&args[1..]),
        Some("demo") => demo::demo(),
        Some("fresh") => fresh::fresh(),
        Some("dist") => dist::dist().map(|_| ()),
        Some("install-test") => install_test::install_test(),
        Some("pg") => pg::pg(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
