//! `LoggingGuard::close`: what one configuration did not deliver, from its
//! start to its close.

use stogger_core::{Event, Level, Output, Stogger};

fn quiet(logdir: &std::path::Path) -> stogger_core::Builder {
    Stogger::builder()
        .logdir(logdir)
        .syslog_identifier("report-test")
        .log_to_console(false)
        .set("systemd", "off")
}

#[test]
fn the_report_names_what_did_not_start_and_covers_replaced_guards() {
    let dir = tempfile::tempdir().expect("temp dir");

    // Everything enabled started and took the event.
    let guard = quiet(dir.path()).init().expect("init");
    stogger_core::emit(Event::new(Level::Info, "report-clean"));
    let report = guard.close();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.failures(), 0);
    let file = std::fs::read_to_string(dir.path().join("report-test.log")).expect("log file");
    assert!(file.contains("report-clean"), "{file}");

    // The log directory cannot be created: the file output did not start.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").expect("write");
    let guard = quiet(&blocker.join("logs")).init().expect("init");
    let report = guard.close();
    assert!(!report.is_complete());
    assert_eq!(report.not_started().len(), 1, "{report}");
    assert_eq!(report.not_started()[0].output, Output::File);
    assert_eq!(report.not_started()[0].event, "file-logging-setup-failed");
    assert!(
        report
            .to_string()
            .contains("not started: file-logging-setup-failed"),
        "{report}"
    );

    // A guard whose configuration a later init_logging replaced: that call
    // closed it, and its report still covers it.
    let first = quiet(&blocker.join("logs")).init().expect("init");
    let second = quiet(dir.path()).init().expect("init");
    let replaced = first.close();
    assert_eq!(replaced.not_started().len(), 1, "{replaced}");
    assert!(second.close().is_complete());
}
