//! Python stogger's journal field names against a real systemd-journald:
//! `journalctl EVENT=...` finds the entries a migrated query looks for, and
//! `MESSAGE` shows translated sentences.
//!
//! Needs root and systemd-journald/journalctl (see tests/src/journald.rs).

use std::sync::Arc;
use stogger_core::config::{Config, SystemdMode};
use stogger_core::output::journal;
use stogger_core::render::translate::Translations;
use stogger_core::{Event, Level, Output};
use stogger_tests::journald::Journald;

#[test]
fn journalctl_finds_events_by_event_and_level_with_translated_messages() {
    let jd = Journald::start().unwrap_or_else(|why| panic!("cannot run the journal tests: {why}"));
    let ident = "stogger-e2e-parity";
    let tr = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        tr.path().join("de.toml"),
        "user-login = \"Benutzer {username} hat sich angemeldet\"\n",
    )
    .expect("write de.toml");
    let (translations, warnings) = Translations::load(tr.path(), "de");
    assert!(warnings.is_empty(), "{warnings:?}");
    let cfg = Config {
        systemd: SystemdMode::Required,
        journal_socket: jd.socket().to_path_buf(),
        syslog_identifier: ident.to_string(),
        ..Config::default()
    };
    let target = journal::open_translated(&cfg, &mut Vec::new(), translations.map(Arc::new))
        .expect("journal socket is there")
        .expect("journal target");
    let mut login = Event::new(Level::Info, "user-login")
        .with("username", "alice")
        .with("_replace_msg", "User {username} logged in");
    login.code.module = Some("billing::auth".into());
    target.handle(&login, Output::Journal.into());
    target.handle(
        &Event::new(Level::Warning, "disk-low").with("free_mb", 12),
        Output::Journal.into(),
    );
    target.flush();
    jd.wait_for(&["-t", ident], 2)
        .unwrap_or_else(|e| panic!("{e}"));

    let by_event = jd.entries(&["EVENT=user-login"]).expect("query EVENT=");
    assert_eq!(by_event.len(), 1, "{by_event:?}");
    let e = &by_event[0];
    assert_eq!(
        e.get("MESSAGE").as_deref(),
        Some("user-login: Benutzer alice hat sich angemeldet")
    );
    assert_eq!(e.get("LEVEL").as_deref(), Some("info"));
    assert_eq!(e.get("CODE_MODULE").as_deref(), Some("billing::auth"));
    assert_eq!(e.get("USERNAME").as_deref(), Some("alice"));
    // The names earlier versions wrote still find it.
    assert_eq!(e.get("STOGGER_EVENT").as_deref(), Some("user-login"));

    let by_level = jd
        .entries(&["-t", ident, "LEVEL=warning"])
        .expect("query LEVEL=");
    assert_eq!(by_level.len(), 1, "{by_level:?}");
    assert_eq!(by_level[0].get("EVENT").as_deref(), Some("disk-low"));
    assert_eq!(
        by_level[0].get("MESSAGE").as_deref(),
        Some("disk-low: free_mb=12"),
        "an event without a translation keeps its body"
    );
}
