//! Property: any TOML document and any `STOGGER_*` environment give a
//! configuration or an error naming a key, never a panic, and never an
//! unknown key accepted in silence.
//!
//! In process ([`load_from_vars`], many cases): every key of the document
//! and every variable is either applied (its origin says so), or named in
//! a warning, or named by the error; an error's value, on its own, fails
//! the same way; a syntax error only for text TOML does not parse.
//!
//! In a child process (`init_logging()` itself, fewer cases), with
//! variables of any bytes: lone surrogates (as WTF-8 writes them) and
//! other invalid UTF-8 included.

mod prop_support;

use prop_support::gen::{self, ConfigFile};
use prop_support::{check, fail};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use stogger_core::config::{load_from_vars, ConfigError, Loaded, Origin, KEYS};

/// Variables read elsewhere, and prefixes kept for tests and benchmarks
/// (docs/configuration.md): not keys, not warned about.
const NOT_KEYS: &[&str] = &[
    "STOGGER_CONFIG",
    "STOGGER_POSTGRES_PASSWORD",
    "STOGGER_PLUGIN_DIR",
];
const QUIET_PREFIXES: &[&str] = &["STOGGER_TEST_", "STOGGER_BENCH_"];

fn file_name(kind: ConfigFile) -> &'static str {
    match kind {
        ConfigFile::Stogger => "stogger.toml",
        ConfigFile::Cargo => "Cargo.toml",
        ConfigFile::Pyproject => "pyproject.toml",
        ConfigFile::Explicit => "settings.toml",
    }
}

/// The settings table of a document, as the loader should find it.
fn settings(kind: ConfigFile, text: &str) -> Option<toml::Table> {
    let doc: toml::Table = text.parse().ok()?;
    let path: &[&str] = match kind {
        ConfigFile::Cargo => &["package", "metadata", "stogger"],
        ConfigFile::Pyproject => &["tool", "stogger"],
        _ => &[],
    };
    let mut table = &doc;
    for key in path {
        table = table.get(*key)?.as_table()?;
    }
    Some(table.clone())
}

fn is_key(name: &str) -> bool {
    KEYS.iter().any(|k| k.name == name)
}

/// Every key of the document with its dotted name (`format.min_level`)
/// and the name a warning uses for it.
fn document_keys(table: &toml::Table) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    for (k, v) in table {
        match (k.as_str(), v.as_table()) {
            ("format", Some(format)) => {
                keys.extend(format.keys().map(|s| (format!("format.{s}"), s.clone())))
            }
            _ => keys.push((k.clone(), k.clone())),
        }
    }
    keys
}

/// Whether `warnings` names `what` (as `` `what` `` or a variable name).
fn warned(warnings: &[String], what: &str) -> bool {
    warnings.iter().any(|w| w.contains(what))
}

/// Checks an `Ok` load against the document and the environment.
fn check_loaded(
    loaded: &Loaded,
    table: Option<&toml::Table>,
    env: &BTreeMap<String, String>,
) -> Result<(), TestCaseError> {
    for (name, value) in env {
        if !name.starts_with("STOGGER_") || NOT_KEYS.contains(&name.as_str()) {
            continue;
        }
        match KEYS.iter().find(|k| k.env == name) {
            Some(k) => prop_assert_eq!(
                &loaded.origins[k.name],
                &Origin::Env(name.clone()),
                "{}={:?} applied",
                name,
                value
            ),
            None if QUIET_PREFIXES.iter().any(|p| name.starts_with(p)) => {}
            None => prop_assert!(
                warned(&loaded.warnings, &format!("variable {name} ")),
                "unknown {} not warned about: {:?}",
                name,
                loaded.warnings
            ),
        }
    }
    let Some(table) = table else {
        return Ok(());
    };
    for (dotted, short) in document_keys(table) {
        if is_key(&dotted) {
            let by_env = KEYS
                .iter()
                .find(|k| k.name == dotted)
                .is_some_and(|k| env.contains_key(k.env));
            if !by_env {
                prop_assert!(
                    matches!(loaded.origins[dotted.as_str()], Origin::File(_)),
                    "{} from the file: {:?}",
                    dotted,
                    loaded.origins[dotted.as_str()]
                );
            }
        } else {
            prop_assert!(
                warned(&loaded.warnings, &format!("unknown key `{short}`")),
                "unknown key {:?} accepted in silence; warnings: {:?}",
                dotted,
                loaded.warnings
            );
        }
    }
    Ok(())
}

/// Checks an error: it names a key (or says which file or variable),
/// and the value it names fails on its own too.
fn check_error(
    err: &ConfigError,
    text: Option<&str>,
    kind: ConfigFile,
    env: &BTreeMap<String, String>,
) -> Result<(), TestCaseError> {
    let message = err.to_string();
    match err {
        ConfigError::InvalidValue { key, origin, .. } => {
            prop_assert!(message.contains(&format!("`{key}`")), "{}", message);
            match origin {
                Origin::Env(var) => {
                    let value = env
                        .get(var)
                        .ok_or_else(|| fail(format!("{var} was not set: {message}")))?;
                    let alone = load_from_vars(
                        Path::new("/nonexistent-stogger-dir"),
                        [(var.clone(), value.clone())],
                        &[],
                    );
                    prop_assert!(alone.is_err(), "{}={:?} alone is fine", var, value);
                }
                Origin::File(_) => {
                    let known = is_key(key)
                        || *key == "format"
                        || key.starts_with("package.")
                        || key.starts_with("tool.");
                    prop_assert!(known, "not a key: {}", key);
                }
                other => return Err(fail(format!("origin {other:?}: {message}"))),
            }
        }
        ConfigError::Syntax { .. } => {
            let text = text.ok_or_else(|| fail(format!("no file, yet {message}")))?;
            prop_assert!(
                text.parse::<toml::Table>().is_err(),
                "valid TOML: {}",
                message
            );
        }
        ConfigError::Unreadable { .. } => {
            prop_assert!(
                kind == ConfigFile::Explicit || env.contains_key("STOGGER_CONFIG"),
                "{}",
                message
            );
        }
        ConfigError::InvalidDirective {
            key,
            origin,
            directive,
            ..
        } => {
            prop_assert!(message.contains(&format!("`{key}`")), "{}", message);
            // The directive named is part of the value that came from there.
            // From a file: the decoded string values (a TOML escape such
            // as `\u0000` names the character it stands for).
            let from = match origin {
                Origin::Env(var) => env.get(var).cloned(),
                Origin::File(_) => text.and_then(|t| t.parse::<toml::Table>().ok()).map(|t| {
                    let mut all = String::new();
                    strings_in(&toml::Value::Table(t), &mut all);
                    all
                }),
                _ => None,
            };
            let from = from.ok_or_else(|| fail(format!("origin {origin:?}: {message}")))?;
            prop_assert!(
                from.contains(directive.trim()),
                "{:?} is not in {:?}",
                directive,
                from
            );
        }
        other => return Err(fail(format!("unexpected error {other:?}"))),
    }
    Ok(())
}

/// Every string value of a TOML document, each followed by a newline.
fn strings_in(v: &toml::Value, out: &mut String) {
    match v {
        toml::Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        toml::Value::Array(items) => items.iter().for_each(|i| strings_in(i, out)),
        toml::Value::Table(t) => t.values().for_each(|i| strings_in(i, out)),
        _ => {}
    }
}

fn environment() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(gen::env_var(), 0..6)
}

#[test]
fn any_document_and_environment_give_a_config_or_an_error_naming_a_key() {
    check(
        "config_loader",
        400,
        || (gen::config_document(), environment()),
        |((kind, text), vars)| {
            let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
            std::fs::write(dir.path().join(file_name(kind)), &text)
                .map_err(|e| fail(e.to_string()))?;
            let mut env: BTreeMap<String, String> = vars.into_iter().collect();
            if kind == ConfigFile::Explicit {
                env.insert("STOGGER_CONFIG".into(), file_name(kind).into());
            }
            let explicit = env.get("STOGGER_CONFIG").cloned();
            let read = match &explicit {
                None => true,
                Some(p) => p.is_empty() || p == file_name(kind),
            };
            match load_from_vars(dir.path(), env.clone(), &[]) {
                Ok(loaded) => {
                    let table = if read { settings(kind, &text) } else { None };
                    check_loaded(&loaded, table.as_ref(), &env)
                }
                Err(err) => check_error(&err, read.then_some(text.as_str()), kind, &env),
            }
        },
    );
}

#[derive(Debug, Clone)]
struct ProbeCase {
    kind: ConfigFile,
    text: String,
    vars: Vec<(String, Vec<u8>)>,
}

fn probe_case() -> impl Strategy<Value = ProbeCase> {
    // Mostly no document, so that the environment decides.
    let document = prop::option::weighted(0.3, gen::config_document())
        .prop_map(|d| d.unwrap_or((ConfigFile::Stogger, String::new())));
    let var = (gen::env_var(), gen::os_bytes(), prop::bool::weighted(0.3)).prop_map(
        |((name, text), bytes, raw)| {
            let mut value = if raw { bytes } else { text.into_bytes() };
            value.retain(|&b| b != 0); // no environment holds NUL
            value.truncate(gen::ARG_MAX_BYTES); // nor a value over 128 kB
            (name, value)
        },
    );
    (document, proptest::collection::vec(var, 0..5)).prop_map(|((kind, text), vars)| ProbeCase {
        kind,
        text,
        vars,
    })
}

#[test]
fn init_logging_with_any_bytes_in_the_environment_reports_and_never_panics() {
    let probe = stogger_tests::service::built_binary("stogger-init-probe");
    check("init_logging_env_bytes", 32, probe_case, |c| {
        let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        std::fs::write(dir.path().join(file_name(c.kind)), &c.text)
            .map_err(|e| fail(e.to_string()))?;
        let mut cmd = std::process::Command::new(&probe);
        cmd.current_dir(dir.path())
            .env_clear()
            .env("STOGGER_SYSTEMD", "off")
            .env("STOGGER_LOGDIR", dir.path().join("logs"))
            .env("STOGGER_LOG_TO_CONSOLE", "false")
            .env("STOGGER_PLUGIN_DIR", dir.path());
        if c.kind == ConfigFile::Explicit {
            cmd.env("STOGGER_CONFIG", file_name(c.kind));
        }
        for (name, value) in &c.vars {
            cmd.env(name, OsStr::from_bytes(value));
        }
        let out = cmd
            .output()
            .map_err(|e| fail(format!("{}: {e}", probe.display())))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // What the child saw last for each name (a later setting wins).
        let mut last: BTreeMap<&str, &[u8]> = BTreeMap::new();
        for (name, value) in &c.vars {
            last.insert(name, value);
        }
        let bad_utf8_keys: Vec<&str> = last
            .iter()
            .filter(|(_, v)| std::str::from_utf8(v).is_err())
            .filter_map(|(n, _)| KEYS.iter().find(|k| k.env == *n).map(|k| k.name))
            .collect();
        match out.status.code() {
            Some(0) => {
                prop_assert!(
                    bad_utf8_keys.is_empty(),
                    "invalid UTF-8 in {:?} accepted",
                    bad_utf8_keys
                );
                for name in last.keys() {
                    let quiet = NOT_KEYS.contains(name)
                        || QUIET_PREFIXES.iter().any(|p| name.starts_with(p))
                        || KEYS.iter().any(|k| k.env == *name);
                    if !quiet {
                        prop_assert!(
                            stdout.contains(&format!("variable {name} ")),
                            "unknown {} not warned about: {}",
                            name,
                            stdout
                        );
                    }
                }
            }
            Some(2) => {
                let named = KEYS
                    .iter()
                    .any(|k| stdout.contains(&format!("`{}`", k.name)))
                    || stdout.contains("TOML syntax error")
                    || stdout.contains("STOGGER_CONFIG")
                    || stdout.contains("`format`")
                    || stdout.contains("`package.metadata.stogger`")
                    || stdout.contains("`tool.stogger`")
                    || stdout.contains("systemd = \"required\"");
                prop_assert!(named, "an error naming no key: {}", stdout);
                if !bad_utf8_keys.is_empty() {
                    prop_assert!(
                        bad_utf8_keys
                            .iter()
                            .any(|k| stdout.contains(&format!("`{k}`"))),
                        "invalid UTF-8 in {:?}, yet: {}",
                        bad_utf8_keys,
                        stdout
                    );
                }
            }
            other => {
                return Err(fail(format!(
                    "init_logging() probe exited {other:?}\nstdout: {stdout}\nstderr: {stderr}"
                )))
            }
        }
        Ok(())
    });
}

/// The shrunk input of the child-process property: an unknown variable
/// whose value holds a lone surrogate (WTF-8 `ED A0 80`) was skipped
/// without the warning every unknown variable gets.
#[test]
fn an_unknown_variable_with_invalid_utf8_is_warned_about() {
    let probe = stogger_tests::service::built_binary("stogger-init-probe");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(&probe)
        .current_dir(dir.path())
        .env_clear()
        .env("STOGGER_SYSTEMD", "off")
        .env("STOGGER_LOG_TO_CONSOLE", "false")
        .env("STOGGER_LOG_TO_FILE", "false")
        .env("STOGGER__", OsStr::from_bytes(b"true\xed\xa0\x80true"))
        .env("STOGGER_VERBOS", OsStr::from_bytes(b"\xff"))
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("variable STOGGER__ "), "{stdout}");
    assert!(
        stdout.contains("variable STOGGER_VERBOS (ignored); did you mean STOGGER_VERBOSE"),
        "{stdout}"
    );
}
