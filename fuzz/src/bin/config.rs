//! The configuration loader: any bytes as `stogger.toml` (and, after the
//! first NUL, as `NAME=VALUE` lines of `STOGGER_*` variables). It returns
//! a configuration or an error, never panics; an error names a key, a
//! file or a variable.

use stogger_core::config::{load_from_vars, ConfigError};

fn main() {
    let dir = std::env::temp_dir().join(format!("stogger-fuzz-config-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("stogger.toml");
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        let (doc, env) = text.split_once('\0').unwrap_or((&text, ""));
        if std::fs::write(&file, doc).is_err() {
            return;
        }
        let vars: Vec<(String, String)> = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (format!("STOGGER_{k}"), v.to_string()))
            .collect();
        match load_from_vars(&dir, vars, &[]) {
            Ok(_) => {}
            Err(ConfigError::InvalidValue { key, .. }) => assert!(!key.is_empty()),
            Err(_) => {}
        }
    });
}
