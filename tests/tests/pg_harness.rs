//! The throwaway cluster itself: it starts, answers on the socket DSN form
//! of the seed, restarts, and enforces passwords over TCP.

use stogger_tests::pg::cluster_or_fail;

#[test]
fn cluster_starts_answers_and_restarts() {
    let mut pg = cluster_or_fail("harness");
    assert!(pg.version().unwrap().starts_with(char::is_numeric));
    pg.create_user_and_db("stogger", "secret").unwrap();
    pg.psql(
        "stogger",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1)",
    )
    .unwrap();
    pg.stop_server().unwrap();
    assert!(
        pg.psql("stogger", "SELECT 1").is_err(),
        "a stopped server must not answer"
    );
    pg.start_server().unwrap();
    assert_eq!(pg.psql("stogger", "SELECT sum(x) FROM t").unwrap(), "42");
    assert!(pg
        .socket_dsn("stogger", "stogger")
        .starts_with("postgresql://stogger:@/stogger?host=/"));
}

#[test]
fn detached_cluster_survives_and_can_be_stopped_later() {
    let pg = cluster_or_fail("detach");
    let socket_dir = pg.socket_dir().to_path_buf();
    let base = pg.detach().unwrap();
    let again = stogger_tests::pg::Cluster::reattach(&base).unwrap();
    assert_eq!(again.psql("postgres", "SELECT 7").unwrap(), "7");
    assert_eq!(again.socket_dir(), socket_dir);
    drop(again);
    assert!(!base.exists(), "dropping the reattached cluster removes it");
}
