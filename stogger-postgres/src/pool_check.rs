//! Sync mode's pool in `stogger doctor`: the configured size, a pool of
//! that size opened the way the writer opens one (all its connections at
//! once, through the same connection code), and what the server shows of
//! the service's own pools: the connections its processes hold now (by
//! `application_name`), and the connection slots left on the server.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use stogger_pg_proto::PgSettings;

use crate::conn;
use crate::conn_settings::ConnSettings;

/// What [`check_sync_pool`] found. Fields are None when not reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncPoolCheck {
    /// `postgres_sync_pool_size`: connections one process writes through.
    pub size: usize,
    /// Connections of a test pool of `size` that could be opened at once.
    pub opened: usize,
    /// How long opening them took.
    pub open_ms: Option<u64>,
    /// The service's `application_name` looked for on the server.
    pub application_name: String,
    /// The service's connections on the server now, by state (`idle`,
    /// `active`, ...): its processes' pools as they are.
    pub service_connections: Vec<(String, i64)>,
    /// Connection slots still free on the server for ordinary roles
    /// (`max_connections - superuser_reserved_connections` - backends).
    pub free_slots: Option<i64>,
    /// Everything wrong, in words (empty when all is well).
    pub problems: Vec<String>,
}

/// Opens a pool of `config.sync_pool_size` connections and reads the
/// server's view of the service named `application_name`; on a private
/// thread with its own runtime (callable from anywhere), every step bounded
/// by `connect_timeout`. The test pool is closed before returning.
pub fn check_sync_pool(config: &PgSettings, application_name: &str) -> SyncPoolCheck {
    let mut fallback = SyncPoolCheck {
        size: config.sync_pool_size,
        opened: 0,
        open_ms: None,
        application_name: application_name.to_string(),
        service_connections: Vec::new(),
        free_slots: None,
        problems: Vec::new(),
    };
    let (cfg, base) = (config.clone(), fallback.clone());
    let handle = std::thread::Builder::new()
        .name("stogger-pg-check".to_string())
        .spawn(move || {
            let mut r = base;
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(fill(&cfg, &mut r)),
                Err(e) => r.problems.push(format!("cannot start a runtime: {e}")),
            }
            r
        });
    match handle.map(|h| h.join()) {
        Ok(Ok(r)) => r,
        _ => {
            fallback
                .problems
                .push("the pool check thread failed".to_string());
            fallback
        }
    }
}

async fn fill(config: &PgSettings, r: &mut SyncPoolCheck) {
    let settings = match ConnSettings::parse(config) {
        Ok(s) => s,
        Err(e) => {
            r.problems.push(e.to_string());
            return;
        }
    };
    let start = Instant::now();
    let attempts =
        futures_util::future::join_all((0..r.size).map(|_| conn::connect(&settings))).await;
    r.open_ms = Some(start.elapsed().as_millis() as u64);
    let mut clients = Vec::new();
    for a in attempts {
        match a {
            Ok(c) => clients.push(c),
            Err(m) if !r.problems.contains(&m) => r.problems.push(m),
            Err(_) => {}
        }
    }
    r.opened = clients.len();
    if r.opened < r.size {
        r.problems.insert(
            0,
            format!(
                "only {} of {} pooled connections could be opened",
                r.opened, r.size
            ),
        );
    }
    let Some(client) = clients.first() else {
        return;
    };
    let bound = settings.connect_timeout.max(Duration::from_secs(1));
    match tokio::time::timeout(bound, server_view(client, &r.application_name)).await {
        Ok(Ok((by_state, free))) => {
            r.service_connections = by_state;
            r.free_slots = Some(free);
        }
        Ok(Err(e)) => r.problems.push(settings.redactor.apply(&format!(
            "reading pg_stat_activity failed: {}",
            conn::describe(&e)
        ))),
        Err(_) => r.problems.push(format!(
            "the server did not answer within {} ms",
            bound.as_millis()
        )),
    }
    if r.free_slots.is_some_and(|f| f < r.size as i64) {
        r.problems.push(format!(
            "the server has {} free connection slot(s), fewer than one pool of {}",
            r.free_slots.unwrap_or(0),
            r.size
        ));
    }
}

/// The service's connections by state, and the free connection slots
/// (counted while the test pool is open, so they are what is left).
async fn server_view(
    client: &Client,
    application_name: &str,
) -> Result<(Vec<(String, i64)>, i64), tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity \
             WHERE application_name = $1 AND backend_type = 'client backend' \
             GROUP BY 1 ORDER BY 1",
            &[(&application_name, Type::TEXT)],
        )
        .await?;
    let by_state = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.try_get::<_, String>(0).ok()?,
                r.try_get::<_, i64>(1).ok()?,
            ))
        })
        .collect();
    let free = client
        .query_typed(
            "SELECT current_setting('max_connections')::bigint \
             - current_setting('superuser_reserved_connections')::bigint \
             - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
            &[],
        )
        .await?
        .first()
        .and_then(|r| r.try_get::<_, i64>(0).ok())
        .unwrap_or(0);
    Ok((by_state, free))
}
