//! A COMMIT that succeeds on the server but whose answer never reaches the
//! writer (the connection dies in between) must not make the writer send the
//! batch again. A loopback proxy between writer and server cuts the
//! connection exactly there, once.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use stogger_postgres::OpenStatus;

#[test]
fn a_commit_whose_answer_is_lost_is_not_sent_again() {
    let pg = cluster("pgonce");
    let armed = Arc::new(AtomicBool::new(false));
    let fired = Arc::new(AtomicBool::new(false));
    let port = commit_trap(pg.port(), Trap::Answer, armed.clone(), fired.clone());
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
