//! The settings the CLI's own connections use (`stogger query` through the
//! plugin's `LogReader`, `stogger doctor` through its `check`): those the
//! service's writer is started with, so the CLI connects like the service
//! (the same DSN forms, TLS modes and timeouts; the password redacted from
//! every message).

use crate::dsn;
use stogger_core::config::{Config, PgSettings};

/// The settings the service starts its writer with
/// ([`Config::postgres_settings`]): `%PASSWORD%` filled in from
/// `STOGGER_POSTGRES_PASSWORD`, and the connection named after the tool
/// (`application_name`). Errors name what is missing (the service would try
/// an empty password instead).
pub fn settings(cfg: &Config, application_name: &str) -> Result<PgSettings, String> {
    let password = std::env::var(dsn::PASSWORD_VAR).ok();
    let needs_password = cfg
        .postgres_dsn
        .as_deref()
        .is_some_and(|d| d.contains(dsn::PLACEHOLDER));
    if needs_password && password.is_none() {
        return Err(format!(
            "postgres_dsn contains {} but {} is not set",
            dsn::PLACEHOLDER,
            dsn::PASSWORD_VAR
        ));
    }
    let mut settings = cfg
        .postgres_settings(password.as_deref().unwrap_or(""))
        .ok_or_else(|| {
            "postgres_dsn is not set (in stogger.toml, or STOGGER_POSTGRES_DSN)".to_string()
        })?;
    settings.application_name = Some(application_name.to_string());
    Ok(settings)
}
