//! The exactly-once recovery after a COMMIT without answer rests on
//! `txid_status`: check that the writer reads each outcome right on a real
//! server (committed, rolled back, never assigned).

mod common;

use common::*;
use stogger_postgres::config::ConnSettings;
use stogger_postgres::conn::{connect, Conn, TxStatus};
use stogger_postgres::TableName;

async fn xid(c: &tokio_postgres::Client) -> i64 {
    c.query_one("SELECT txid_current()", &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
}

#[test]
fn transaction_outcomes_are_read_back_after_the_fact() {
    let pg = cluster("pgtxid");
    let cfg = config(&pg.socket_dsn("stogger", "stogger"), "tx_logs");
    let settings = ConnSettings::parse(&cfg).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let table = TableName::parse("tx_logs").unwrap();
        let a = connect(&settings).await.unwrap();
        stogger_postgres::conn::ensure_schema(&a, &table)
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
