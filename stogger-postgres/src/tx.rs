//! One transaction around some work, the same way everywhere: the
//! statements that open it (`BEGIN` and the `SET LOCAL` limits that last
//! only as long as it does — a session `SET` would stay behind on whatever
//! server connection pgbouncer lent), then COMMIT when the work succeeded
//! and ROLLBACK when it failed.

use std::future::Future;

use tokio_postgres::{Client, Error};

/// Runs `begin` (e.g. `BEGIN; SET LOCAL lock_timeout = 1000`), then
/// `work`; commits on `Ok`, rolls back on `Err` (the work's error is the
/// one returned).
pub async fn in_transaction<T, F>(client: &Client, begin: &str, work: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    client.batch_execute(begin).await?;
    match work.await {
        Ok(value) => {
            client.batch_execute("COMMIT").await?;
            Ok(value)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}
