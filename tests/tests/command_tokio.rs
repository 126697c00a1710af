//! `stogger_core::command::run_async` with a real child process under tokio.

use stogger_core::testing::capture;
use stogger_core::{Level, Value};

#[test]
fn tokio_command_lines_arrive_in_order_with_the_exit_status() {
    let cap = capture();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let done = rt
        .block_on(stogger_core::command::run_async(
            tokio::process::Command::new("sh").args([
                "-c",
                "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; exit 4",
            ]),
            Level::Debug,
            5,
        ))
        .expect("sh runs");
    assert_eq!(done.status.code(), Some(4));
    assert_eq!(done.stderr_tail, ["err1"]);
    let lines: Vec<String> = cap
        .events()
        .iter()
        .filter(|e| e.name() == "cmd-output-line")
        .map(|e| {
            assert_eq!(e.level(), Level::Debug);
            format!(
                "{}:{}",
                e.get("stream").map(Value::to_string).unwrap_or_default(),
                e.get("cmd_output_line")
                    .map(Value::to_string)
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(lines, ["stdout:out1", "stderr:err1", "stdout:out2"]);
    assert!(cap.has(
        "command-failed",
        &[("exit_code", 4.into()), ("stderr", "err1".into())]
    ));
}
