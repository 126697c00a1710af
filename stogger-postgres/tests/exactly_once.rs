//! A COMMIT that succeeds on the server but whose answer never reaches the
//! writer (the connection dies in between) must not make the writer send the
//! batch again. A loopback proxy between writer and server cuts the
//! connection exactly there, once.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::*;
use stogger_postgres::OpenStatus;

/// Forwards 127.0.0.1:<returned port> to `server_port`. While `armed`, the
/// first server reply containing the COMMIT completion is swallowed and both
/// sockets are closed (and the trap disarms itself).
fn proxy(server_port: u16, armed: Arc<AtomicBool>, fired: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(Shutdown::Both);
            });
            let (armed, fired) = (armed.clone(), fired.clone());
            thread::spawn(move || {
                let (mut s_read, mut c_write) = (server, client);
                let mut buf = [0u8; 65536];
                while let Ok(n) = s_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let chunk = &buf[..n];
                    if chunk.windows(7).any(|w| w == b"COMMIT\0")
                        && armed.swap(false, Ordering::SeqCst)
                    {
                        fired.store(true, Ordering::SeqCst);
                        break; // the answer is lost
                    }
                    if c_write.write_all(chunk).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Both);
                let _ = s_read.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn a_commit_whose_answer_is_lost_is_not_sent_again() {
    let pg = cluster("pgonce");
    let armed = Arc::new(AtomicBool::new(false));
    let fired = Arc::new(AtomicBool::new(false));
    let port = proxy(pg.port(), armed.clone(), fired.clone());
    let dsn = format!("postgresql://stogger:secret@127.0.0.1:{port}/stogger?sslmode=disable");
    let mut c = config(&dsn, "once");
    c.flush_interval = std::time::Duration::from_secs(30); // batches only on flush
    let (sink, warnings) = recorder();
    let opened = open(&c, Some(sink));
    assert_eq!(opened.status, OpenStatus::Connected, "{}", dump(&warnings));
    let w = opened.writer;

    armed.store(true, Ordering::SeqCst);
    write_all(&w, &seq_rows("once", 0..500));
    assert!(w.flush(FLUSH), "{:?}\n{}", w.stats(), dump(&warnings));
    assert!(
        fired.load(Ordering::SeqCst),
        "the proxy never saw the COMMIT"
    );
    write_all(&w, &seq_rows("once", 500..1000));
    assert!(w.flush(FLUSH), "{:?}\n{}", w.stats(), dump(&warnings));

    assert_eq!(
        sql(
            &pg,
            "stogger",
            "SELECT count(*), count(DISTINCT data->>'seq') FROM once"
        ),
        "1000|1000",
        "{}",
        dump(&warnings)
    );
    let stats = w.close(FLUSH);
    assert_eq!(
        (stats.delivered, stats.uncertain, stats.undelivered),
        (1000, 0, 0)
    );
    assert_eq!(stats.reconnects, 1, "{stats:?}");
    let all = dump(&warnings);
    assert!(all.contains("while committing"), "{all}");
    assert!(!all.contains("secret"), "{all}");
}
