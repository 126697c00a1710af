//! Values set in code: what [`crate::Builder::set`] and the loaders take.

use std::path::{Path, PathBuf};

/// A value for a configuration key set in code: one of the values a config
/// file can hold, made from a Rust value.
///
/// ```
/// use stogger_core::{ConfigValue, Stogger};
/// let builder = Stogger::builder()
///     .set("log_rotation", "size")
///     .set("log_max_bytes", 50_000_000)
///     .set("verbose", true)
///     .set("logdir", std::path::Path::new("/var/log/shop"))
///     .set("format", [("show_code_info", true)].into_iter().collect::<ConfigValue>());
/// ```
///
/// Each key reads it as it reads the same value from a file; an integer
/// above `i64::MAX` (more than a TOML integer holds) is passed as its
/// decimal text, which number keys read like a file's quoted number.
#[derive(Clone, PartialEq)]
pub struct ConfigValue(pub(crate) toml::Value);

impl std::fmt::Debug for ConfigValue {
    /// The value as TOML writes it (`"size"`, `50000000`, `true`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<bool> for ConfigValue {
    fn from(v: bool) -> Self {
        ConfigValue(toml::Value::Boolean(v))
    }
}

macro_rules! from_small_integers {
    ($($t:ty),*) => {$(
        impl From<$t> for ConfigValue {
            fn from(v: $t) -> Self {
                ConfigValue(toml::Value::Integer(i64::from(v)))
            }
        }
    )*};
}
from_small_integers!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! from_wide_integers {
    ($($t:ty),*) => {$(
        impl From<$t> for ConfigValue {
            fn from(v: $t) -> Self {
                match i64::try_from(v) {
                    Ok(n) => ConfigValue(toml::Value::Integer(n)),
                    Err(_) => ConfigValue(toml::Value::String(v.to_string())),
                }
            }
        }
    )*};
}
from_wide_integers!(u64, usize, isize, i128, u128);

impl From<f64> for ConfigValue {
    fn from(v: f64) -> Self {
        ConfigValue(toml::Value::Float(v))
    }
}

impl From<&str> for ConfigValue {
    fn from(v: &str) -> Self {
        ConfigValue(toml::Value::String(v.to_string()))
    }
}

impl From<String> for ConfigValue {
    fn from(v: String) -> Self {
        ConfigValue(toml::Value::String(v))
    }
}

impl From<&String> for ConfigValue {
    fn from(v: &String) -> Self {
        ConfigValue::from(v.as_str())
    }
}

/// A path, as text (a path that is not UTF-8 is shown lossily, as in a
/// config file it could not be written at all).
impl From<&Path> for ConfigValue {
    fn from(v: &Path) -> Self {
        ConfigValue(toml::Value::String(v.to_string_lossy().into_owned()))
    }
}

impl From<PathBuf> for ConfigValue {
    fn from(v: PathBuf) -> Self {
        ConfigValue::from(v.as_path())
    }
}

/// A table, for the `format` keys given together:
/// `[("min_level", "warning"), ("show_code_info", "true")]`.
impl<K: Into<String>, V: Into<ConfigValue>> FromIterator<(K, V)> for ConfigValue {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let table = entries
            .into_iter()
            .map(|(k, v)| (k.into(), v.into().0))
            .collect();
        ConfigValue(toml::Value::Table(table))
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigValue;

    #[test]
    fn values_become_what_a_file_would_hold() {
        assert_eq!(ConfigValue::from(true).0, toml::Value::Boolean(true));
        assert_eq!(ConfigValue::from(7u32).0, toml::Value::Integer(7));
        assert_eq!(ConfigValue::from(-7).0, toml::Value::Integer(-7));
        assert_eq!(
            ConfigValue::from(u64::MAX).0,
            toml::Value::String("18446744073709551615".into())
        );
        assert_eq!(ConfigValue::from(0.5).0, toml::Value::Float(0.5));
        assert_eq!(
            ConfigValue::from(std::path::Path::new("/var/log")).0,
            toml::Value::String("/var/log".into())
        );
        let table: ConfigValue = [("show_code_info", true)].into_iter().collect();
        assert_eq!(format!("{table:?}"), "{ show_code_info = true }");
    }
}
