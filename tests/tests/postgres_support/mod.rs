//! Shared by the `postgres_*` end-to-end tests: the service binaries (both
//! built outside the workspace, the dynamic one copied away from any
//! plugin), the plugin file, and running a service.

#![allow(dead_code)] // each test file uses a part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use stogger_tests::pg::{target_dir, Cluster};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `target/debug`, where cargo put this test and the service binary.
fn debug_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/debug")
        .to_path_buf()
}

/// The plugin cargo built for the workspace.
pub fn plugin_so() -> PathBuf {
    let name = format!(
        "{}stogger_postgres{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = debug_dir().join(&name);
    assert!(
        path.exists(),
        "{} is missing: build the plugin first with `cargo build -p stogger-postgres`",
        path.display()
    );
    path
}

/// A private copy of the dynamic service in `dir/bin/`, so that its
/// executable directory holds no plugin.
pub fn dynamic_service(dir: &Path) -> PathBuf {
    let original = pg_service(Flavour::Dynamic);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("create bin dir");
    let copy = bin.join("stogger-pg-service");
    std::fs::copy(&original, &copy).expect("copy the service binary");
    copy
}

/// Compiles a cdylib named like the plugin whose ABI version is 999, in
/// `dir/wrong-abi/`; returns that directory.
pub fn wrong_abi_plugin(dir: &Path) -> PathBuf {
    let plugins = dir.join("wrong-abi");
    std::fs::create_dir_all(&plugins).unwrap();
    let src = dir.join("wrong_abi.rs");
    std::fs::write(
        &src,
        "#[no_mangle]\npub extern \"C\" fn stogger_pg_abi_version() -> u32 { 999 }\n",
    )
    .unwrap();
    let so = plugins.join("libstogger_postgres.so");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .args(["--edition", "2021", "--crate-type", "cdylib", "-o"])
        .arg(&so)
        .arg(&src)
        .output()
        .expect("run rustc");
    assert!(
        out.status.success(),
        "rustc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    plugins
}

/// A directory holding a copy of the workspace's plugin.
pub fn plugin_dir(dir: &Path) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("create plugin dir");
    let so = plugin_so();
    std::fs::copy(&so, plugins.join(so.file_name().expect("file name"))).expect("copy plugin");
    plugins
}

/// A private working directory holding a copy of the dynamic service and,
/// beside it in `plugins/`, a copy of the plugin: the set-up of most
/// PostgreSQL tests.
pub struct Sandbox {
    /// The working directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The service's copy.
    pub exe: PathBuf,
    /// The directory holding the plugin's copy.
    pub plugins: PathBuf,
}

impl Sandbox {
    /// Lays out a new sandbox.
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let exe = dynamic_service(dir.path());
        let plugins = plugin_dir(dir.path());
        Sandbox { dir, exe, plugins }
    }

    /// Runs the service with PostgreSQL enabled on `dsn`, the plugin found
    /// through `STOGGER_PLUGIN_DIR`, and `env` on top.
    pub fn run_pg(&self, args: &[&str], dsn: &str, env: &[(&str, &str)]) -> Outcome {
        let plugins = self.plugins.to_str().expect("utf-8 temp path");
        let mut all = vec![
            ("STOGGER_ENABLE_POSTGRES", "true"),
            ("STOGGER_POSTGRES_DSN", dsn),
            ("STOGGER_PLUGIN_DIR", plugins),
        ];
        all.extend_from_slice(env);
        run(&self.exe, args, self.dir.path(), &all)
    }
}

/// The statically linked service (stogger-core's `postgres` feature).
pub fn static_service() -> PathBuf {
    pg_service(Flavour::Static)
}

/// How a test service gets the plugin.
#[derive(Debug, Clone, Copy)]
pub enum Flavour {
    /// Loads `libstogger_postgres.so` at run time (no features).
    Dynamic,
    /// Links it in (feature `postgres`).
    Static,
}

/// The test service of `flavour`, built once per test process from
/// `tests/pg-service` (outside the workspace, with a copy of the
/// workspace's `Cargo.lock`, git-ignored there) into `target/pg-service`:
/// its own target directory, so no lock contention with the cargo running
/// the tests, and no feature unification with the workspace, where the
/// `stogger` command turns stogger-core's `postgres` feature on.
pub fn pg_service(flavour: Flavour) -> PathBuf {
    static BUILT: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
    let (slot, bin, features): (_, _, &[&str]) = match flavour {
        Flavour::Dynamic => (&BUILT[0], "stogger-pg-service", &[]),
        Flavour::Static => (
            &BUILT[1],
            "stogger-static-service",
            &["--features", "postgres"],
        ),
    };
    // One build at a time: both write the package's Cargo.lock.
    static BUILDING: Mutex<()> = Mutex::new(());
    slot.get_or_init(|| {
        let _one = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let package = workspace().join("tests/pg-service");
        let manifest = package.join("Cargo.toml");
        let target = target_dir().join("pg-service");
        // The workspace's lock file, so the service uses the same dependency
        // versions (cargo prunes what the service does not use).
        std::fs::copy(workspace().join("Cargo.lock"), package.join("Cargo.lock"))
            .expect("copy Cargo.lock for the test service");
        let out = Command::new(cargo)
            .arg("build")
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["--bin", bin])
            .args(features)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(Stdio::null())
            .output()
            .expect("run cargo build for the test service");
        assert!(
            out.status.success(),
            "building {bin} from {} failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("debug").join(bin)
    })
    .clone()
}

/// What a finished service left behind.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code.
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Outcome {
    /// The `plugin-status:` line the service prints first.
    pub fn plugin_status(&self) -> &str {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("plugin-status: "))
            .unwrap_or("")
    }

    /// Asserts a clean exit, showing both streams otherwise.
    pub fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "service failed: {self:#?}");
    }
}

/// A command for `exe` in `dir` with a controlled environment: no inherited
/// `STOGGER_*`, no `LD_LIBRARY_PATH` (cargo's points at target/debug, which
/// holds a plugin), no journal, the log file in `dir/logs`.
pub fn command(exe: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("STOGGER_")
            || [
                "LD_LIBRARY_PATH",
                "RUST_LOG",
                "NO_COLOR",
                "CLICOLOR_FORCE",
                "JOURNAL_STREAM",
            ]
            .contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("STOGGER_SYSTEMD", "off")
        .env("STOGGER_SYSLOG_IDENTIFIER", "pg-service")
        .env("STOGGER_LOGDIR", dir.join("logs"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts `cmd`, retrying while the executable is "busy": a freshly copied
/// binary can fail with ETXTBSY while another test thread's fork still
/// holds the copy's write descriptor (until that child execs).
pub fn spawn(cmd: &mut Command) -> std::process::Child {
    const ETXTBSY: i32 = 26;
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => {
                return other.unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()))
            }
        }
    }
}

/// Runs `exe` to completion (see [`command`]).
pub fn run(exe: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = command(exe, args, dir, env);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = spawn(&mut cmd)
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot wait for {}: {e}", exe.display()));
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The service's log file.
pub fn log_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("logs").join("pg-service.log")).unwrap_or_default()
}

/// A cluster with a role and database `stogger` (password `secret` over TCP).
pub fn cluster(name: &str) -> Cluster {
    let pg = stogger_tests::pg::cluster_or_fail(name);
    pg.create_user_and_db("stogger", "secret")
        .expect("create role and database");
    pg
}

/// Runs SQL in database `stogger`, panicking with the error.
pub fn sql(pg: &Cluster, query: &str) -> String {
    pg.psql("stogger", query)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// The non-empty lines of a psql result.
pub fn lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
