//! `cargo xtask pg start|stop|status`: a throwaway PostgreSQL for manual use.

use std::path::PathBuf;
use stogger_tests::pg::{target_dir, Cluster};

fn pointer() -> PathBuf {
    target_dir().join("pg").join("dev.cluster")
}

/// Runs the `pg` subcommand.
pub fn pg(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("start") => start(),
        Some("stop") => stop(),
        Some("status") | None => status(),
        Some(other) => Err(format!(
            "unknown pg command `{other}` (start, stop, status)"
        )),
    }
}

fn start() -> Result<(), String> {
    if pointer().exists() {
        return status();
    }
    println!(
        "starting a throwaway PostgreSQL under {}",
        target_dir().join("pg").display()
    );
    let pg = Cluster::start("dev")?;
    pg.create_user_and_db("stogger", "stogger")?;
    let dsn = pg.socket_dsn("stogger", "stogger");
    let version = pg.version()?;
    let base = pg.detach()?;
    std::fs::write(pointer(), base.display().to_string()).map_err(|e| e.to_string())?;
    println!("PostgreSQL {version} is running; stop it with `cargo xtask pg stop`");
    println!("  export STOGGER_ENABLE_POSTGRES=true STOGGER_POSTGRES_DSN='{dsn}'");
    println!(
        "  export STOGGER_PLUGIN_DIR={}",
        target_dir().join("debug").display()
    );
    Ok(())
}

fn current() -> Result<Cluster, String> {
    let base = std::fs::read_to_string(pointer())
        .map_err(|_| "no cluster started by `cargo xtask pg start`".to_string())?;
    Cluster::reattach(&PathBuf::from(base.trim()))
}

fn stop() -> Result<(), String> {
    let pg = current()?;
    drop(pg);
    let _ = std::fs::remove_file(pointer());
    println!("stopped and removed the throwaway PostgreSQL");
    Ok(())
}

fn status() -> Result<(), String> {
    let pg = current()?;
    let result = pg.version().map(|v| {
        println!(
            "PostgreSQL {v} running on port {} (socket dir {})",
            pg.port(),
            pg.socket_dir().display()
        );
        println!("  DSN: {}", pg.socket_dsn("stogger", "stogger"));
    });
    pg.detach()?;
    result
}
