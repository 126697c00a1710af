//! What happens when things go wrong, end to end: the database down at
//! startup, values PostgreSQL cannot store as given, a wrong password, and
//! sync mode's promise that a returned log call is stored.
//!
//! Needs the plugin built: `cargo build -p stogger-postgres`.

mod postgres_support;

use postgres_support::*;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// Guards against a hung child, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(120);

#[test]
fn database_down_at_startup_warns_and_rows_arrive_once_it_is_up() {
    let mut pg = cluster("down");
    pg.stop_server().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exe = dynamic_service(dir.path());
    let plugins = plugin_dir(dir.path());
    let dsn = pg.socket_dsn("stogger", "stogger");
    let mut child = spawn(
        command(
            &exe,
            &["interactive"],
            dir.path(),
            &[
                ("STOGGER_ENABLE_POSTGRES", "true"),
                ("STOGGER_POSTGRES_DSN", &dsn),
                ("STOGGER_PLUGIN_DIR", plugins.to_str().unwrap()),
                ("STOGGER_POSTGRES_CONNECT_TIMEOUT_MS", "2000"),
                ("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "60000"),
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped()),
    );

    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });

    // The service goes on: it logs, then says `ready` while the database is still down.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "service ended early"
        );
        if line.trim() == "ready" {
            break;
        }
    }
    // The startup warning, with the reason.
    let warning = loop {
        let l = rx
            .recv_timeout(HANG_GUARD)
            .expect("a startup warning on stderr");
        if l.starts_with("stogger: postgres:") {
            break l;
        }
    };
    assert!(warning.contains("cannot connect"), "{warning}");

    pg.start_server().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("not delivered"), "{stderr}");
    assert!(stderr.contains("before-db") && stderr.contains("after-db"));

    let rows = lines(&sql(
        &pg,
        "SELECT event, data->>'phase' FROM stogger_logs ORDER BY data->>'phase'",
    ));
    assert_eq!(rows, ["before-db|1", "after-db|2"]);
}

#[test]
fn nul_nan_infinity_and_huge_values_are_stored_in_the_documented_form() {
    let pg = cluster("special");
    let sb = Sandbox::new();
    let dsn = pg.socket_dsn("stogger", "stogger");
    let out = sb.run_pg(&["special"], &dsn, &[]);
    out.assert_success();
    assert!(!out.stderr.contains("stogger: postgres"), "{}", out.stderr);
    let row = sql(
        &pg,
        "SELECT event = E'nul\\uFFFDname', scope = E'sc\\uFFFDpe', \
                data->>'nul' = E'a\\uFFFDb', \
                data->>'nan', jsonb_typeof(data->'nan'), \
                data->>'inf', data->>'ninf', length(data->>'big') \
         FROM stogger_logs WHERE event LIKE 'nul%'",
    );
    assert_eq!(
        row,
        format!("t|t|t|NaN|string|Infinity|-Infinity|{}", 2 * 1024 * 1024)
    );
    assert_eq!(
        sql(
            &pg,
            "SELECT count(*) FROM stogger_logs WHERE event = 'after-special'"
        ),
        "1"
    );
}

#[test]
fn wrong_password_is_a_warning_that_never_shows_the_password() {
    const PASSWORD: &str = "Wr0ng-pa55-xyzzy";
    let pg = cluster("password");
    let sb = Sandbox::new();
    let dsn = pg.tcp_dsn("stogger", "%PASSWORD%", "stogger");
    let out = sb.run_pg(
        &["seed"],
        &dsn,
        &[
            ("STOGGER_POSTGRES_PASSWORD", PASSWORD),
            ("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "500"),
        ],
    );
    out.assert_success();
    let warning = out
        .stderr
        .lines()
        .find(|l| l.starts_with("stogger: postgres:"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stderr));
    assert!(
        warning.contains("password authentication failed"),
        "{warning}"
    );
    assert!(out.stderr.contains("user-login"), "console still works");
    // The loss is visible.
    assert!(
        out.stderr.contains("events not delivered"),
        "{}",
        out.stderr
    );
    for (what, text) in [
        ("stderr", &out.stderr),
        ("stdout", &out.stdout),
        ("log file", &log_file(sb.dir.path())),
    ] {
        assert!(!text.contains(PASSWORD), "password in {what}: {text}");
    }
}

#[test]
fn sync_mode_has_every_event_stored_when_the_process_exits() {
    let pg = cluster("sync");
    let sb = Sandbox::new();
    let dsn = pg.socket_dsn("stogger", "stogger");
    // The service calls process::exit right after its last log call: no
    // guard drop, no flush. Only writes done before each call returned count.
    let out = sb.run_pg(
        &["bulk-exit", "500"],
        &dsn,
        &[("STOGGER_POSTGRES_WRITE_MODE", "sync")],
    );
    out.assert_success();
    assert_eq!(
        sql(
            &pg,
            "SELECT count(*), count(DISTINCT data->'i'), min((data->>'i')::int), \
                    max((data->>'i')::int) FROM stogger_logs WHERE event = 'bulk-event'"
        ),
        "500|500|0|499"
    );
}

#[test]
fn password_placeholder_without_the_variable_warns_and_connects_without_one() {
    let pg = cluster("nopw");
    let sb = Sandbox::new();
    // The socket DSN in the seed's form, with the placeholder: local
    // connections use trust auth, so an empty password works.
    let dsn = format!(
        "postgresql://stogger:%PASSWORD%@/stogger?host={}&port={}",
        pg.socket_dir().display(),
        pg.port()
    );
    let out = sb.run_pg(&["seed"], &dsn, &[]);
    out.assert_success();
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("postgres-password-missing"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stderr));
    assert!(warning.contains("STOGGER_POSTGRES_PASSWORD"), "{warning}");
    assert_eq!(
        sql(
            &pg,
            "SELECT count(*) FROM stogger_logs WHERE event = 'user-login'"
        ),
        "2"
    );
    // The warning itself is an event, so it reached the table too.
    assert_eq!(
        sql(
            &pg,
            "SELECT data->>'variable' FROM stogger_logs WHERE event = 'postgres-password-missing'"
        ),
        "STOGGER_POSTGRES_PASSWORD"
    );
}

/// A value the writer does not allow used to pass `init_logging()` and then
/// switch PostgreSQL off with one stderr line. The writer's limits are the
/// configuration's now: `init_logging()` fails, naming the key, where the
/// value came from and the allowed range.
#[test]
fn values_the_writer_refuses_make_init_logging_fail() {
    let sb = Sandbox::new();
    // Never reached: the configuration is refused before any connection.
    let dsn = "postgresql://stogger@127.0.0.1:1/logs";
    let config_file = sb.dir.path().join("stogger.toml");
    std::fs::write(&config_file, "postgres_connect_timeout_ms = 900000\n").unwrap();
    let out = sb.run_pg(&["seed"], dsn, &[]);
    std::fs::remove_file(&config_file).unwrap();
    let at = format!("{}:1", config_file.display());
    let cases = [
        (
            out,
            vec![
                "postgres_connect_timeout_ms",
                "900000",
                &at,
                "from 1 to 600000",
            ],
        ),
        (
            sb.run_pg(
                &["seed"],
                dsn,
                &[("STOGGER_POSTGRES_QUEUE_CAPACITY", "100000001")],
            ),
            vec![
                "STOGGER_POSTGRES_QUEUE_CAPACITY",
                "100000001",
                "from 1 to 100000000",
            ],
        ),
        (
            sb.run_pg(
                &["seed"],
                dsn,
                &[("STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS", "3600001")],
            ),
            vec![
                "STOGGER_POSTGRES_SHUTDOWN_TIMEOUT_MS",
                "3600001",
                "from 0 to 3600000",
            ],
        ),
    ];
    for (out, parts) in cases {
        assert_eq!(out.code, Some(2), "init_logging must fail: {}", out.stderr);
        for part in parts {
            assert!(
                out.stderr.contains(part),
                "{part:?} missing: {}",
                out.stderr
            );
        }
        assert!(!out.stderr.contains("logging is off"), "{}", out.stderr);
    }
}
