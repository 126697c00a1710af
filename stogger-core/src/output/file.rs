//! The file logger: `{logdir}/{syslog_identifier}.log`, with size rotation.
//!
//! Rotation keeps backups `.1` (newest) to `.N` (`log_backup_count`). The size
//! is read from the file when it is opened, so a restarted service keeps
//! counting from the real size, and the limit is checked before every write:
//! a line that would take the file past `log_max_bytes` goes into a fresh file.
//! A single line larger than the limit is still written (into an empty file).

use crate::config::{Config, Rotation};
use crate::event::Event;
use crate::render::text::TextLine;
use crate::target::Logger;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Appends lines to the log file; rotates by size when configured.
#[derive(Debug)]
pub struct FileLogger {
    path: PathBuf,
    max_bytes: Option<u64>,
    backups: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: Option<File>,
    size: u64,
}

impl FileLogger {
    /// Creates the directory if needed and opens the file for appending.
    pub fn open(cfg: &Config) -> io::Result<FileLogger> {
        let path = cfg.logdir.join(format!("{}.log", cfg.syslog_identifier));
        let rotate = cfg.log_rotation == Rotation::Size && cfg.log_backup_count > 0;
        FileLogger::open_path(
            &path,
            rotate.then_some(cfg.log_max_bytes),
            cfg.log_backup_count,
        )
    }

    /// Opens `path`; `max_bytes = None` never rotates.
    pub fn open_path(path: &Path, max_bytes: Option<u64>, backups: u32) -> io::Result<FileLogger> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                fs::create_dir_all(dir)?;
            }
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(FileLogger {
            path: path.to_path_buf(),
            max_bytes,
            backups,
            state: Mutex::new(State {
                file: Some(file),
                size,
            }),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| io::Error::other("file logger lock poisoned"))?;
        if let Some(max) = self.max_bytes {
            if state.size > 0 && state.size + bytes.len() as u64 > max {
                state.file = None;
                self.rotate()?;
                state.file = Some(open_append(&self.path)?);
                state.size = 0;
            }
        }
        let Some(file) = state.file.as_mut() else {
            return Ok(()); // closed: events after shutdown are dropped
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

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `x.log` + `.n`.
pub fn backup_path(path: &Path, n: u32) -> PathBuf {
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
    if let Ok(mut state) = logger.state.lock() {
        if let Some(file) = state.file.take() {
            file.sync_data()?;
        }
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
