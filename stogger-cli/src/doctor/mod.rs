//! `stogger doctor`: one section per concern — configuration, the console,
//! file and journal targets, the PostgreSQL target, the plugin, the
//! database, its partitions — each with a status, a detail and a fix.

mod database;
mod partitions;
mod plugin;
pub mod report;
mod spool;
mod targets;

use crate::dsn::{self, Secrets};
use crate::settings;
use report::{Report, Section, Status, SubTable};
use serde_json::Value as Json;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use stogger_core::config::{self, ConfigError, Loaded, Origin, KEYS};

/// Runs the doctor; returns the exit code (0 healthy, 1 otherwise).
/// `service`: report the plugin search of that executable instead of the CLI's.
pub fn run(json: bool, service: Option<&Path>) -> u8 {
    let (loaded, errors) = load_config();
    let report = diagnose(loaded.as_ref(), &errors, service);
    let secrets = Secrets::new(
        loaded
            .as_ref()
            .and_then(|l| l.config.postgres_dsn.as_deref()),
        std::env::var(dsn::PASSWORD_VAR).ok().as_deref(),
    );
    let text = if json {
        let mut s = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
        s.push('\n');
        s
    } else {
        let stdout = std::io::stdout();
        let color = stogger_core::output::console::color_rule(
            std::env::var("NO_COLOR").ok(),
            std::env::var("CLICOLOR_FORCE").ok(),
            std::env::var("TERM").ok(),
            stdout.is_terminal(),
        );
        report.to_text(color)
    };
    let _ = std::io::stdout().write_all(secrets.scrub(&text).as_bytes());
    if report.healthy() {
        0
    } else {
        1
    }
}

/// Builds the whole report.
pub fn diagnose(loaded: Option<&Loaded>, errors: &[ConfigError], service: Option<&Path>) -> Report {
    let mut report = Report::default();
    report.sections.push(configuration(loaded, errors));
    let default_cfg = config::Config::default();
    let cfg = loaded.map_or(&default_cfg, |l| &l.config);
    // Written without map_or/is_none_or: clippy-clean under both MSRVs.
    let identifier_is_default = match loaded {
        None => true,
        Some(l) => matches!(
            l.origins.get("syslog_identifier"),
            None | Some(Origin::Default)
        ),
    };
    report.sections.push(targets::console(cfg));
    report
        .sections
        .push(targets::file(cfg, identifier_is_default));
    report.sections.push(targets::journal(cfg));
    report.sections.push(targets::postgres(cfg));
    report.sections.push(match service {
        Some(exe) => plugin::for_service(cfg, exe),
        None => plugin::for_cli(cfg),
    });
    report.sections.extend(database::sections(cfg));
    report.sections.push(database::sync_pool(cfg));
    report.sections.push(spool::section(cfg));
    report
}

/// Loads the configuration like the library. On an invalid value the error
/// is kept and loading is retried without the faulty source (the variable,
/// or the whole file), so the doctor can still report on the rest.
pub fn load_config() -> (Option<Loaded>, Vec<ConfigError>) {
    let first = match config::load(&[]) {
        Ok(l) => return (Some(l), Vec::new()),
        Err(e) => e,
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("STOGGER_") || k == "RUST_LOG")
        .collect();
    let mut dir = cwd;
    let mut errors = vec![first];
    for _ in 0..=KEYS.len() {
        let Some(last) = errors.last() else { break };
        match last {
            ConfigError::InvalidValue {
                origin: Origin::Env(var),
                ..
            } => {
                let var = var.clone();
                vars.retain(|(k, _)| *k != var);
            }
            _ => {
                // The file is at fault: go on with defaults and environment.
                vars.retain(|(k, _)| k != "STOGGER_CONFIG");
                dir = no_config_dir();
            }
        }
        match config::load_from_vars(&dir, vars.clone(), &[]) {
            Ok(l) => return (Some(l), errors),
            Err(e) if errors.contains(&e) => break,
            Err(e) => errors.push(e),
        }
    }
    (None, errors)
}

/// A directory that holds no config file (it does not exist).
fn no_config_dir() -> PathBuf {
    std::env::temp_dir().join(format!("stogger-doctor-no-config-{}", std::process::id()))
}

fn origin_text(origin: &Origin, loaded: &Loaded) -> String {
    match origin {
        Origin::Default => "default".to_string(),
        Origin::File(path) => match loaded.file_table {
            Some(table) => format!("{} [{table}]", path.display()),
            None => path.display().to_string(),
        },
        Origin::Code => "code".to_string(),
        Origin::Env(var) => format!("env {var}"),
    }
}

fn configuration(loaded: Option<&Loaded>, errors: &[ConfigError]) -> Section {
    let mut section = match (loaded, errors.first()) {
        (_, Some(first)) => Section::new("configuration", Status::Error, first.to_string()).hint(
            "fix the value named above; until then init_logging() fails and the service \
                 logs nothing",
        ),
        (Some(l), None) => {
            let source = match &l.file {
                Some(path) => format!("config file {}", path.display()),
                None => "no config file (defaults and environment)".to_string(),
            };
            Section::new(
                "configuration",
                Status::Ok,
                format!("{} settings; {source}", KEYS.len()),
            )
        }
        (None, None) => Section::new("configuration", Status::Error, "not loaded"),
    };
    section = section.fact(
        "errors",
        Json::Array(errors.iter().map(|e| e.to_string().into()).collect()),
    );
    for e in errors.iter().skip(1) {
        section = section.note(format!("also: {e}"));
    }
    if let (Some(_), Some(_)) = (loaded, errors.first()) {
        let note = "the values below and the other sections leave out the faulty source (the \
                    variable, or the whole config file)";
        section = section.fact("note", note).note(note);
    }
    let Some(l) = loaded else {
        return section;
    };
    section = section.fact(
        "file",
        l.file
            .as_deref()
            .map(|p| Json::String(p.display().to_string()))
            .unwrap_or(Json::Null),
    );
    section = section.fact(
        "warnings",
        Json::Array(l.warnings.iter().map(|w| w.clone().into()).collect()),
    );
    if !l.warnings.is_empty() {
        section.raise(Status::Warning);
        if section.hint.is_none() {
            section.hint = Some(
                "remove or rename the unknown keys: they are ignored, so the setting you meant \
                 is not applied"
                    .to_string(),
            );
        }
        for w in &l.warnings {
            section = section.note(format!("warning: {w}"));
        }
    }
    section = section.table(filters_table(l));
    let rows = KEYS
        .iter()
        .map(|k| {
            let value = settings::value_of(&l.config, k.name).unwrap_or_default();
            let origin = l
                .origins
                .get(k.name)
                .map(|o| origin_text(o, l))
                .unwrap_or_else(|| "default".to_string());
            vec![k.name.into(), value.into(), origin.into()]
        })
        .collect();
    section.table(SubTable {
        name: "values",
        header: vec!["key", "value", "from"],
        rows,
        in_text: true,
    })
}

/// The filter each output uses and the keys (with their sources) it comes
/// from: `log_filter` taken from `RUST_LOG` says `env RUST_LOG`.
fn filters_table(l: &Loaded) -> SubTable {
    let rows = l
        .filters()
        .into_iter()
        .map(|f| {
            let from: Vec<String> = f
                .sources
                .iter()
                .map(|(key, origin)| format!("{key} ({})", origin_text(origin, l)))
                .collect();
            vec![
                f.output.as_str().into(),
                f.directives.into(),
                from.join(" + ").into(),
            ]
        })
        .collect();
    SubTable {
        name: "filters",
        header: vec!["output", "filter in force", "from"],
        rows,
        in_text: true,
    }
}

/// Whether a path exists as a unix socket.
pub(crate) fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}
