//! A service ported from Python stogger: the call macros, exceptions and
//! scopes as a real process logs them (run by tests/tests/parity_rows.rs
//! against a real PostgreSQL, with the JSON log file beside it).
//!
//! Usage: `stogger-parity-service calls`. Configuration from the environment.

use std::process::ExitCode;

#[derive(Debug)]
struct PaymentError(std::io::Error);

impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment declined")
    }
}

impl std::error::Error for PaymentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[stogger_core::log_operation(exclude_args = [card])]
fn charge(order_id: u64, amount: f64, card: &str) -> Result<f64, PaymentError> {
    let _ = card;
    if amount > 100.0 {
        return Err(PaymentError(std::io::Error::other("gateway reset")));
    }
    Ok(amount)
}

#[stogger_core::log_result]
fn checksum(items: &[u32]) -> u32 {
    if items.is_empty() {
        panic!("no items");
    }
    items.iter().sum()
}

struct Warehouse {
    stock: u32,
}

impl Warehouse {
    #[stogger_core::log_call(include_args = [count])]
    fn reserve(&mut self, count: u32, note: &str) -> bool {
        let _ = note;
        self.stock >= count
    }

    #[stogger_core::log_result]
    async fn ship(&self, order_id: u64) -> Result<String, std::num::ParseIntError> {
        let label: u32 = format!("{order_id}").parse()?;
        Ok(format!("label-{label}"))
    }
}

#[stogger_core::log_scope("order-processing")]
fn process(order_id: u64, amount: f64) -> Result<(), PaymentError> {
    charge(order_id, amount, "4111")?;
    Ok(())
}

fn calls() {
    let _ = process(1, 20.0);
    let _ = process(2, 250.0);
    let _ = checksum(&[1, 2, 3]);
    let _ = std::panic::catch_unwind(|| checksum(&[]));
    let mut wh = Warehouse { stock: 5 };
    wh.reserve(3, "gift");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _ = rt.block_on(wh.ship(77));
    let err = PaymentError(std::io::Error::other("card expired"));
    tracing::error!(
        order_id = 3,
        exception = stogger_core::exception(&err),
        "payment-exception"
    );
}

fn main() -> ExitCode {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let guard = match stogger_core::init_logging() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("service error: {e}");
            return ExitCode::from(2);
        }
    };
    match scenario.as_str() {
        "calls" => calls(),
        other => {
            eprintln!("unknown scenario {other}");
            return ExitCode::from(2);
        }
    }
    drop(guard);
    ExitCode::SUCCESS
}
