//! The demo service `cargo xtask demo` runs: a small order service that logs
//! realistic events — a `_replace_msg` sentence, a scope, an instrumented
//! function, command output sections, an error with its cause — to every
//! configured target.
//!
//! Run it alone with `cargo run -p stogger-core --example demo`; configure it
//! like any service (stogger.toml or `STOGGER_*` variables).

use std::fmt;
use std::time::Duration;

#[derive(Debug)]
struct CardDeclined {
    source: std::io::Error,
}

impl fmt::Display for CardDeclined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("card declined by the payment gateway")
    }
}

impl std::error::Error for CardDeclined {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[tracing::instrument(skip_all, fields(order_id))]
fn process_payment(order_id: u64, amount: f64, customer_id: u64) -> Result<(), CardDeclined> {
    tracing::info!(
        order_id,
        amount,
        currency = "USD",
        customer_id,
        "payment-started"
    );
    if order_id.is_multiple_of(2) {
        let err = CardDeclined {
            source: std::io::Error::other("insufficient funds"),
        };
        tracing::error!(
            order_id,
            error = &err as &(dyn std::error::Error + 'static),
            "payment-failed"
        );
        return Err(err);
    }
    tracing::info!(
        order_id,
        amount,
        currency = "USD",
        _replace_msg = "Charged {amount:.2f} {currency} for order {order_id}",
        "payment-succeeded"
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = stogger_core::init_logging()?;

    tracing::info!(
        user_id = 123,
        username = "alice",
        ip = "192.168.1.1",
        _replace_msg = "User {username} logged in from {ip}",
        "user-login"
    );

    for order_id in [12345_u64, 12346] {
        let mut scope = stogger_core::log_scope("order-processing");
        scope.add("order_id", order_id);
        tracing::debug!(items = 3, "order-validated");
        let result = process_payment(order_id, 99.99, 67890);
        if let Err(e) = scope.finish(result) {
            tracing::warn!(order_id, reason = %e, "order-on-hold");
        }
    }

    tracing::info!(
        cmd = "pg_dump logs",
        exit_code = 0,
        stdout = "dumped 3 tables\nwrote 1.2 MB",
        "backup-finished"
    );
    tracing::info!(
        size_mb = 1234.5678,
        _replace_msg = "Archive is {size_mb:.1f} MB",
        "archive-size"
    );
    stogger_core::critical!(disk = "/var", free_pct = 0.5, "disk-almost-full");

    std::thread::sleep(Duration::from_millis(50));
    tracing::info!(events = 9, "demo-finished");
    Ok(())
}
