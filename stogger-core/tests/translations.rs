//! `translation_dir` + `language` with a real translation file, through a
//! real pipeline into real log files (one test: logging is process-global).

use stogger_core::testing::capture;
use stogger_core::{Stogger, Value};

const DE: &str = r#"# Übersetzungen
user-login = "Benutzer {username} hat sich angemeldet"
order-shipped = "Bestellung {order_id:,} ist unterwegs ({carrier!r})"
unknown-field = "Wert: {nope}"

broken = "Offen {username"
number = 5
by-key = "Über den Schlüssel: {n}"
"#;

fn init(dir: &std::path::Path, tr: &std::path::Path, format: &str) -> stogger_core::LoggingGuard {
    Stogger::builder()
        .logdir(dir)
        .syslog_identifier("tr-test")
        .log_to_console(false)
        .set("systemd", "off")
        .set("translation_dir", tr.to_string_lossy().into_owned())
        .set("language", "de")
        .set("log_format", format.to_string())
        .init()
        .expect("init")
}

fn log_events() {
    tracing::info!(
        username = "alice",
        _replace_msg = "User {username} logged in",
        "user-login"
    );
    tracing::info!(order_id = 12345, carrier = "ups", "order-shipped");
    tracing::info!("unknown-field");
    tracing::info!(username = "bob", "broken");
    tracing::info!(n = 3, _msg_key = "by-key", "some-event");
    tracing::info!(n = 4, "untranslated");
}

#[test]
fn translated_sentences_on_file_and_json_with_warnings_at_start() {
    let tr = tempfile::tempdir().expect("temp dir");
    let file = tr.path().join("de.toml");
    std::fs::write(&file, DE).expect("write de.toml");
    let text_dir = tempfile::tempdir().expect("temp dir");
    let cap = capture();
    let guard = init(text_dir.path(), tr.path(), "simple");
    log_events();
    drop(guard);

    let warnings: Vec<String> = cap
        .events()
        .iter()
        .filter(|e| e.name() == "translation-warning")
        .map(|e| e.get("detail").map(Value::to_string).unwrap_or_default())
        .collect();
    let f = file.display();
    assert_eq!(
        warnings,
        [
            format!("translation `broken` at {f}:6 is not a valid template: unclosed `{{` at byte 6; ignored"),
            format!("translation `number` at {f}:7 is not a string; ignored"),
        ]
    );

    let log = std::fs::read_to_string(text_dir.path().join("tr-test.log")).expect("log");
    let body = |event: &str| {
        log.lines()
            .find(|l| l.split_whitespace().nth(2) == Some(event))
            .map(|l| {
                l.splitn(4, char::is_whitespace)
                    .nth(3)
                    .unwrap_or("")
                    .trim_start()
                    .to_string()
            })
            .unwrap_or_else(|| panic!("no {event} line in {log}"))
    };
    assert_eq!(body("user-login"), "Benutzer alice hat sich angemeldet");
    assert_eq!(
        body("order-shipped"),
        "Bestellung 12,345 ist unterwegs ('ups')"
    );
    assert_eq!(body("unknown-field"), "Wert: <missing>");
    assert_eq!(
        body("broken"),
        "username='bob'",
        "a bad template is not used"
    );
    assert_eq!(body("some-event"), "Über den Schlüssel: 3");
    assert_eq!(body("untranslated"), "n=4");

    // The JSON file's `message` is the translation too; the event id stays.
    let json_dir = tempfile::tempdir().expect("temp dir");
    let guard = init(json_dir.path(), tr.path(), "json");
    log_events();
    drop(guard);
    let json = std::fs::read_to_string(json_dir.path().join("tr-test.log")).expect("log");
    let lines: Vec<serde_json::Value> = json
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let message = |event: &str| {
        lines
            .iter()
            .find(|l| l["event"] == event)
            .map(|l| l["message"].clone())
            .unwrap_or_else(|| panic!("no {event} in {json}"))
    };
    assert_eq!(message("user-login"), "Benutzer alice hat sich angemeldet");
    assert_eq!(message("some-event"), "Über den Schlüssel: 3");
    assert_eq!(message("untranslated"), serde_json::Value::Null);

    // A missing file is one warning naming it; logging goes on.
    let cap = capture();
    let guard = Stogger::builder()
        .logdir(json_dir.path())
        .log_to_console(false)
        .set("systemd", "off")
        .set("translation_dir", tr.path().to_string_lossy().into_owned())
        .set("language", "fr")
        .init()
        .expect("init without the file");
    drop(guard);
    let missing = cap
        .events()
        .into_iter()
        .find(|e| e.name() == "translation-warning")
        .expect("warning");
    let detail = missing
        .get("detail")
        .map(Value::to_string)
        .unwrap_or_default();
    assert!(
        detail.starts_with(&format!(
            "cannot read the translation file {}",
            tr.path().join("fr.toml").display()
        )),
        "{detail}"
    );
}
