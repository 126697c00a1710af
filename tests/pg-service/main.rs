//! The service the PostgreSQL end-to-end tests run as a child process.
//!
//! Built twice by its package (tests/pg-service, outside the workspace):
//! `stogger-pg-service` without features (the plugin is loaded from
//! `libstogger_postgres.so` at run time) and `stogger-static-service` with
//! feature `postgres` (linked in).
//! Configuration comes from the environment like any service.
//!
//! Usage: `stogger-pg-service <scenario> [n]`. Every scenario first prints
//! `plugin-status: <what discovery found>` on stdout.

use std::io::{BufRead, Write};
use std::process::ExitCode;

/// The seed's example: a payment inside an instrumented function that fails.
#[tracing::instrument]
fn process_payment(order_id: u64, amount: f64) {
    tracing::info!(amount, "payment-started");
    let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "gateway reset");
    let err = PaymentError(cause);
    tracing::error!(
        error = &err as &dyn std::error::Error,
        user_id = 123,
        "payment-failed"
    );
}

#[derive(Debug)]
struct PaymentError(std::io::Error);

impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment declined")
    }
}

impl std::error::Error for PaymentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn seed_events() {
    tracing::info!(
        user_id = 123,
        username = "alice",
        _replace_msg = "User {username} logged in",
        "user-login"
    );
    tracing::info!(user_id = 456, username = "bob", "user-login");
    let mut scope = stogger_core::log_scope("order-processing");
    scope.add("order_id", 12345);
    tracing::info!(items = 3, "order-received");
    process_payment(12345, 99.99);
    tracing::warn!(carrier = "ups", delayed = true, "order-shipped");
    drop(scope);
}

fn print_status() {
    let status = match stogger_core::config::load(&[]) {
        Ok(loaded) => stogger_core::plugin::plugin_status(&loaded.config).to_string(),
        Err(e) => format!("config error: {e}"),
    };
    println!("plugin-status: {status}");
    let _ = std::io::stdout().flush();
}

fn count(arg: Option<&str>) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(arg.ok_or("missing count")?.parse()?)
}

/// `VmHWM` (peak resident set) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn run(scenario: &str, arg: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let _guard = stogger_core::init_logging()?;
    let init_ms = started.elapsed().as_millis();
    print_status();
    println!("init-ms: {init_ms}");
    match scenario {
        // The seed's events: a login, a scope, an instrumented function with an error.
        "seed" => seed_events(),
        // init_logging twice in one process.
        "reinit" => {
            tracing::info!("first-config");
            let _second = stogger_core::init_logging()?;
            tracing::info!("second-config");
        }
        // One event per level and two of a database module: which rows
        // appear is the filters' decision.
        "levels" => {
            tracing::trace!("trace-event");
            tracing::debug!("debug-event");
            tracing::info!("info-event");
            tracing::warn!("warning-event");
            stogger_core::critical!("critical-event");
            tracing::debug!(target: "svc::db", "db-debug");
            tracing::warn!(target: "svc::db", "db-warning");
        }
        // Values PostgreSQL cannot store as given, then an ordinary event.
        "special" => {
            let big = "x".repeat(2 * 1024 * 1024);
            let _scope = stogger_core::log_scope("sc\0pe");
            tracing::info!(
                nul = "a\0b",
                nan = f64::NAN,
                inf = f64::INFINITY,
                ninf = f64::NEG_INFINITY,
                big = big.as_str(),
                "{}",
                "nul\0name"
            );
            tracing::info!(n = 1, "after-special");
        }
        // n events, then exit without dropping the guard: only what was
        // written before each log call returned (sync mode) survives.
        "bulk-exit" => {
            for i in 0..count(arg)? {
                tracing::info!(i, "bulk-event");
            }
            std::process::exit(0);
        }
        // n events, then a normal exit (the guard is dropped).
        "bulk" => {
            for i in 0..count(arg)? {
                tracing::info!(i, "bulk-event");
            }
        }
        // n events with a 64 KiB field; the peak RSS (KiB) before and after.
        "big-fields" => {
            let big = "x".repeat(64 * 1024);
            println!("hwm-before: {}", peak_rss_kib());
            for i in 0..count(arg)? {
                tracing::info!(i, big = big.as_str(), "big-event");
            }
            println!("hwm-after: {}", peak_rss_kib());
        }
        // An event, `ready` on stdout, wait for a line on stdin, another event.
        "interactive" => {
            tracing::info!(phase = 1, "before-db");
            println!("ready");
            std::io::stdout().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            tracing::info!(phase = 2, "after-db");
        }
        other => return Err(format!("unknown scenario {other}").into()),
    }
    Ok(())
}

pub fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_default();
    let arg = args.next();
    match run(&scenario, arg.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("service error: {e}");
            ExitCode::from(2)
        }
    }
}
