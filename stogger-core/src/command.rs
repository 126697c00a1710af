//! Running a command with its output logged line by line, and Python
//! stogger's command output file.
//!
//! ```no_run
//! use std::process::Command;
//! let _guard = stogger_core::init_logging()?;
//! stogger_core::command::init_command_logging()?; // or log_cmd_output = true
//! let done = stogger_core::command::run(Command::new("make").arg("all"))?;
//! if !done.status.success() {
//!     // `command-failed` was logged with the exit code and the last stderr lines.
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`run`] logs every line the child writes to stdout or stderr as an event
//! `cmd-output-line` (field `cmd_output_line`, shown as a `> line` section,
//! with `cmd` and `stream`) while the child runs, on the calling thread,
//! so the lines carry the caller's scope and spans. When the child exits it
//! logs `command-finished` (info) or `command-failed` (warning) with
//! `exit_code` (or `signal`), `duration_ms` and the last lines of stderr as
//! a `stderr` section.
//!
//! After [`init_command_logging`] every event with a `cmd_output_line`
//! field (from [`run`] or logged by hand, as Python stogger services do)
//! also has that line written to `{logdir}/build-output.log`, or, under
//! systemd (`INVOCATION_ID` set), to
//! `{logdir}/{YYYY-MM-DDTHH_MM_SS}_build-output_{INVOCATION_ID}.log`.
//! [`drop_cmd_output_logfile`] closes and removes that file again.

use crate::delivery::Failures;
use crate::event::{Event, Level};
use crate::target::{Output, Outputs, Target};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest line logged as one event; a longer one is split.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Lines of stderr the final event keeps by default.
pub const DEFAULT_STDERR_TAIL: usize = 20;

/// Lines read ahead of the logging thread at most.
const QUEUED_LINES: usize = 256;

/// What a finished command left.
#[derive(Debug, Clone)]
pub struct Finished {
    /// How the child ended.
    pub status: ExitStatus,
    /// From spawn to exit.
    pub duration: Duration,
    /// The last lines of its stderr, oldest first.
    pub stderr_tail: Vec<String>,
}

/// [`run`] with options: the level of the line events and how many stderr
/// lines the final event keeps.
#[derive(Debug)]
pub struct Runner<'a> {
    cmd: &'a mut Command,
    level: Level,
    tail: usize,
}

/// Runs `cmd` with its stdout and stderr logged line by line (info level),
/// and logs how it ended; see the [module docs](self). stdin is left as
/// `cmd` has it. Errors are those of spawning and waiting for the child.
pub fn run(cmd: &mut Command) -> io::Result<Finished> {
    Runner::new(cmd).run()
}

impl<'a> Runner<'a> {
    /// A runner for `cmd`: lines at info, the last
    /// [`DEFAULT_STDERR_TAIL`] stderr lines in the final event.
    pub fn new(cmd: &'a mut Command) -> Runner<'a> {
        Runner {
            cmd,
            level: Level::Info,
            tail: DEFAULT_STDERR_TAIL,
        }
    }

    /// The level of the `cmd-output-line` events (`critical` is logged as error).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// How many lines of stderr the final event keeps (0: none).
    pub fn stderr_tail(mut self, lines: usize) -> Self {
        self.tail = lines;
        self
    }

    /// Spawns the command, logs its lines as they arrive and waits for it.
    pub fn run(self) -> io::Result<Finished> {
        let name = program_name(self.cmd);
        let start = Instant::now();
        let mut child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (tx, rx) = mpsc::sync_channel::<(Stream, String)>(QUEUED_LINES);
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(Stream::Stdout, out, tx.clone())?);
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(Stream::Stderr, err, tx.clone())?);
        }
        drop(tx);
        let mut tail: VecDeque<String> = VecDeque::new();
        for (stream, line) in rx {
            log_line(self.level, &name, stream, &line);
            if stream == Stream::Stderr {
                push_tail(&mut tail, self.tail, line);
            }
        }
        for reader in readers {
            let _ = reader.join();
        }
        let status = child.wait()?;
        Ok(finish(&name, status, start, tail))
    }
}

/// The stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The program's file name (`make` for `/usr/bin/make`).
fn program_name(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// Reads `stream` line by line (at most [`MAX_LINE_BYTES`] a line) and
/// sends the lines to the logging thread. It logs nothing itself.
fn spawn_reader(
    stream: Stream,
    pipe: impl Read + Send + 'static,
    tx: mpsc::SyncSender<(Stream, String)>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("stogger-cmd-{}", stream.as_str()))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader
                    .by_ref()
                    .take(MAX_LINE_BYTES as u64)
                    .read_until(b'\n', &mut buf)
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send((stream, line_text(&buf))).is_err() {
                            break;
                        }
                    }
                }
            }
        })
}

/// A line without its line break, invalid UTF-8 replaced.
fn line_text(buf: &[u8]) -> String {
    let mut end = buf.len();
    if buf[..end].ends_with(b"\n") {
        end -= 1;
    }
    if buf[..end].ends_with(b"\r") {
        end -= 1;
    }
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn log_line(level: Level, cmd: &str, stream: Stream, line: &str) {
    macro_rules! line_event {
        ($level:expr) => {
            tracing::event!(
                $level,
                cmd,
                stream = stream.as_str(),
                cmd_output_line = line,
                "cmd-output-line"
            )
        };
    }
    match level {
        Level::Trace => line_event!(tracing::Level::TRACE),
        Level::Debug => line_event!(tracing::Level::DEBUG),
        Level::Info => line_event!(tracing::Level::INFO),
        Level::Warning => line_event!(tracing::Level::WARN),
        Level::Error | Level::Critical => line_event!(tracing::Level::ERROR),
    }
}

/// Keeps the last `keep` lines of stderr.
fn push_tail(tail: &mut VecDeque<String>, keep: usize, line: String) {
    if keep == 0 {
        return;
    }
    if tail.len() == keep {
        tail.pop_front();
    }
    tail.push_back(line);
}

/// What a child left, logged as `command-finished` or `command-failed`.
fn finish(cmd: &str, status: ExitStatus, start: Instant, tail: VecDeque<String>) -> Finished {
    let finished = Finished {
        status,
        duration: start.elapsed(),
        stderr_tail: tail.into(),
    };
    log_finished(cmd, &finished);
    finished
}

fn log_finished(cmd: &str, done: &Finished) {
    use std::os::unix::process::ExitStatusExt;
    let duration_ms = (done.duration.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let stderr = (!done.stderr_tail.is_empty()).then(|| done.stderr_tail.join("\n"));
    let exit_code = done.status.code();
    let signal = done.status.signal();
    if done.status.success() {
        tracing::info!(cmd, exit_code, duration_ms, stderr, "command-finished");
    } else {
        tracing::warn!(
            cmd,
            exit_code,
            signal,
            duration_ms,
            stderr,
            "command-failed"
        );
    }
}

/// [`run`] for tokio's `Command`: the lines are logged by the task that
/// awaits this, as they arrive (`level`: see [`Runner::level`]; `tail`:
/// [`Runner::stderr_tail`]).
#[cfg(feature = "tokio")]
pub async fn run_async(
    cmd: &mut tokio::process::Command,
    level: Level,
    tail_lines: usize,
) -> io::Result<Finished> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let name = program_name(cmd.as_std());
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut out = child.stdout.take().map(tokio::io::BufReader::new);
    let mut err = child.stderr.take().map(tokio::io::BufReader::new);
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
    let mut tail: VecDeque<String> = VecDeque::new();
    // A read cut short by the other stream keeps its bytes in the buffer
    // (`read_until` appends), so the next read goes on with the line.
    let limit = |buf: &Vec<u8>| (MAX_LINE_BYTES.saturating_sub(buf.len())).max(1) as u64;
    while out.is_some() || err.is_some() {
        let (stream, read) = tokio::select! {
            r = async { (&mut *out.as_mut()?).take(limit(&out_buf)).read_until(b'\n', &mut out_buf).await.ok() }, if out.is_some() => (Stream::Stdout, r),
            r = async { (&mut *err.as_mut()?).take(limit(&err_buf)).read_until(b'\n', &mut err_buf).await.ok() }, if err.is_some() => (Stream::Stderr, r),
        };
        let buf = match stream {
            Stream::Stdout => &mut out_buf,
            Stream::Stderr => &mut err_buf,
        };
        match read {
            Some(0) | None => {
                if !buf.is_empty() {
                    let line = line_text(buf);
                    buf.clear();
                    log_line(level, &name, stream, &line);
                    if stream == Stream::Stderr {
                        push_tail(&mut tail, tail_lines, line);
                    }
                }
                match stream {
                    Stream::Stdout => out = None,
                    Stream::Stderr => err = None,
                }
            }
            Some(_) => {
                if buf.ends_with(b"\n") || buf.len() >= MAX_LINE_BYTES {
                    let line = line_text(buf);
                    buf.clear();
                    log_line(level, &name, stream, &line);
                    if stream == Stream::Stderr {
                        push_tail(&mut tail, tail_lines, line);
                    }
                }
            }
        }
    }
    let status = child.wait().await?;
    Ok(finish(&name, status, start, tail))
}

// ------------------------------------------------------ command output file

/// Whether a command output file is open (checked on every event by the
/// pipeline's `cmd_output_file` target before anything else).
static OPEN: AtomicBool = AtomicBool::new(false);

/// The open command output file.
static FILE: Mutex<Option<(PathBuf, File)>> = Mutex::new(None);

/// `logdir` of the last configuration started.
static LOGDIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Remembers the configured `logdir` for [`init_command_logging`].
pub(crate) fn set_logdir(dir: &Path) {
    if let Ok(mut slot) = LOGDIR.lock() {
        *slot = Some(dir.to_path_buf());
    }
}

/// Opens the command output file in the configured `logdir` (see the
/// [module docs](self) for its name), replacing one opened before, and logs
/// info `logging-cmd-output` naming it. `log_cmd_output = true` does this
/// at start. Returns the file's path; a file that cannot be created is the
/// error (and a warning event `cmd-output-file-open-failed`).
pub fn init_command_logging() -> io::Result<PathBuf> {
    let dir = LOGDIR
        .lock()
        .ok()
        .and_then(|d| d.clone())
        .unwrap_or_else(|| crate::Config::default().logdir);
    init_command_logging_in(&dir)
}

/// [`init_command_logging`] in an explicit directory.
pub fn init_command_logging_in(logdir: &Path) -> io::Result<PathBuf> {
    let path = logdir.join(file_name(std::env::var("INVOCATION_ID").ok().as_deref()));
    let opened = std::fs::create_dir_all(logdir).and_then(|()| File::create(&path));
    match opened {
        Ok(file) => {
            if let Ok(mut slot) = FILE.lock() {
                *slot = Some((path.clone(), file));
                OPEN.store(true, Ordering::Release);
            }
            crate::emit(
                Event::new(Level::Info, "logging-cmd-output")
                    .with("cmd_log_file", path.display().to_string())
                    .with("_replace_msg", "Command output goes to: {cmd_log_file}"),
            );
            Ok(path)
        }
        Err(e) => {
            crate::emit(
                Event::path_failure("cmd-output-file-open-failed", "cmd_log_file", &path, &e).with(
                    "_replace_msg",
                    "Cannot open the command output file {cmd_log_file}: {error}",
                ),
            );
            Err(e)
        }
    }
}

/// The name of the command output file: `build-output.log`, or under
/// systemd `{UTC time}_build-output_{INVOCATION_ID}.log`.
fn file_name(invocation_id: Option<&str>) -> String {
    match invocation_id.filter(|id| !id.is_empty() && !id.contains('/')) {
        Some(id) => {
            let now = crate::event::now_micros();
            let (y, m, d) = now.to_calendar_date();
            let (h, min, s) = now.to_hms();
            format!(
                "{y:04}-{:02}-{d:02}T{h:02}_{min:02}_{s:02}_build-output_{id}.log",
                u8::from(m)
            )
        }
        None => "build-output.log".to_string(),
    }
}

/// The command output file, while one is open.
pub fn cmd_output_logfile() -> Option<PathBuf> {
    FILE.lock().ok()?.as_ref().map(|(p, _)| p.clone())
}

/// Closes the command output file and removes it, as Python stogger does
/// (for runs that produced no output worth keeping). Returns the removed
/// file's path; `Ok(None)` when none was open.
pub fn drop_cmd_output_logfile() -> io::Result<Option<PathBuf>> {
    let taken = FILE.lock().ok().and_then(|mut slot| {
        OPEN.store(false, Ordering::Release);
        slot.take()
    });
    match taken {
        Some((path, file)) => {
            drop(file);
            crate::emit(
                Event::new(Level::Debug, "logging-cmd-output-drop")
                    .with("cmd_log_file", path.display().to_string()),
            );
            std::fs::remove_file(&path)?;
            Ok(Some(path))
        }
        None => Ok(None),
    }
}

/// The target writing `cmd_output_line` values to the command output file.
/// Part of every pipeline; costs one atomic load per event while no file
/// is open.
pub(crate) struct CmdOutputTarget;

impl Target for CmdOutputTarget {
    fn name(&self) -> &str {
        "cmd_output_file"
    }

    /// The command output file lives beside the log file and follows the
    /// file output's filter.
    fn outputs(&self) -> Outputs {
        Output::File.into()
    }

    fn handle(&self, event: &Event, _to: Outputs) -> Failures {
        if !OPEN.load(Ordering::Acquire) {
            return Failures::NONE;
        }
        let Some(value) = event.get("cmd_output_line") else {
            return Failures::NONE;
        };
        let mut line = value.to_string();
        line.push('\n');
        if let Ok(mut slot) = FILE.lock() {
            if let Some((_, file)) = slot.as_mut() {
                if let Err(e) = file.write_all(line.as_bytes()) {
                    return crate::warn::target_failed("cmd_output_file", "write", &e);
                }
            }
        }
        Failures::NONE
    }

    fn flush(&self) -> Failures {
        if let Ok(mut slot) = FILE.lock() {
            if let Some((_, file)) = slot.as_mut() {
                let _ = file.flush();
            }
        }
        Failures::NONE
    }

    fn close(&self) -> Failures {
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_python_with_minutes_fixed() {
        assert_eq!(file_name(None), "build-output.log");
        assert_eq!(file_name(Some("")), "build-output.log");
        let name = file_name(Some("4b1c0ffee"));
        // 2026-11-29T19_18_51_build-output_4b1c0ffee.log
        assert_eq!(
            name.len(),
            "2026-11-29T19_18_51".len() + "_build-output_4b1c0ffee.log".len()
        );
        assert!(name.ends_with("_build-output_4b1c0ffee.log"), "{name}");
        assert_eq!(&name[10..11], "T");
        assert_eq!(&name[13..14], "_");
        assert_eq!(&name[16..17], "_");
    }

    #[test]
    fn lines_lose_their_line_break_only() {
        assert_eq!(line_text(b"a b\r\n"), "a b");
        assert_eq!(line_text(b"tail"), "tail");
        assert_eq!(line_text(b"\xffx\n"), "\u{fffd}x");
    }
}
