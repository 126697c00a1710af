//! Reading configuration from files, code and the environment.
//!
//! Sources, lowest to highest precedence: defaults < config file < values
//! set in code (the [`crate::Builder`]) < environment `STOGGER_<KEY>`.
//!
//! The config file is the path in `STOGGER_CONFIG`, or else the first of
//! these in the working directory that exists and holds stogger settings:
//! `stogger.toml` (top-level keys), `Cargo.toml` (table
//! `[package.metadata.stogger]`), `pyproject.toml` (table `[tool.stogger]`).
//!
//! An invalid value from any source is a [`ConfigError`] naming the key, the
//! source, the value and what is allowed. An unknown key is not an error: it
//! becomes a warning in [`Loaded::warnings`] with the nearest known key.

pub use super::keys::{KeyInfo, KEYS};

use super::keys::{self, Invalid};
use super::{Config, ConfigValue};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Value;

/// The variable naming an explicit config file.
const CONFIG_VAR: &str = "STOGGER_CONFIG";

/// Stands in for `log_filter` when neither the key nor `STOGGER_LOG_FILTER`
/// is set anywhere.
const RUST_LOG: &str = "RUST_LOG";

/// `STOGGER_*` variables that are read elsewhere and are not config keys.
const NOT_KEYS: &[&str] = &[
    CONFIG_VAR,
    stogger_pg_proto::dsn::PASSWORD_ENV,
    "STOGGER_PLUGIN_DIR",
];

/// Prefixes of `STOGGER_*` variables reserved for tests and benchmarks.
const RESERVED_PREFIXES: &[&str] = &["STOGGER_TEST_", "STOGGER_BENCH_"];

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built-in default.
    Default,
    /// A config file (its path).
    File(PathBuf),
    /// Set in code through the builder.
    Code,
    /// An environment variable (its name).
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Code => f.write_str("code"),
            Origin::Env(name) => write!(f, "env {name}"),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value its key does not allow (wrong type, unknown name, out of range).
    InvalidValue {
        /// The key (`log_rotation`, `format.min_level`).
        key: &'static str,
        /// Where the bad value came from.
        origin: Origin,
        /// For a file value: the table holding stogger's settings
        /// (`package.metadata.stogger`), `None` for `stogger.toml`.
        table: Option<&'static str>,
        /// For a file value: its line (1-based), when known.
        line: Option<u32>,
        /// The value as given, TOML-quoted (`"sizes"`); a connection string
        /// is never shown.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// A filter (`log_filter`, `console_filter`, ..., or `RUST_LOG` standing
    /// in for `log_filter`) holds a directive that cannot be used.
    InvalidDirective {
        /// The key (`log_filter`, `file_filter`).
        key: &'static str,
        /// Where the filter came from (`env RUST_LOG` for `RUST_LOG`).
        origin: Origin,
        /// For a file value: the table holding stogger's settings.
        table: Option<&'static str>,
        /// For a file value: its line (1-based), when known.
        line: Option<u32>,
        /// The bad directive as written (`hyper=loud`).
        directive: String,
        /// What is wrong with it (the directive syntax follows it in the
        /// message).
        reason: String,
    },
    /// A config file exists (or `STOGGER_CONFIG` names one) but cannot be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// `Some("STOGGER_CONFIG")` when the path came from that variable.
        variable: Option<&'static str>,
        /// The operating system's reason.
        reason: String,
    },
    /// A config file is not valid TOML.
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line of the error (1-based), when the parser gives one.
        line: Option<u32>,
        /// Column of the error (1-based), when the parser gives one.
        column: Option<u32>,
        /// The parser's message.
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidValue {
                key,
                origin,
                table,
                line,
                value,
                allowed,
            } => {
                write!(f, "invalid value {value} for `{key}` ")?;
                write_source(f, origin, *table, *line)?;
                write!(f, "; allowed: {allowed}")
            }
            ConfigError::InvalidDirective {
                key,
                origin,
                table,
                line,
                directive,
                reason,
            } => {
                let shown = show("", &Value::String(directive.clone()));
                write!(f, "invalid directive {shown} in `{key}` ")?;
                if let Origin::Code = origin {
                    // Builder::set or set_filter / set_target_filter.
                    f.write_str("set in code")?;
                } else {
                    write_source(f, origin, *table, *line)?;
                }
                write!(f, ": {reason}; syntax: {}", crate::filter::SYNTAX)
            }
            ConfigError::Unreadable {
                path,
                variable: Some(var),
                reason,
            } => write!(
                f,
                "{var}={} names a config file that cannot be read: {reason}",
                path.display()
            ),
            ConfigError::Unreadable {
                path,
                variable: None,
                reason,
            } => write!(f, "cannot read config file {}: {reason}", path.display()),
            ConfigError::Syntax {
                path,
                line,
                column,
                message,
            } => {
                write!(f, "TOML syntax error in {}", path.display())?;
                if let Some(line) = line {
                    write!(f, " at line {line}")?;
                    if let Some(column) = column {
                        write!(f, ", column {column}")?;
                    }
                }
                write!(f, ": {}", message.trim_end())
            }
        }
    }
}

/// Where a value came from, as error messages say it.
fn write_source(
    f: &mut fmt::Formatter<'_>,
    origin: &Origin,
    table: Option<&str>,
    line: Option<u32>,
) -> fmt::Result {
    match origin {
        Origin::File(path) => {
            if let Some(table) = table {
                write!(f, "in [{table}] ")?;
            }
            write!(f, "at {}", path.display())?;
            if let Some(line) = line {
                write!(f, ":{line}")?;
            }
            Ok(())
        }
        Origin::Env(var) => write!(f, "from environment variable {var}"),
        Origin::Code => f.write_str("set in code (Builder::set)"),
        Origin::Default => f.write_str("(default)"),
    }
}

impl std::error::Error for ConfigError {}

/// The effective configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Effective values.
    pub config: Config,
    /// Origin of every key in [`KEYS`] (`Origin::Default` where nothing set it).
    pub origins: BTreeMap<&'static str, Origin>,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// The table of [`Loaded::file`] stogger's settings were read from
    /// (`package.metadata.stogger`, `tool.stogger`); `None` for top-level keys.
    pub file_table: Option<&'static str>,
    /// Warnings: unknown keys (with the nearest known key) and settings that
    /// contradict each other. Not errors: logging starts anyway.
    pub warnings: Vec<String>,
}

/// Loads from the working directory and the process environment, with
/// `code` values (from the builder) between file and environment.
///
/// Every `STOGGER_*` variable is looked at: unknown ones become warnings.
pub fn load(code: &[(&'static str, ConfigValue)]) -> Result<Loaded, ConfigError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        // A name that is not UTF-8 is no key's, but it is reported like
        // any other unknown variable.
        let name = name.to_string_lossy();
        if !(name.starts_with("STOGGER_") || name == RUST_LOG) {
            continue;
        }
        let name = name.as_ref();
        match value.into_string() {
            Ok(value) => vars.push((name.to_string(), value)),
            Err(raw) => {
                if let Some(info) = keys::find_env(name) {
                    return Err(ConfigError::InvalidValue {
                        key: info.name,
                        origin: Origin::Env(name.to_string()),
                        table: None,
                        line: None,
                        value: show(info.name, &Value::String(raw.to_string_lossy().into())),
                        allowed: "valid UTF-8 text",
                    });
                }
                if name == CONFIG_VAR {
                    return Err(ConfigError::Unreadable {
                        path: PathBuf::from(raw),
                        variable: Some(CONFIG_VAR),
                        reason: "the path is not valid UTF-8".to_string(),
                    });
                }
                // Not a key: its value is never read, but an unknown
                // name must still be warned about.
                vars.push((name.to_string(), raw.to_string_lossy().into_owned()));
            }
        }
    }
    load_from_vars(&cwd, vars, code)
}

/// Loads with an explicit directory and environment (for tests and the CLI).
///
/// `env` is asked for `STOGGER_CONFIG` and for the variable of every key;
/// as it cannot list variables, unknown `STOGGER_*` variables are not
/// reported (use [`load_from_vars`] for that). Nothing but the config file
/// is read from outside; relative paths in `STOGGER_CONFIG` are relative to
/// `dir`.
pub fn load_from(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    code: &[(&'static str, ConfigValue)],
) -> Result<Loaded, ConfigError> {
    load_impl(dir, env, &[], code)
}

/// Like [`load_from`], with the environment given as a list of variables;
/// unknown `STOGGER_*` variables in it become warnings.
pub fn load_from_vars<I, K, V>(
    dir: &Path,
    vars: I,
    code: &[(&'static str, ConfigValue)],
) -> Result<Loaded, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let vars: BTreeMap<String, String> = vars
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let names: Vec<String> = vars.keys().cloned().collect();
    load_impl(dir, &|name| vars.get(name).cloned(), &names, code)
}

/// A config file found and parsed.
struct FileSource {
    path: PathBuf,
    /// The table holding stogger's settings (`package.metadata.stogger`),
    /// `None` for top-level keys.
    table_name: Option<&'static str>,
    settings: toml::Table,
    /// Line of each key in the file: `verbose`, `format.min_level`.
    lines: HashMap<String, u32>,
}

impl FileSource {
    fn origin(&self) -> Origin {
        Origin::File(self.path.clone())
    }

    /// Line of `key` (`verbose`, `format.min_level`) in the file.
    fn line_of(&self, key: &str) -> Option<u32> {
        self.lines.get(key).copied()
    }

    /// Where a key is, for a message: table, file and line.
    fn location(&self, key: &str) -> String {
        let table = match (self.table_name, key.starts_with("format.")) {
            (Some(t), true) => format!("in [{t}.format] "),
            (None, true) => "in [format] ".to_string(),
            (Some(t), false) => format!("in [{t}] "),
            (None, false) => String::new(),
        };
        match self.line_of(key) {
            Some(line) => format!("{table}at {}:{line}", self.path.display()),
            None => format!("{table}at {}", self.path.display()),
        }
    }
}

/// Lines of the keys of stogger's table (and of its `format` table) in a
/// document that parsed.
fn key_lines(text: &str, table_path: &[&str]) -> HashMap<String, u32> {
    let mut lines = HashMap::new();
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return lines;
    };
    let mut table = doc.get_ref();
    for segment in table_path {
        match table.get(*segment).and_then(|v| v.get_ref().as_table()) {
            Some(t) => table = t,
            None => return lines,
        }
    }
    for (key, value) in table {
        let name = key.get_ref().to_string();
        if let Some(sub) = value.get_ref().as_table() {
            for (k, _) in sub {
                let line = line_number(text, k.span().start);
                lines.insert(format!("{name}.{}", k.get_ref()), line);
            }
        }
        lines.insert(name, line_number(text, key.span().start));
    }
    lines
}

/// The 1-based line of a byte offset.
fn line_number(text: &str, offset: usize) -> u32 {
    let offset = offset.min(text.len());
    let newlines = text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    u32::try_from(newlines).map_or(u32::MAX, |n| n.saturating_add(1))
}

/// The table to read from a file, by its name.
fn table_for(path: &Path) -> (&'static [&'static str], Option<&'static str>) {
    match path.file_name().and_then(|n| n.to_str()) {
        Some("Cargo.toml") => (
            &["package", "metadata", "stogger"],
            Some("package.metadata.stogger"),
        ),
        Some("pyproject.toml") => (&["tool", "stogger"], Some("tool.stogger")),
        _ => (&[], None),
    }
}

/// Reads a file; `Ok(None)` when it does not exist.
fn read(path: &Path, variable: Option<&'static str>) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && variable.is_none() => Ok(None),
        Err(e) => Err(ConfigError::Unreadable {
            path: path.to_path_buf(),
            variable,
            reason: e.to_string(),
        }),
    }
}

/// Parses a file and picks stogger's table; `Ok(None)` when the document
/// has no such table.
fn parse(path: PathBuf, text: String) -> Result<Option<FileSource>, ConfigError> {
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let (line, column) = match e.span() {
            Some(span) => {
                let start = span.start.min(text.len());
                let line = line_number(&text, start);
                let line_start = text.as_bytes()[..start]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let column = text
                    .get(line_start..start)
                    .and_then(|s| u32::try_from(s.chars().count()).ok())
                    .map(|c| c.saturating_add(1));
                (Some(line), column)
            }
            None => (None, None),
        };
        ConfigError::Syntax {
            path: path.clone(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    let (table_path, table_name) = table_for(&path);
    let mut current = &doc;
    for (i, segment) in table_path.iter().enumerate() {
        let Some(value) = current.get(*segment) else {
            return Ok(None);
        };
        match value.as_table() {
            Some(t) => current = t,
            // `package.metadata = 1`: not ours to judge, so not found;
            // `package.metadata.stogger = 1`: stogger's entry is wrong.
            None if i + 1 < table_path.len() => return Ok(None),
            None => {
                return Err(ConfigError::InvalidValue {
                    key: table_name.unwrap_or_default(),
                    origin: Origin::File(path.clone()),
                    table: None,
                    line: None,
                    value: show("", value),
                    allowed: "a table of stogger settings",
                })
            }
        }
    }
    let settings = current.clone();
    let lines = key_lines(&text, table_path);
    Ok(Some(FileSource {
        path,
        table_name,
        settings,
        lines,
    }))
}

/// Finds the config file: `STOGGER_CONFIG`, else the first of the
/// candidates in `dir` with stogger settings.
fn find_file(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Option<FileSource>, ConfigError> {
    if let Some(explicit) = env(CONFIG_VAR).filter(|p| !p.is_empty()) {
        let path = dir.join(explicit);
        let text = read(&path, Some(CONFIG_VAR))?.unwrap_or_default();
        let found = parse(path.clone(), text)?;
        if found.is_none() {
            let (_, table) = table_for(&path);
            warnings.push(format!(
                "{CONFIG_VAR}={} has no [{}] table; no settings read from it",
                path.display(),
                table.unwrap_or_default()
            ));
        }
        return Ok(found);
    }
    for name in ["stogger.toml", "Cargo.toml", "pyproject.toml"] {
        let path = dir.join(name);
        if let Some(text) = read(&path, None)? {
            if let Some(found) = parse(path, text)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// The settings of the config file `load` would read now, as written, by
/// dotted name (`format.min_level`); empty without a file or when it cannot
/// be read (what changed in it is then unknown, and `load` reports why).
pub(crate) fn file_settings() -> BTreeMap<String, Value> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = |name: &str| std::env::var(name).ok();
    let Ok(Some(file)) = find_file(&cwd, &env, &mut Vec::new()) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (key, value) in file.settings {
        match (key.as_str(), value.as_table()) {
            ("format", Some(format)) => {
                for (k, v) in format {
                    out.insert(format!("format.{k}"), v.clone());
                }
            }
            _ => {
                out.insert(key, value);
            }
        }
    }
    out
}

/// A value as shown in a message: TOML-quoted (so control characters are
/// escaped), shortened, and never a connection string.
pub(crate) fn show(key: &str, value: &Value) -> String {
    if key == "postgres_dsn" {
        // It may hold a password, whatever its type.
        return format!("(a TOML {}, not shown)", value.type_str());
    }
    let mut s = value.to_string().replace('\n', " ");
    const MAX: usize = 120;
    if s.chars().count() > MAX {
        s = s.chars().take(MAX).collect::<String>() + "...";
    }
    s
}

/// How a suggested key is written in a given kind of source.
enum Spelling {
    /// In a file, inside `[format]` when `in_format`.
    File { in_format: bool },
    /// A dotted key given to the builder.
    Code,
    /// An environment variable.
    Env,
}

fn suggestion(unknown: &str, spelling: Spelling) -> String {
    let Some(info) = keys::nearest(unknown) else {
        return String::new();
    };
    let text = match spelling {
        Spelling::File { in_format } => match (info.table(), in_format) {
            (Some(table), false) => format!("`{}` in the [{table}] table", info.short_name()),
            (None, true) => format!("top-level `{}` (not in [format])", info.name),
            _ => format!("`{}`", info.short_name()),
        },
        Spelling::Code => format!("`{}`", info.name),
        Spelling::Env => format!("{} (key `{}`)", info.env, info.name),
    };
    format!("; did you mean {text}?")
}

/// The state built up while applying sources in order.
struct Merge {
    config: Config,
    origins: BTreeMap<&'static str, Origin>,
    warnings: Vec<String>,
}

impl Merge {
    /// Applies one known key; `Ok(false)` when `name` is not a key.
    fn set(
        &mut self,
        name: &str,
        value: &Value,
        origin: &Origin,
        error_at: impl FnOnce() -> (Option<&'static str>, Option<u32>),
    ) -> Result<bool, ConfigError> {
        let Some(info) = keys::find(name) else {
            return Ok(false);
        };
        match keys::apply(&mut self.config, name, value) {
            Some(Ok(())) => {
                self.origins.insert(info.name, origin.clone());
                Ok(true)
            }
            Some(Err(Invalid)) | None => {
                let (table, line) = error_at();
                if let Some(bad) = value.as_str().and_then(keys::bad_directive_for(info.name)) {
                    let mut err = crate::filter::invalid(info.name, origin.clone(), bad);
                    if let ConfigError::InvalidDirective {
                        table: t, line: l, ..
                    } = &mut err
                    {
                        (*t, *l) = (table, line);
                    }
                    return Err(err);
                }
                Err(ConfigError::InvalidValue {
                    key: info.name,
                    origin: origin.clone(),
                    table,
                    line,
                    value: show(info.name, value),
                    allowed: info.allowed,
                })
            }
        }
    }

    fn file(&mut self, file: &FileSource) -> Result<(), ConfigError> {
        let origin = file.origin();
        // Flattened to dotted names and applied in file order, so the first
        // error and the warnings follow the file.
        let mut entries: Vec<(String, &Value)> = Vec::new();
        for (key, value) in &file.settings {
            match (key.as_str(), value.as_table()) {
                ("format", Some(format)) => {
                    entries.extend(format.iter().map(|(k, v)| (format!("format.{k}"), v)))
                }
                ("format", None) => {
                    return Err(ConfigError::InvalidValue {
                        key: "format",
                        origin,
                        table: file.table_name,
                        line: file.line_of("format"),
                        value: show("format", value),
                        allowed: "a table of format.* keys",
                    })
                }
                _ => entries.push((key.clone(), value)),
            }
        }
        entries.sort_by_key(|(name, _)| file.line_of(name).unwrap_or(u32::MAX));
        for (name, value) in entries {
            let at = || (file.table_name, file.line_of(&name));
            if !self.set(&name, value, &origin, at)? {
                let (short, in_format) = match name.strip_prefix("format.") {
                    Some(short) => (short, true),
                    None => (name.as_str(), false),
                };
                self.warnings.push(format!(
                    "unknown key `{short}` {} (ignored){}",
                    file.location(&name),
                    suggestion(short, Spelling::File { in_format })
                ));
            }
        }
        Ok(())
    }

    fn code(&mut self, code: &[(&'static str, ConfigValue)]) -> Result<(), ConfigError> {
        for (key, ConfigValue(value)) in code {
            if let (&"format", Some(format)) = (key, value.as_table()) {
                for (sub, value) in format {
                    self.code_key(&format!("format.{sub}"), value)?;
                }
            } else {
                self.code_key(key, value)?;
            }
        }
        Ok(())
    }

    fn code_key(&mut self, key: &str, value: &Value) -> Result<(), ConfigError> {
        if !self.set(key, value, &Origin::Code, || (None, None))? {
            self.warnings.push(format!(
                "unknown key `{key}` set in code (Builder::set) (ignored){}",
                suggestion(key, Spelling::Code)
            ));
        }
        Ok(())
    }

    fn env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
        names: &[String],
    ) -> Result<(), ConfigError> {
        for info in KEYS {
            if let Some(value) = env(info.env) {
                let origin = Origin::Env(info.env.to_string());
                self.set(info.name, &Value::String(value), &origin, || (None, None))?;
            }
        }
        self.rust_log(env)?;
        let unknown: BTreeSet<&String> = names
            .iter()
            .filter(|n| n.starts_with("STOGGER_"))
            .filter(|n| keys::find_env(n).is_none() && !NOT_KEYS.contains(&n.as_str()))
            .filter(|n| !RESERVED_PREFIXES.iter().any(|p| n.starts_with(p)))
            .collect();
        for name in unknown {
            let word = name["STOGGER_".len()..].to_ascii_lowercase();
            self.warnings.push(format!(
                "unknown environment variable {name} (ignored){}",
                suggestion(&word, Spelling::Env)
            ));
        }
        Ok(())
    }

    /// `RUST_LOG` as `log_filter` when no source set that key (an empty
    /// `RUST_LOG` counts as unset, as for tracing-subscriber's `EnvFilter`).
    fn rust_log(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let unset = matches!(self.origins.get("log_filter"), None | Some(Origin::Default));
        match env(RUST_LOG) {
            Some(value) if unset && !value.trim().is_empty() => {
                let origin = Origin::Env(RUST_LOG.to_string());
                self.set("log_filter", &Value::String(value), &origin, || {
                    (None, None)
                })?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Warnings about settings that are valid alone but odd together.
    fn cross_check(&mut self) {
        let c = &self.config;
        if c.enable_postgres && c.postgres_batch_size > c.postgres_queue_capacity {
            self.warnings.push(format!(
                "postgres_batch_size ({}) is larger than postgres_queue_capacity ({}); \
                 a batch never holds more than the queue",
                c.postgres_batch_size, c.postgres_queue_capacity
            ));
        }
    }
}

fn load_impl(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    env_names: &[String],
    code: &[(&'static str, ConfigValue)],
) -> Result<Loaded, ConfigError> {
    let mut merge = Merge {
        config: Config::default(),
        origins: KEYS.iter().map(|k| (k.name, Origin::Default)).collect(),
        warnings: Vec::new(),
    };
    let file = find_file(dir, env, &mut merge.warnings)?;
    if let Some(file) = &file {
        merge.file(file)?;
    }
    merge.code(code)?;
    merge.env(env, env_names)?;
    merge.cross_check();
    Ok(Loaded {
        config: merge.config,
        origins: merge.origins,
        file_table: file.as_ref().and_then(|f| f.table_name),
        file: file.map(|f| f.path),
        warnings: merge.warnings,
    })
}
