//! One database connection: connecting (TLS, timeout), writing rows
//! (binary COPY or INSERT) in a transaction whose outcome can be recovered
//! after a lost connection, and classifying failures. (Creating the table
//! is `table`'s.)
//!
//! Every statement works through pgbouncer in transaction pooling mode,
//! where consecutive transactions of one client may run on different server
//! connections: nothing is prepared ahead. The INSERT and `txid_status` are
//! one unnamed statement each (`execute_typed`/`query_typed`: parse, bind
//! and execute in one round trip); the COPY statement is prepared inside
//! its transaction and closed before the transaction ends.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::Host;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::conn_settings::ConnSettings;
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
    /// The server rejected the content of (some of) the rows: isolate them.
    Rows(String),
    /// The table or privileges are wrong (or another statement-level
    /// problem): keep the rows, retry later with backoff. `table_missing`
    /// asks for the schema to be created again.
    Blocked {
        /// The server's message.
        message: String,
        /// SQLSTATE 42P01 / 3F000: the table or schema does not exist.
        table_missing: bool,
    },
}

/// Classifies a driver error (SQLSTATE classes: 22 data exception, 23
/// integrity, 54 program limit (e.g. an index row too large) are row-level;
/// 08 connection, 57 operator intervention (shutdown), 53 resources, 58
/// system error and any error without SQLSTATE are connection-level).
pub fn classify(e: &tokio_postgres::Error, client: &Client) -> Failure {
    let text = describe(e);
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let class = &code[..code.len().min(2)];
        return match class {
            "22" | "23" | "54" => Failure::Rows(text),
            "08" | "57" | "53" | "58" => Failure::Connection(text),
            _ if client.is_closed() => Failure::Connection(text),
            _ => Failure::Blocked {
                message: text,
                table_missing: code == "42P01" || code == "3F000",
            },
        };
    }
    Failure::Connection(text)
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
pub async fn connect_parts(s: &ConnSettings) -> Result<(Client, Connection), String> {
    let all_unix = !s.pg.get_hosts().is_empty()
        && s.pg.get_hostaddrs().is_empty()
        && s.pg.get_hosts().iter().all(|h| !matches!(h, Host::Tcp(_)));
    let attempt = async {
        match (&s.tls, all_unix) {
            (Some(tls), false) => {
                let (client, conn) = s.pg.connect(tls.clone()).await?;
                Ok::<_, tokio_postgres::Error>((client, Box::pin(conn) as Connection))
            }
            _ => {
                // PostgreSQL offers no TLS on unix sockets; libpq ignores
                // sslmode there, and so do we.
                let mut pg = s.pg.clone();
                if all_unix {
                    pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
                }
                let (client, conn) = pg.connect(NoTls).await?;
                Ok((client, Box::pin(conn) as Connection))
            }
        }
    };
    match tokio::time::timeout(s.connect_timeout, attempt).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(s.redactor.apply(&format!(
            "cannot connect to {}: {}",
            s.display,
            describe(&e)
        ))),
        Err(_) => Err(format!(
            "cannot connect to {}: no answer within {} ms (connect_timeout_ms)",
            s.display,
            s.connect_timeout.as_millis()
        )),
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

/// One autocommit INSERT of `row` with `sql` ([`schema::insert_sql`]) as an
/// unnamed statement: Parse, Bind and Execute in one round trip, and no
/// prepared statement that outlives it, so it works through pgbouncer's
/// transaction pooling (sync mode's pooled connections).
pub async fn insert_unnamed(
    client: &Client,
    sql: &str,
    row: &Row,
) -> Result<(), tokio_postgres::Error> {
    let values = RowValues::of(row);
    client.execute_typed(sql, &values.typed()).await.map(|_| ())
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

    /// Writes `rows` in one transaction: `BEGIN; SELECT txid_current()`,
    /// COPY, `COMMIT`. When the connection dies after COMMIT was sent, the
    /// outcome is unknown and [`WriteError::Unknown`] carries the
    /// transaction id to ask [`Conn::txid_status`] about after reconnecting.
    pub async fn write(&self, rows: &[Row]) -> Result<(), WriteError> {
        let xid = match self.begin().await {
            Ok(x) => x,
            Err(e) => return Err(WriteError::Failed(classify(&e, &self.client))),
        };
        if let Err(e) = self.copy(rows).await {
            let f = classify(&e, &self.client);
            if !self.client.is_closed() {
                let _ = self.client.batch_execute("ROLLBACK").await;
            }
            return Err(WriteError::Failed(f));
        }
        match self.client.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            // The server answered: the transaction did not commit.
            Err(e) if e.as_db_error().is_some() && !self.client.is_closed() => {
                Err(WriteError::Failed(classify(&e, &self.client)))
            }
            Err(e) => Err(WriteError::Unknown {
                xid,
                error: describe(&e),
            }),
        }
    }

    async fn begin(&self) -> Result<i64, tokio_postgres::Error> {
        let msgs = self
            .client
            .simple_query("BEGIN; SELECT txid_current()")
            .await?;
        for m in msgs {
            if let SimpleQueryMessage::Row(r) = m {
                if let Some(x) = r.get(0).and_then(|v| v.parse::<i64>().ok()) {
                    return Ok(x);
                }
            }
        }
        // Cannot happen with a real server; treat as "no xid known".
        Ok(-1)
    }

    /// What became of transaction `xid` (PostgreSQL ≥ 10).
    pub async fn txid_status(&self, xid: i64) -> Result<TxStatus, tokio_postgres::Error> {
        if xid < 0 {
            return Ok(TxStatus::Unknown);
        }
        match self
            .client
            .query_typed("SELECT txid_status($1)", &[(&xid, Type::INT8)])
            .await
        {
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
            assert_eq!(b.txid_status(committed).await.unwrap(), TxStatus::Committed);
            assert_eq!(b.txid_status(aborted).await.unwrap(), TxStatus::Aborted);
            assert_eq!(b.txid_status(open_xid).await.unwrap(), TxStatus::InProgress);
            // An id the server never handed out (as after a crash that lost it).
            assert_eq!(
                b.txid_status(open_xid + 1_000_000).await.unwrap(),
                TxStatus::Aborted
            );
            // The connection holding the open transaction dies: it aborts.
            drop(a);
            let mut status = TxStatus::InProgress;
            for _ in 0..100 {
                status = b.txid_status(open_xid).await.unwrap();
                if status != TxStatus::InProgress {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert_eq!(status, TxStatus::Aborted);
        });
    }
}
