//! Logs `THREADS x LINES` events named `rot` from `THREADS` threads, with
//! the configuration of its environment (the rotation property test sets
//! a small `log_max_bytes`). Each event carries `w` (`<NAME>-t<thread>`),
//! `seq` and a pad whose length follows from both, so a reader can tell a
//! lost, doubled or torn line. Usage:
//! `stogger-rotation-writer NAME THREADS LINES MAX_PAD`.

use std::process::ExitCode;

/// The pad length of line `seq` of writer `w` (also computed by the test).
fn pad_len(w: &str, seq: u64, max_pad: u64) -> usize {
    let h = w.bytes().fold(seq.wrapping_mul(0x9e37_79b9), |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    (h % (max_pad + 1)) as usize
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, threads, lines, max_pad] = args.as_slice() else {
        eprintln!("usage: stogger-rotation-writer NAME THREADS LINES MAX_PAD");
        return ExitCode::from(2);
    };
    let (Ok(threads), Ok(lines), Ok(max_pad)) = (
        threads.parse::<u64>(),
        lines.parse::<u64>(),
        max_pad.parse::<u64>(),
    ) else {
        eprintln!("THREADS, LINES and MAX_PAD are numbers");
        return ExitCode::from(2);
    };
    let guard = match stogger_core::init_logging() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("init_logging: {e}");
            return ExitCode::from(2);
        }
    };
    std::thread::scope(|s| {
        for t in 0..threads {
            let w = format!("{name}-t{t}");
            s.spawn(move || {
                for seq in 0..lines {
                    let pad = "x".repeat(pad_len(&w, seq, max_pad));
                    tracing::info!(w = %w, seq, pad = %pad, "rot");
                }
            });
        }
    });
    drop(guard);
    ExitCode::SUCCESS
}
