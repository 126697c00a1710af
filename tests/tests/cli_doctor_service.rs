//! `stogger doctor --service PATH`: the plugin search of the service at
//! PATH (a real service binary built without the `postgres` feature), with
//! a real plugin, a plugin of another ABI version and none at all, checked
//! against what the service itself then loads and writes into a throwaway
//! PostgreSQL.

mod cli_support;
mod postgres_support;

use cli_support::{status, stogger, Setup};
use postgres_support::{dynamic_service, plugin_so, run, wrong_abi_plugin, Outcome};
use std::path::Path;

/// Runs `stogger args...` in the setup's directory with its environment plus
/// `extra`, without `LD_LIBRARY_PATH` (cargo's points at target/debug, which
/// holds a plugin) or any inherited `STOGGER_*`.
fn stogger_in(s: &Setup, args: &[&str], extra: &[(&str, &str)]) -> Outcome {
    run(&stogger(), args, s.dir.path(), &env(s, extra))
}

fn env<'a>(s: &'a Setup, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env: Vec<(&str, &str)> = s
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.extend_from_slice(extra);
    env
}

fn doctor_service(s: &Setup, exe: &Path, extra: &[(&str, &str)]) -> (Outcome, serde_json::Value) {
    let exe = exe.to_str().expect("utf-8 temp path");
    let out = stogger_in(s, &["doctor", "--json", "--service", exe], extra);
    let doc = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json ({e}): {out:#?}"));
    (out, doc)
}

#[test]
fn doctor_reports_the_file_the_service_then_loads_and_writes_with() {
    let s = Setup::new("cli-doctor-service");
    // An installed layout: <prefix>/bin/service and <prefix>/lib/stogger/plugin.
    let prefix = s.dir.path().join("opt");
    let exe = dynamic_service(&prefix);
    let lib = prefix.join("lib/stogger");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(plugin_so(), lib.join("libstogger_postgres.so")).unwrap();
    let expected = prefix
        .canonicalize()
        .unwrap()
        .join("bin/../lib/stogger/libstogger_postgres.so");

    let (out, doc) = doctor_service(&s, &exe, &[]);
    assert_eq!(out.code, Some(0), "{doc:#}");
    let plugin = &doc["sections"]["plugin"];
    assert_eq!(plugin["status"], "ok", "{plugin:#}");
    assert_eq!(plugin["for"], "service");
    assert_eq!(plugin["how"], "dynamic");
    assert_eq!(plugin["abi_version"], stogger_core::plugin::ABI_VERSION);
    assert_eq!(plugin["path"], expected.display().to_string());
    assert!(
        plugin["detail"].as_str().unwrap().contains(&format!(
            "would load {} (ABI {})",
            expected.display(),
            stogger_core::plugin::ABI_VERSION
        )),
        "{plugin:#}"
    );

    // The service, run the same way, loads that very file and writes rows.
    let service = run(&exe, &["seed"], s.dir.path(), &env(&s, &[]));
    service.assert_success();
    assert_eq!(
        service.plugin_status(),
        format!(
            "loaded from {} (ABI {})",
            expected.display(),
            stogger_core::plugin::ABI_VERSION
        ),
        "{service:#?}"
    );
    assert_eq!(
        s.sql("SELECT count(*) FROM stogger_logs WHERE event = 'user-login'"),
        "2"
    );
}

#[test]
fn no_plugin_anywhere_is_an_error_naming_every_place_and_the_fix() {
    let s = Setup::new("cli-doctor-service-none");
    let exe = dynamic_service(&s.dir.path().join("svc"));
    let empty = tempfile::tempdir().unwrap();
    let empty_dir = empty.path().to_str().unwrap();
    let (out, doc) = doctor_service(&s, &exe, &[("STOGGER_PLUGIN_DIR", empty_dir)]);
    assert_eq!(out.code, Some(1), "{doc:#}");
    let plugin = &doc["sections"]["plugin"];
    assert_eq!(plugin["status"], "error", "{plugin:#}");
    assert_eq!(plugin["how"], "absent");
    let searched: Vec<&str> = plugin["searched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let bin = exe.parent().unwrap().canonicalize().unwrap();
    for place in [
        empty.path().join("libstogger_postgres.so"),
        bin.join("libstogger_postgres.so"),
        bin.join("../lib/stogger/libstogger_postgres.so"),
        "/usr/local/lib/stogger/libstogger_postgres.so".into(),
        "/usr/lib/stogger/libstogger_postgres.so".into(),
    ] {
        assert!(
            searched.contains(&place.to_str().unwrap()),
            "{} not in {searched:?}",
            place.display()
        );
    }
    let hint = plugin["hint"].as_str().unwrap();
    assert!(
        hint.contains("STOGGER_PLUGIN_DIR") && hint.contains("/usr/lib/stogger/"),
        "{hint}"
    );
    // The rest is still checked: the command has the driver built in.
    assert_eq!(doc["sections"]["database"]["connected"], true);
}

#[test]
fn a_plugin_of_another_abi_version_is_refused_naming_both_versions() {
    let s = Setup::new("cli-doctor-service-abi");
    let exe = dynamic_service(&s.dir.path().join("svc"));
    let plugins = wrong_abi_plugin(s.dir.path());
    let (out, doc) = doctor_service(
        &s,
        &exe,
        &[("STOGGER_PLUGIN_DIR", plugins.to_str().unwrap())],
    );
    assert_eq!(out.code, Some(1), "{doc:#}");
    let plugin = &doc["sections"]["plugin"];
    assert_eq!(plugin["status"], "error", "{plugin:#}");
    assert_eq!(plugin["how"], "abi-mismatch");
    assert_eq!(plugin["abi_version"], 999);
    assert_eq!(plugin["abi_expected"], stogger_core::plugin::ABI_VERSION);
    let detail = plugin["detail"].as_str().unwrap();
    assert!(
        detail.contains("version 999")
            && detail.contains(&format!(
                "needs version {}",
                stogger_core::plugin::ABI_VERSION
            )),
        "{detail}"
    );
    assert!(
        plugin["hint"]
            .as_str()
            .unwrap()
            .contains("same stogger release"),
        "{plugin:#}"
    );
    assert_eq!(status(&doc, "postgres"), "ok", "the other sections go on");
    assert_eq!(doc["sections"]["database"]["connected"], true);
}

#[test]
fn a_service_path_that_is_no_file_is_an_error() {
    let s = Setup::new("cli-doctor-service-missing");
    let out = stogger_in(&s, &["doctor", "--service", "/nonexistent/service"], &[]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stdout
            .contains("cannot check the service: /nonexistent/service"),
        "{}",
        out.stdout
    );
}
