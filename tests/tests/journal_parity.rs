//! Python stogger's journal field names against a real systemd-journald:
//! `journalctl EVENT=...` finds the entries a migrated query looks for, and
//! `MESSAGE` shows translated sentences.
//!
//! Needs root and systemd-journald/journalctl (see tests/src/journald.rs).

use stogger_core::testing::capture;
use stogger_core::{CodeLocation, Event, Level, Stogger};
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
    let cap = capture();
    let guard = Stogger::builder()
        .set("systemd", "required")
        .set("journal_socket", jd.socket().display().to_string())
        .syslog_identifier(ident)
        .log_to_console(false)
        .set("log_to_file", false)
        .set("translation_dir", tr.path().display().to_string())
        .set("language", "de")
        .init()
        .expect("journal socket is there");
    let warnings: Vec<Event> = cap
        .events()
        .into_iter()
        .filter(|e| e.name() == "translation-warning")
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut code = CodeLocation::default();
    code.module = Some("billing::auth".into());
    let login = Event::new(Level::Info, "user-login")
        .with("username", "alice")
        .with("_replace_msg", "User {username} logged in")
        .with_code_location(code);
    stogger_core::emit(login);
    stogger_core::emit(Event::new(Level::Warning, "disk-low").with("free_mb", 12));
    guard.flush();
    // The two events, and the target's own `systemd-journal-active`.
    jd.wait_for(&["-t", ident], 3)
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
