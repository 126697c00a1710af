//! The file logger: `{logdir}/{syslog_identifier}.log`, with size rotation.
//!
//! Rotation keeps backups `.1` (newest) to `.N` (`log_backup_count`). The limit
//! is checked before every write: a line that would take the file past
//! `log_max_bytes` goes into a fresh file. A single line larger than the
//! limit is still written (into an empty file).
//!
//! Several processes may log into one file (a service and its workers, two
//! instances). With rotation on, each write therefore holds an advisory
//! lock (`flock`) on the open file while it checks that the file is still
//! the one at the path (another process may have rotated it away: then it
//! opens the new one), reads the file's real size, rotates if needed and
//! appends. The lock is waited for at most [`LOCK_WAIT`]; a process that
//! holds it longer (stopped in a debugger, say) does not stop the others:
//! they append without it, so no line is lost, at the cost of the size
//! check. Without rotation every line is one `write` in append mode, which
//! the kernel keeps whole.
//!
//! Permissions: a file stogger creates (the log file, and after a rotation
//! its fresh successor) gets `log_file_mode` (`0640` by default: logs carry
//! user ids, addresses and tokens, so not world-readable), minus the
//! process umask like any file a process creates. An existing file keeps
//! its mode: stogger never changes permissions someone set. A backup is the
//! renamed log file, so it has the mode that file had.
//!
//! A logger whose pipeline was replaced is closed but keeps its file open
//! until it is dropped: an event that was on its way still lands in the file
//! (appended, never rotating: the new logger owns the name).

use crate::config::{Config, Rotation};
use crate::event::Event;
use crate::render::text::TextLine;
use crate::target::{self, Logger};
use rustix::fs::{flock, FlockOperation};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a write waits for another process's lock on the log file.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(1);

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
    /// The open file and its identity (device, inode); `None` after a
    /// failed open (the next write opens the file again).
    file: Option<(File, (u64, u64))>,
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
        let file = open_identified(path, mode)?;
        Ok(FileLogger {
            path: path.to_path_buf(),
            max_bytes,
            backups,
            mode,
            state: Mutex::new(State {
                file: Some(file),
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
            let (file, _) = state.file.as_mut().ok_or_else(target::closed_error)?;
            return file.write_all(bytes);
        }
        let Some(max) = self.max_bytes else {
            return self.file_of(&mut state)?.0.write_all(bytes);
        };
        // Each round either writes or moves to the file now at the path
        // (after another process's rotation or our own); a few are enough
        // unless the file is rotated away again and again.
        for _ in 0..8 {
            let (file, id) = self.file_of(&mut state)?;
            let locked = lock(file)?;
            let current = match fs::metadata(&self.path) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => {
                    unlock(file, locked);
                    return Err(e);
                }
            };
            let moved = current.as_ref().is_none_or(|m| (m.dev(), m.ino()) != *id);
            if !locked {
                // Waited long enough: append without the size check, to
                // the file at the path.
                if moved {
                    state.file = Some(open_identified(&self.path, self.mode)?);
                }
                return match state.file.as_mut() {
                    Some((file, _)) => file.write_all(bytes),
                    None => Ok(()),
                };
            }
            if moved {
                unlock(file, locked);
                state.file = Some(open_identified(&self.path, self.mode)?);
                continue;
            }
            let size = current.map_or(0, |m| m.len());
            if size > 0 && size + bytes.len() as u64 > max {
                let rotated = self.rotate();
                unlock(file, locked);
                rotated?;
                state.file = Some(open_identified(&self.path, self.mode)?);
                continue;
            }
            let written = file.write_all(bytes);
            unlock(file, locked);
            return written;
        }
        // Rotated away under us every time: append to the file we have.
        match state.file.as_mut() {
            Some((file, _)) => file.write_all(bytes),
            None => Ok(()),
        }
    }

    /// The open file and its identity, opening the file at the path again
    /// when the last open failed (after a failed rotation): a later write
    /// must not be dropped without a word.
    fn file_of<'a>(&self, state: &'a mut State) -> io::Result<&'a mut (File, (u64, u64))> {
        if state.file.is_none() {
            let opened = open_identified(&self.path, self.mode)?;
            return Ok(state.file.insert(opened));
        }
        state.file.as_mut().ok_or_else(target::closed_error)
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

/// Opens `path` for appending (creating it with `mode`), with the file's
/// identity (device, inode).
fn open_identified(path: &Path, mode: u32) -> io::Result<(File, (u64, u64))> {
    let file = open_append(path, mode)?;
    let meta = file.metadata()?;
    Ok((file, (meta.dev(), meta.ino())))
}

/// Takes the exclusive advisory lock on `file`, waiting at most
/// [`LOCK_WAIT`]; `Ok(false)` when another process held it all that time.
fn lock(file: &File) -> io::Result<bool> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_micros(20);
    loop {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn unlock(file: &File, locked: bool) {
    if locked {
        // Closing the file would release it too; an error leaves nothing to do.
        let _ = flock(file, FlockOperation::Unlock);
    }
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
    if let Some((file, _)) = &state.file {
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

    /// The shrunk case of the rotation property test (two processes, one
    /// file): each process counted only its own bytes, so the file grew
    /// past the limit, and a process kept appending to a file the other
    /// had rotated away. Two loggers on one path behave like two processes
    /// (each has its own open file and its own lock).
    #[test]
    fn two_writers_on_one_file_rotate_it_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        let a = FileLogger::open_path(&path, Some(30), 9).unwrap();
        let b = FileLogger::open_path(&path, Some(30), 9).unwrap();
        for i in 0..12 {
            let (logger, name) = if i % 3 == 0 { (&b, 'b') } else { (&a, 'a') };
            logger
                .write(&line(&format!("{name}-{i:02}-xxxxx\n")), &ev())
                .unwrap(); // 11 bytes
        }
        let mut all = String::new();
        for n in (1..=9).rev() {
            if let Ok(text) = fs::read_to_string(backup_path(&path, n)) {
                assert!(text.len() <= 30, ".{n} holds {} bytes", text.len());
                all.push_str(&text);
            }
        }
        let current = fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 30);
        all.push_str(&current);
        let numbers: Vec<&str> = all.lines().map(|l| &l[2..4]).collect();
        let want: Vec<String> = (0..12).map(|i| format!("{i:02}")).collect();
        assert_eq!(numbers, want, "every line once, in order:\n{all}");
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
