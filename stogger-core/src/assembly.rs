//! Assembling the pipeline a configuration asks for: its targets, the
//! outputs that did not start, and the events to log once it runs.
//! ([`crate::init`] installs what this assembles.)

use crate::config::{Config, LogFormat};
use crate::delivery::{NotStarted, Tally};
use crate::dispatch::Pipeline;
use crate::error::Error;
use crate::event::{now_micros, Event, Level};
use crate::output::console::{color_enabled, ConsoleLogger};
use crate::output::file::FileLogger;
use crate::output::{journal, postgres};
use crate::render::json::JsonRenderer;
use crate::render::text::{TextOptions, TextRenderer};
use crate::render::translate::{Translations, DEFAULT_LANGUAGE};
use crate::target::{Output, RenderingTarget, Target};
use std::sync::Arc;

/// A pipeline and the events to log once it is installed (setup notes such
/// as `file-logging-setup-failed`).
pub(crate) struct NewPipeline {
    pub(crate) pipeline: Pipeline,
    pub(crate) startup_events: Vec<Event>,
}

/// What building the targets has to tell once they are installed.
#[derive(Debug, Default)]
pub(crate) struct StartupLog {
    /// Events to log (`systemd-journal-active`, warnings, failures).
    pub(crate) events: Vec<Event>,
    /// The enabled outputs that did not start (for the guard's report).
    pub(crate) not_started: Vec<NotStarted>,
}

impl StartupLog {
    /// Logs `note` (an event saying why) and records that `output` did not start.
    pub(crate) fn failed(&mut self, output: Output, note: Event) {
        self.not_started.push(NotStarted {
            output,
            event: note.name.clone(),
        });
        self.events.push(note);
    }
}

fn text_renderer(cfg: &Config, color: bool) -> TextRenderer {
    TextRenderer::new(TextOptions::from_config(cfg, color, now_micros()))
}

/// The translations `translation_dir` and `language` select; a warning
/// event `translation-warning` (field `detail`) for each problem.
fn load_translations(cfg: &Config, notes: &mut Vec<Event>) -> Option<Arc<Translations>> {
    let dir = cfg.translation_dir.as_ref()?;
    let language = cfg.language.as_deref().unwrap_or(DEFAULT_LANGUAGE);
    let (translations, warnings) = Translations::load(dir, language);
    for warning in warnings {
        notes.push(Event::new(Level::Warning, "translation-warning").with("detail", warning));
    }
    translations.map(Arc::new)
}

/// Console only: the early pipeline.
pub(crate) fn assemble_console_only(cfg: &Config) -> NewPipeline {
    let text = RenderingTarget::new("console", text_renderer(cfg, color_enabled()))
        .logger(Output::Console, ConsoleLogger::new());
    NewPipeline {
        pipeline: Pipeline {
            targets: vec![Box::new(text)],
            panic_flush_timeout: cfg.panic_flush_timeout(),
            tally: Arc::default(),
        },
        startup_events: Vec::new(),
    }
}

/// Every target the configuration enables.
pub(crate) fn assemble(cfg: &Config) -> Result<NewPipeline, Error> {
    let mut startup = StartupLog::default();
    let mut targets: Vec<Box<dyn Target>> = Vec::new();
    crate::exception::set_capture_backtrace(cfg.capture_backtrace);

    let translations = load_translations(cfg, &mut startup.events);
    let journal_target = journal::build(cfg, &mut startup, translations.clone())?;
    let console_on =
        cfg.log_to_console && !(journal_target.is_some() && journal::stderr_is_journal());

    let opened = cfg.log_to_file.then(|| FileLogger::open(cfg));
    let file = match opened {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(err)) => {
            let path = cfg.logdir.join(format!("{}.log", cfg.syslog_identifier));
            startup.failed(
                Output::File,
                Event::path_failure("file-logging-setup-failed", "path", &path, err).with(
                    "_replace_msg",
                    "Cannot write the log file {path}: {error}; logging continues without it",
                ),
            );
            None
        }
    };

    let color = console_on && color_enabled();
    let mut text = RenderingTarget::new(
        "text",
        text_renderer(cfg, color).with_translations(translations.clone()),
    );
    if console_on {
        text = text.logger(Output::Console, ConsoleLogger::new());
    }
    let mut json_file = None;
    if let Some(file) = file {
        match cfg.log_format {
            LogFormat::Simple => text = text.logger(Output::File, file),
            LogFormat::Json => {
                let renderer = JsonRenderer::new().with_translations(translations.clone());
                json_file = Some(RenderingTarget::new("json", renderer).logger(Output::File, file))
            }
        }
    }
    if !text.is_empty() {
        targets.push(Box::new(text));
    }
    if let Some(j) = json_file {
        targets.push(Box::new(j));
    }
    if let Some(j) = journal_target {
        targets.push(j);
    }
    if let Some(pg) = postgres::build(cfg, &mut startup) {
        targets.push(pg);
    }
    crate::command::set_logdir(&cfg.logdir);
    targets.push(Box::new(crate::command::CmdOutputTarget));
    Ok(NewPipeline {
        pipeline: Pipeline {
            targets,
            panic_flush_timeout: cfg.panic_flush_timeout(),
            tally: Arc::new(Tally::new(startup.not_started)),
        },
        startup_events: startup.events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SystemdMode;

    /// What `stogger emit` and [`crate::LoggingGuard::close`] report: each
    /// enabled output that did not start, by the event that said why.
    #[test]
    fn outputs_that_do_not_start_are_reported_with_the_reason() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, b"").expect("write");
        let cfg = Config {
            logdir: blocker.join("logs"),
            log_to_console: false,
            systemd: SystemdMode::Off,
            enable_postgres: true,
            postgres_dsn: None,
            ..Config::default()
        };
        let built = assemble(&cfg).expect("a failed output is no error");
        let report = built.pipeline.tally.report();
        let not_started: Vec<(Output, &str)> = report
            .not_started()
            .iter()
            .map(|n| (n.output, n.event.as_str()))
            .collect();
        assert!(
            not_started.contains(&(Output::File, "file-logging-setup-failed")),
            "{not_started:?}"
        );
        assert!(
            not_started.contains(&(Output::Postgres, "postgres-dsn-missing")),
            "{not_started:?}"
        );
        assert!(!report.is_complete());
        let logged: Vec<&str> = built
            .startup_events
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert!(logged.contains(&"file-logging-setup-failed"), "{logged:?}");
    }
}
