//! Property: two processes, each with several threads, logging into one
//! file with size rotation and a small `log_max_bytes`: no line is lost,
//! doubled or torn; each writer's lines stay in order across the files;
//! there are at most `log_backup_count` backups; no file is over the limit.
//!
//! The writers are `stogger-rotation-writer` processes (JSON lines, so a
//! torn line shows as a parse error and the pad length checks each line).
//! The batch is sized so that everything fits into the backups kept.

mod prop_support;

use prop_support::{check, fail};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Same as the writer's.
fn pad_len(w: &str, seq: u64, max_pad: u64) -> usize {
    let h = w.bytes().fold(seq.wrapping_mul(0x9e37_79b9), |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    (h % (max_pad + 1)) as usize
}

/// Longest JSON line of an event without its pad (timestamp, level,
/// event, `w`, `seq`, pid, code location: about 210 bytes), with room to
/// spare; the test checks every line against it.
const LINE_OVERHEAD: u64 = 260;

#[derive(Debug, Clone)]
struct Case {
    max_bytes: u64,
    backups: u32,
    threads: u64,
    max_pad: u64,
}

impl Case {
    /// Lines per thread such that the whole run fits: each rotated file
    /// holds more than `max_bytes - longest line`, so `backups` rotations
    /// keep everything.
    fn lines(&self) -> u64 {
        let longest = LINE_OVERHEAD + self.max_pad;
        let room = u64::from(self.backups) * (self.max_bytes - longest);
        room / (longest * self.threads * 2)
    }
}

fn case() -> impl Strategy<Value = Case> {
    (2000u64..20_000, 1u32..5, 1u64..7, 0u64..300)
        .prop_map(|(max_bytes, backups, threads, max_pad)| Case {
            max_bytes,
            backups,
            threads,
            max_pad,
        })
        // At least one line per thread must fit into what the backups keep.
        .prop_filter("a line per thread fits", |c| c.lines() >= 1)
}

fn backup(path: &Path, n: u32) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    s.into()
}

#[test]
fn two_processes_rotating_one_file_lose_and_tear_nothing() {
    let writer = stogger_tests::service::built_binary("stogger-rotation-writer");
    let rotated_cases = AtomicU64::new(0);
    check("rotation_two_processes", 12, case, |c| {
        let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let logdir = dir.path().join("logs");
        let lines = c.lines();
        let spawn = |name: &str| {
            Command::new(&writer)
                .args([
                    name,
                    &c.threads.to_string(),
                    &lines.to_string(),
                    &c.max_pad.to_string(),
                ])
                .current_dir(dir.path())
                .env_clear()
                .env("STOGGER_SYSTEMD", "off")
                .env("STOGGER_LOG_TO_CONSOLE", "false")
                .env("STOGGER_LOGDIR", &logdir)
                .env("STOGGER_SYSLOG_IDENTIFIER", "rot")
                .env("STOGGER_LOG_FORMAT", "json")
                .env("STOGGER_LOG_ROTATION", "size")
                .env("STOGGER_LOG_MAX_BYTES", c.max_bytes.to_string())
                .env("STOGGER_LOG_BACKUP_COUNT", c.backups.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
        };
        let a = spawn("p0").map_err(|e| fail(format!("{}: {e}", writer.display())))?;
        let b = spawn("p1").map_err(|e| fail(format!("{}: {e}", writer.display())))?;
        for child in [a, b] {
            let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
            prop_assert!(
                out.status.success() && out.stderr.is_empty(),
                "writer: {} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let path = logdir.join("rot.log");
        prop_assert!(
            !backup(&path, c.backups + 1).exists(),
            "more than {} backups",
            c.backups
        );
        // Oldest first: .N, ..., .1, then the current file.
        let mut files: Vec<_> = (1..=c.backups).rev().map(|n| backup(&path, n)).collect();
        files.push(path.clone());
        let mut next: BTreeMap<String, u64> = BTreeMap::new();
        let mut seen = 0u64;
        for file in files.iter().filter(|f| f.exists()) {
            let text = std::fs::read_to_string(file).map_err(|e| fail(e.to_string()))?;
            prop_assert!(
                text.len() as u64 <= c.max_bytes,
                "{} holds {} bytes, over {}",
                file.display(),
                text.len(),
                c.max_bytes
            );
            for line in text.lines() {
                prop_assert!(
                    line.len() as u64 <= LINE_OVERHEAD + c.max_pad,
                    "a line longer than the sizing assumes: {}",
                    line
                );
                let v: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| fail(format!("torn line in {}: {e}: {line:?}", file.display())))?;
                if v["event"] != "rot" {
                    continue;
                }
                let w = v["w"].as_str().unwrap_or_default().to_string();
                let seq = v["seq"].as_u64().unwrap_or(u64::MAX);
                let pad = v["pad"].as_str().map(str::len);
                prop_assert_eq!(pad, Some(pad_len(&w, seq, c.max_pad)), "pad of {}", line);
                let want = next.entry(w.clone()).or_insert(0);
                prop_assert_eq!(
                    seq,
                    *want,
                    "{}: line {} lost, doubled or out of order",
                    w,
                    want
                );
                *want += 1;
                seen += 1;
            }
        }
        prop_assert_eq!(seen, 2 * c.threads * lines, "lines found");
        rotated_cases.fetch_add(u64::from(backup(&path, 1).exists()), Ordering::Relaxed);
        for (w, n) in &next {
            prop_assert_eq!(*n, lines, "lines of {}", w);
        }
        Ok(())
    });
    assert!(
        rotated_cases.into_inner() > 0,
        "no case rotated: the sizes are too small to test anything"
    );
}
