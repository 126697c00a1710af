//! The file logger: `{logdir}/{syslog_identifier}.log`, with size rotation.
//!
//! Rotation keeps backups `.1` (newest) to `.N` (`log_backup_count`). The size
//! is read from the file when it is opened, so a restarted service keeps
//! counting from the real size, and the limit is checked before every write:
//! a line that would take the file past `log_max_bytes` goes into a fresh file.
//! A single line larger than the limit is still written (into an empty file).
//!
//! Permissions: a file stogger creates (the log file, and after a rotation
//! its fresh successor) gets `log_file_mode` (`0640` by default: logs carry
//! user ids, addresses and tokens, so not world-readable), minus the
//! process umask like any file a process creates. An existing file keeps
//! its mode: stogger never changes permissions someone set. A backup is the
//! renamed log file, so it has the mode that file had.

use crate::config::{Config, Rotation};
use crate::event::Event;
use crate::render::text::TextLine;
use crate::target::{self, Logger};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `log_file_mode`'s default: owner read/write, group read, others nothing.
pub(crate) const DEFAULT_FILE_MODE: u32 = 0o640;

/// Appends lines to the log file; rotates by size when configured.
#[derive(Debug)]
pub(crate) struct FileLogger {
    path: PathBuf,
    max_bytes: Option<u64>,
    backups: u32,
    mode: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// `None` after a failed rotation (the next write opens the file again).
    file: Option<File>,
    size: u64,
    /// Set by `close`. The file stays open until the logger is dropped, so
    /// an event that was on its way while the pipeline was replaced still
    /// lands in it (appended, never rotating: the new logger owns the name).
    closed: bool,
}

impl FileLogger {
    /// Creates the directory if needed and opens the file for appending.
    pub(crate) fn open(cfg: &Config) -> io::Result<FileLogger> {
        let path = cfg.logdir.join(format!("{}.log", cfg.syslog_identifier));
        let rotate = cfg.log_rotation == Rotation::Size && cfg.log_backup_count > 0;
        FileLogger::open_path_with_mode(
            &path,
            rotate.then_some(cfg.log_max_bytes),
            cfg.log_backup_count,
            cfg.log_file_mode,
        )
    }

    /// Opens `path`; `max_bytes = None` never rotates. A file it creates
    /// gets [`DEFAULT_FILE_MODE`].
    #[cfg(test)]
    pub(crate) fn open_path(
        path: &Path,
        max_bytes: Option<u64>,
        backups: u32,
    ) -> io::Result<FileLogger> {
        FileLogger::open_path_with_mode(path, max_bytes, backups, DEFAULT_FILE_MODE)
    }

    /// [`FileLogger::open_path`], creating files with permission bits `mode`
    /// (the umask still applies; an existing file keeps its mode).
    pub(crate) fn open_path_with_mode(
        path: &Path,
        max_bytes: Option<u64>,
        backups: u32,
        mode: u32,
    ) -> io::Result<FileLogger> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                fs::create_dir_all(dir)?;
            }
        }
        let file = open_append(path, mode)?;
        let size = file.metadata()?.len();
        Ok(FileLogger {
            path: path.to_path_buf(),
            max_bytes,
            backups,
            mode,
            state: Mutex::new(State {
                file: Some(file),
                size,
                closed: false,
            }),
        })
    }

    fn write_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| io::Error::other("file logger lock poisoned"))?;
        if state.closed {
            let file = state.file.as_mut().ok_or_else(target::closed_error)?;
            file.write_all(bytes)?;
            return Ok(());
        }
        if let Some(max) = self.max_bytes {
            if state.size > 0 && state.size + bytes.len() as u64 > max {
                state.file = None;
                self.rotate()?;
                state.file = Some(open_append(&self.path, self.mode)?);
                state.size = 0;
            }
        }
        let file = match &mut state.file {
            Some(file) => file,
            None => {
                // The last rotation failed half-way: write to the file again.
                let file = open_append(&self.path, self.mode)?;
                state.size = file.metadata()?.len();
                state.file.insert(file)
            }
        };
        file.write_all(bytes)?;
        state.size += bytes.len() as u64;
        Ok(())
    }

    /// `x.log.(N-1)` → `x.log.N`, ..., `x.log` → `x.log.1`. The oldest is
    /// replaced by the rename, so exactly `backups` files are kept.
    fn rotate(&self) -> io::Result<()> {
        for i in (1..self.backups).rev() {
            let from = backup_path(&self.path, i);
            if from.exists() {
                fs::rename(&from, backup_path(&self.path, i + 1))?;
            }
        }
        fs::rename(&self.path, backup_path(&self.path, 1))
    }
}

fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// `x.log` + `.n`.
pub(crate) fn backup_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl Logger<TextLine> for FileLogger {
    fn write(&self, line: &TextLine, _event: &Event) -> io::Result<()> {
        self.write_bytes(line.plain.as_bytes())
    }

    fn close(&self) -> io::Result<Option<String>> {
        close(self)
    }
}

impl Logger<String> for FileLogger {
    fn write(&self, line: &String, _event: &Event) -> io::Result<()> {
        self.write_bytes(line.as_bytes())
    }

    fn close(&self) -> io::Result<Option<String>> {
        close(self)
    }
}

fn close(logger: &FileLogger) -> io::Result<Option<String>> {
    let mut state = logger
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    state.closed = true;
    if let Some(file) = &state.file {
        file.sync_data()?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> TextLine {
        TextLine {
            colored: None,
            plain: s.to_string(),
        }
    }

    fn ev() -> Event {
        Event::new(crate::Level::Info, "x")
    }

    #[test]
    fn rotates_before_passing_the_limit_and_keeps_n_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        let logger = FileLogger::open_path(&path, Some(20), 2).unwrap();
        for i in 0..5 {
            logger
                .write(&line(&format!("line-{i}-xxxxx\n")), &ev())
                .unwrap(); // 14 bytes each
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), "line-4-xxxxx\n");
        assert_eq!(
            fs::read_to_string(backup_path(&path, 1)).unwrap(),
            "line-3-xxxxx\n"
        );
        assert_eq!(
            fs::read_to_string(backup_path(&path, 2)).unwrap(),
            "line-2-xxxxx\n"
        );
        assert!(!backup_path(&path, 3).exists());
    }

    #[test]
    fn restart_continues_with_the_real_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        fs::write(&path, "0123456789012345\n").unwrap(); // 17 bytes from an earlier run
        let logger = FileLogger::open_path(&path, Some(20), 3).unwrap();
        logger.write(&line("abcde\n"), &ev()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "abcde\n");
        assert_eq!(
            fs::read_to_string(backup_path(&path, 1)).unwrap(),
            "0123456789012345\n"
        );
    }

    /// An event racing a re-initialisation can reach the old logger after
    /// its close: it still lands in the file, and never rotates it.
    #[test]
    fn a_write_after_close_is_appended_without_rotating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        let logger = FileLogger::open_path(&path, Some(10), 2).unwrap();
        logger.write(&line("before\n"), &ev()).unwrap();
        Logger::<TextLine>::close(&logger).unwrap();
        logger.write(&line("late-1\n"), &ev()).unwrap();
        logger.write(&line("late-2\n"), &ev()).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "before\nlate-1\nlate-2\n"
        );
        assert!(!backup_path(&path, 1).exists());
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The process umask, from `/proc` (setting it to read it would race
    /// with the other tests creating files).
    #[cfg(target_os = "linux")]
    fn umask() -> u32 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn created_files_get_the_mode_and_existing_ones_keep_theirs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        let logger = FileLogger::open_path_with_mode(&path, Some(20), 2, 0o600).unwrap();
        assert_eq!(mode_of(&path), 0o600 & !umask());
        for i in 0..3 {
            logger
                .write(&line(&format!("line-{i}-xxxxx\n")), &ev())
                .unwrap();
        }
        for p in [path.clone(), backup_path(&path, 1), backup_path(&path, 2)] {
            assert_eq!(mode_of(&p), 0o600 & !umask(), "{}", p.display());
        }
        let existing = dir.path().join("old.log");
        fs::write(&existing, "x\n").unwrap();
        fs::set_permissions(&existing, fs::Permissions::from_mode(0o604)).unwrap();
        FileLogger::open_path_with_mode(&existing, None, 0, 0o600).unwrap();
        assert_eq!(mode_of(&existing), 0o604);
    }

    #[test]
    fn without_limit_never_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/svc.log");
        let logger = FileLogger::open_path(&path, None, 0).unwrap();
        for _ in 0..100 {
            logger.write(&line("0123456789\n"), &ev()).unwrap();
        }
        assert_eq!(fs::metadata(&path).unwrap().len(), 1100);
        assert!(!backup_path(&path, 1).exists());
    }
}
