//! `cargo xtask dist`: release packages in `target/dist/`.
//!
//! - `stogger_<version>_<arch>.deb` (built with `dpkg-deb`), installing
//!   - `/usr/bin/stogger` (with the plugin linked in),
//!   - `/usr/lib/stogger/libstogger_postgres.so` (on every service's plugin
//!     search path),
//!   - man pages for `stogger` and each command (`stogger man-pages`),
//!   - bash, zsh and fish completions (`stogger completions`),
//!   - the documentation under `/usr/share/doc/stogger/`;
//!
//!   its `Depends` comes from `dpkg-shlibdeps` (or, without it, from the
//!   glibc symbol versions the binaries need);
//! - `stogger-<version>-<target>.tar.gz`: the same files under one
//!   directory, laid out as under `/usr` (`bin/`, `lib/stogger/`,
//!   `share/...`), to unpack into a prefix such as `/usr/local` or
//!   `/opt/stogger`.
//!
//! The man pages and completions come from the release binary itself, so
//! they are generated from the same clap definitions as its parser.

use crate::run::{capture, cargo, root, step};
use std::path::{Path, PathBuf};
use std::process::Command;
use stogger_tests::pg::target_dir;

/// The package's version: the workspace's.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where `dist` puts the packages.
pub fn dist_dir() -> PathBuf {
    target_dir().join("dist")
}

/// What `dist` built.
pub struct Packages {
    /// The Debian package.
    pub deb: PathBuf,
    /// The tarball.
    pub tarball: PathBuf,
}

/// Builds both packages.
pub fn dist() -> Result<Packages, String> {
    step(
        "release build of the stogger command and the plugin",
        cargo().args([
            "build",
            "--release",
            "-p",
            "stogger-cli",
            "-p",
            "stogger-postgres",
        ]),
    )?;
    let release = target_dir().join("release");
    let out = dist_dir();
    let stage = out.join("stage");
    let _ = std::fs::remove_dir_all(&stage);
    let usr = stage.join("deb/usr");
    lay_out(&release, &usr)?;

    let arch = output(Command::new("dpkg").arg("--print-architecture"))?;
    let deb = out.join(format!("stogger_{VERSION}_{arch}.deb"));
    let depends = depends(&[
        usr.join("bin/stogger"),
        usr.join("lib/stogger/libstogger_postgres.so"),
    ])?;
    write_control(&stage.join("deb"), &arch, &depends)?;
    step(
        &format!("dpkg-deb: {}", deb.display()),
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(stage.join("deb"))
            .arg(&deb),
    )?;

    let triple = host_triple()?;
    let top = format!("stogger-{VERSION}-{triple}");
    let tarball = out.join(format!("{top}.tar.gz"));
    step(
        &format!("tar: {}", tarball.display()),
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "--sort=name"])
            .arg(format!("--transform=s,^usr,{top},"))
            .arg("-czf")
            .arg(&tarball)
            .arg("-C")
            .arg(stage.join("deb"))
            .arg("usr"),
    )?;
    println!("\n    {}\n    {}", deb.display(), tarball.display());
    Ok(Packages { deb, tarball })
}

/// Copies the binaries, man pages, completions and docs under `usr`.
fn lay_out(release: &Path, usr: &Path) -> Result<(), String> {
    let stogger = release.join("stogger");
    let plugin = release.join("libstogger_postgres.so");
    install(&stogger, &usr.join("bin/stogger"), 0o755)?;
    install(
        &plugin,
        &usr.join("lib/stogger/libstogger_postgres.so"),
        0o644,
    )?;
    // Release builds keep line tables (`debug = 1`) for profiling; the
    // packages do not need them.
    for file in [
        usr.join("bin/stogger"),
        usr.join("lib/stogger/libstogger_postgres.so"),
    ] {
        step(
            &format!("strip --strip-debug {}", file.display()),
            Command::new("strip").arg("--strip-debug").arg(&file),
        )?;
    }

    let man = usr.join("share/man/man1");
    step(
        "man pages (stogger man-pages)",
        Command::new(&stogger).arg("man-pages").arg(&man),
    )?;
    for page in read_dir(&man)? {
        // Compressed as Debian policy wants, without a timestamp (-n).
        step(
            &format!("gzip {}", page.display()),
            Command::new("gzip").args(["-9", "-n", "-f"]).arg(&page),
        )?;
    }

    for (shell, path) in [
        ("bash", "share/bash-completion/completions/stogger"),
        ("zsh", "share/zsh/vendor-completions/_stogger"),
        ("fish", "share/fish/vendor_completions.d/stogger.fish"),
    ] {
        let script = output(Command::new(&stogger).args(["completions", shell]))?;
        write(&usr.join(path), &format!("{script}\n"), 0o644)?;
    }

    let doc = usr.join("share/doc/stogger");
    let root = root();
    for file in ["README.md", "BENCHMARKS.md"] {
        install(&root.join(file), &doc.join(file), 0o644)?;
    }
    for file in read_dir(&root.join("docs"))? {
        if file.extension().is_some_and(|e| e == "md") {
            let name = file.file_name().ok_or("doc without a name")?;
            install(&file, &doc.join("docs").join(name), 0o644)?;
        }
    }
    write(
        &doc.join("copyright"),
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: stogger\n\n\
         Files: *\n\
         License: MIT OR Apache-2.0\n",
        0o644,
    )
}

/// The `Depends` line: `dpkg-shlibdeps` when it is there, else the glibc
/// version the binaries' symbols need.
fn depends(binaries: &[PathBuf]) -> Result<String, String> {
    let which = Command::new("dpkg-shlibdeps").arg("--version").output();
    if which.is_ok_and(|o| o.status.success()) {
        // dpkg-shlibdeps wants a source package around it: give it a minimal one.
        let dir = dist_dir().join("stage/shlibdeps");
        write(
            &dir.join("debian/control"),
            "Source: stogger\n\nPackage: stogger\nArchitecture: any\n",
            0o644,
        )?;
        let mut cmd = Command::new("dpkg-shlibdeps");
        cmd.current_dir(&dir).arg("-O");
        for b in binaries {
            cmd.arg(format!("-e{}", b.display()));
        }
        let out = output(&mut cmd)?;
        return out
            .lines()
            .find_map(|l| l.strip_prefix("shlibs:Depends="))
            .map(str::to_string)
            .ok_or_else(|| format!("dpkg-shlibdeps printed no shlibs:Depends: {out}"));
    }
    let mut newest = (2u32, 17u32);
    for b in binaries {
        let bytes = std::fs::read(b).map_err(|e| format!("{}: {e}", b.display()))?;
        for found in glibc_versions(&bytes) {
            newest = newest.max(found);
        }
    }
    Ok(format!("libc6 (>= {}.{})", newest.0, newest.1))
}

/// The `GLIBC_x.y` symbol versions named in an ELF file.
fn glibc_versions(bytes: &[u8]) -> Vec<(u32, u32)> {
    let needle = b"GLIBC_";
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = bytes[i..].windows(needle.len()).position(|w| w == needle) {
        let start = i + pos + needle.len();
        let end = bytes[start..]
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
            .map_or(bytes.len(), |n| start + n);
        let text = String::from_utf8_lossy(&bytes[start..end]);
        let mut parts = text.split('.').map(|p| p.parse::<u32>());
        if let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) {
            out.push((major, minor));
        }
        i = end.max(start);
    }
    out
}

fn write_control(deb: &Path, arch: &str, depends: &str) -> Result<(), String> {
    let installed_kib = du_kib(&deb.join("usr"))?;
    let control = format!(
        "Package: stogger\n\
         Version: {VERSION}\n\
         Architecture: {arch}\n\
         Maintainer: stogger developers <stogger@example.invalid>\n\
         Installed-Size: {installed_kib}\n\
         Depends: {depends}\n\
         Section: utils\n\
         Priority: optional\n\
         Description: structured logging for Rust services: the stogger command and plugin\n \
         stogger sends every event of a Rust service (on tracing) to the console, a\n \
         log file, the systemd journal and a PostgreSQL table at once.\n \
         .\n \
         This package holds the `stogger` command (doctor, emit, query, schema) and\n \
         the PostgreSQL plugin /usr/lib/stogger/libstogger_postgres.so, which services\n \
         built without stogger-core's `postgres` feature load at run time.\n"
    );
    write(&deb.join("DEBIAN/control"), &control, 0o644)?;
    // md5sums: what `dpkg --verify` checks.
    let mut sums = String::new();
    let usr = deb.join("usr");
    for file in walk(&usr)? {
        let rel = file
            .strip_prefix(deb)
            .map_err(|e| e.to_string())?
            .display()
            .to_string();
        let sum = output(Command::new("md5sum").arg(&file))?;
        let hash = sum.split_whitespace().next().unwrap_or_default();
        sums.push_str(&format!("{hash}  {rel}\n"));
    }
    write(&deb.join("DEBIAN/md5sums"), &sums, 0o644)
}

fn du_kib(dir: &Path) -> Result<u64, String> {
    let mut bytes = 0;
    for f in walk(dir)? {
        bytes += std::fs::metadata(&f).map_err(|e| e.to_string())?.len();
    }
    Ok(bytes.div_ceil(1024))
}

/// Every file under `dir`, sorted.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for entry in read_dir(dir)? {
        if entry.is_dir() {
            out.extend(walk(&entry)?);
        } else {
            out.push(entry);
        }
    }
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn install(from: &Path, to: &Path, mode: u32) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::copy(from, to).map_err(|e| format!("copy {}: {e}", from.display()))?;
    set_mode(to, mode)
}

fn write(to: &Path, text: &str, mode: u32) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(to, text).map_err(|e| format!("write {}: {e}", to.display()))?;
    set_mode(to, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// A command's stdout, trimmed; an error with its stderr when it fails.
fn output(cmd: &mut Command) -> Result<String, String> {
    let out = capture(cmd)?;
    if out.code != Some(0) {
        return Err(format!("{cmd:?} failed:\n{}", out.shown()));
    }
    Ok(out.stdout.trim_end().to_string())
}

/// rustc's host target (`x86_64-unknown-linux-gnu`).
fn host_triple() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let info = output(Command::new(rustc).arg("-vV"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| "rustc -vV names no host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_are_read_from_symbol_version_names() {
        let bytes = b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_PRIVATE\0xGLIBC_2.3\0";
        assert_eq!(glibc_versions(bytes), vec![(2, 2), (2, 34), (2, 3)]);
    }
}
