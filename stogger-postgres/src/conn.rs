//! One database connection: connecting (TLS, timeout), writing rows
//! (binary COPY or INSERT) in a transaction whose outcome can be recovered
//! after a lost connection, and classifying failures. (Creating the table
//! is `table`'s.)
//!
//! Every statement works through pgbouncer in transaction pooling mode,
//! where consecutive transactions of one client may run on different server
//! connections: nothing is prepared ahead. The INSERT, the spool's
//! progress INSERT, `txid_status` and the ending of a lost COMMIT's backend
//! are one unnamed statement each (`execute_typed`/`query_typed`: parse,
//! bind and execute in one round trip); the COPY statement is prepared
//! inside its transaction and closed before the transaction ends. The
//! per-transaction `statement_timeout` is a `SET LOCAL`, which ends with
//! its transaction.

use std::error::Error as StdError;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::Host;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, Statement};

use crate::conn_settings::ConnSettings;
use crate::hosts;
use crate::queue::Row;
use crate::schema::{self, TableName};

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// A timestamp in microseconds since the Unix epoch, sent in PostgreSQL's
/// binary `timestamptz` format without conversions.
#[derive(Debug, Clone, Copy)]
pub struct PgTimestamp(pub i64);

impl ToSql for PgTimestamp {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_i64(self.0.saturating_sub(PG_EPOCH_OFFSET_MICROS));
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP
    }

    to_sql_checked!();
}

/// JSON text sent to a `jsonb` (or `json`) column without re-parsing it:
/// jsonb's binary format is a version byte (1) followed by the text.
#[derive(Debug, Clone, Copy)]
pub struct RawJson<'a>(pub &'a str);

impl ToSql for RawJson<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        if *ty == Type::JSONB {
            out.put_u8(1);
        }
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }

    to_sql_checked!();
}

/// The column types of the COPY, in [`schema::INSERT_COLUMNS`] order.
pub const COPY_TYPES: [Type; 6] = [
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
];

/// A readable description of a driver error: the server's message, detail
/// and SQLSTATE, or the client-side error chain.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str("; ");
            s.push_str(d);
        }
        if let Some(h) = db.hint() {
            s.push_str("; hint: ");
            s.push_str(h);
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

/// Why a write failed, and so what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The connection is unusable: reconnect, keep the rows.
    Connection(String),
    /// The server rejected (some of) the rows: isolate them by bisection.
    Rows(String),
    /// The database cannot take rows now (privileges, resources, a missing
    /// table): keep the rows, retry later with backoff. `table_missing`
    /// asks for the schema to be created again.
    Blocked {
        /// The server's message.
        message: String,
        /// SQLSTATE 42P01 / 3F000: the table or schema does not exist.
        table_missing: bool,
    },
}

/// Classifies a driver error. Only what says the database is unavailable
/// keeps the rows: connection (class 08, an error without SQLSTATE, a
/// closed client) and operator intervention (57, including a statement
/// timeout) reconnect; invalid authorization (28), missing privilege
/// (42501), insufficient resources (53), system errors (58), a missing
/// table or schema (42P01, 3F000: created again) and transient conflicts
/// (40 serialization/deadlock, 55P03 lock timeout) wait and retry. Every
/// other error is taken as caused by the rows and isolated by bisection
/// (a trigger's `P0001`, bad data 22, constraints 23, limits 54, ...).
pub fn classify(e: &tokio_postgres::Error, client: &Client) -> Failure {
    let text = describe(e);
    let Some(db) = e.as_db_error() else {
        return Failure::Connection(text);
    };
    let code = db.code().code();
    let class = &code[..code.len().min(2)];
    let table_missing = code == "42P01" || code == "3F000";
    match class {
        "08" | "57" => Failure::Connection(text),
        _ if client.is_closed() => Failure::Connection(text),
        "28" | "53" | "58" | "40" => Failure::Blocked {
            message: text,
            table_missing: false,
        },
        _ if table_missing || code == "42501" || code == "55P03" => Failure::Blocked {
            message: text,
            table_missing,
        },
        _ => Failure::Rows(text),
    }
}

/// A connection's I/O future (tokio-postgres' `Connection`, boxed so that
/// TLS and plain connections have one type). It must be polled for the
/// client's requests to make progress.
pub type Connection =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// Connects within the configured timeout and spawns the connection's I/O
/// on the current tokio runtime. The returned message is redacted.
pub async fn connect(s: &ConnSettings) -> Result<Client, String> {
    let (client, conn) = connect_parts(s).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Connects within the configured timeout and returns the client with its
/// connection future, for the caller to poll (sync mode polls it on the
/// calling thread). The returned message is redacted.
///
/// A DSN with several hosts tries them in order, each within the
/// timeout (as libpq's `connect_timeout`), so a black-holed first host
/// does not keep a healthy second one from being reached (see `hosts`).
pub async fn connect_parts(s: &ConnSettings) -> Result<(Client, Connection), String> {
    let targets = hosts::per_host(&s.pg);
    let mut failures = Vec::with_capacity(targets.len());
    for pg in &targets {
        match tokio::time::timeout(s.connect_timeout, attempt(s, pg)).await {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(e)) => failures.push((pg, describe(&e))),
            Err(_) => failures.push((
                pg,
                format!(
                    "no answer within {} ms (connect_timeout_ms)",
                    s.connect_timeout.as_millis()
                ),
            )),
        }
    }
    let why = match &failures[..] {
        [(_, why)] => why.clone(),
        several => several
            .iter()
            .map(|(pg, why)| format!("{}: {why}", host_label(pg)))
            .collect::<Vec<_>>()
            .join("; "),
    };
    Err(s
        .redactor
        .apply(&format!("cannot connect to {}: {why}", s.display)))
}

/// One connection attempt to the host(s) of `pg`, without a time limit.
async fn attempt(
    s: &ConnSettings,
    pg: &tokio_postgres::Config,
) -> Result<(Client, Connection), tokio_postgres::Error> {
    let all_unix = !pg.get_hosts().is_empty()
        && pg.get_hostaddrs().is_empty()
        && pg.get_hosts().iter().all(|h| !matches!(h, Host::Tcp(_)));
    match (&s.tls, all_unix) {
        (Some(tls), false) => {
            let (client, conn) = pg.connect(tls.clone()).await?;
            Ok((client, Box::pin(conn) as Connection))
        }
        _ => {
            // PostgreSQL offers no TLS on unix sockets; libpq ignores
            // sslmode there, and so do we.
            let mut pg = pg.clone();
            if all_unix {
                pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            }
            let (client, conn) = pg.connect(NoTls).await?;
            Ok((client, Box::pin(conn) as Connection))
        }
    }
}

/// `host:port` (or the socket directory) of a one-host `Config`, for
/// messages.
fn host_label(pg: &tokio_postgres::Config) -> String {
    let host = match (pg.get_hosts().first(), pg.get_hostaddrs().first()) {
        (Some(Host::Tcp(name)), _) => name.clone(),
        (Some(Host::Unix(dir)), _) => dir.display().to_string(),
        (None, Some(addr)) => addr.to_string(),
        (None, None) => "localhost".to_string(),
    };
    match pg.get_ports().first() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// A row's six values, as COPY and INSERT send them (in
/// [`schema::INSERT_COLUMNS`] order, typed as [`COPY_TYPES`]).
struct RowValues<'a> {
    timestamp: PgTimestamp,
    level: &'a str,
    event: &'a str,
    func: Option<&'a str>,
    scope: Option<&'a str>,
    data: RawJson<'a>,
}

impl<'a> RowValues<'a> {
    fn of(row: &'a Row) -> RowValues<'a> {
        RowValues {
            timestamp: PgTimestamp(row.ts_micros()),
            level: row.level(),
            event: row.event(),
            func: row.func(),
            scope: row.scope(),
            data: RawJson(row.data()),
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.timestamp,
            &self.level,
            &self.event,
            &self.func,
            &self.scope,
            &self.data,
        ]
    }

    /// The values with their types, for an unnamed statement.
    fn typed(&self) -> [(&(dyn ToSql + Sync), Type); 6] {
        let [a, b, c, d, e, f] = self.params();
        let [ta, tb, tc, td, te, tf] = COPY_TYPES;
        [(a, ta), (b, tb), (c, tc), (d, td), (e, te), (f, tf)]
    }
}

/// How sync mode sends an INSERT.
pub enum InsertStatement<'a> {
    /// `sql` ([`schema::insert_sql`] for the rows) as an unnamed
    /// statement: Parse, Bind and Execute in one round trip, and no
    /// prepared statement that outlives it, so it works through
    /// pgbouncer's transaction pooling.
    Unnamed(&'a str),
    /// A named statement prepared on this connection by
    /// [`prepare_insert`] for that many rows: Bind and Execute only.
    Named(&'a Statement),
}

/// One autocommit INSERT of `rows` (sync mode's pooled connections). All
/// rows are committed, or none.
pub async fn insert(
    client: &Client,
    statement: InsertStatement<'_>,
    rows: &[&Row],
) -> Result<(), tokio_postgres::Error> {
    let values: Vec<RowValues<'_>> = rows.iter().map(|r| RowValues::of(r)).collect();
    let done = match statement {
        InsertStatement::Unnamed(sql) => {
            let typed: Vec<(&(dyn ToSql + Sync), Type)> =
                values.iter().flat_map(RowValues::typed).collect();
            client.execute_typed(sql, &typed).await
        }
        InsertStatement::Named(statement) => {
            let params: Vec<&(dyn ToSql + Sync)> =
                values.iter().flat_map(RowValues::params).collect();
            client.execute(statement, &params).await
        }
    };
    done.map(|_| ())
}

/// Prepares `sql`, the INSERT of `rows` rows ([`schema::insert_sql`]),
/// under a name tokio-postgres picks; the statement lives as long as the
/// connection (sync mode with `postgres_prepared_statements`).
pub async fn prepare_insert(
    client: &Client,
    sql: &str,
    rows: usize,
) -> Result<Statement, tokio_postgres::Error> {
    let types: Vec<Type> = std::iter::repeat_n(COPY_TYPES, rows).flatten().collect();
    client.prepare_typed(sql, &types).await
}

/// A connection for writing to one table.
pub struct Conn {
    /// The client.
    pub client: Client,
    copy_sql: String,
}

impl Conn {
    /// A connection writing to `t`. Nothing is prepared on the server
    /// ahead (see the module docs: pgbouncer).
    pub fn new(client: Client, t: &TableName) -> Conn {
        Conn {
            client,
            copy_sql: schema::copy_sql(t),
        }
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The COPY, inside the caller's transaction. Its statement is
    /// prepared here and dropped on return, which sends its Close before
    /// the caller's COMMIT or ROLLBACK: no statement outlives the
    /// transaction on whatever server connection pgbouncer lent it.
    async fn copy(&self, rows: &[Row]) -> Result<(), tokio_postgres::Error> {
        let statement = self.client.prepare(&self.copy_sql).await?;
        let sink = self.client.copy_in(&statement).await?;
        let writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
        pin_mut!(writer);
        for row in rows {
            writer.as_mut().write(&RowValues::of(row).params()).await?;
        }
        writer.finish().await.map(|_| ())
    }

    /// Writes `rows` in one transaction: `BEGIN; SET LOCAL
    /// statement_timeout; SELECT txid_current(), pg_backend_pid()`, COPY,
    /// the spool position when the rows come from the spool (`progress`:
    /// an INSERT into the progress table, in the same transaction), then
    /// `COMMIT`; the whole write within `timeout`. When no answer to COMMIT
    /// comes (connection lost, or the time is up), the outcome is unknown
    /// and [`WriteError::Unknown`] carries the transaction id and the
    /// backend's pid to resolve it with after reconnecting. Running out of
    /// time before COMMIT is a connection failure: the transaction cannot
    /// commit without it, so the rows may be sent again.
    pub async fn write(
        &self,
        rows: &[Row],
        progress: Option<&ProgressMark<'_>>,
        timeout: Duration,
    ) -> Result<(), WriteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let late = || {
            WriteError::Failed(Failure::Connection(format!(
                "the server did not answer within {} ms (write_timeout_ms)",
                timeout.as_millis()
            )))
        };
        let failed = |e: tokio_postgres::Error| WriteError::Failed(classify(&e, &self.client));
        let (xid, pid) = match tokio::time::timeout_at(deadline, self.begin(timeout)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(failed(e)),
            Err(_) => return Err(late()),
        };
        let body = async {
            self.copy(rows).await?;
            if let Some(mark) = progress {
                self.client
                    .execute_typed(
                        mark.insert_sql.as_str(),
                        &[
                            (&mark.spool_id, Type::TEXT),
                            (&mark.segment, Type::INT8),
                            (&mark.offset, Type::INT8),
                        ],
                    )
                    .await?;
            }
            Ok::<(), tokio_postgres::Error>(())
        };
        match tokio::time::timeout_at(deadline, body).await {
            Ok(Ok(())) => {
                if let Some(mark) = progress {
                    (mark.before_commit)(xid, pid);
                }
            }
            Ok(Err(e)) => {
                let f = classify(&e, &self.client);
                if !self.client.is_closed() {
                    let _ =
                        tokio::time::timeout_at(deadline, self.client.batch_execute("ROLLBACK"))
                            .await;
                }
                return Err(WriteError::Failed(f));
            }
            Err(_) => return Err(late()),
        }
        match tokio::time::timeout_at(deadline, self.client.batch_execute("COMMIT")).await {
            Ok(Ok(())) => Ok(()),
            // The server answered: the transaction did not commit.
            Ok(Err(e)) if e.as_db_error().is_some() && !self.client.is_closed() => {
                Err(WriteError::Failed(classify(&e, &self.client)))
            }
            Ok(Err(e)) => Err(WriteError::Unknown {
                xid,
                pid,
                error: describe(&e),
            }),
            Err(_) => Err(WriteError::Unknown {
                xid,
                pid,
                error: format!(
                    "no answer to COMMIT within {} ms (write_timeout_ms)",
                    timeout.as_millis()
                ),
            }),
        }
    }

    async fn begin(&self, timeout: Duration) -> Result<(i64, i32), tokio_postgres::Error> {
        let msgs = self
            .client
            .simple_query(&format!(
                "BEGIN; SET LOCAL statement_timeout = {}; \
                 SELECT txid_current(), pg_backend_pid()",
                timeout.as_millis()
            ))
            .await?;
        for m in msgs {
            if let SimpleQueryMessage::Row(r) = m {
                let xid = r.get(0).and_then(|v| v.parse::<i64>().ok());
                let pid = r.get(1).and_then(|v| v.parse::<i32>().ok());
                if let (Some(xid), Some(pid)) = (xid, pid) {
                    return Ok((xid, pid));
                }
            }
        }
        // Cannot happen with a real server; treat as "no xid known".
        Ok((-1, 0))
    }

    /// What became of transaction `xid` (PostgreSQL ≥ 10), within `timeout`.
    pub async fn txid_status(
        &self,
        xid: i64,
        timeout: Duration,
    ) -> Result<TxStatus, tokio_postgres::Error> {
        if xid < 0 {
            return Ok(TxStatus::Unknown);
        }
        let params: [(&(dyn ToSql + Sync), Type); 1] = [(&xid, Type::INT8)];
        let asked = self.client.query_typed("SELECT txid_status($1)", &params);
        let Ok(answer) = tokio::time::timeout(timeout, asked).await else {
            return Ok(TxStatus::InProgress);
        };
        match answer {
            Ok(rows) => Ok(
                match rows
                    .first()
                    .map(|row| row.try_get::<_, Option<String>>(0))
                    .transpose()?
                    .flatten()
                    .as_deref()
                {
                    Some("committed") => TxStatus::Committed,
                    Some("aborted") => TxStatus::Aborted,
                    Some("in progress") => TxStatus::InProgress,
                    _ => TxStatus::Unknown,
                },
            ),
            // "transaction ID ... is in the future": the server restarted
            // without ever logging it, so it did not commit.
            Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "22023") => {
                Ok(TxStatus::Aborted)
            }
            Err(e) => Err(e),
        }
    }

    /// Ends the backend `pid` if it still runs transaction `xid` (the one
    /// whose COMMIT got no answer), so that transaction settles now instead
    /// of when the server notices the dead connection. Allowed for the same
    /// role (and for members of `pg_signal_backend`); `Ok(false)` when no
    /// such backend runs; an error (42501) when the role may not.
    pub async fn terminate(
        &self,
        pid: i32,
        xid: i64,
        timeout: Duration,
    ) -> Result<bool, tokio_postgres::Error> {
        // backend_xid is the 32-bit xid; txid_current() adds the epoch.
        let xid32 = xid.rem_euclid(1 << 32).to_string();
        let params: [(&(dyn ToSql + Sync), Type); 2] = [(&pid, Type::INT4), (&xid32, Type::TEXT)];
        let asked = self.client.query_typed(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid = $1 AND backend_xid::text = $2",
            &params,
        );
        match tokio::time::timeout(timeout, asked).await {
            Ok(Ok(rows)) => Ok(rows
                .iter()
                .any(|r| r.try_get::<_, bool>(0).unwrap_or(false))),
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(false),
        }
    }
}

/// The spool position a batch from the spool advances to, recorded in the
/// same transaction as its rows (see [`crate::spool`]).
pub struct ProgressMark<'a> {
    /// The INSERT into the table's progress table.
    pub insert_sql: &'a String,
    /// The spool's identity.
    pub spool_id: &'a str,
    /// The segment of the batch's last record.
    pub segment: i64,
    /// The byte offset just after that record.
    pub offset: i64,
    /// Called with the transaction id and backend pid just before COMMIT
    /// (the spool notes them for a next run).
    pub before_commit: &'a (dyn Fn(i64, i32) + Sync),
}

/// The outcome of a transaction whose COMMIT got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// Committed: the rows are in the table.
    Committed,
    /// Aborted: the rows must be sent again.
    Aborted,
    /// Still running (the old backend has not finished): ask again later.
    InProgress,
    /// Too old to know (NULL from txid_status).
    Unknown,
}

/// A failed [`Conn::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// Definitely not committed.
    Failed(Failure),
    /// COMMIT was sent but no answer came back.
    Unknown {
        /// The transaction id (`txid_current()`).
        xid: i64,
        /// The backend that ran it (`pg_backend_pid()`).
        pid: i32,
        /// What happened.
        error: String,
    },
}

#[cfg(test)]
mod tests {
    //! The exactly-once recovery after a COMMIT without answer rests on
    //! `txid_status`: check that the writer reads each outcome right on a
    //! real server (committed, rolled back, never assigned).

    use super::*;
    use stogger_pg_proto::PgSettings;

    const T: Duration = Duration::from_secs(10);

    async fn xid(c: &tokio_postgres::Client) -> i64 {
        c.query_one("SELECT txid_current()", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    }

    #[test]
    fn transaction_outcomes_are_read_back_after_the_fact() {
        let pg = stogger_tests::pg::cluster_or_fail("pgtxid");
        pg.create_user_and_db("stogger", "secret")
            .unwrap_or_else(|e| panic!("create user: {e}"));
        let mut cfg = PgSettings::new(pg.socket_dsn("stogger", "stogger"));
        cfg.connect_timeout = std::time::Duration::from_secs(10);
        let settings = ConnSettings::parse(&cfg).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let table = TableName::parse("tx_logs").unwrap();
            let a = connect(&settings).await.unwrap();
            crate::table::ensure_table(&a, &table, &crate::table::TablePlan::of(&cfg))
                .await
                .unwrap();
            a.batch_execute("BEGIN").await.unwrap();
            let committed = xid(&a).await;
            a.batch_execute(
                "INSERT INTO tx_logs (\"timestamp\", level, event) VALUES (now(), 'info', 'x'); COMMIT",
            )
            .await
            .unwrap();
            a.batch_execute("BEGIN").await.unwrap();
            let aborted = xid(&a).await;
            a.batch_execute("ROLLBACK").await.unwrap();
            a.batch_execute("BEGIN").await.unwrap();
            let open_xid = xid(&a).await;

            // Another connection (as after a reconnect) asks.
            let b = Conn::new(connect(&settings).await.unwrap(), &table);
            assert_eq!(b.txid_status(committed, T).await.unwrap(), TxStatus::Committed);
            assert_eq!(b.txid_status(aborted, T).await.unwrap(), TxStatus::Aborted);
            assert_eq!(b.txid_status(open_xid, T).await.unwrap(), TxStatus::InProgress);
            // An id the server never handed out (as after a crash that lost it).
            assert_eq!(
                b.txid_status(open_xid + 1_000_000, T).await.unwrap(),
                TxStatus::Aborted
            );
            // The backend holding the open transaction is ended (as after a
            // lost COMMIT whose connection is still open): it aborts. A pid
            // running another transaction is left alone.
            let pid: i32 = a
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0);
            assert!(!b.terminate(pid, open_xid + 7, T).await.unwrap());
            assert!(b.terminate(pid, open_xid, T).await.unwrap());
            let mut status = TxStatus::InProgress;
            for _ in 0..100 {
                status = b.txid_status(open_xid, T).await.unwrap();
                if status != TxStatus::InProgress {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert_eq!(status, TxStatus::Aborted);
            drop(a);
        });
    }
}
