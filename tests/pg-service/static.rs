//! `stogger-static-service`: the service of `main.rs`, built with the
//! `postgres` feature (a file of its own: Cargo wants one per target).

#[path = "main.rs"]
mod service;

fn main() -> std::process::ExitCode {
    service::main()
}
