//! The service the lifecycle end-to-end tests run as a child process: how
//! guards, panics, re-initialisation and fork behave in a real process.
//! Configuration comes from the environment like any service.
//!
//! Usage: `stogger-lifecycle-service <scenario> [arg]`:
//! - `two-phase helper|drop-early|reassign`: the README's two-phase start
//!   written three ways, then `after-setup`;
//! - `caught-panic`: a panic caught by the service; prints `caught-after-ms:
//!   N`, then `ready`, waits for a line on stdin, logs `after-panic`;
//! - `race N [PAUSE_US]`: three threads log `race-event` (pausing
//!   PAUSE_US microseconds after each event, default 0) while the main
//!   thread calls `init_logging()` N times; prints `logged: N` and `lost: N`
//!   (the delivery failures stogger counted);
//! - `lines N`: N events, for rotation;
//! - `fork N`: forks N children while threads log; each child logs, calls
//!   `init_logging()`, logs again and exits; prints `child I: exit CODE`
//!   (or `child I: hung`).

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use stogger_core::LoggingGuard;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn number(arg: Option<&str>) -> Result<u64> {
    number_of(arg.ok_or("missing number")?)
}

fn number_of(arg: &str) -> Result<u64> {
    Ok(arg.parse()?)
}

/// The README's two-phase start inside a helper: the early guard is
/// dropped when the helper returns, after the real one was installed.
fn set_up_in_a_helper() -> Result<LoggingGuard> {
    let _early = stogger_core::init_early_logging()?;
    tracing::info!("early-event");
    Ok(stogger_core::init_logging()?)
}

fn two_phase(arrangement: &str) -> Result<()> {
    let guard = match arrangement {
        "helper" => set_up_in_a_helper()?,
        "drop-early" => {
            let early = stogger_core::init_early_logging()?;
            tracing::info!("early-event");
            let guard = stogger_core::init_logging()?;
            drop(early);
            guard
        }
        "reassign" => {
            // The early guard is overwritten unread: that is the arrangement.
            #[allow(unused_assignments)]
            let mut guard = stogger_core::init_early_logging()?;
            tracing::info!("early-event");
            guard = stogger_core::init_logging()?;
            guard
        }
        other => return Err(format!("unknown arrangement {other}").into()),
    };
    tracing::info!(arrangement, "after-setup");
    drop(guard);
    Ok(())
}

fn caught_panic() -> Result<()> {
    std::panic::set_hook(Box::new(|_| println!("previous-hook-ran")));
    let _guard = stogger_core::init_logging()?;
    tracing::info!("before-panic");
    let start = Instant::now();
    let caught = std::panic::catch_unwind(|| panic!("handler exploded"));
    let ms = start.elapsed().as_millis();
    println!("caught: {}", caught.is_err());
    println!("caught-after-ms: {ms}");
    println!("ready");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    tracing::info!("after-panic");
    Ok(())
}

/// Three threads calling `log(thread, i)` for i = 0, 1, ... until `stop`
/// is set, pausing `pause` after each call; each returns how many events
/// it logged.
fn log_on_threads(
    stop: &Arc<AtomicBool>,
    pause: Duration,
    log: fn(u64, u64),
) -> Vec<JoinHandle<u64>> {
    (0..3)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    log(t, i);
                    i += 1;
                    if !pause.is_zero() {
                        std::thread::sleep(pause);
                    }
                }
                i
            })
        })
        .collect()
}

fn race(reinits: u64, pause: Duration) -> Result<()> {
    let mut guard = stogger_core::init_logging()?;
    let stop = Arc::new(AtomicBool::new(false));
    let loggers = log_on_threads(&stop, pause, |t, i| tracing::info!(t, i, "race-event"));
    for _ in 0..reinits {
        guard = stogger_core::init_logging()?;
    }
    stop.store(true, Ordering::Relaxed);
    let mut logged = 0;
    for l in loggers {
        logged += l.join().map_err(|_| "a logging thread panicked")?;
    }
    drop(guard);
    println!("logged: {logged}");
    println!("lost: {}", stogger_core::delivery_failures());
    Ok(())
}

fn lines(n: u64) -> Result<()> {
    let _guard = stogger_core::init_logging()?;
    for i in 0..n {
        tracing::info!(i, "numbered-line");
    }
    Ok(())
}

/// What a forked child does; never returns.
fn child(index: u64) -> ! {
    tracing::info!(child = index, "child-before-init");
    tracing::info!(child = index, "child-before-init-again");
    let code = match stogger_core::init_logging() {
        Ok(guard) => {
            tracing::info!(child = index, "child-after-init");
            drop(guard);
            0
        }
        Err(e) => {
            // One write(2) to stderr: it takes no lock the parent's
            // threads could have held at fork time (std's stderr does).
            let line = format!("stogger: child init failed: {e}\n");
            // SAFETY: descriptor 2 and a buffer valid for the call.
            let _ = unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
            3
        }
    };
    // SAFETY: ends the child at once, without the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

/// Waits for `pid` at most `bound`; `None` when it had to be killed.
fn wait_bounded(pid: libc::pid_t, bound: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: a child of this process; `status` is a valid out pointer.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            });
        }
        if done < 0 || start.elapsed() > bound {
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fork_children(children: u64) -> Result<()> {
    let guard = stogger_core::init_logging()?;
    let stop = Arc::new(AtomicBool::new(false));
    // Threads that are in the middle of logging (holding the file's,
    // the console's or the PostgreSQL queue's lock) when the fork happens.
    let noise = log_on_threads(&stop, Duration::ZERO, |t, i| {
        tracing::info!(t, i, "parent-noise");
        if i.is_multiple_of(8) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    for index in 0..children {
        std::thread::sleep(Duration::from_millis(3));
        // SAFETY: the child only runs `child`, which ends in `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            child(index);
        }
        if pid < 0 {
            return Err("fork failed".into());
        }
        match wait_bounded(pid, Duration::from_secs(60)) {
            Some(code) => println!("child {index}: exit {code}"),
            None => println!("child {index}: hung"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for n in noise {
        n.join().map_err(|_| "a logging thread panicked")?;
    }
    tracing::info!("parent-after-forks");
    drop(guard);
    Ok(())
}

fn run(scenario: &str, arg: Option<&str>, arg2: Option<&str>) -> Result<()> {
    match scenario {
        "two-phase" => two_phase(arg.unwrap_or_default()),
        "caught-panic" => caught_panic(),
        "race" => race(
            number(arg)?,
            Duration::from_micros(arg2.map_or(Ok(0), number_of)?),
        ),
        "lines" => lines(number(arg)?),
        "fork" => fork_children(number(arg)?),
        other => Err(format!("unknown scenario {other}").into()),
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_default();
    let arg = args.next();
    let arg2 = args.next();
    match run(&scenario, arg.as_deref(), arg2.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("service error: {e}");
            ExitCode::from(2)
        }
    }
}
