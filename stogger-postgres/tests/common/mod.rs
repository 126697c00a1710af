//! Helpers shared by the stogger-postgres integration tests (each test
//! binary uses a part of them).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use stogger_postgres::{Opened, PgSettings, RowRef, WarnSink, WriteMode, Writer};
use stogger_tests::pg::Cluster;

/// Collected `(kind, message)` warnings.
pub type Warnings = Arc<Mutex<Vec<(String, String)>>>;

/// A warn sink that records every message.
pub fn recorder() -> (WarnSink, Warnings) {
    let got: Warnings = Arc::default();
    let g = got.clone();
    let sink: WarnSink = Arc::new(move |kind: &str, msg: &str| {
        g.lock().unwrap().push((kind.to_string(), msg.to_string()));
    });
    (sink, got)
}

/// All recorded messages of `kind`.
pub fn of_kind(w: &Warnings, kind: &str) -> Vec<String> {
    w.lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, m)| m.clone())
        .collect()
}

/// Everything recorded, one line per message, for assertion messages.
pub fn dump(w: &Warnings) -> String {
    w.lock()
        .unwrap()
        .iter()
        .map(|(k, m)| format!("[{k}] {m}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A batch-mode config for `dsn` and `table` with test-friendly timings.
pub fn config(dsn: &str, table: &str) -> PgSettings {
    let mut c = PgSettings::new(dsn);
    c.table = table.to_string();
    c.flush_interval = Duration::from_millis(50);
    c.connect_timeout = Duration::from_secs(10);
    c
}

/// Opens a writer or fails the test with the reason.
pub fn open(c: &PgSettings, sink: Option<WarnSink>) -> Opened {
    match Writer::open(c, sink) {
        Ok(o) => o,
        Err(e) => panic!("open failed: {e}"),
    }
}

/// An owned row, to borrow as a [`RowRef`].
pub struct OwnedRow {
    pub ts: i64,
    pub level: String,
    pub event: String,
    pub func: Option<String>,
    pub scope: Option<String>,
    pub data: String,
}

impl OwnedRow {
    pub fn new(event: impl Into<String>, data: impl Into<String>) -> OwnedRow {
        OwnedRow {
            ts: 1_700_000_000_000_000,
            level: "info".into(),
            event: event.into(),
            func: None,
            scope: None,
            data: data.into(),
        }
    }

    pub fn as_ref(&self) -> RowRef<'_> {
        RowRef {
            ts_micros: self.ts,
            level: &self.level,
            event: &self.event,
            func: self.func.as_deref(),
            scope: self.scope.as_deref(),
            data: &self.data,
        }
    }
}

/// Rows `event` with `{"seq": i}` for i in `range`.
pub fn seq_rows(event: &str, range: std::ops::Range<u64>) -> Vec<OwnedRow> {
    range
        .map(|i| {
            let mut r = OwnedRow::new(event, format!("{{\"seq\": {i}}}"));
            r.ts += i as i64;
            r
        })
        .collect()
}

/// Writes all `rows` through `w` (batch mode: all must be accepted).
pub fn write_all(w: &Writer, rows: &[OwnedRow]) {
    for chunk in rows.chunks(100) {
        let refs: Vec<RowRef<'_>> = chunk.iter().map(OwnedRow::as_ref).collect();
        assert_eq!(w.write(&refs), refs.len() as i64, "rows refused");
    }
}

/// psql as the superuser, failing the test on error.
pub fn sql(pg: &Cluster, db: &str, q: &str) -> String {
    pg.psql(db, q)
        .unwrap_or_else(|e| panic!("psql {q:?} failed: {e}"))
}

/// A cluster with a database and owner `stogger` (password `secret`).
pub fn cluster(name: &str) -> Cluster {
    let pg = stogger_tests::pg::cluster_or_fail(name);
    pg.create_user_and_db("stogger", "secret")
        .unwrap_or_else(|e| panic!("create user: {e}"));
    pg
}

/// Generous bound for flushes in tests (not a timing assertion: a flush
/// that does not drain fails the test with the stats).
pub const FLUSH: Duration = Duration::from_secs(60);

/// `write`'s result in sync mode for rows never sent (or refused): not
/// delivered.
pub const NOT_DELIVERED: i64 = -2;
/// `write`'s result in sync mode for a row sent without an answer: maybe
/// stored.
pub const UNCERTAIN: i64 = -3;

/// A sync-mode config with a pool of `pool` and the time limit `timeout`.
pub fn sync_config(dsn: &str, table: &str, pool: usize, timeout: Duration) -> PgSettings {
    let mut c = config(dsn, table);
    c.write_mode = WriteMode::Sync;
    c.sync_pool_size = pool;
    c.connect_timeout = timeout;
    c
}

/// A client of its own (another connection than the writer's), on a
/// current-thread runtime, for reading rows back and holding locks.
pub struct Reader {
    pub rt: tokio::runtime::Runtime,
    pub client: tokio_postgres::Client,
}

impl Reader {
    pub fn new(dsn: &str) -> Reader {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
                .await
                .expect("reader connects");
            tokio::spawn(conn);
            client
        });
        Reader { rt, client }
    }

    /// Rows of `table` whose `data.seq` is `seq`.
    pub fn count_seq(&self, table: &str, seq: u64) -> i64 {
        self.rt.block_on(async {
            // Polls the reader's connection: the runtime runs only here.
            self.client
                .query_one(
                    &format!("SELECT count(*) FROM {table} WHERE (data->>'seq')::bigint = $1"),
                    &[&(seq as i64)],
                )
                .await
                .expect("count")
                .get::<_, i64>(0)
        })
    }

    /// Runs `sql` (one or more statements), failing the test on error.
    pub fn exec(&self, sql: &str) {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// `(data.seq, xmin)` of every row of `table`: rows written by one
    /// statement share its transaction id.
    pub fn seqs_and_xmins(&self, table: &str) -> Vec<(i64, String)> {
        self.rt.block_on(async {
            self.client
                .query(
                    &format!("SELECT (data->>'seq')::bigint, xmin::text FROM {table}"),
                    &[],
                )
                .await
                .expect("rows")
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)))
                .collect()
        })
    }
}

/// Row `i` of `rows` as a one-row call.
pub fn one(rows: &[OwnedRow], i: usize) -> Vec<RowRef<'_>> {
    vec![rows[i].as_ref()]
}

/// Holds `LOCK TABLE ... ACCESS EXCLUSIVE` on `table` for `hold` (in a
/// psql child), so INSERTs wait; returns once the lock is taken.
pub fn lock_table_for(pg: &Cluster, table: &str, hold: Duration) -> std::thread::JoinHandle<()> {
    let q = format!(
        "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({}); COMMIT;",
        hold.as_secs_f64()
    );
    let locker = {
        let dsn = pg.socket_dsn("stogger", "stogger");
        std::thread::spawn(move || {
            let r = Reader::new(&dsn);
            let _ = r.rt.block_on(r.client.batch_execute(&q));
        })
    };
    // Until the lock is held.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sql(
        pg,
        "stogger",
        &format!(
            "SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass \
             AND mode = 'AccessExclusiveLock' AND granted"
        ),
    ) != "1"
    {
        assert!(Instant::now() < deadline, "the lock was never taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    locker
}

/// Waits (at most 30 s) until `n` lock requests on `table` wait, i.e. `n`
/// statements are blocked behind a lock.
pub fn until_waiting_locks(pg: &Cluster, table: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let q = format!(
        "SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass AND NOT granted"
    );
    loop {
        let waiting: usize = sql(pg, "stogger", &q).parse().unwrap_or(0);
        if waiting == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} waiting lock request(s) on {table}, found {waiting}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Now, in microseconds since the Unix epoch (a row's `ts`).
pub fn now_micros() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

/// Waits (boundedly) until `cond` holds; false when it never did.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// A thread writing `rows` rows of event `live` with the current time
/// through a writer, every `pause`, until stopped — a service logging
/// while the test changes the table under it.
pub struct Feeder {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Feeder {
    /// Starts feeding `w`.
    pub fn start(w: Arc<Writer>, rows: usize, pause: Duration) -> Feeder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut sent = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let batch: Vec<OwnedRow> = (0..rows)
                    .map(|_| {
                        let mut r = OwnedRow::new("live", "{\"k\": 1}");
                        r.ts = now_micros();
                        r
                    })
                    .collect();
                let refs: Vec<RowRef<'_>> = batch.iter().map(OwnedRow::as_ref).collect();
                sent += w.write(&refs).max(0) as u64;
                std::thread::sleep(pause);
            }
            sent
        });
        Feeder { stop, thread }
    }

    /// Stops it; the number of rows the writer accepted.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("feeder thread")
    }
}

/// Flushes `w` and checks that all `sent` rows were delivered: none
/// rejected, none dropped for the database's absence, none uncertain.
pub fn assert_all_delivered(w: &Writer, sent: u64, warnings: &Warnings) {
    assert!(w.flush(FLUSH), "{:?}", w.stats());
    let stats = w.stats();
    assert!(sent > 0, "nothing was sent");
    assert_eq!(
        (
            stats.delivered,
            stats.dropped_rejected,
            stats.dropped_unavailable,
            stats.uncertain
        ),
        (sent, 0, 0, 0),
        "{stats:?}\n{}",
        dump(warnings)
    );
}

/// Where [`commit_trap`] loses a COMMIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// The server's answer to COMMIT is swallowed and both sockets are
    /// closed: the transaction committed, the client cannot know.
    Answer,
    /// The client's COMMIT never reaches the server, and nothing more
    /// passes from that client while both sockets stay open: the server's
    /// backend waits in its transaction, alive.
    Request,
}

/// A loopback proxy to `server_port`; returns its port. While `armed`,
/// the first COMMIT seen (in the direction `trap` says) is lost as `trap`
/// says, once (the trap disarms itself and sets `fired`).
pub fn commit_trap(
    server_port: u16,
    trap: Trap,
    armed: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let springs = move |chunk: &[u8]| {
        chunk.windows(7).any(|w| w == b"COMMIT\0") && armed.swap(false, Ordering::SeqCst) && {
            fired.store(true, Ordering::SeqCst);
            true
        }
    };
    let springs = Arc::new(springs);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let up_springs = springs.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let mut silent = false;
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    silent = silent || (trap == Trap::Request && up_springs(&buf[..n]));
                    if !silent && s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                if !silent {
                    let _ = s_write.shutdown(Shutdown::Both);
                }
            });
            let down_springs = springs.clone();
            thread::spawn(move || {
                let (mut s_read, mut c_write) = (server, client);
                let mut buf = [0u8; 65536];
                while let Ok(n) = s_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if trap == Trap::Answer && down_springs(&buf[..n]) {
                        let _ = c_write.shutdown(Shutdown::Both);
                        let _ = s_read.shutdown(Shutdown::Both);
                        return; // the answer is lost
                    }
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Both);
            });
        }
    });
    port
}
