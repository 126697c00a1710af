//! Reading configuration from files, code and the environment.
//! (Skeleton: the full loader replaces this.)

use super::Config;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built-in default.
    Default,
    /// A config file, with the table the key was read from.
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

/// Description of one configuration key.
#[derive(Debug, Clone, Copy)]
pub struct KeyInfo {
    /// Key as written in the file (`format.min_level` for the `[format]` table).
    pub name: &'static str,
    /// What values are allowed, in words (`none, size`; `a boolean`).
    pub allowed: &'static str,
}

/// Every key stogger knows.
pub const KEYS: &[KeyInfo] = &[];

/// An invalid configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`log_rotation`).
    pub key: String,
    /// Where the bad value came from.
    pub origin: Origin,
    /// The value as given.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value {:?} for {} (from {}); allowed: {}",
            self.value, self.key, self.origin, self.allowed
        )
    }
}

impl std::error::Error for ConfigError {}

/// The effective configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Effective values.
    pub config: Config,
    /// Origin of every key.
    pub origins: BTreeMap<&'static str, Origin>,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// Warnings (unknown keys with the nearest known key).
    pub warnings: Vec<String>,
}

/// Loads from the working directory and the process environment, with
/// `code` values (from the builder) between file and environment.
pub fn load(code: &[(&'static str, toml::Value)]) -> Result<Loaded, ConfigError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    load_from(&cwd, &|name| std::env::var(name).ok(), code)
}

/// Loads with an explicit directory and environment (for tests and the CLI).
pub fn load_from(
    _dir: &Path,
    _env: &dyn Fn(&str) -> Option<String>,
    _code: &[(&'static str, toml::Value)],
) -> Result<Loaded, ConfigError> {
    Ok(Loaded {
        config: Config::default(),
        origins: BTreeMap::new(),
        file: None,
        warnings: Vec::new(),
    })
}
