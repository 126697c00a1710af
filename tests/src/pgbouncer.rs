//! A throwaway pgbouncer in front of a throwaway cluster ([`crate::pg`]),
//! in transaction pooling mode: what many services sharing one database
//! run in production, and the mode that keeps no session state between
//! transactions (no prepared statements in Debian's pgbouncer 1.18, no
//! lasting `SET`, no advisory locks held across transactions).
//!
//! Private configuration and files in a temporary directory, a free
//! loopback port, clients authenticated with SCRAM against a user list
//! the test gives, server connections over the cluster's unix socket.
//! Stopped (SIGTERM to its pid) and removed on drop. As root it runs as
//! the `postgres` user (pgbouncer refuses to run as root).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::pg::{is_root, Cluster};

/// How to get pgbouncer when it is missing; part of every error.
pub const INSTALL_HINT: &str = "install pgbouncer (Debian/Ubuntu: `apt-get install -y pgbouncer`; \
     `cargo xtask test` and `cargo xtask ci` install it when run as root), or point \
     STOGGER_TEST_PGBOUNCER at the binary";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running pgbouncer.
#[derive(Debug)]
pub struct Bouncer {
    dir: PathBuf,
    port: u16,
    pid: Option<i32>,
}

/// The pgbouncer binary: `STOGGER_TEST_PGBOUNCER`, `/usr/sbin/pgbouncer`,
/// then `PATH`.
pub fn find_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("STOGGER_TEST_PGBOUNCER") {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(format!(
                "STOGGER_TEST_PGBOUNCER={} does not exist; {INSTALL_HINT}",
                p.display()
            ))
        };
    }
    let mut candidates = vec![PathBuf::from("/usr/sbin/pgbouncer")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("pgbouncer")));
    }
    candidates
        .into_iter()
        .find(|p| p.exists())
        .ok_or_else(|| format!("pgbouncer not found; {INSTALL_HINT}"))
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn chown(path: &Path, user: Option<&str>) -> Result<(), String> {
    if let Some(user) = user {
        let out = Command::new("chown")
            .arg(user)
            .arg(path)
            .output()
            .map_err(|e| format!("chown: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "chown {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

/// `"` doubled, for a quoted field of pgbouncer's user list.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl Bouncer {
    /// Starts pgbouncer in transaction pooling mode for every database of
    /// `pg`, with `pool_size` server connections per database and user at
    /// most, letting in `users` (name, password) with SCRAM.
    pub fn start(pg: &Cluster, users: &[(&str, &str)], pool_size: u32) -> Result<Bouncer, String> {
        let binary = find_binary()?;
        let run_as = is_root().then_some("postgres");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("stogger-pgb-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        chown(&dir, run_as)?;
        let port = free_port()?;
        let userlist = dir.join("userlist.txt");
        let list: String = users
            .iter()
            .map(|(u, p)| format!("{} {}\n", quoted(u), quoted(p)))
            .collect();
        fs::write(&userlist, list).map_err(|e| e.to_string())?;
        chown(&userlist, run_as)?;
        let admin = users.first().map(|(u, _)| *u).unwrap_or("postgres");
        let ini = dir.join("pgbouncer.ini");
        let config = format!(
            "[databases]\n\
             * = host={socket} port={pg_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = scram-sha-256\n\
             auth_file = {userlist}\n\
             admin_users = {admin}\n\
             pool_mode = transaction\n\
             default_pool_size = {pool_size}\n\
             max_client_conn = 500\n\
             max_db_connections = {pool_size}\n\
             server_lifetime = 3600\n\
             logfile = {log}\n\
             pidfile = {pid}\n",
            socket = pg.socket_dir().display(),
            pg_port = pg.port(),
            userlist = userlist.display(),
            log = dir.join("pgbouncer.log").display(),
            pid = dir.join("pgbouncer.pid").display(),
        );
        fs::write(&ini, config).map_err(|e| e.to_string())?;
        chown(&ini, run_as)?;
        let mut cmd = match run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        let out = cmd
            .arg("-d")
            .arg(&ini)
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut bouncer = Bouncer {
            dir,
            port,
            pid: None,
        };
        if !out.status.success() {
            return Err(format!(
                "pgbouncer did not start ({}): {}{}\nlog: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                bouncer.log()
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            bouncer.pid = fs::read_to_string(bouncer.dir.join("pgbouncer.pid"))
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if bouncer.pid.is_some() && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(bouncer);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "pgbouncer is not listening on 127.0.0.1:{port} after 15 s; log: {}",
                    bouncer.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A TCP DSN through pgbouncer: `postgresql://user:password@127.0.0.1:<port>/db`.
    pub fn dsn(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// pgbouncer's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid.as_raw_nonzero().get()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Starts pgbouncer or panics with a message that says how to get it
/// (tests that need it fail, never pass silently, without it).
pub fn bouncer_or_fail(pg: &Cluster, users: &[(&str, &str)], pool_size: u32) -> Bouncer {
    match Bouncer::start(pg, users, pool_size) {
        Ok(b) => b,
        Err(e) => panic!("this test needs pgbouncer and could not start it: {e}"),
    }
}
