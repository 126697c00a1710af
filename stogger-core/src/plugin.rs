//! Finding and loading the PostgreSQL plugin, and the core side of its C ABI
//! (`docs/plugin-abi.md`, version [`ABI_VERSION`]).
//!
//! With stogger-core's `postgres` feature the plugin is linked in and its
//! entry points are taken directly. Without it, `libstogger_postgres.so`
//! (the platform's name from [`libloading::library_filename`]) is looked for,
//! in this order (see [`search_path`]):
//!
//! 1. config `postgres_plugin`, else env `STOGGER_POSTGRES_PLUGIN` (a file);
//! 2. env `STOGGER_PLUGIN_DIR` (a directory);
//! 3. the executable's directory;
//! 4. `<exe dir>/../lib/stogger/`;
//! 5. `/usr/local/lib/stogger/`;
//! 6. `/usr/lib/stogger/`;
//! 7. the platform's own search (`LD_LIBRARY_PATH`, the loader cache, ...).
//!
//! The first place where the file exists decides: if that file cannot be
//! loaded or has another ABI version, PostgreSQL is skipped with a warning
//! (a broken plugin is reported, never silently passed over for another).
//! The ABI version is checked before any other symbol is looked up.
//!
//! A loaded library is never unloaded: it lives in a process-wide static for
//! the life of the process (its writer threads may outlive any one
//! configuration), and it is loaded once even when `init_logging` runs again.
//! Failed searches are not cached, so a later `init_logging` can find a
//! plugin installed in the meantime.
//!
//! [`status_for_executable`] runs the same search for another executable
//! (`stogger doctor --service PATH`), with or without the `postgres` feature.

use crate::config::Config;
use std::ffi::{c_void, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

pub use stogger_pg_proto::abi::ABI_VERSION;
use stogger_pg_proto::abi::{
    BufFreeFn, CloseFn, FlushFn, OpenFn, SchemaSqlFn, StatsFn, StoggerPgBuf, StoggerPgReport,
    StoggerPgRow, StoggerPgWarnFn, WriteFn,
};

/// The plugin's entry points.
#[derive(Clone, Copy)]
struct Api {
    open: OpenFn,
    write: WriteFn,
    flush: FlushFn,
    stats: StatsFn,
    close: CloseFn,
    schema_sql: SchemaSqlFn,
    buf_free: BufFreeFn,
}

/// What discovery found, for `stogger doctor` and for the warnings
/// `init_logging` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginStatus {
    /// Linked in through stogger-core's `postgres` feature.
    Static,
    /// Loaded from a shared library.
    Loaded {
        /// The file (a bare file name when the platform's search found it).
        path: PathBuf,
        /// Its ABI version.
        abi: u32,
    },
    /// No plugin in any of the places searched.
    NotFound {
        /// The places looked at, in order; the last entry, a bare file
        /// name, stands for the platform's own search (`LD_LIBRARY_PATH`, ...).
        searched: Vec<PathBuf>,
    },
    /// The file speaks another ABI version; PostgreSQL is skipped.
    AbiMismatch {
        /// The file.
        path: PathBuf,
        /// The version the file reports.
        found: u32,
        /// The version this stogger-core needs ([`ABI_VERSION`]).
        expected: u32,
    },
    /// The file exists but could not be loaded (or lacks a symbol).
    LoadError {
        /// The file.
        path: PathBuf,
        /// The loader's reason.
        error: String,
    },
}

impl PluginStatus {
    /// Whether the plugin can be used.
    pub fn is_available(&self) -> bool {
        matches!(self, PluginStatus::Static | PluginStatus::Loaded { .. })
    }
}

impl fmt::Display for PluginStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginStatus::Static => f.write_str("linked in (feature `postgres`)"),
            PluginStatus::Loaded { path, abi } => {
                write!(f, "loaded from {} (ABI {abi})", path.display())
            }
            PluginStatus::NotFound { searched } => {
                write!(f, "not found; searched: {}", describe_searched(searched))
            }
            PluginStatus::AbiMismatch {
                path,
                found,
                expected,
            } => write!(
                f,
                "{} has plugin ABI version {found}, this stogger needs version {expected}",
                path.display()
            ),
            PluginStatus::LoadError { path, error } => {
                write!(f, "cannot load {}: {error}", path.display())
            }
        }
    }
}

/// The searched places as one line; a bare file name is the platform's search.
pub fn describe_searched(searched: &[PathBuf]) -> String {
    searched
        .iter()
        .map(|p| {
            if is_bare(p) {
                format!(
                    "{} on the system library path (LD_LIBRARY_PATH)",
                    p.display()
                )
            } else {
                p.display().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_bare(p: &Path) -> bool {
    !p.has_root() && p.components().count() == 1
}

/// The plugin's file name on this platform (`libstogger_postgres.so` on Linux).
pub fn library_file_name() -> OsString {
    libloading::library_filename("stogger_postgres")
}

/// The loaded (or linked) plugin. Lives for the rest of the process.
pub(crate) struct Plugin {
    api: Api,
    status: PluginStatus,
    // Never dropped: the static holding the plugin is never cleared.
    _library: Option<libloading::Library>,
}

/// An open writer (`stogger_pg_open`'s handle).
#[derive(Debug)]
pub(crate) struct Handle(*mut c_void);

// SAFETY: the ABI makes a writer handle usable from any thread; stogger-core
// never uses it after `stogger_pg_close` (the logger guards it with a lock).
unsafe impl Send for Handle {}
// SAFETY: as above; the plugin synchronises concurrent calls on one handle.
unsafe impl Sync for Handle {}

/// What `stogger_pg_open` said.
pub(crate) enum Opened {
    /// Writer started; it connects in the background (never waited for) and
    /// reports a failure through the warn callback.
    Started(Handle),
    /// No writer: the code and the reason.
    Failed(i32, String),
}

impl Plugin {
    /// What was loaded, and from where.
    pub(crate) fn status(&self) -> &PluginStatus {
        &self.status
    }

    /// Takes the text out of a buffer the plugin filled and frees it.
    fn take(&self, buf: &mut StoggerPgBuf) -> String {
        if buf.ptr.is_null() {
            return String::new();
        }
        // SAFETY: the plugin filled `ptr`/`len` with an allocation of its own
        // that stays valid until `buf_free`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) };
        let text = String::from_utf8_lossy(bytes).into_owned();
        // SAFETY: a buffer the plugin filled, freed exactly once.
        unsafe { (self.api.buf_free)(buf) };
        *buf = StoggerPgBuf::empty();
        text
    }

    /// Starts a writer with the JSON configuration of the ABI.
    pub(crate) fn open(&self, config_json: &[u8], warn: StoggerPgWarnFn) -> Opened {
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut err = StoggerPgBuf::empty();
        // SAFETY: valid pointers for the duration of the call; the plugin
        // copies the configuration.
        let code = unsafe {
            (self.api.open)(
                config_json.as_ptr(),
                config_json.len(),
                Some(warn),
                &mut handle,
                &mut err,
            )
        };
        let reason = self.take(&mut err);
        match code {
            0 if !handle.is_null() => Opened::Started(Handle(handle)),
            0 => Opened::Failed(-1, "the plugin returned no writer handle".into()),
            code => Opened::Failed(code, reason),
        }
    }

    /// Passes rows to the writer; returns what `stogger_pg_write` returns.
    pub(crate) fn write(&self, handle: &Handle, rows: &[StoggerPgRow]) -> i64 {
        // SAFETY: a live handle; the rows and what they point to are valid
        // for the call (the plugin copies them).
        unsafe { (self.api.write)(handle.0, rows.as_ptr(), rows.len()) }
    }

    /// Waits for the queue to drain: `0` drained, `1` timed out.
    pub(crate) fn flush(&self, handle: &Handle, timeout_ms: u64) -> i32 {
        // SAFETY: a live handle.
        unsafe { (self.api.flush)(handle.0, timeout_ms) }
    }

    /// The writer's counters.
    pub(crate) fn stats(&self, handle: &Handle) -> Option<StoggerPgReport> {
        let mut out = StoggerPgReport::default();
        // SAFETY: a live handle and a report for the plugin to fill; no
        // last-error buffer is asked for.
        let code = unsafe { (self.api.stats)(handle.0, &mut out, std::ptr::null_mut()) };
        (code == 0).then_some(out)
    }

    /// Flushes within the deadline, stops the writer and frees the handle;
    /// returns the code and the final counters.
    pub(crate) fn close(&self, handle: Handle, timeout_ms: u64) -> (i32, StoggerPgReport) {
        let mut out = StoggerPgReport::default();
        // SAFETY: a live handle, consumed here (never used again), and a
        // report for the plugin to fill.
        let code = unsafe { (self.api.close)(handle.0, timeout_ms, &mut out) };
        (code, out)
    }

    /// The DDL the plugin runs for `table`.
    pub(crate) fn schema_sql(&self, table: &str) -> Result<String, String> {
        let mut out = StoggerPgBuf::empty();
        // SAFETY: a valid string and a buffer for the plugin to fill.
        let code = unsafe { (self.api.schema_sql)(table.as_ptr(), table.len(), &mut out) };
        let text = self.take(&mut out);
        if code >= 0 {
            Ok(text)
        } else {
            Err(text)
        }
    }
}

static PLUGIN: OnceLock<Plugin> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// Loads the plugin (once per process) or says why it is not available.
pub(crate) fn load(cfg: &Config) -> Result<&'static Plugin, PluginStatus> {
    if let Some(plugin) = PLUGIN.get() {
        return Ok(plugin);
    }
    let _serialised = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(plugin) = PLUGIN.get() {
        return Ok(plugin);
    }
    let plugin = discover(cfg)?;
    Ok(PLUGIN.get_or_init(|| plugin))
}

/// Finds and loads the plugin the way `init_logging` does (loading it if
/// that has not happened yet in this process, whether or not
/// `enable_postgres` is set) and says what happened. Once a plugin is
/// loaded, later calls report that one, whatever `cfg` says.
pub fn plugin_status(cfg: &Config) -> PluginStatus {
    match load(cfg) {
        Ok(plugin) => plugin.status().clone(),
        Err(status) => status,
    }
}

/// The DDL the plugin runs at startup for `table` (`CREATE TABLE IF NOT
/// EXISTS ...` and its indexes); an error when the plugin is not available
/// or refuses the name.
pub fn schema_sql(cfg: &Config, table: &str) -> Result<String, String> {
    match load(cfg) {
        Ok(plugin) => plugin.schema_sql(table),
        Err(status) => Err(format!("PostgreSQL plugin: {status}")),
    }
}

#[cfg(feature = "postgres")]
fn discover(_cfg: &Config) -> Result<Plugin, PluginStatus> {
    Ok(statically_linked::plugin())
}

#[cfg(not(feature = "postgres"))]
fn discover(cfg: &Config) -> Result<Plugin, PluginStatus> {
    let exe = std::env::current_exe().ok();
    load_first(search_path_with(
        cfg.postgres_plugin.as_deref(),
        &env_var,
        exe.as_deref(),
    ))
}

/// A set, non-empty environment variable.
fn env_var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Loads the first candidate that exists (see the module docs: that file
/// decides, whether or not it loads).
fn load_first(searched: Vec<PathBuf>) -> Result<Plugin, PluginStatus> {
    for candidate in &searched {
        if is_bare(candidate) {
            // The platform's own search: failing here means "not found".
            // SAFETY: loading a library runs its initialisers; the plugin
            // is a Rust cdylib without any.
            if let Ok(library) = unsafe { libloading::Library::new(candidate) } {
                return from_library(library, candidate);
            }
        } else if candidate.exists() {
            // SAFETY: as above.
            return match unsafe { libloading::Library::new(candidate) } {
                Ok(library) => from_library(library, candidate),
                Err(err) => Err(PluginStatus::LoadError {
                    path: candidate.clone(),
                    error: error_chain(&err),
                }),
            };
        }
    }
    Err(PluginStatus::NotFound { searched })
}

/// What a service at `exe` built **without** the `postgres` feature would
/// find: the search of [`search_path`] run as if `exe` were the running
/// executable (its directory and `<its dir>/../lib/stogger/` instead of
/// this process's), with this process's configuration `cfg`, environment
/// (`STOGGER_PLUGIN_DIR`, `STOGGER_POSTGRES_PLUGIN`) and platform search.
///
/// The file found is loaded to read its ABI version and to check its entry
/// points, so the answer is what the service would get: `Loaded`,
/// `AbiMismatch`, `LoadError` or `NotFound` (never `Static`). Like every
/// loaded plugin, the file stays loaded for the life of this process; no
/// writer is started. `exe` is resolved like the kernel reports a running
/// executable (symlinks followed); a path that does not exist gives an error.
///
/// This is what `stogger doctor --service PATH` reports; it works whether or
/// not this stogger-core links the plugin itself.
pub fn status_for_executable(cfg: &Config, exe: &Path) -> Result<PluginStatus, String> {
    let exe = std::fs::canonicalize(exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    if !exe.is_file() {
        return Err(format!("{} is not a file", exe.display()));
    }
    let searched = search_path_with(cfg.postgres_plugin.as_deref(), &env_var, Some(&exe));
    Ok(match load_first(searched) {
        Ok(plugin) => {
            let status = plugin.status.clone();
            // Never unloaded (see the module docs).
            std::mem::forget(plugin);
            status
        }
        Err(status) => status,
    })
}

/// The places the plugin is looked for, in order (see the module docs); the
/// last, a bare file name, is the platform's own search. With the `postgres`
/// feature nothing is searched, but the list is still what it would be.
pub fn search_path(cfg: &Config) -> Vec<PathBuf> {
    let exe = std::env::current_exe().ok();
    search_path_with(cfg.postgres_plugin.as_deref(), &env_var, exe.as_deref())
}

fn search_path_with(
    configured: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
    exe: Option<&Path>,
) -> Vec<PathBuf> {
    let name = library_file_name();
    let mut out = Vec::new();
    let explicit = configured
        .map(Path::to_path_buf)
        .or_else(|| env("STOGGER_POSTGRES_PLUGIN").map(PathBuf::from));
    if let Some(file) = explicit {
        // A relative file is relative to the working directory, never a
        // bare name for the platform's search.
        out.push(std::path::absolute(&file).unwrap_or(file));
    }
    if let Some(dir) = env("STOGGER_PLUGIN_DIR") {
        let dir = PathBuf::from(dir);
        out.push(std::path::absolute(&dir).unwrap_or(dir).join(&name));
    }
    if let Some(dir) = exe.and_then(Path::parent) {
        out.push(dir.join(&name));
        out.push(dir.join("..").join("lib").join("stogger").join(&name));
    }
    out.push(Path::new("/usr/local/lib/stogger").join(&name));
    out.push(Path::new("/usr/lib/stogger").join(&name));
    out.push(PathBuf::from(&name));
    out
}

/// Checks the ABI version, then looks the other symbols up.
fn from_library(library: libloading::Library, path: &Path) -> Result<Plugin, PluginStatus> {
    use stogger_pg_proto::abi::{
        AbiVersionFn, SYMBOL_ABI_VERSION, SYMBOL_BUF_FREE, SYMBOL_CLOSE, SYMBOL_FLUSH, SYMBOL_OPEN,
        SYMBOL_SCHEMA_SQL, SYMBOL_STATS, SYMBOL_WRITE,
    };
    let load_error = |error: String| PluginStatus::LoadError {
        path: path.to_path_buf(),
        error,
    };
    // SAFETY: the symbol's type is the ABI's; nothing else is looked up or
    // called before the version matches.
    let version = unsafe {
        let f = library
            .get::<AbiVersionFn>(SYMBOL_ABI_VERSION.as_bytes())
            .map_err(|e| load_error(format!("not a stogger plugin: {}", error_chain(&e))))?;
        (*f)()
    };
    if version != ABI_VERSION {
        // Never unloaded, even unused (see the module docs).
        std::mem::forget(library);
        return Err(PluginStatus::AbiMismatch {
            path: path.to_path_buf(),
            found: version,
            expected: ABI_VERSION,
        });
    }
    // SAFETY: the types are those of the ABI version the library declared; the pointers stay valid because the library is never unloaded.
    let api = unsafe {
        Api {
            open: *symbol::<OpenFn>(&library, SYMBOL_OPEN).map_err(load_error)?,
            write: *symbol::<WriteFn>(&library, SYMBOL_WRITE).map_err(load_error)?,
            flush: *symbol::<FlushFn>(&library, SYMBOL_FLUSH).map_err(load_error)?,
            stats: *symbol::<StatsFn>(&library, SYMBOL_STATS).map_err(load_error)?,
            close: *symbol::<CloseFn>(&library, SYMBOL_CLOSE).map_err(load_error)?,
            schema_sql: *symbol::<SchemaSqlFn>(&library, SYMBOL_SCHEMA_SQL).map_err(load_error)?,
            buf_free: *symbol::<BufFreeFn>(&library, SYMBOL_BUF_FREE).map_err(load_error)?,
        }
    };
    Ok(Plugin {
        api,
        status: PluginStatus::Loaded {
            path: path.to_path_buf(),
            abi: version,
        },
        _library: Some(library),
    })
}

/// Looks up one symbol, with an error naming it.
///
/// # Safety
/// `T` must be the symbol's real type.
unsafe fn symbol<'l, T>(
    library: &'l libloading::Library,
    name: &str,
) -> Result<libloading::Symbol<'l, T>, String> {
    library
        .get::<T>(name.as_bytes())
        .map_err(|e| format!("missing symbol {name}: {}", error_chain(&e)))
}

/// A loader error with its causes (`dlopen failed: <dlerror text>`).
fn error_chain(err: &libloading::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(feature = "postgres")]
mod statically_linked {
    //! The plugin's entry points, linked in. Both sides declare them with
    //! the types of [`stogger_pg_proto::abi`], so they are taken as they are.

    use super::{Api, Plugin, PluginStatus};
    use stogger_postgres as pg;

    pub(super) fn plugin() -> Plugin {
        Plugin {
            api: Api {
                open: pg::stogger_pg_open,
                write: pg::stogger_pg_write,
                flush: pg::stogger_pg_flush,
                stats: pg::stogger_pg_stats,
                close: pg::stogger_pg_close,
                schema_sql: pg::stogger_pg_schema_sql,
                buf_free: pg::stogger_pg_buf_free,
            },
            status: PluginStatus::Static,
            _library: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn search_order_follows_the_design() {
        let env = env_of(&[
            ("STOGGER_POSTGRES_PLUGIN", "/opt/p/libstogger_postgres.so"),
            ("STOGGER_PLUGIN_DIR", "/plugins"),
        ]);
        let got = search_path_with(None, &env, Some(Path::new("/srv/app/bin/service")));
        let name = library_file_name();
        let want: Vec<PathBuf> = vec![
            "/opt/p/libstogger_postgres.so".into(),
            Path::new("/plugins").join(&name),
            Path::new("/srv/app/bin").join(&name),
            Path::new("/srv/app/bin/../lib/stogger").join(&name),
            Path::new("/usr/local/lib/stogger").join(&name),
            Path::new("/usr/lib/stogger").join(&name),
            PathBuf::from(&name),
        ];
        assert_eq!(got, want);
        assert_eq!(name, "libstogger_postgres.so");
    }

    #[test]
    fn config_file_beats_env_and_relative_paths_are_made_absolute() {
        let env = env_of(&[("STOGGER_POSTGRES_PLUGIN", "/from/env.so")]);
        let got = search_path_with(Some(Path::new("rel/plugin.so")), &env, None);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(got[0], cwd.join("rel/plugin.so"));
        assert!(!got.contains(&PathBuf::from("/from/env.so")));
        // No exe dir: the system places and the platform search remain.
        assert_eq!(got.len(), 4);
        assert!(is_bare(&got[3]));
    }

    #[test]
    fn not_found_names_every_place_and_the_platform_search() {
        let status = PluginStatus::NotFound {
            searched: vec![
                "/a/libstogger_postgres.so".into(),
                "libstogger_postgres.so".into(),
            ],
        };
        assert_eq!(
            status.to_string(),
            "not found; searched: /a/libstogger_postgres.so, libstogger_postgres.so on the system \
             library path (LD_LIBRARY_PATH)"
        );
        assert!(!status.is_available());
    }

    #[test]
    fn mismatch_names_both_versions_and_the_file() {
        let status = PluginStatus::AbiMismatch {
            path: "/x/libstogger_postgres.so".into(),
            found: 999,
            expected: 1,
        };
        let text = status.to_string();
        assert!(text.contains("/x/libstogger_postgres.so"), "{text}");
        assert!(text.contains("999") && text.contains("version 1"), "{text}");
    }

    #[test]
    fn a_file_that_is_no_library_is_a_load_error_not_a_silent_skip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("libstogger_postgres.so");
        std::fs::write(&file, b"not an ELF file").unwrap();
        let cfg = Config {
            postgres_plugin: Some(file.clone()),
            ..Config::default()
        };
        // The same search and checks as a service's, whatever this build links.
        let exe = std::env::current_exe().unwrap();
        match status_for_executable(&cfg, &exe) {
            Ok(PluginStatus::LoadError { path, error }) => {
                assert_eq!(path, file);
                assert!(!error.is_empty());
            }
            other => panic!("expected a load error, got {other:?}"),
        }
    }

    #[test]
    fn the_search_for_another_executable_starts_where_it_really_lives() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().canonicalize().unwrap().join("opt");
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::create_dir_all(prefix.join("lib/stogger")).unwrap();
        let exe = prefix.join("bin/service");
        std::fs::write(&exe, b"").unwrap();
        // Not a library: the file decides anyway, and its path shows which one was found.
        let plugin = prefix.join("lib/stogger").join(library_file_name());
        std::fs::write(&plugin, b"not an ELF file").unwrap();
        // Started through a symlink elsewhere, the service still searches from
        // its real directory (as `current_exe` reports it).
        let link = dir.path().join("service-link");
        std::os::unix::fs::symlink(&exe, &link).unwrap();
        let cfg = Config::default();
        for path in [&exe, &link] {
            match status_for_executable(&cfg, path) {
                Ok(PluginStatus::LoadError { path, .. }) => {
                    assert_eq!(
                        path,
                        prefix.join("bin/../lib/stogger").join(library_file_name())
                    )
                }
                other => panic!("expected {} to be found, got {other:?}", plugin.display()),
            }
        }
        let missing = status_for_executable(&cfg, &dir.path().join("missing")).unwrap_err();
        assert!(missing.contains("missing"), "{missing}");
    }
}
