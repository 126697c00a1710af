//! The plugin section: what the CLI itself uses (linked in or loaded), or,
//! with `--service PATH`, what the service at PATH would load — the
//! library's own search ([`plugin::status_for_executable`]), run for that
//! executable.

use super::report::{Section, Status};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use stogger_core::config::Config;
use stogger_core::plugin::{self, PluginStatus};

const ABOUT_CLI: &str = "this line is about the stogger command itself, not your service: \
                         `stogger doctor --service PATH` checks what the service at PATH would load";

const STATIC_SERVICES: &str = "a service built with stogger-core's `postgres` feature links the \
                               plugin in and searches nothing; this is the search of a service \
                               built without it";

/// The plugin as this `stogger` command has it.
pub fn for_cli(cfg: &Config) -> Section {
    let status = plugin::plugin_status(cfg);
    let detail = format!("this stogger command: {}", describe(&status));
    section(cfg, &status, detail, None)
        .fact("for", "cli")
        .note(ABOUT_CLI)
}

/// The plugin as the service executable `exe` would find it.
pub fn for_service(cfg: &Config, exe: &Path) -> Section {
    let status = match plugin::status_for_executable(cfg, exe) {
        Ok(status) => status,
        Err(e) => {
            return Section::new(
                "plugin",
                Status::Error,
                format!("cannot check the service: {e}"),
            )
            .fact("for", "service")
            .fact("service", exe.display().to_string())
            .hint("give --service the path of the service's executable file")
        }
    };
    let detail = match &status {
        PluginStatus::Loaded { path, abi } => format!(
            "service {} would load {} (ABI {abi})",
            exe.display(),
            path.display()
        ),
        other => format!("service {}: {}", exe.display(), describe(other)),
    };
    section(cfg, &status, detail, Some(exe))
        .fact("for", "service")
        .fact("service", exe.display().to_string())
        .note(STATIC_SERVICES)
}

/// The status in a few words (the places searched go on a line of their own).
fn describe(status: &PluginStatus) -> String {
    match status {
        PluginStatus::NotFound { .. } => format!(
            "{} not found",
            plugin::library_file_name().to_string_lossy()
        ),
        other => other.to_string(),
    }
}

fn searched(list: &[PathBuf]) -> Json {
    Json::Array(
        list.iter()
            .map(|p| Json::String(p.display().to_string()))
            .collect(),
    )
}

/// The section for a discovery result; `service` names the executable the
/// search was run for (`None`: this command).
fn section(cfg: &Config, status: &PluginStatus, detail: String, service: Option<&Path>) -> Section {
    let needed = cfg.enable_postgres;
    let missing_status = if needed { Status::Error } else { Status::Off };
    let file = plugin::library_file_name().to_string_lossy().into_owned();
    match status {
        PluginStatus::Static => Section::new("plugin", Status::Ok, detail).fact("how", "static"),
        PluginStatus::Loaded { path, abi } => {
            let mut s = Section::new(
                "plugin",
                if needed { Status::Ok } else { Status::Off },
                detail,
            )
            .fact("how", "dynamic")
            .fact("path", path.display().to_string())
            .fact("abi_version", *abi);
            if !needed {
                s = s.hint("found but unused: set enable_postgres = true to log to PostgreSQL");
            }
            s
        }
        PluginStatus::NotFound { searched: list } => {
            let place = match service.and_then(Path::parent) {
                Some(dir) => format!(
                    "next to the service ({}), into {}/../lib/stogger/ or /usr/lib/stogger/ \
                     (where the stogger package puts it)",
                    dir.display(),
                    dir.display()
                ),
                None => "next to the service's executable".to_string(),
            };
            Section::new(
                "plugin",
                missing_status,
                if needed {
                    detail
                } else {
                    format!("{detail} (not needed: enable_postgres = false)")
                },
            )
            .fact("how", "absent")
            .fact("searched", searched(list))
            .note(format!("searched: {}", plugin::describe_searched(list)))
            .hint(format!(
                "install {file} {place}, or point STOGGER_PLUGIN_DIR at its directory or \
                 postgres_plugin at the file; or build the service with stogger-core's \
                 `postgres` feature"
            ))
        }
        PluginStatus::AbiMismatch {
            path,
            found,
            expected,
        } => Section::new("plugin", missing_status, detail)
            .fact("how", "abi-mismatch")
            .fact("path", path.display().to_string())
            .fact("abi_version", *found)
            .fact("abi_expected", *expected)
            .hint(format!(
                "replace {} with the plugin of the same stogger release as the service \
                 (ABI version {expected})",
                path.display()
            )),
        PluginStatus::LoadError { path, error } => Section::new("plugin", missing_status, detail)
            .fact("how", "load-error")
            .fact("path", path.display().to_string())
            .fact("error", error.clone())
            .hint(format!(
                "replace {} with a stogger-postgres plugin built for this machine",
                path.display()
            )),
    }
}
