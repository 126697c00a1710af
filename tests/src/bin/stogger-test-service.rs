//! A small service the end-to-end tests run as a child process, so that what
//! they check is what a real process writes to stderr and to its log file.
//! Usage: `stogger-test-service <scenario>`; configuration comes from the
//! environment and the working directory like any service.

use std::io::{BufRead, Write};
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

/// Events of two modules (targets), for directives to tell apart.
fn log_modules() {
    tracing::info!(target: "svc::noisy", "noisy-info");
    tracing::warn!(target: "svc::noisy", "noisy-warning");
    tracing::info!(target: "svc::core", "core-info");
    tracing::debug!(target: "svc::core::db", "db-debug");
}

/// Waits for a line on stdin after saying `ready` on stdout.
fn wait_for_go(what: &str) -> std::io::Result<()> {
    println!("ready {what}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(())
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
            drop(first); // replaced already: nothing left for it to close
            tracing::info!("after-first-guard-dropped");
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
        // A user's fmt layer at debug (on stdout) next to stogger's layer:
        // stogger's own filters must not change what fmt gets, while stogger
        // runs and after it shut down.
        "composed" => {
            use tracing_subscriber::prelude::*;
            let fmt = tracing_subscriber::fmt::layer()
                .with_writer(std::io::stdout)
                .with_ansi(false)
                .without_time()
                .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG);
            tracing_subscriber::registry()
                .with(fmt)
                .with(stogger_core::layer())
                .init();
            tracing::debug!("debug-before-init");
            let guard = stogger_core::init_logging()?;
            log_every_level();
            log_modules();
            log::debug!("log-crate-debug");
            log::info!("log-crate-info");
            drop(guard);
            tracing::debug!("debug-after-shutdown");
            tracing::error!("error-after-shutdown");
        }
        // Filters changed at run time from another thread.
        "set-filter" => {
            let _guard = stogger_core::init_logging()?;
            let (go, wait) = std::sync::mpsc::channel::<()>();
            let (logged, before_logged) = std::sync::mpsc::channel::<()>();
            let worker = std::thread::spawn(move || {
                tracing::debug!("worker-debug-before");
                let _ = logged.send(());
                let _ = wait.recv();
                tracing::debug!("worker-debug-after");
            });
            // The worker's first event comes before the filter changes.
            let _ = before_logged.recv();
            tracing::debug!("main-debug-before");
            std::thread::spawn(|| {
                if let Err(e) = stogger_core::set_filter("debug,svc::noisy=loud") {
                    println!("refused: {e}");
                }
                stogger_core::set_filter("info,stogger_test_service=debug,svc::noisy=warn")
            })
            .join()
            .map_err(|_| "the filter thread panicked")??;
            tracing::debug!("main-debug-after");
            let _ = go.send(());
            let _ = worker.join();
            log_modules();
            stogger_core::set_target_filter(stogger_core::Output::File, "trace")?;
            tracing::trace!("file-only-trace");
        }
        // reload_on_sighup: the test rewrites stogger.toml and sends SIGHUP
        // between the two events.
        "reload" => {
            let _guard = stogger_core::init_logging()?;
            tracing::debug!("debug-before-reload");
            wait_for_go("for SIGHUP")?;
            tracing::debug!("debug-after-reload");
            tracing::info!("info-after-reload");
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
