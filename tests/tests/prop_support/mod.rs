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

/// A python3 process answering one JSON line with one JSON line (the
/// oracles' side of the differential tests; one process per test).
pub struct Python {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Python {
    /// Starts `python3 -c script`.
    pub fn start(script: &str) -> Python {
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test needs python3 as its oracle (apt-get install python3): {e}")
            });
        let stdin = child.stdin.take().expect("stdin");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        Python {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends `request` as one line and reads the answer's line.
    pub fn ask(&mut self, request: &serde_json::Value) -> Result<serde_json::Value, TestCaseError> {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{request}").map_err(|e| fail(format!("write to python: {e}")))?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| fail(format!("read from python: {e}")))?;
        serde_json::from_str(&line).map_err(|e| fail(format!("python said {line:?}: {e}")))
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Python that reads JSON text exactly: every number becomes
/// `{"$num": "<its decimal value>"}` (whole numbers below 10^30 in digits,
/// others normalised: `1e16`, `10000000000000000` and `1.0E16` are one
/// value; `-0` is `0`), so two
/// texts compare by the values they denote, whoever wrote them
/// (PostgreSQL writes numbers as exact decimals; serde_json's default
/// float parsing is not correctly rounded). Keys must be unique. Request:
/// a JSON string holding the text; answer: `{"ok": value}` or
/// `{"error": message}`. See [`exact_json`].
pub const PY_EXACT_JSON: &str = r#"
import json, sys
from decimal import Decimal
def num(s):
    d = Decimal(s)
    if d == d.to_integral_value() and abs(d) < 10**30:
        return {"$num": str(int(d))}
    return {"$num": str(d.normalize())}
def pairs(kv):
    keys = [k for k, _ in kv]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(kv)
def bad(s):
    raise ValueError(s)
for line in sys.stdin:
    try:
        obj = json.loads(json.loads(line), object_pairs_hook=pairs,
                         parse_int=num, parse_float=num, parse_constant=bad)
        out = {"ok": obj}
    except Exception as e:
        out = {"error": repr(e)}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"#;

/// JSON text as [`PY_EXACT_JSON`] reads it (an error when it is not JSON).
pub fn exact_json(
    python: &std::sync::Mutex<Python>,
    text: &str,
) -> Result<serde_json::Value, TestCaseError> {
    let answer = python
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ask(&serde_json::Value::String(text.to_string()))?;
    match answer.get("ok") {
        Some(v) => Ok(v.clone()),
        None => Err(fail(format!(
            "Python's json: {}: {text:.400}",
            answer["error"]
        ))),
    }
}
