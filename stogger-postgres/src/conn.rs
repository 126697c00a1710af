//! One database connection: connecting (TLS, timeout), creating the schema,
//! writing rows (binary COPY or INSERT) in a transaction whose outcome can be
//! recovered after a lost connection, and classifying failures.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::Host;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, Statement};

use crate::conn_settings::ConnSettings;
use crate::queue::Row;
use crate::schema::{self, TableName, COLUMNS, INDEXES};

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

/// What [`ensure_schema`] found or did.
#[derive(Debug, Default)]
pub struct SchemaReport {
    /// The table was created now.
    pub created: bool,
    /// Problems that do not stop writing (a missing index that could not be
    /// created, an unexpected column type).
    pub warnings: Vec<String>,
}

/// The table's quoted name as the one parameter of an unnamed statement
/// (nothing outlives the query on the connection, so it works through
/// pgbouncer's transaction pooling).
fn table_param(quoted: &String) -> [(&(dyn ToSql + Sync), Type); 1] {
    [(quoted, Type::TEXT)]
}

async fn exists(client: &Client, t: &TableName) -> Result<bool, tokio_postgres::Error> {
    let quoted = t.quoted();
    let rows = client
        .query_typed("SELECT to_regclass($1) IS NOT NULL", &table_param(&quoted))
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.try_get(0).ok())
        .unwrap_or(false))
}

/// Creates the table and its indexes if they are missing. An existing table
/// is not touched (creating it again would need CREATE privilege on the
/// schema, which a writer with only INSERT does not have); missing indexes on
/// it are created if possible, and otherwise reported as warnings.
pub async fn ensure_schema(
    client: &Client,
    t: &TableName,
) -> Result<SchemaReport, tokio_postgres::Error> {
    let mut report = SchemaReport::default();
    if !exists(client, t).await? {
        let mut script = String::from("BEGIN;\n");
        for s in schema::ddl_statements(t) {
            script.push_str(&s);
            script.push_str(";\n");
        }
        script.push_str("COMMIT;");
        match client.batch_execute(&script).await {
            Ok(()) => report.created = true,
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                // Another process created it at the same moment (duplicate
                // type/relation): fine if it is there now.
                let dup = e
                    .as_db_error()
                    .is_some_and(|d| matches!(d.code().code(), "23505" | "42P07" | "42710"));
                if !(dup && exists(client, t).await?) {
                    return Err(e);
                }
            }
        }
    }
    let quoted = t.quoted();
    let present: Vec<String> = client
        .query_typed(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = to_regclass($1)",
            &table_param(&quoted),
        )
        .await?
        .iter()
        .filter_map(|r| r.try_get::<_, String>(0).ok())
        .collect();
    for (suffix, def) in INDEXES {
        let name = t.index_name(suffix);
        if present.contains(&name) {
            continue;
        }
        if let Err(e) = client
            .batch_execute(&schema::create_index_sql(t, suffix, def))
            .await
        {
            report.warnings.push(format!(
                "index {name} on {t} is missing and could not be created: {}",
                describe(&e)
            ));
        }
    }
    let cols = client
        .query_typed(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            &table_param(&quoted),
        )
        .await?;
    for (name, ty, _) in COLUMNS.iter().skip(1) {
        let found = cols
            .iter()
            .find(|r| r.try_get::<_, String>(0).ok().as_deref() == Some(name));
        match found.and_then(|r| r.try_get::<_, String>(1).ok()) {
            Some(actual) if actual == *ty => {}
            Some(actual) => report.warnings.push(format!(
                "column {name} of {t} is {actual}, expected {ty}: writes will fail"
            )),
            None => report
                .warnings
                .push(format!("column {name} of {t} is missing: writes will fail")),
        }
    }
    Ok(report)
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
}

/// One autocommit INSERT of `rows` with `sql` ([`schema::insert_sql`] for
/// `rows.len()` rows) as an unnamed statement: Parse, Bind and Execute in
/// one round trip, and no prepared statement that outlives it, so it works
/// through pgbouncer's transaction pooling (sync mode's pooled
/// connections). All rows are committed, or none.
pub async fn insert_unnamed(
    client: &Client,
    sql: &str,
    rows: &[&Row],
) -> Result<(), tokio_postgres::Error> {
    let values: Vec<RowValues<'_>> = rows.iter().map(|r| RowValues::of(r)).collect();
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = values
        .iter()
        .flat_map(|v| v.params().into_iter().zip(COPY_TYPES.iter().cloned()))
        .collect();
    client.execute_typed(sql, &typed).await.map(|_| ())
}

/// A connection prepared for writing to one table.
pub struct Conn {
    /// The client.
    pub client: Client,
    copy: Statement,
}

impl Conn {
    /// Prepares the COPY statement.
    pub async fn prepare(client: Client, t: &TableName) -> Result<Conn, tokio_postgres::Error> {
        let copy = client.prepare(&schema::copy_sql(t)).await?;
        Ok(Conn { client, copy })
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    async fn copy(&self, rows: &[Row]) -> Result<(), tokio_postgres::Error> {
        let sink = self.client.copy_in(&self.copy).await?;
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
            .query_one("SELECT txid_status($1)", &[&xid])
            .await
        {
            Ok(row) => Ok(match row.try_get::<_, Option<String>>(0)?.as_deref() {
                Some("committed") => TxStatus::Committed,
                Some("aborted") => TxStatus::Aborted,
                Some("in progress") => TxStatus::InProgress,
                _ => TxStatus::Unknown,
            }),
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
            ensure_schema(&a, &table).await.unwrap();
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
            let b = Conn::prepare(connect(&settings).await.unwrap(), &table)
                .await
                .unwrap();
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
