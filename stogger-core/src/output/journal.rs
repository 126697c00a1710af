//! The systemd journal logger: journald's native protocol over its unix
//! datagram socket.
//!
//! Each event is one datagram holding the payload rendered by
//! [`JournalRenderer`]. A payload too large for a datagram (larger than the
//! socket's send buffer allows, or refused by the kernel with `EMSGSIZE`,
//! `ENOBUFS` or `EAGAIN`, as systemd's own client handles it) is written into
//! a memfd, sealed against any change, and its descriptor is sent instead
//! (an empty datagram carrying the fd with `SCM_RIGHTS`); journald reads the
//! entry from it.
//!
//! A send never blocks the caller for long: the socket has a send timeout of
//! [`SEND_TIMEOUT`]. After a send ran into it (journald is stuck or far
//! behind), the following sends do not wait at all until one gets through
//! again, so a stuck journald costs a failed send per event, not a second.
//! Every failure is returned from [`Logger::write`], and the target reports
//! it as a rate-limited `stogger:` warning.
//!
//! Modes (config `systemd`): `auto` uses the journal when
//! `journal_socket` exists and is a socket and silently does without it
//! otherwise (containers have no journal); `required` makes
//! `init_logging()` fail without it; `off` never tries.

use crate::assembly::StartupLog;
use crate::config::syslog_facility_code;
use crate::config::{Config, SystemdMode};
use crate::error::Error;
use crate::event::{Event, Level};
use crate::render::journal::{JournalRenderer, DEFAULT_FACILITY};
use crate::render::translate::Translations;
use crate::target::{Logger, Output, RenderingTarget, Target};
use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
use rustix::io::Errno;
use rustix::net::{
    sendmsg_addr, sendto, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix,
};
use std::fs::File;
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest time one send may wait for room in journald's socket queue.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Kernel overhead subtracted from `SO_SNDBUF` to get the largest datagram a
/// unix socket takes (larger ones fail with `EMSGSIZE`).
const DATAGRAM_OVERHEAD: usize = 32;

/// Writes native-protocol payloads to journald's socket.
#[derive(Debug)]
pub(crate) struct JournalLogger {
    socket: UnixDatagram,
    path: PathBuf,
    /// Payloads longer than this go through a memfd without trying a datagram.
    datagram_limit: usize,
    /// Set after a send timed out; sends then do not wait.
    stalled: AtomicBool,
}

impl JournalLogger {
    /// A logger sending to the journal socket at `path` (journald's is
    /// `/run/systemd/journal/socket`). Only creates an unbound local socket:
    /// whether anybody listens at `path` shows at the first write.
    pub(crate) fn new(path: impl Into<PathBuf>) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        let datagram_limit = rustix::net::sockopt::socket_send_buffer_size(&socket)
            .map(|n| n.saturating_sub(DATAGRAM_OVERHEAD))
            .unwrap_or(usize::MAX);
        Ok(JournalLogger {
            socket,
            path: path.into(),
            datagram_limit,
            stalled: AtomicBool::new(false),
        })
    }

    /// Sends one payload: as a datagram, or through a sealed memfd when it
    /// is too large for one.
    pub(crate) fn send(&self, payload: &[u8]) -> io::Result<()> {
        let result = if payload.len() > self.datagram_limit {
            self.send_memfd(payload)
        } else {
            match self.send_datagram(payload) {
                Err(e) if needs_memfd(&e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        // Already waited once: the fallback must not wait again.
                        self.stalled.store(true, Ordering::Relaxed);
                    }
                    self.send_memfd(payload)
                }
                other => other,
            }
        };
        match &result {
            Ok(()) => self.stalled.store(false, Ordering::Relaxed),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stalled.store(true, Ordering::Relaxed)
            }
            Err(_) => {}
        }
        result.map_err(|e| self.context(e))
    }

    fn send_flags(&self) -> SendFlags {
        if self.stalled.load(Ordering::Relaxed) {
            SendFlags::DONTWAIT
        } else {
            SendFlags::empty()
        }
    }

    fn send_datagram(&self, payload: &[u8]) -> io::Result<()> {
        if self.stalled.load(Ordering::Relaxed) {
            let addr = SocketAddrUnix::new(self.path.as_path())?;
            sendto(&self.socket, payload, SendFlags::DONTWAIT, &addr)?;
        } else {
            self.socket.send_to(payload, &self.path)?;
        }
        Ok(())
    }

    /// Writes `payload` into a memfd, seals it and sends the descriptor.
    fn send_memfd(&self, payload: &[u8]) -> io::Result<()> {
        let fd = memfd_create(
            "stogger-journal",
            MemfdFlags::ALLOW_SEALING | MemfdFlags::CLOEXEC,
        )?;
        let mut file = File::from(fd);
        file.write_all(payload)?;
        fcntl_add_seals(
            &file,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )?;
        let fds = [file.as_fd()];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(io::Error::other(
                "no room for the memfd in the control message",
            ));
        }
        let addr = SocketAddrUnix::new(self.path.as_path())?;
        sendmsg_addr(&self.socket, &addr, &[], &mut control, self.send_flags())?;
        Ok(())
    }

    fn context(&self, err: io::Error) -> io::Error {
        let hint = if err.kind() == io::ErrorKind::WouldBlock {
            " (journald is not taking messages; events are dropped until it does)"
        } else {
            ""
        };
        io::Error::new(
            err.kind(),
            format!("sending to {}: {err}{hint}", self.path.display()),
        )
    }
}

/// Whether a failed datagram send should be retried through a memfd: the
/// errors systemd's own client falls back on.
fn needs_memfd(err: &io::Error) -> bool {
    let errno = Errno::from_io_error(err);
    errno == Some(Errno::MSGSIZE) || errno == Some(Errno::NOBUFS) || errno == Some(Errno::AGAIN)
}

impl Logger<Vec<u8>> for JournalLogger {
    fn write(&self, payload: &Vec<u8>, _event: &Event) -> io::Result<()> {
        self.send(payload)
    }
}

/// Whether `path` exists and is a unix socket.
fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// The journal target `cfg` asks for: `Ok(None)` when `systemd = "off"`, or
/// `"auto"` and there is no socket at `journal_socket`;
/// [`Error::JournalRequired`] when `"required"` and there is none. Events
/// to log once logging is set up (the info `systemd-journal-active`,
/// warnings about the configuration) go to `startup`. `MESSAGE` shows the
/// translated sentence of events `translations` has one for.
pub(crate) fn build(
    cfg: &Config,
    startup: &mut StartupLog,
    translations: Option<Arc<Translations>>,
) -> Result<Option<Box<dyn Target>>, Error> {
    let socket = &cfg.journal_socket;
    match cfg.systemd {
        SystemdMode::Off => return Ok(None),
        SystemdMode::Auto if !is_socket(socket) => return Ok(None),
        SystemdMode::Required if !is_socket(socket) => {
            return Err(Error::JournalRequired {
                socket: socket.clone(),
            })
        }
        SystemdMode::Auto | SystemdMode::Required => {}
    }
    let logger = match JournalLogger::new(socket.clone()) {
        Ok(l) => l,
        Err(err) => {
            startup.failed(
                Output::Journal,
                Event::path_failure("systemd-journal-setup-failed", "socket", socket, err).with(
                    "_replace_msg",
                    "Cannot open a socket for the journal at {socket}: {error}; \
                     logging continues without it",
                ),
            );
            return Ok(None);
        }
    };
    let facility = match syslog_facility_code(&cfg.systemd_facility) {
        Some(code) => code,
        None => {
            startup.events.push(
                Event::new(Level::Warning, "systemd-facility-unknown")
                    .with("systemd_facility", cfg.systemd_facility.clone())
                    .with(
                        "_replace_msg",
                        "Unknown systemd_facility {systemd_facility}; using LOG_LOCAL0",
                    ),
            );
            DEFAULT_FACILITY
        }
    };
    let renderer = JournalRenderer::new(cfg.syslog_identifier.clone(), facility)
        .show_func(cfg.show_caller_info)
        .with_translations(translations);
    let target = RenderingTarget::new("journal", renderer).logger(Output::Journal, logger);
    startup.events.push(
        Event::new(Level::Info, "systemd-journal-active")
            .with("socket", socket.display().to_string())
            .with("identifier", cfg.syslog_identifier.clone())
            .with(
                "_replace_msg",
                "Logging to the systemd journal at {socket} as {identifier}",
            ),
    );
    Ok(Some(Box::new(target)))
}

/// Whether stderr is connected to the journal (`JOURNAL_STREAM` matches it).
pub(crate) fn stderr_is_journal() -> bool {
    let Some(env) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(io::stderr().as_fd()) else {
        return false;
    };
    journal_stream_matches(&env.to_string_lossy(), stat.st_dev, stat.st_ino)
}

/// Whether a `JOURNAL_STREAM` value (`<device>:<inode>`, decimal, as systemd
/// sets it for a service whose stdout/stderr is the journal) names the file
/// with this device and inode number.
pub(crate) fn journal_stream_matches(journal_stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    match (d.parse::<u64>(), i.parse::<u64>()) {
        (Ok(d), Ok(i)) => d == dev && i == ino,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;
    use crate::render::journal::decode;
    use crate::target::Renderer;
    use rustix::fs::fcntl_get_seals;
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::IoSliceMut;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::FileExt;

    /// A fake journald: a datagram socket bound in a temporary directory.
    struct FakeJournal {
        _dir: tempfile::TempDir,
        path: PathBuf,
        socket: UnixDatagram,
    }

    /// One received datagram: its bytes and the descriptors it carried.
    struct Received {
        data: Vec<u8>,
        fds: Vec<OwnedFd>,
    }

    impl FakeJournal {
        fn new() -> FakeJournal {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("socket");
            let socket = UnixDatagram::bind(&path).expect("bind fake journal socket");
            // Only so that a broken logger fails the test instead of hanging it.
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("read timeout");
            FakeJournal {
                _dir: dir,
                path,
                socket,
            }
        }

        fn recv(&self) -> Received {
            let mut buf = vec![0u8; 1 << 20];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let msg = recvmsg(
                &self.socket,
                &mut [IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            )
            .expect("receive from the logger");
            let mut fds = Vec::new();
            for m in control.drain() {
                if let RecvAncillaryMessage::ScmRights(rights) = m {
                    fds.extend(rights);
                }
            }
            buf.truncate(msg.bytes);
            Received { data: buf, fds }
        }

        fn config(&self) -> Config {
            Config {
                systemd: SystemdMode::Required,
                journal_socket: self.path.clone(),
                syslog_identifier: "fake-svc".into(),
                ..Config::default()
            }
        }
    }

    fn payload_of(event: &Event) -> Vec<u8> {
        JournalRenderer::new("fake-svc", 16).render(event)
    }

    fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Reads a received memfd back and checks it is sealed the way journald requires.
    fn read_sealed(fd: OwnedFd) -> Vec<u8> {
        let seals = fcntl_get_seals(&fd).expect("memfd seals");
        let want = SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL;
        assert!(seals.contains(want), "seals {seals:?}, want {want:?}");
        let file = File::from(fd);
        let len = file.metadata().expect("memfd stat").len() as usize;
        let mut data = vec![0u8; len];
        file.read_exact_at(&mut data, 0).expect("read memfd");
        // Sealed: nothing can change it any more.
        assert!(file.write_at(b"x", 0).is_err(), "memfd still writable");
        data
    }

    #[test]
    fn small_event_is_one_datagram_with_the_rendered_fields() {
        let fake = FakeJournal::new();
        let logger = JournalLogger::new(&fake.path).expect("logger");
        let event = Event::new(Level::Info, "user-login")
            .with("user_id", 123)
            .with("trace", "a\nb");
        let payload = payload_of(&event);
        logger.write(&payload, &event).expect("send");
        let got = fake.recv();
        assert!(got.fds.is_empty(), "a small event needs no memfd");
        assert_eq!(got.data, payload);
        let fields = decode(&got.data).expect("valid native payload");
        assert_eq!(field(&fields, "USER_ID"), Some(&b"123"[..]));
        assert_eq!(field(&fields, "PRIORITY"), Some(&b"6"[..]));
        // The multi-line value travels in the binary form with its exact length.
        let mut binary = b"TRACE\n".to_vec();
        binary.extend_from_slice(&3u64.to_le_bytes());
        binary.extend_from_slice(b"a\nb\n");
        assert!(
            got.data.windows(binary.len()).any(|w| w == binary),
            "binary form missing from {:?}",
            String::from_utf8_lossy(&got.data)
        );
    }

    #[test]
    fn payload_past_the_datagram_limit_goes_through_a_sealed_memfd() {
        let fake = FakeJournal::new();
        let mut logger = JournalLogger::new(&fake.path).expect("logger");
        logger.datagram_limit = 100;
        let event = Event::new(Level::Info, "big").with("blob", "x".repeat(200));
        let payload = payload_of(&event);
        assert!(payload.len() > 100);
        logger.write(&payload, &event).expect("send");
        let got = fake.recv();
        assert!(
            got.data.is_empty(),
            "the datagram carrying a memfd is empty"
        );
        assert_eq!(got.fds.len(), 1);
        let data = read_sealed(got.fds.into_iter().next().expect("one fd"));
        assert_eq!(data, payload);
    }

    #[test]
    fn payload_under_the_limit_is_never_a_memfd() {
        let fake = FakeJournal::new();
        let mut logger = JournalLogger::new(&fake.path).expect("logger");
        let event = Event::new(Level::Info, "fits");
        let payload = payload_of(&event);
        logger.datagram_limit = payload.len();
        logger.write(&payload, &event).expect("send");
        let got = fake.recv();
        assert!(got.fds.is_empty());
        assert_eq!(got.data, payload);
    }

    #[test]
    fn kernel_emsgsize_falls_back_to_a_memfd() {
        let fake = FakeJournal::new();
        let mut logger = JournalLogger::new(&fake.path).expect("logger");
        // Do not predict the limit: let the kernel refuse the datagram.
        logger.datagram_limit = usize::MAX;
        rustix::net::sockopt::set_socket_send_buffer_size(&logger.socket, 4096)
            .expect("shrink send buffer");
        let event = Event::new(Level::Info, "big").with("blob", "y".repeat(64 * 1024));
        let payload = payload_of(&event);
        let direct = logger.socket.send_to(&payload, &fake.path);
        assert_eq!(
            direct.map_err(|e| Errno::from_io_error(&e)).err(),
            Some(Some(Errno::MSGSIZE)),
            "the kernel must refuse this datagram for the test to mean anything"
        );
        logger.write(&payload, &event).expect("send");
        let got = fake.recv();
        assert_eq!(
            got.fds.len(),
            1,
            "expected a memfd, got {} bytes",
            got.data.len()
        );
        let data = read_sealed(got.fds.into_iter().next().expect("one fd"));
        assert_eq!(data, payload);
    }

    #[test]
    fn send_errors_are_returned_with_the_socket_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nobody-listens");
        let logger = JournalLogger::new(&path).expect("logger");
        let event = Event::new(Level::Info, "lost");
        let err = logger
            .write(&payload_of(&event), &event)
            .expect_err("nobody listens");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("nobody-listens"), "{err}");
    }

    #[test]
    fn full_journal_queue_fails_then_recovers() {
        let fake = FakeJournal::new();
        let logger = JournalLogger::new(&fake.path).expect("logger");
        let event = Event::new(Level::Info, "flood");
        let payload = payload_of(&event);
        let mut sent = 0usize;
        let err = loop {
            match logger.write(&payload, &event) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 1_000_000, "the queue never filled");
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
        assert!(err.to_string().contains("not taking messages"), "{err}");
        // Still full: the next send fails too (without waiting).
        assert!(logger.write(&payload, &event).is_err());
        // journald catches up: sending works again.
        for _ in 0..sent {
            let got = fake.recv();
            assert_eq!(got.data, payload);
        }
        logger
            .write(&payload, &event)
            .expect("send after the queue drained");
        assert_eq!(fake.recv().data, payload);
        assert!(!logger.stalled.load(Ordering::Relaxed));
    }

    #[test]
    fn required_without_socket_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = Config {
            systemd: SystemdMode::Required,
            journal_socket: dir.path().join("missing"),
            ..Config::default()
        };
        match build(&cfg, &mut StartupLog::default(), None) {
            Err(Error::JournalRequired { socket }) => assert_eq!(socket, cfg.journal_socket),
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("required journal without socket must fail"),
        }
    }

    #[test]
    fn auto_without_socket_is_silently_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"").expect("write file");
        for path in [dir.path().join("missing"), file] {
            let cfg = Config {
                systemd: SystemdMode::Auto,
                journal_socket: path,
                ..Config::default()
            };
            let mut startup = StartupLog::default();
            let target = build(&cfg, &mut startup, None).expect("auto never fails");
            assert!(target.is_none());
            let notes = startup.events;
            assert!(notes.is_empty(), "{notes:?}");
        }
    }

    #[test]
    fn off_never_uses_an_existing_socket() {
        let fake = FakeJournal::new();
        let cfg = Config {
            systemd: SystemdMode::Off,
            ..fake.config()
        };
        let mut startup = StartupLog::default();
        assert!(build(&cfg, &mut startup, None).expect("off").is_none());
        assert!(startup.events.is_empty());
    }

    #[test]
    fn active_journal_target_delivers_and_announces_itself() {
        let fake = FakeJournal::new();
        for mode in [SystemdMode::Auto, SystemdMode::Required] {
            let cfg = Config {
                systemd: mode,
                ..fake.config()
            };
            let mut startup = StartupLog::default();
            let target = journal_target(&cfg, &mut startup);
            let notes = startup.events;
            assert_eq!(target.name(), "journal");
            assert_eq!(target.outputs(), Output::Journal.into());
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert_eq!(notes[0].name, "systemd-journal-active");
            assert_eq!(notes[0].level, Level::Info);
            assert_eq!(
                notes[0].get("socket"),
                Some(&Value::Str(fake.path.display().to_string()))
            );
            assert_eq!(notes[0].get("identifier"), Some(&Value::from("fake-svc")));

            let event = Event::new(Level::Warning, "disk-low").with("free_mb", 3);
            let got = deliver(&fake, &*target, &event);
            assert_eq!(field(&got, "STOGGER_EVENT"), Some(&b"disk-low"[..]));
            assert_eq!(field(&got, "SYSLOG_IDENTIFIER"), Some(&b"fake-svc"[..]));
            assert_eq!(field(&got, "SYSLOG_FACILITY"), Some(&b"16"[..]));
        }
    }

    /// The journal target of `cfg` (whose socket exists), with the notes
    /// its start left in `startup`.
    fn journal_target(cfg: &Config, startup: &mut StartupLog) -> Box<dyn Target> {
        build(cfg, startup, None)
            .expect("socket exists")
            .expect("journal target")
    }

    /// Sends `event` through `target` and decodes what the journal received.
    fn deliver(fake: &FakeJournal, target: &dyn Target, event: &Event) -> Vec<(String, Vec<u8>)> {
        let _ = target.handle(event, Output::Journal.into());
        decode(&fake.recv().data).expect("payload")
    }

    /// The notes of starting a journal target with `systemd_facility =
    /// facility`, and the SYSLOG_FACILITY it then sends.
    fn facility_sent(facility: &str) -> (Vec<Event>, Vec<u8>) {
        let fake = FakeJournal::new();
        let cfg = Config {
            systemd_facility: facility.into(),
            ..fake.config()
        };
        let mut startup = StartupLog::default();
        let target = journal_target(&cfg, &mut startup);
        let got = deliver(&fake, &*target, &Event::new(Level::Info, "x"));
        let sent = field(&got, "SYSLOG_FACILITY").expect("SYSLOG_FACILITY");
        (startup.events, sent.to_vec())
    }

    #[test]
    fn debug_events_have_priority_7() {
        let fake = FakeJournal::new();
        let target = journal_target(&fake.config(), &mut StartupLog::default());
        let got = deliver(&fake, &*target, &Event::new(Level::Debug, "detail"));
        assert_eq!(field(&got, "PRIORITY"), Some(&b"7"[..]));
    }

    #[test]
    fn unknown_facility_warns_and_uses_local0() {
        let (notes, sent) = facility_sent("LOG_NOPE");
        assert!(notes
            .iter()
            .any(|n| n.name == "systemd-facility-unknown" && n.level == Level::Warning));
        assert_eq!(sent, b"16");
    }

    #[test]
    fn configured_facility_is_sent_as_its_number() {
        let (_, sent) = facility_sent("LOG_DAEMON");
        assert_eq!(sent, b"3");
    }

    #[test]
    fn journal_stream_must_match_device_and_inode() {
        assert!(journal_stream_matches("8:1234", 8, 1234));
        assert!(journal_stream_matches("2049:98765\n", 2049, 98765));
        assert!(!journal_stream_matches("8:1234", 8, 1235));
        assert!(!journal_stream_matches("8:1234", 9, 1234));
        assert!(!journal_stream_matches("", 0, 0));
        assert!(!journal_stream_matches("8", 8, 0));
        assert!(!journal_stream_matches("8:x", 8, 0));
        assert!(!journal_stream_matches("-1:5", u64::MAX, 5));
    }

    #[test]
    fn journal_stream_matches_a_real_descriptor() {
        let file = tempfile::tempfile().expect("temp file");
        let st = rustix::fs::fstat(&file).expect("fstat");
        let env = format!("{}:{}", st.st_dev, st.st_ino);
        assert!(journal_stream_matches(&env, st.st_dev, st.st_ino));
        let other = tempfile::tempfile().expect("temp file");
        let st2 = rustix::fs::fstat(&other).expect("fstat");
        assert!(!journal_stream_matches(&env, st2.st_dev, st2.st_ino));
    }
}
