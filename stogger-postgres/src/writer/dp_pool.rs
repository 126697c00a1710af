//! Sync mode's pool as deadpool-postgres builds it, measured against the
//! slots of `pool` (selected with `STOGGER_PG_SYNC_POOL_ENGINE =
//! deadpool-postgres`): its `Manager` connects with the DSN's settings and
//! spawns each connection's I/O on the writer's runtime (the caller's
//! `block_on` enters it), so a statement goes from the caller's thread to
//! the runtime's worker and its answer back.
//!
//! - Recycling is `RecyclingMethod::Fast`: `is_closed()` only, no round
//!   trip. `Verified` would send a statement at every checkout: a second
//!   round trip per sync call.
//! - A `pre_recycle` hook drops connections made before the breaker last
//!   opened (a black-holed connection looks open).
//! - deadpool's own timeouts bound the wait (`wait`) and the connect
//!   (`create`), and tell the two apart: only a failed connect opens the
//!   breaker.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
    TimeoutType, Timeouts,
};
use tokio::sync::watch;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, NoTls};

use crate::conn;
use crate::conn_settings::ConnSettings;

use super::breaker::Breaker;
use super::sync::{Lane, SyncPath};

/// A pool of at most `size` connections, none made yet.
pub(super) fn new_pool(
    s: &ConnSettings,
    size: usize,
    breaker: Arc<Breaker>,
) -> Result<Pool, String> {
    let mc = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let all_unix = !s.pg.get_hosts().is_empty()
        && s.pg.get_hostaddrs().is_empty()
        && s.pg.get_hosts().iter().all(|h| !matches!(h, Host::Tcp(_)));
    let manager = match (&s.tls, all_unix) {
        (Some(tls), false) => Manager::from_config(s.pg.clone(), tls.clone(), mc),
        _ => {
            let mut pg = s.pg.clone();
            if all_unix {
                pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            }
            Manager::from_config(pg, NoTls, mc)
        }
    };
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .pre_recycle(Hook::sync_fn(move |_, metrics| {
            if breaker.opened_since(metrics.created) {
                Err(HookError::message("made before the last outage"))
            } else {
                Ok(())
            }
        }))
        .build()
        .map_err(|e| format!("cannot build the sync connection pool: {e}"))
}

/// What asking the pool for a connection gave.
#[allow(clippy::large_enum_variant)]
pub(super) enum Got {
    Held(Object),
    /// None free within the wait.
    Busy,
    /// Connecting failed (the reason, not yet redacted).
    ConnectFailed(String),
    /// The breaker opened meanwhile.
    Outage,
    /// The pool is closed, or another failure.
    Failed(String),
}

/// A connection, waiting at most `wait` (None: until cancelled), connecting
/// within `bound`; gives up when the breaker opens.
pub(super) async fn get(
    pool: &Pool,
    wait: Option<Duration>,
    bound: Duration,
    opened: &mut watch::Receiver<u64>,
) -> Got {
    let timeouts = Timeouts {
        wait,
        create: Some(bound),
        recycle: Some(bound),
    };
    let got = tokio::select! {
        biased;
        r = pool.timeout_get(&timeouts) => Some(r),
        _ = opened.changed() => None,
    };
    match got {
        None => Got::Outage,
        Some(Ok(o)) => Got::Held(o),
        Some(Err(PoolError::Timeout(TimeoutType::Wait))) => Got::Busy,
        Some(Err(PoolError::Timeout(_))) => {
            Got::ConnectFailed(format!("no answer within {} ms", bound.as_millis()))
        }
        Some(Err(PoolError::Backend(e))) => Got::ConnectFailed(conn::describe(&e)),
        Some(Err(e)) => Got::Failed(format!("no pooled connection: {e}")),
    }
}

/// A connection held from deadpool-postgres's pool.
pub(super) struct DpLane {
    obj: Option<Object>,
    /// Always None: the writer's runtime drives the I/O.
    no_io: Option<conn::Connection>,
}

impl DpLane {
    pub(super) fn new(o: Object) -> DpLane {
        DpLane {
            obj: Some(o),
            no_io: None,
        }
    }
}

impl Lane for DpLane {
    async fn refresh(&mut self, path: &SyncPath) {
        if let Some(o) = &self.obj {
            if o.is_closed() || path.breaker.opened_since(Object::metrics(o).created) {
                self.discard();
            }
        }
    }

    fn is_connected(&self) -> bool {
        self.obj.is_some()
    }

    async fn connect(
        &mut self,
        path: &SyncPath,
        opened: &mut watch::Receiver<u64>,
    ) -> Result<(), String> {
        match path.dp_get(Some(path.bound()), opened).await {
            Got::Held(o) => {
                self.obj = Some(o);
                Ok(())
            }
            Got::Busy => Err(format!(
                "no pooled connection was free within {} ms to reconnect",
                path.bound().as_millis()
            )),
            Got::ConnectFailed(m) | Got::Failed(m) => Err(m),
            Got::Outage => Err(path.outage_text()),
        }
    }

    fn parts(&mut self) -> Option<(&Client, &mut Option<conn::Connection>)> {
        let DpLane { obj, no_io } = self;
        let client: &Client = obj.as_ref()?;
        Some((client, no_io))
    }

    fn discard(&mut self) {
        if let Some(o) = self.obj.take() {
            // Out of the pool for good: the connection closes.
            drop(Object::take(o));
        }
    }
}
