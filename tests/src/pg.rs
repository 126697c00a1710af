//! A throwaway PostgreSQL cluster under `target/pg/`, started from the
//! machine's PostgreSQL server binaries (`initdb`, `pg_ctl`).
//!
//! Used by the end-to-end tests, `cargo xtask demo|pg|bench`. The cluster
//! listens on a private unix socket directory and a free loopback port,
//! with `trust` for local socket connections and `scram-sha-256` for TCP (so
//! wrong-password cases can be tested). It is stopped and removed on drop.
//!
//! As root, `initdb` refuses to run, so the cluster runs as the `postgres`
//! system user (through `runuser`) with a data directory that user owns.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Password of the `postgres` superuser for TCP connections.
pub const SUPERUSER_PASSWORD: &str = "stogger-test-pw";

/// How to install the server when it is missing; part of every error.
pub const INSTALL_HINT: &str =
    "install the PostgreSQL server package (Debian/Ubuntu: `apt-get install postgresql`), \
     or point STOGGER_TEST_PG_BINDIR at a directory holding initdb and pg_ctl";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    bindir: PathBuf,
    base: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    run_as: Option<String>,
    running: bool,
}

/// Finds the directory holding `initdb` and `pg_ctl`: `STOGGER_TEST_PG_BINDIR`,
/// then the newest `/usr/lib/postgresql/<version>/bin`, then `PATH`.
pub fn find_bindir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("STOGGER_TEST_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
        return Err(format!(
            "STOGGER_TEST_PG_BINDIR={} has no initdb; {INSTALL_HINT}",
            dir.display()
        ));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Ok(dir);
            }
        }
    }
    Err(format!(
        "no PostgreSQL server binaries (initdb, pg_ctl) found; {INSTALL_HINT}"
    ))
}

/// The workspace's target directory (`CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target");
    // `tests/../target` works but reads badly in every path we print.
    dir.canonicalize().unwrap_or(dir)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY-free check: the effective uid is in /proc/self/status.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Creates `dir` afresh, owned by `user` when one is given.
fn make_dir_for(dir: &Path, user: Option<&str>) -> Result<(), String> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    if let Some(user) = user {
        check("chown", Command::new("chown").arg(user).arg(dir).output())?;
    }
    Ok(())
}

/// Whether `user` can reach and write `dir` (every parent must be searchable).
fn user_can_write(user: &str, dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", user, "--", "test", "-w"])
        .arg(dir)
        .current_dir("/")
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn check(what: &str, out: std::io::Result<Output>) -> Result<Output, String> {
    let out = out.map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Cluster {
    /// Initialises and starts a new cluster named `name` (used in its
    /// directory name). Errors say how to get PostgreSQL when it is missing.
    pub fn start(name: &str) -> Result<Cluster, String> {
        let bindir = find_bindir()?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{name}-{}-{n}", std::process::id());
        let run_as = is_root().then(|| "postgres".to_string());
        let mut base = target_dir().join("pg").join(&id);
        make_dir_for(&base, run_as.as_deref())?;
        if let Some(user) = run_as.as_deref() {
            if !user_can_write(user, &base) {
                // The checkout lies below a directory the postgres user
                // cannot enter (e.g. a 0700 temp dir): keep the data in the
                // shared temp directory instead of target/.
                let _ = fs::remove_dir_all(&base);
                base = std::env::temp_dir().join(format!("stogger-pg-data-{id}"));
                make_dir_for(&base, run_as.as_deref())?;
            }
        }
        let base = base.canonicalize().map_err(|e| e.to_string())?;
        // Unix socket paths are limited to ~107 bytes: keep the directory short.
        let socket_dir = std::env::temp_dir().join(format!("stogger-pg-{id}"));
        make_dir_for(&socket_dir, run_as.as_deref())?;
        let mut cluster = Cluster {
            bindir,
            data: base.join("data"),
            base,
            socket_dir,
            port: free_port()?,
            run_as,
            running: false,
        };
        cluster.init()?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bindir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                // The caller's working directory may be closed to that user.
                c.arg("-u").arg(user).arg("--").arg(exe).current_dir("/");
                c
            }
            None => Command::new(exe),
        }
    }

    fn init(&self) -> Result<(), String> {
        let pwfile = self.base.join("pwfile");
        fs::write(&pwfile, SUPERUSER_PASSWORD).map_err(|e| e.to_string())?;
        if let Some(user) = &self.run_as {
            check(
                "chown",
                Command::new("chown").arg(user).arg(&pwfile).output(),
            )?;
        }
        check(
            "initdb",
            self.command("initdb")
                .arg("-D")
                .arg(&self.data)
                .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .arg(format!("--pwfile={}", pwfile.display()))
                .output(),
        )?;
        Ok(())
    }

    /// Starts the server (again, after [`Cluster::stop_server`]) on the same port.
    pub fn start_server(&mut self) -> Result<(), String> {
        let opts = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=50",
            self.socket_dir.display(),
            self.port
        );
        check(
            "pg_ctl start",
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(self.base.join("server.log"))
                .args(["-o", &opts, "-w", "-t", "30", "start"])
                .stdin(Stdio::null())
                .output(),
        )
        .map_err(|e| format!("{e}\nserver log: {}", self.server_log()))?;
        self.running = true;
        Ok(())
    }

    /// Stops the server (fast shutdown), keeping the data.
    pub fn stop_server(&mut self) -> Result<(), String> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        check(
            "pg_ctl stop",
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "stop"])
                .stdin(Stdio::null())
                .output(),
        )
        .map(|_| ())
    }

    /// Kills the server as a crash does: SIGKILL to the postmaster and every
    /// process it started (found through `/proc`), no shutdown; the data
    /// stays, and [`Cluster::start_server`] runs crash recovery.
    pub fn kill_server(&mut self) -> Result<(), String> {
        if !self.running {
            return Ok(());
        }
        let pidfile = self.data.join("postmaster.pid");
        let text =
            fs::read_to_string(&pidfile).map_err(|e| format!("read {}: {e}", pidfile.display()))?;
        let postmaster: i32 = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| format!("no pid in {}", pidfile.display()))?;
        let children: Vec<i32> = fs::read_dir("/proc")
            .map_err(|e| e.to_string())?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| parent_of(*pid) == Some(postmaster))
            .collect();
        for pid in std::iter::once(postmaster).chain(children.iter().copied()) {
            // SAFETY: kill(2) with a pid this cluster started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Wait (bounded) until they are gone, so the restart finds no
        // backend still attached to the old shared memory.
        for _ in 0..500 {
            let alive = std::iter::once(postmaster)
                .chain(children.iter().copied())
                .any(|pid| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid));
            if !alive {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // A killed postmaster may stay a zombie (its reaper is not ours),
        // and a zombie's pid still "exists" for the next postmaster's
        // lock-file check: remove the lock file as a real crash would have
        // left no process behind it.
        let _ = fs::remove_file(&pidfile);
        let _ = fs::remove_file(self.socket_dir.join(format!(".s.PGSQL.{}.lock", self.port)));
        self.running = false;
        Ok(())
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The unix socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server's log so far (for error messages).
    pub fn server_log(&self) -> String {
        fs::read_to_string(self.base.join("server.log")).unwrap_or_default()
    }

    /// A socket DSN in the seed's form: `postgresql://user:@/db?host=<dir>&port=<port>`.
    pub fn socket_dsn(&self, user: &str, db: &str) -> String {
        format!(
            "postgresql://{user}:@/{db}?host={}&port={}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// A TCP DSN with a password: `postgresql://user:password@127.0.0.1:<port>/db`.
    pub fn tcp_dsn(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Runs SQL as the superuser in `db` with psql; returns unaligned,
    /// tuples-only output (`|`-separated columns, one row per line).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = check(
            "psql",
            Command::new("psql")
                .arg("-h")
                .arg(&self.socket_dir)
                .arg("-p")
                .arg(self.port.to_string())
                .args([
                    "-U",
                    "postgres",
                    "-d",
                    db,
                    "-X",
                    "-A",
                    "-t",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    sql,
                ])
                .stdin(Stdio::null())
                .output(),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Creates a login role with a password (for TCP) that owns a new database of the same name.
    pub fn create_user_and_db(&self, name: &str, password: &str) -> Result<(), String> {
        self.psql(
            "postgres",
            &format!("CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'"),
        )?;
        self.psql(
            "postgres",
            &format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""),
        )?;
        Ok(())
    }

    /// Leaves the cluster running after this value is gone (for `cargo xtask
    /// pg start`); returns the directory to pass to [`Cluster::reattach`].
    pub fn detach(self) -> Result<PathBuf, String> {
        let state = format!(
            "bindir={}\nsocket_dir={}\nport={}\nrun_as={}\n",
            self.bindir.display(),
            self.socket_dir.display(),
            self.port,
            self.run_as.clone().unwrap_or_default()
        );
        fs::write(self.base.join("cluster.state"), state).map_err(|e| e.to_string())?;
        let base = self.base.clone();
        std::mem::forget(self);
        Ok(base)
    }

    /// Takes back a cluster left running by [`Cluster::detach`]; dropping the
    /// result stops and removes it.
    pub fn reattach(base: &Path) -> Result<Cluster, String> {
        let state = fs::read_to_string(base.join("cluster.state"))
            .map_err(|e| format!("no detached cluster at {}: {e}", base.display()))?;
        let get = |key: &str| {
            state
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .unwrap_or_default()
                .to_string()
        };
        let run_as = get("run_as");
        Ok(Cluster {
            bindir: PathBuf::from(get("bindir")),
            data: base.join("data"),
            base: base.to_path_buf(),
            socket_dir: PathBuf::from(get("socket_dir")),
            port: get("port")
                .parse()
                .map_err(|_| "corrupt cluster.state".to_string())?,
            run_as: (!run_as.is_empty()).then_some(run_as),
            running: true,
        })
    }

    /// The server version string (`SHOW server_version`).
    pub fn version(&self) -> Result<String, String> {
        self.psql("postgres", "SHOW server_version")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop_server();
        if std::env::var_os("STOGGER_TEST_KEEP_PG").is_none() {
            let _ = fs::remove_dir_all(&self.base);
            let _ = fs::remove_dir_all(&self.socket_dir);
        }
    }
}

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may contain spaces and parentheses: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s[s.rfind(')')? + 2..].to_string();
            rest.split_whitespace().next().map(|st| st == "Z")
        })
        .unwrap_or(true)
}

/// Starts a cluster or panics with a message that says how to get PostgreSQL
/// (tests that need the database fail, never pass silently, without it).
pub fn cluster_or_fail(name: &str) -> Cluster {
    match Cluster::start(name) {
        Ok(c) => c,
        Err(e) => {
            panic!("this test needs a throwaway PostgreSQL cluster and could not start one: {e}")
        }
    }
}
