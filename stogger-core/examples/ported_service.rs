//! The worked example of docs/migrating-from-python.md: a small Python
//! stogger service ported to Rust (kept here so that it compiles).
//!
//! Run: `cargo run -p stogger-core --example ported_service`

use stogger_core::{log_operation, log_scope};

#[derive(Debug)]
struct PaymentError;
impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment declined")
    }
}
impl std::error::Error for PaymentError {}

#[log_operation(exclude_args = [card])]
fn charge(order_id: u64, amount: f64, card: &str) -> Result<f64, PaymentError> {
    if card.is_empty() || amount > 100.0 {
        return Err(PaymentError);
    }
    Ok(amount)
}

#[log_scope("order-processing", order_id = order_id)]
fn process(order_id: u64, amount: f64) -> Result<(), PaymentError> {
    tracing::info!(items = 3, "order-received");
    charge(order_id, amount, "4111").inspect_err(|e| {
        tracing::error!(
            order_id,
            exception = stogger_core::exception(e),
            "payment-failed"
        );
    })?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = stogger_core::Stogger::builder().verbose(true).init()?;
    tracing::info!(
        user_id = 123,
        username = "alice",
        _replace_msg = "User {username} logged in",
        "user-login"
    );
    process(12345, 99.99)?;
    Ok(())
}
