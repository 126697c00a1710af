//! Test harness shared by the end-to-end tests, `cargo xtask` and the
//! benchmarks: a throwaway PostgreSQL cluster, a pgbouncer in front of it,
//! a private journald, a TCP proxy that can black-hole a server, and
//! helpers for running child processes.

pub mod journald;
pub mod pg;
pub mod pgbouncer;
pub mod proxy;
pub mod service;
