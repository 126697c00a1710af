//! `cargo xtask install-test` (root; part of `cargo xtask ci`): the Debian
//! package on this very machine.
//!
//! 1. `cargo xtask dist`, then `dpkg -i` the `.deb`;
//! 2. a service built **without** stogger-core's `postgres` feature (the
//!    demo service, copied to a directory holding no plugin), run with no
//!    plugin variable and no `LD_LIBRARY_PATH`, finds
//!    `/usr/lib/stogger/libstogger_postgres.so` and writes its rows into a
//!    throwaway PostgreSQL (checked with psql); the installed `stogger
//!    doctor --service` names that file;
//! 3. `man stogger`, `man stogger-doctor` and `stogger --help` work;
//! 4. `dpkg -r stogger` removes every file it installed.
//!
//! The package is removed again on every way out, failures included. It
//! refuses to run when a `stogger` package is already installed (it would
//! replace and then remove it).

use crate::run::{capture, clean_command, expect, heading, step, Captured};
use std::path::{Path, PathBuf};
use std::process::Command;
use stogger_tests::pg::{is_root, Cluster};

const PLUGIN: &str = "/usr/lib/stogger/libstogger_postgres.so";

/// Runs the test; prints why and succeeds without doing anything when not root.
pub fn install_test() -> Result<(), String> {
    if !is_root() {
        println!(
            "\n==> install test skipped: installing a .deb needs root (CI runs as root; \
             `sudo cargo xtask install-test` runs it here)"
        );
        return Ok(());
    }
    if installed() {
        return Err(
            "a `stogger` package is already installed; the install test would replace and then \
             remove it: `dpkg -r stogger` first"
                .into(),
        );
    }
    let packages = crate::dist::dist()?;
    // The featureless service: the demo service, built by the demo's own
    // build step into the fresh-clone check's target directory (nothing to
    // do after `cargo xtask fresh`).
    let target = crate::fresh::fresh_target();
    crate::demo::build(&target)?;
    let work = target.join("install-test");
    let _ = std::fs::remove_dir_all(&work);
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("create {}: {e}", bin.display()))?;
    let service = bin.join("demo");
    std::fs::copy(target.join("debug/examples/demo"), &service)
        .map_err(|e| format!("copy the demo service: {e}"))?;

    same_layout(&packages)?;
    let installed = Installed::new(&packages.deb)?;
    let result = check_installed(&service, &work);
    let removed = installed.remove();
    result.and(removed)
}

/// The files of the tarball are the files the `.deb` puts under `/usr`.
fn same_layout(packages: &crate::dist::Packages) -> Result<(), String> {
    heading("the tarball holds the files of the .deb, under one directory instead of /usr");
    let listing = |cmd: &mut Command| -> Result<Vec<String>, String> {
        let out = capture(cmd)?;
        if out.code != Some(0) {
            return Err(out.shown());
        }
        // `dpkg-deb -c` is `ls -l`-like: the path is the last column.
        let mut files: Vec<String> = out
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .filter(|p| !p.ends_with('/'))
            .filter_map(|p| p.trim_start_matches("./").split_once('/'))
            .map(|(_top, rest)| rest.to_string())
            .collect();
        files.sort();
        Ok(files)
    };
    let deb = listing(Command::new("dpkg-deb").arg("-c").arg(&packages.deb))?;
    let tar = listing(Command::new("tar").arg("-tzf").arg(&packages.tarball))?;
    if deb.is_empty() || deb != tar {
        return Err(format!(
            "the packages differ:\n.deb (under usr/): {deb:?}\n.tar.gz: {tar:?}"
        ));
    }
    println!("    ok: the same {} files", deb.len());
    Ok(())
}

/// Whether dpkg knows an installed `stogger`.
fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "stogger"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ok installed"))
}

/// The installed package; removed on drop if [`Installed::remove`] was not called.
struct Installed {
    removed: bool,
}

impl Installed {
    fn new(deb: &Path) -> Result<Installed, String> {
        step(
            &format!("dpkg -i {}", deb.display()),
            Command::new("dpkg").arg("-i").arg(deb),
        )?;
        Ok(Installed { removed: false })
    }

    /// `dpkg -r stogger`, then checks that its files are gone.
    fn remove(mut self) -> Result<(), String> {
        self.removed = true;
        step(
            "dpkg -r stogger",
            Command::new("dpkg").args(["-r", "stogger"]),
        )?;
        for gone in [
            "/usr/bin/stogger",
            PLUGIN,
            "/usr/lib/stogger",
            "/usr/share/man/man1/stogger.1.gz",
            "/usr/share/doc/stogger",
            "/usr/share/bash-completion/completions/stogger",
        ] {
            if Path::new(gone).exists() {
                return Err(format!("{gone} is still there after dpkg -r"));
            }
        }
        if installed() {
            return Err("dpkg still lists stogger as installed".into());
        }
        println!("    ok: every file of the package is gone");
        Ok(())
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.removed {
            let _ = Command::new("dpkg").args(["-r", "stogger"]).status();
        }
    }
}

fn check_installed(service: &Path, work: &Path) -> Result<(), String> {
    heading("the installed files");
    for file in [
        "/usr/bin/stogger",
        PLUGIN,
        "/usr/share/man/man1/stogger.1.gz",
        "/usr/share/man/man1/stogger-doctor.1.gz",
        "/usr/share/bash-completion/completions/stogger",
        "/usr/share/zsh/vendor-completions/_stogger",
        "/usr/share/fish/vendor_completions.d/stogger.fish",
        "/usr/share/doc/stogger/README.md",
        "/usr/share/doc/stogger/docs/cli.md",
        "/usr/share/doc/stogger/copyright",
    ] {
        if !Path::new(file).is_file() {
            return Err(format!("{file} was not installed"));
        }
    }
    println!("    ok: binary, plugin, man pages, completions and docs are in place");

    heading("a service without the postgres feature and without plugin variables");
    let pg = Cluster::start("install-test")?;
    pg.create_user_and_db("stogger", "stogger")?;
    let dsn = pg.socket_dsn("stogger", "stogger");
    let logdir = work.join("logs");
    let with_pg = |cmd: &mut Command| {
        cmd.current_dir(work)
            .env("STOGGER_ENABLE_POSTGRES", "true")
            .env("STOGGER_POSTGRES_DSN", &dsn)
            .env("STOGGER_SYSLOG_IDENTIFIER", "demo")
            .env("STOGGER_LOGDIR", &logdir)
            .env("NO_COLOR", "1");
    };
    let mut run = clean_command(service);
    with_pg(&mut run);
    let out = capture(&mut run)?;
    expect(out.code == Some(0), "the service exits 0", &out)?;
    expect(
        !out.stderr.contains("stogger-postgres-"),
        "the service reports no plugin problem",
        &out,
    )?;
    let rows = pg.psql(
        "stogger",
        "SELECT count(*) FILTER (WHERE event = 'demo-finished'), count(*) > 2 FROM stogger_logs",
    )?;
    expect(rows == "1|t", "psql finds the service's rows", &out)?;

    let mut doctor = clean_command(Path::new("/usr/bin/stogger"));
    doctor.arg("doctor").arg("--service").arg(service);
    with_pg(&mut doctor);
    let out = capture(&mut doctor)?;
    print!("{}", out.stdout);
    expect(
        out.code == Some(0),
        "`stogger doctor --service` exits 0",
        &out,
    )?;
    expect(
        out.stdout.contains(&format!("would load {PLUGIN} (ABI ")),
        "doctor names the installed plugin",
        &out,
    )?;

    heading("man pages and --help");
    for page in ["stogger", "stogger-doctor"] {
        let out = man(page)?;
        expect(
            out.code == Some(0) && out.stdout.contains("doctor"),
            &format!("`man {page}` shows the page"),
            &out,
        )?;
    }
    let help = capture(Command::new("stogger").arg("--help"))?;
    expect(
        help.code == Some(0) && help.stdout.contains("doctor") && help.stdout.contains("emit"),
        "`stogger --help` (from PATH) lists the commands",
        &help,
    )
}

/// `man PAGE` as text, or `man -l` on the installed file when the index
/// has not caught up; without `man` on the machine, the installed page's
/// source (`gzip -dc`).
fn man(page: &str) -> Result<Captured, String> {
    let file = PathBuf::from(format!("/usr/share/man/man1/{page}.1.gz"));
    if Command::new("man").arg("--version").output().is_err() {
        println!(
            "    (no `man` on this machine: reading {} instead)",
            file.display()
        );
        return capture(Command::new("gzip").arg("-dc").arg(&file));
    }
    let by_name = capture(
        Command::new("man")
            .arg(page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80"),
    )?;
    if by_name.code == Some(0) {
        return Ok(by_name);
    }
    capture(
        Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80"),
    )
}
