//! A small service the end-to-end tests run as a child process, so that what
//! they check is what a real process writes to stderr and to its log file.
//! Usage: `stogger-test-service <scenario>`; configuration comes from the
//! environment and the working directory like any service.

use std::process::ExitCode;

fn readme_lines() {
    tracing::info!(
        user_id = 123,
        username = "alice",
        ip = "192.168.1.1",
        _replace_msg = "User {username} logged in from {ip}",
        "user-login"
    );
    tracing::info!(
        order_id = 12345,
        amount = 99.99,
        currency = "USD",
        customer_id = 67890,
        "order-charged"
    );
}

fn log_every_level() {
    tracing::trace!("trace-event");
    tracing::debug!("debug-event");
    tracing::info!("info-event");
    tracing::warn!("warning-event");
    stogger_core::critical!("critical-event");
}

fn run(scenario: &str) -> Result<(), Box<dyn std::error::Error>> {
    match scenario {
        // The README's quick start, verbatim.
        "readme" => {
            let _guard = stogger_core::init_logging()?;
            readme_lines();
        }
        // Two-phase start: an event before the configuration is known, then one after.
        "early" => {
            let _early = stogger_core::init_early_logging()?;
            tracing::info!("early-event");
            let _guard = stogger_core::init_logging()?;
            tracing::info!("configured-event");
        }
        // init_logging twice: the second configuration replaces the first.
        "reinit" => {
            let first = stogger_core::Stogger::builder()
                .syslog_identifier("first")
                .init()?;
            tracing::info!("to-first");
            let _second = stogger_core::Stogger::builder()
                .syslog_identifier("second")
                .init()?;
            tracing::info!("to-second");
            drop(first); // dropping an old guard shuts down whatever is current
            tracing::info!("after-shutdown");
        }
        // The user's own registry with stogger's layer plus another layer.
        "own-registry" => {
            use tracing_subscriber::prelude::*;
            tracing_subscriber::registry()
                .with(stogger_core::layer())
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stdout)
                        .without_time(),
                )
                .init();
            let _guard = stogger_core::init_logging()?;
            tracing::info!(n = 1, "composed-event");
        }
        // Records from the `log` crate.
        "log-bridge" => {
            let _guard = stogger_core::init_logging()?;
            log::warn!("from the log crate");
        }
        // A panic: the panic is logged and the file flushed before the process dies.
        "panic" => {
            let _guard = stogger_core::init_logging()?;
            let _scope = stogger_core::log_scope("doomed-job");
            tracing::info!("before-panic");
            panic!("worker exploded");
        }
        // One event per level: which ones appear is the filters' decision.
        "levels" => {
            let _guard = stogger_core::init_logging()?;
            log_every_level();
        }
        other => return Err(format!("unknown scenario {other}").into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    match run(&scenario) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("service error: {e}");
            ExitCode::from(2)
        }
    }
}
