//! The hosts of a multi-host DSN, one connection target each, so that
//! `connect_timeout_ms` bounds each host's attempt the way libpq's
//! `connect_timeout` does ("per host").
//!
//! tokio-postgres tries a DSN's hosts in order, but its own connect timeout
//! covers only the TCP connect: a host that accepts the connection and then
//! never answers (a hung server, a path that black-holes) holds the attempt
//! forever. Our time limit therefore wraps the whole attempt — and a single
//! limit around all hosts would expire on a black-holed first host before
//! the second, healthy one is ever tried: a standby or a replacement path
//! listed second would never be reached. So each host gets its own
//! `tokio_postgres::Config` and its own bounded attempt.

use tokio_postgres::config::{Host, LoadBalanceHosts};
use tokio_postgres::Config;

/// One `Config` per host of `pg`, in the order to try them (libpq's: as
/// written; a random start with `load_balance_hosts=random`). A DSN with at
/// most one host gives itself back unchanged.
pub(crate) fn per_host(pg: &Config) -> Vec<Config> {
    let hosts = pg.get_hosts();
    let addrs = pg.get_hostaddrs();
    let n = hosts.len().max(addrs.len());
    if n <= 1 {
        return vec![pg.clone()];
    }
    let ports = pg.get_ports();
    let mut all: Vec<Config> = (0..n)
        .map(|i| {
            let mut one = without_hosts(pg);
            match hosts.get(i) {
                Some(Host::Tcp(name)) => {
                    one.host(name);
                }
                Some(Host::Unix(path)) => {
                    one.host_path(path);
                }
                None => {}
            }
            if let Some(addr) = addrs.get(i) {
                one.hostaddr(*addr);
            }
            // libpq: one port for every host, or one per host.
            match ports {
                [] => {}
                [port] => {
                    one.port(*port);
                }
                _ => {
                    if let Some(port) = ports.get(i) {
                        one.port(*port);
                    }
                }
            }
            one
        })
        .collect();
    if pg.get_load_balance_hosts() == LoadBalanceHosts::Random {
        let start = random_below(all.len());
        all.rotate_left(start);
    }
    all
}

/// A copy of `pg` with every setting except the hosts, host addresses and
/// ports (tokio-postgres can add hosts to a `Config` but not remove them).
/// A setting missing here would be lost for multi-host DSNs only: the unit
/// test compares a copy with its original field by field.
fn without_hosts(pg: &Config) -> Config {
    let mut c = Config::new();
    if let Some(user) = pg.get_user() {
        c.user(user);
    }
    if let Some(password) = pg.get_password() {
        c.password(password);
    }
    if let Some(dbname) = pg.get_dbname() {
        c.dbname(dbname);
    }
    if let Some(options) = pg.get_options() {
        c.options(options);
    }
    if let Some(name) = pg.get_application_name() {
        c.application_name(name);
    }
    c.ssl_mode(pg.get_ssl_mode());
    c.ssl_negotiation(pg.get_ssl_negotiation());
    if let Some(t) = pg.get_connect_timeout() {
        c.connect_timeout(*t);
    }
    if let Some(t) = pg.get_tcp_user_timeout() {
        c.tcp_user_timeout(*t);
    }
    c.keepalives(pg.get_keepalives());
    c.keepalives_idle(pg.get_keepalives_idle());
    if let Some(t) = pg.get_keepalives_interval() {
        c.keepalives_interval(t);
    }
    if let Some(n) = pg.get_keepalives_retries() {
        c.keepalives_retries(n);
    }
    c.target_session_attrs(pg.get_target_session_attrs());
    c.channel_binding(pg.get_channel_binding());
    c.load_balance_hosts(pg.get_load_balance_hosts());
    c
}

/// A number in `0..n` that differs between processes and calls (the
/// standard library's per-instance random hash keys; no extra crate).
fn random_below(n: usize) -> usize {
    use std::hash::{BuildHasher, RandomState};
    (RandomState::new().hash_one(std::process::id()) % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn parse(dsn: &str) -> Config {
        Config::from_str(dsn).expect("a valid DSN")
    }

    #[test]
    fn a_single_host_dsn_is_tried_as_it_is() {
        let pg = parse("postgresql://u:pw@db.example:5433/logs?application_name=a");
        let all = per_host(&pg);
        assert_eq!(all.len(), 1);
        assert_eq!(format!("{:?}", all[0]), format!("{pg:?}"));
    }

    #[test]
    fn each_host_keeps_every_other_setting_of_the_dsn() {
        // Every setting tokio-postgres knows, set to a non-default value.
        let dsn = "host=a,b port=5433,5434 user=u password=pw dbname=d options='-c x=1' \
                   application_name=app sslmode=disable connect_timeout=7 \
                   tcp_user_timeout=9 keepalives=0 keepalives_idle=11 \
                   keepalives_interval=12 keepalives_retries=4 \
                   target_session_attrs=read-write channel_binding=disable";
        let pg = parse(dsn);
        let all = per_host(&pg);
        assert_eq!(all.len(), 2);
        for (i, (host, port)) in [("a", 5433), ("b", 5434)].into_iter().enumerate() {
            let mut expected = parse(&dsn.replace("host=a,b port=5433,5434", ""));
            expected.host(host).port(port);
            // Debug shows every field, so a setting `without_hosts` forgets
            // (say, one a new tokio-postgres version adds) fails here.
            assert_eq!(format!("{:?}", all[i]), format!("{expected:?}"), "host {i}");
        }
    }

    #[test]
    fn one_port_serves_every_host_and_unix_sockets_stay_sockets() {
        let pg = parse("host=/run/a,db2 port=6000 user=u");
        let all = per_host(&pg);
        assert_eq!(all.len(), 2);
        assert!(matches!(all[0].get_hosts(), [Host::Unix(p)] if p.ends_with("a")));
        assert!(matches!(all[1].get_hosts(), [Host::Tcp(h)] if h == "db2"));
        assert!(all.iter().all(|c| c.get_ports() == [6000]));
    }

    #[test]
    fn host_addresses_pair_with_their_hosts() {
        let pg = parse("host=a,b hostaddr=10.0.0.1,10.0.0.2 user=u");
        let all = per_host(&pg);
        let addrs: Vec<String> = all
            .iter()
            .map(|c| c.get_hostaddrs()[0].to_string())
            .collect();
        assert_eq!(addrs, ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn load_balancing_rotates_but_keeps_every_host_once() {
        let pg = parse("host=a,b,c user=u load_balance_hosts=random");
        let mut names: Vec<String> = per_host(&pg)
            .iter()
            .map(|c| match &c.get_hosts()[0] {
                Host::Tcp(h) => h.clone(),
                Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
