//! Calls `init_logging()` once, with the configuration of its working
//! directory and environment, and reports on stdout what it returned:
//! `ok` and one `warning: <detail>` line per configuration warning (exit
//! 0), or `error: <message>` (exit 2). A panic exits 101. Used by the
//! configuration property test (`tests/tests/prop_config.rs`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let capture = stogger_core::testing::capture_all();
    match stogger_core::init_logging() {
        Ok(guard) => {
            println!("ok");
            for event in capture.events() {
                if event.name() == "config-warning" {
                    let detail = event.get("detail").map(|v| v.to_string());
                    println!("warning: {}", detail.unwrap_or_default());
                }
            }
            // Exit without the shutdown: a configured drain deadline is not
            // what this probe is about.
            std::mem::forget(guard);
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::from(2)
        }
    }
}
