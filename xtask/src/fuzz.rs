//! `cargo xtask fuzz [--minutes N]`: the property tests with many more
//! cases, then the coverage-guided fuzzers of the parsers (cargo-afl),
//! for about N minutes in all (default 10). See docs/testing.md.
//!
//! Each property runs in timed rounds of fresh random seeds
//! (`STOGGER_TEST_FUZZ_SECONDS`); a failure is shrunk and its seed saved
//! in `tests/proptest-regressions/`, where CI replays it. The AFL targets
//! (`fuzz/src/bin/`) keep their corpus in `target/fuzz/out/` between runs;
//! a crash fails the run and names the file holding the input.

use crate::run::{cargo, heading, interrupted, root, step};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Every property: (test file, test function).
const PROPERTIES: &[(&str, &str)] = &[
    ("prop_template", "templates_render_like_cpython_str_format"),
    ("prop_text", "console_file_and_json_lines_are_terminal_safe"),
    (
        "prop_text",
        "stogger_emit_writes_one_safe_line_to_console_and_file",
    ),
    ("prop_row_postgres", "every_event_is_stored_as_documented"),
    ("prop_journal", "every_field_reaches_journald_as_documented"),
    (
        "prop_config",
        "any_document_and_environment_give_a_config_or_an_error_naming_a_key",
    ),
    (
        "prop_config",
        "init_logging_with_any_bytes_in_the_environment_reports_and_never_panics",
    ),
    (
        "prop_rotation",
        "two_processes_rotating_one_file_lose_and_tear_nothing",
    ),
    ("prop_dsn", "a_dsn_password_never_shows"),
    ("prop_dsn", "any_text_as_a_dsn_never_panics"),
];

/// The AFL targets (`fuzz/src/bin/<name>.rs`, seeds in `fuzz/seeds/<name>`).
const AFL_TARGETS: &[&str] = &["template", "config", "dsn"];

/// Share of the time the properties get when AFL runs too.
const PROPERTY_SHARE: f64 = 0.6;

pub fn fuzz(args: &[String]) -> Result<(), String> {
    crate::run::trap_ctrl_c();
    let minutes: f64 = match args {
        [] => 10.0,
        [flag, n] if flag == "--minutes" => n
            .parse()
            .ok()
            .filter(|m: &f64| *m > 0.0)
            .ok_or_else(|| format!("--minutes takes a positive number, not `{n}`"))?,
        _ => return Err("usage: cargo xtask fuzz [--minutes N]".into()),
    };
    let start = Instant::now();
    step(
        "build the plugin, the CLI and the test binaries",
        cargo().args([
            "build",
            "-p",
            "stogger-postgres",
            "-p",
            "stogger-cli",
            "-p",
            "stogger-tests",
            "--bins",
        ]),
    )?;
    let mut files: Vec<&str> = PROPERTIES.iter().map(|(f, _)| *f).collect();
    files.dedup();
    let mut build_tests = cargo();
    build_tests.args(["test", "-p", "stogger-tests", "--no-run"]);
    for f in &files {
        build_tests.args(["--test", f]);
    }
    step("build the property tests", &mut build_tests)?;
    let afl = afl_available();
    if afl {
        build_afl()?;
    } else {
        heading("cargo-afl is not installed: only the property tests run");
        println!(
            "    install it with `cargo install cargo-afl` (stable Rust; see docs/testing.md)"
        );
    }
    let budget = minutes * 60.0;
    let property_seconds =
        if afl { budget * PROPERTY_SHARE } else { budget } / PROPERTIES.len() as f64;
    let mut outcome = Outcome::default();
    for (file, test) in PROPERTIES {
        heading(&format!(
            "property {file}::{test} for {property_seconds:.0}s"
        ));
        let run = run_property(file, test, property_seconds);
        outcome.record(&format!("{file}::{test}"), run)?;
    }
    if afl {
        let seconds = budget * (1.0 - PROPERTY_SHARE) / AFL_TARGETS.len() as f64;
        for target in AFL_TARGETS {
            heading(&format!("afl {target} for {seconds:.0}s"));
            let run = run_afl(target, seconds).map(|line| vec![line]);
            outcome.record(&format!("afl {target}"), run)?;
        }
    }
    let Outcome { report, failed } = outcome;
    heading(&format!(
        "fuzz summary ({:.0}s)",
        start.elapsed().as_secs_f64()
    ));
    for line in &report {
        println!("    {line}");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// What the campaign found so far: the summary lines, and the errors of
/// the runs that failed.
#[derive(Default)]
struct Outcome {
    report: Vec<String>,
    failed: Vec<String>,
}

impl Outcome {
    /// Notes the result of the run `name` (its summary lines, or `name:
    /// FAILED` and its error); an error when Ctrl-C asked to stop.
    fn record(&mut self, name: &str, run: Result<Vec<String>, String>) -> Result<(), String> {
        match run {
            Ok(lines) => self.report.extend(lines),
            Err(e) => {
                self.report.push(format!("{name}: FAILED"));
                self.failed.push(e);
            }
        }
        if interrupted() {
            return Err("interrupted".into());
        }
        Ok(())
    }
}

/// Runs one property for `seconds`; returns its `property ...: N cases`
/// lines.
fn run_property(file: &str, test: &str, seconds: f64) -> Result<Vec<String>, String> {
    let out = cargo()
        .args(["test", "-q", "-p", "stogger-tests", "--test", file, "--"])
        .args(["--exact", test, "--nocapture"])
        .env(
            "STOGGER_TEST_FUZZ_SECONDS",
            format!("{}", seconds.max(1.0) as u64),
        )
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{file}::{test} failed ({}):\n{stdout}\n{stderr}",
            out.status
        ));
    }
    let lines: Vec<String> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.starts_with("property "))
        .map(str::to_string)
        .collect();
    for l in &lines {
        println!("    {l}");
    }
    if lines.is_empty() {
        return Err(format!(
            "{file}::{test} reported no cases:\n{stdout}\n{stderr}"
        ));
    }
    Ok(lines)
}

fn afl_available() -> bool {
    cargo()
        .args(["afl", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn fuzz_dir() -> std::path::PathBuf {
    root().join("fuzz")
}

fn afl_target_dir() -> std::path::PathBuf {
    root().join("target").join("fuzz")
}

fn build_afl() -> Result<(), String> {
    // The workspace's lock file, so the targets use the same versions
    // (the fuzz crate is not a workspace member; its copy is git-ignored).
    std::fs::copy(root().join("Cargo.lock"), fuzz_dir().join("Cargo.lock"))
        .map_err(|e| format!("copy Cargo.lock into fuzz/: {e}"))?;
    step(
        "build the AFL targets (cargo afl build, target/fuzz)",
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["afl", "build"])
            .current_dir(fuzz_dir())
            .env("CARGO_TARGET_DIR", afl_target_dir()),
    )
}

/// Runs one AFL target for `seconds`; returns its summary line.
fn run_afl(target: &str, seconds: f64) -> Result<String, String> {
    let out_dir = afl_target_dir().join("out").join(target);
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let log = afl_target_dir().join(format!("afl-{target}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["afl", "fuzz", "-V"])
        .arg(format!("{}", seconds.max(1.0) as u64))
        .arg("-i")
        .arg(fuzz_dir().join("seeds").join(target))
        .arg("-o")
        .arg(&out_dir)
        .arg(afl_target_dir().join("debug").join(target))
        // No terminal UI; resume the kept corpus; containers have neither
        // a core_pattern nor a CPU governor to tune.
        .env("AFL_NO_UI", "1")
        .env("AFL_AUTORESUME", "1")
        .env("AFL_SKIP_CPUFREQ", "1")
        .env("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .status()
        .map_err(|e| format!("cannot run cargo afl fuzz: {e}"))?;
    let stats = read_stats(&out_dir.join("default").join("fuzzer_stats"));
    let get = |k: &str| stats.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let execs = get("execs_done").unwrap_or_else(|| "?".into());
    let crashes: u64 = get("saved_crashes")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let line = format!("afl {target}: {execs} executions, {crashes} crashes");
    println!("    {line} (log: {})", log.display());
    if !status.success() {
        return Err(format!(
            "afl {target} failed ({status}); see {}",
            log.display()
        ));
    }
    if crashes > 0 {
        return Err(format!(
            "afl {target}: {crashes} crashing inputs in {}",
            out_dir.join("default").join("crashes").display()
        ));
    }
    Ok(line)
}

fn read_stats(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}
