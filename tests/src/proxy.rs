//! A loopback TCP proxy in front of a server (a throwaway PostgreSQL) that
//! can be switched to a *black hole*: connections are accepted and then
//! never answered, the way a dead host behind a stateful firewall or a
//! hung server looks to a client. Unlike a stopped server (connection
//! refused at once), only the client's own time limits get it out.
//!
//! ```no_run
//! # let pg_port = 5432;
//! use stogger_tests::proxy::{Mode, TcpProxy};
//! let proxy = TcpProxy::start(("127.0.0.1", pg_port), Mode::BlackHole).unwrap();
//! // point the service at 127.0.0.1:{proxy.port()} ...
//! proxy.set_mode(Mode::Forward); // new connections reach the server again
//! ```
//!
//! Switching to [`Mode::BlackHole`] also silences connections forwarded
//! so far: from their next byte on, nothing passes in either direction and
//! they stay open (a protocol stream cut in the middle cannot resume, so
//! they stay silent when the mode goes back to [`Mode::Forward`]; new
//! connections are forwarded then). [`TcpProxy::cut`] closes every open
//! connection instead, like a server restart. Everything stops on drop.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass bytes both ways between client and server.
    Forward,
    /// Accept connections, read and discard what clients send, never
    /// answer and never close.
    BlackHole,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        if v == 1 {
            Mode::BlackHole
        } else {
            Mode::Forward
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Mode::Forward => 0,
            Mode::BlackHole => 1,
        }
    }
}

/// Shared between the proxy handle and its threads.
struct State {
    mode: AtomicU8,
    stop: AtomicBool,
    /// Every socket opened so far (client and server sides), to shut down.
    sockets: Mutex<Vec<TcpStream>>,
}

impl State {
    fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::SeqCst))
    }

    fn track(&self, stream: &TcpStream) {
        if let Ok(copy) = stream.try_clone() {
            self.sockets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(copy);
        }
    }

    fn shut_all(&self) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        for s in sockets.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A running proxy on `127.0.0.1:<port>`.
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on a free loopback port and relays to `upstream` (resolved
    /// once, now) in `mode`.
    pub fn start(upstream: impl ToSocketAddrs, mode: Mode) -> io::Result<TcpProxy> {
        let upstream = upstream
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other("upstream address resolves to nothing"))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            mode: AtomicU8::new(mode.as_u8()),
            stop: AtomicBool::new(false),
            sockets: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let acceptor = std::thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(&listener, upstream, &shared))?;
        Ok(TcpProxy {
            addr,
            state,
            acceptor: Some(acceptor),
        })
    }

    /// The port clients connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode (see the module docs for open connections).
    pub fn set_mode(&self, mode: Mode) {
        self.state.mode.store(mode.as_u8(), Ordering::SeqCst);
    }

    /// Closes every connection open now; new ones are handled by the mode.
    pub fn cut(&self) {
        self.state.shut_all();
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.state.shut_all();
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, state: &Arc<State>) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                state.track(&client);
                let state = state.clone();
                let _ = std::thread::Builder::new()
                    .name("proxy-conn".into())
                    .spawn(move || serve(client, upstream, &state));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// One client connection, in the mode of the moment it arrived.
fn serve(client: TcpStream, upstream: SocketAddr, state: &Arc<State>) {
    if state.mode() == Mode::BlackHole {
        swallow(client, state);
        return;
    }
    let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(10)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    state.track(&server);
    let (Ok(client_r), Ok(server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let silenced = Arc::new(AtomicBool::new(false));
    let up = {
        let state = state.clone();
        let silenced = silenced.clone();
        std::thread::Builder::new()
            .name("proxy-up".into())
            .spawn(move || relay(client_r, server_w, &state, &silenced))
    };
    relay(server, client, state, &silenced);
    if let Ok(up) = up {
        let _ = up.join();
    }
}

/// Copies `from` to `to` until either side closes; once the proxy is a
/// black hole, the connection goes silent for good (bytes are read and
/// dropped, nothing is closed).
fn relay(mut from: TcpStream, mut to: TcpStream, state: &State, silenced: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.mode() == Mode::BlackHole {
            silenced.store(true, Ordering::SeqCst);
        }
        if silenced.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    if !silenced.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    }
}

/// Reads and drops everything the client sends; never answers.
fn swallow(mut client: TcpStream, state: &State) {
    let mut buf = [0u8; 16 * 1024];
    while !state.stop.load(Ordering::SeqCst) {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = conn.try_clone().unwrap();
                    let mut w = conn;
                    let _ = io::copy(&mut r, &mut w);
                });
            }
        });
        addr
    }

    fn roundtrip(port: u16) -> io::Result<Vec<u8>> {
        let mut c = TcpStream::connect(("127.0.0.1", port))?;
        c.set_read_timeout(Some(Duration::from_millis(300)))?;
        c.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf)?;
        Ok(buf.to_vec())
    }

    #[test]
    fn forwards_then_swallows_then_forwards_new_connections_again() {
        let proxy = TcpProxy::start(echo_server(), Mode::Forward).unwrap();
        assert_eq!(roundtrip(proxy.port()).unwrap(), b"ping");

        let mut open = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        open.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        open.write_all(b"1").unwrap();
        let mut one = [0u8; 1];
        open.read_exact(&mut one).unwrap();

        proxy.set_mode(Mode::BlackHole);
        let err = roundtrip(proxy.port()).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "a new connection is accepted and never answered: {err}"
        );
        open.write_all(b"2").unwrap();
        let err = open.read_exact(&mut one).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "an open connection goes silent too: {err}"
        );

        proxy.set_mode(Mode::Forward);
        assert_eq!(roundtrip(proxy.port()).unwrap(), b"ping");
    }
}
