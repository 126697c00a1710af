//! Shared by the property tests (`prop_*.rs`): how a property is run
//! ([`check`]) and the generators ([`gen`]).
//!
//! A property runs with proptest's `TestRunner`:
//! - in CI with a fixed seed per property (so a run is reproducible) and
//!   the case count given by the test, or `PROPTEST_CASES` when set;
//! - under `cargo xtask fuzz` (`STOGGER_TEST_FUZZ_SECONDS=N`) in rounds
//!   with fresh random seeds until N seconds have passed;
//! - `STOGGER_TEST_PROP_SEED=<u64>` replays one seed.
//!
//! Every failure is shrunk, and its seed is appended to
//! `tests/proptest-regressions/<property>.txt` (committed): each later run
//! replays those seeds first. Each run prints one line, `property <name>:
//! <n> cases passed ...`, which `cargo xtask fuzz` sums up.

#![allow(dead_code)] // each test file uses a part

pub mod gen;

use proptest::strategy::Strategy;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use std::time::{Duration, Instant};

/// Cases of one fuzzing round (a fresh seed each).
const FUZZ_ROUND: u32 = 64;

/// How long the shrinking of one failure may take: the peers are real
/// processes, so each shrinking step costs a round trip.
const MAX_SHRINK_TIME: Duration = Duration::from_secs(120);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The fixed seed of a property in CI: a hash of its name.
fn fixed_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    fixed_seed(&format!("{t}-{}", std::process::id()))
}

fn runner(name: &'static str, cases: u32, seed: u64) -> TestRunner {
    let path: &'static str = Box::leak(format!("proptest-regressions/{name}.txt").into_boxed_str());
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        source_file: None,
        max_shrink_time: MAX_SHRINK_TIME.as_millis() as u32,
        max_shrink_iters: 2048,
        ..Config::default()
    };
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(seed ^ (i as u64).wrapping_mul(0x9e37_79b9)).to_le_bytes());
    }
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Runs the property `name` on values from the strategy `strategy()` makes: `ci_cases` cases
/// with the property's fixed seed (or what the environment asks for, see
/// the module docs). Panics with the shrunk input on failure.
pub fn check<S: Strategy>(
    name: &'static str,
    ci_cases: u32,
    strategy: impl FnOnce() -> S + Send,
    test: impl Fn(S::Value) -> Result<(), TestCaseError> + Send,
) where
    S::Value: std::fmt::Debug,
{
    // The generators' nested strategies need more stack than a test
    // thread's 2 MiB in a debug build.
    std::thread::scope(|scope| {
        let run = std::thread::Builder::new()
            .name(format!("property-{name}"))
            .stack_size(STACK)
            .spawn_scoped(scope, || run_property(name, ci_cases, strategy(), test))
            .expect("spawn the property thread");
        if let Err(panic) = run.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Stack of the thread a property runs on.
const STACK: usize = 256 << 20;

fn run_property<S: Strategy>(
    name: &'static str,
    ci_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let cases = env_u64("PROPTEST_CASES")
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(ci_cases);
    let fuzz = env_u64("STOGGER_TEST_FUZZ_SECONDS").map(Duration::from_secs);
    let start = Instant::now();
    let mut passed: u64 = 0;
    let mut seeds = Vec::new();
    loop {
        let (round_cases, seed) = match (fuzz, env_u64("STOGGER_TEST_PROP_SEED")) {
            (_, Some(seed)) => (cases, seed),
            (Some(_), None) => (FUZZ_ROUND, random_seed()),
            (None, None) => (cases, fixed_seed(name)),
        };
        seeds.push(seed);
        let mut runner = runner(name, round_cases, seed);
        match runner.run(&strategy, &test) {
            Ok(()) => passed += u64::from(round_cases),
            Err(TestError::Fail(why, input)) => panic!(
                "property {name} failed (seed {seed}; saved to \
                 tests/proptest-regressions/{name}.txt): {why}\nminimal failing input: {input:#?}"
            ),
            Err(TestError::Abort(why)) => panic!("property {name} aborted (seed {seed}): {why}"),
        }
        match fuzz {
            Some(budget) if start.elapsed() < budget => continue,
            _ => break,
        }
    }
    let shown: Vec<String> = seeds.iter().take(3).map(u64::to_string).collect();
    eprintln!(
        "property {name}: {passed} cases passed in {:.1}s (seeds {}{})",
        start.elapsed().as_secs_f64(),
        shown.join(", "),
        if seeds.len() > 3 { ", ..." } else { "" }
    );
}

/// Fails the case with `why` (for checks that are not a comparison).
pub fn fail(why: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(why.into())
}

/// JSON equality with numbers compared by value: `1e16` from one side and
/// `10000000000000000` from the other are one number (PostgreSQL and
/// Python write numbers in their own ways), `-0.0` equals `0`.
pub fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (int(x), int(y)) {
                (Some(i), Some(j)) => i == j,
                (Some(i), None) => float_is_int(y.as_f64(), i),
                (None, Some(j)) => float_is_int(x.as_f64(), j),
                (None, None) => x.as_f64() == y.as_f64(),
            }
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn float_is_int(f: Option<f64>, i: i128) -> bool {
    f.is_some_and(|f| f.fract() == 0.0 && f.abs() < 1e38 && f as i128 == i)
}
