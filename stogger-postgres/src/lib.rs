//! # stogger-postgres
//!
//! The PostgreSQL I/O of stogger: connect, create the table, write rows.
//! stogger-core renders tracing events into rows and hands them over through
//! a small versioned C ABI (declared in `stogger_pg_proto::abi`, contract in
//! `docs/plugin-abi.md`), whether this crate is linked statically or loaded
//! as `libstogger_postgres.so`.
//!
//! ## The Rust API
//!
//! Rust programs (the `stogger` CLI, tests) can use the same functionality
//! directly. Everything public is here, at the crate root:
//!
//! - [`Writer`] ([`Writer::start`] or the waiting [`Writer::open`] with
//!   [`PgSettings`], [`Opened`], [`OpenStatus`], [`OpenError`], [`Stats`],
//!   [`WarnSink`], rows as [`RowRef`]): the writer the C ABI wraps.
//! - [`spool_status`] ([`SpoolStatus`]): what a disk spool directory holds,
//!   read without touching it, for `stogger doctor`.
//! - [`check`] ([`CheckReport`], [`ColumnCheck`], [`IndexCheck`]): the
//!   read-only diagnosis behind `stogger doctor`; [`check_sync_pool`]
//!   ([`SyncPoolCheck`]): sync mode's pool, for the same.
//! - [`LogReader`] ([`QueryParam`], [`StoredRow`]): reading the table back,
//!   as `stogger query` does.
//! - [`schema_sql`], [`schema_sql_for`] with a [`Layout`], and
//!   [`TableName`] ([`SchemaError`]): the DDL and the table, index and
//!   partition names, as `stogger schema` prints them.
//! - [`apply_schema`] ([`ApplyReport`]) and [`migrate`] ([`MigrateReport`]):
//!   what an administrator runs (`stogger schema --apply`, `stogger schema
//!   migrate`); [`IndexCheck`] and [`IndexStatus`]: indexes compared by
//!   definition; [`PartitionsReport`], [`PartitionCheck`],
//!   [`MaintenanceRecord`]: the partitions and their maintenance, in the
//!   check.
//! - [`PgSettings`], [`SettingsError`], [`WriteMode`]: the settings, shared
//!   with stogger-core through `stogger-pg-proto`.
//! - The C entry points (`stogger_pg_open`, ...), for stogger-core's
//!   statically linked build.

//! ## What is stored
//!
//! One row per event in the table (default `stogger_logs`, `schema.table`
//! allowed, always quoted — see [`TableName`]):
//!
//! | column | type | content |
//! |---|---|---|
//! | `id` | `BIGSERIAL PRIMARY KEY` | insertion order |
//! | `timestamp` | `TIMESTAMPTZ NOT NULL` | event time, microsecond precision |
//! | `level` | `TEXT NOT NULL` | `trace` `debug` `info` `warning` `error` `critical` |
//! | `event` | `TEXT NOT NULL` | event name |
//! | `func` | `TEXT` | function, NULL when none |
//! | `scope` | `TEXT` | scope, NULL when none |
//! | `data` | `JSONB NOT NULL DEFAULT '{}'` | every other field |
//!
//! Indexes: `idx_<table>_timestamp` (timestamp DESC), `idx_<table>_level`,
//! `idx_<table>_event`, and `idx_<table>_data`, a GIN index with
//! `jsonb_path_ops` by default (serves `data @> '{"k": v}'`; for
//! `data->>'k' = 'v'` add an expression index). At connect, a missing table
//! is created with its indexes; an existing table is used as it is: its
//! indexes are never created or rebuilt on the writer's path ([`check`]
//! reports differences, [`apply_schema`] builds what is missing without
//! blocking writers).
//!
//! Beside it, `<table>_spool_progress` (a small plain table, in every
//! layout) records how far a disk spool was replayed, in the same
//! transaction as the replayed rows; it is created with the table, or on
//! its own when an existing table lacks it.
//!
//! With `partitioning` other than `none` the table is partitioned by
//! `"timestamp"` (primary key `(id, "timestamp")`), and the writer runs
//! the partition maintenance beside its write path: partitions made ahead,
//! expired ones dropped, one service at a time (docs/scaling.md).
//!
//! Every statement works through pgbouncer in transaction pooling mode:
//! nothing is prepared across transactions, no session setting is kept.
//!
//! A NUL character in `level`, `event`, `func` or `scope` is stored as
//! U+FFFD; the `data` text is sent as is (stogger-core makes it safe for
//! JSONB; a row whose `data` the server refuses is dropped and counted).
//!
//! ## How failures behave
//!
//! Nothing here panics into the caller, blocks it without a bound, or
//! prints: diagnostics go to the `warn` callback given at open, with the
//! DSN password removed, rate-limited per kind.
//!
//! - **Open**: an invalid configuration is refused naming the key.
//!   [`Writer::start`] (what the C ABI does) never waits for the database:
//!   the writer connects on its own thread and reports a failure; a
//!   database that cannot be reached (or a table that cannot be created)
//!   never fails the open, the writer retries in the background.
//! - **Time limits**: every connection has TCP keepalives and
//!   `tcp_user_timeout`; every write and statement `write_timeout_ms`
//!   (sync mode's INSERTs: `connect_timeout_ms`).
//! - **Batch mode** (default): the caller only copies rows into a queue
//!   bounded in rows and bytes. A lost connection keeps the rows and
//!   reconnects with backoff (100 ms doubling to 5 s); a transaction whose
//!   COMMIT got no answer is looked up with `txid_status` before anything
//!   is sent again (its old backend ended when still alive, the wait
//!   bounded; past it the rows count as uncertain), so nothing is inserted
//!   twice. Rows the server rejects are isolated by splitting the batch
//!   and only they are dropped. A full queue drops the newest rows and says
//!   so, in a warning and in a `stogger-events-dropped` row. With
//!   `spool_dir`, rows the database cannot take go to a disk spool and are
//!   replayed in order, exactly once, also by a later run.
//! - **Sync mode**: a call's rows are committed before it returns, on the
//!   calling thread, through a pool of `sync_pool_size` connections (a
//!   caller inside a tokio runtime is served by the writer's own threads).
//!   Callers that find every connection busy are written together: the
//!   first of them to get one sends one multi-row INSERT for the group
//!   (one refused for a row's content is re-sent row by row, so only the
//!   bad row's caller loses it). A connection found dead before sending is
//!   replaced once; a failed connect or an INSERT past its time limit opens a breaker that
//!   makes every caller return at once (rows not delivered, never sent)
//!   until a background probe reconnects. An INSERT sent without an answer
//!   is counted `uncertain` and never sent again.
//! - **Close**: flushes within the deadline and reports `undelivered`.
//!
//! ## TLS
//!
//! `sslmode` `disable`, `prefer` (default), `require`, `verify-ca`,
//! `verify-full` with rustls; `sslrootcert` names the CA file.

#![warn(missing_docs)]

mod abi;
mod admin;
mod catalog;
mod check;
mod conn;
mod conn_settings;
mod diag;
mod hosts;
mod indexes;
mod maintenance;
mod period;
mod pool_check;
mod queue;
mod reader;
mod schema;
mod spool;
mod table;
mod tls;
mod tx;
mod writer;

pub use abi::{
    stogger_pg_abi_version, stogger_pg_buf_free, stogger_pg_close, stogger_pg_flush,
    stogger_pg_open, stogger_pg_schema_sql, stogger_pg_stats, stogger_pg_write,
};
pub use admin::{apply_schema, migrate, ApplyReport, MigrateReport};
pub use check::{
    check, CheckReport, ColumnCheck, MaintenanceRecord, PartitionCheck, PartitionsReport,
};
pub use diag::WarnSink;
pub use indexes::{IndexCheck, IndexStatus};
pub use pool_check::{check_sync_pool, SyncPoolCheck};
pub use queue::RowRef;
pub use reader::{LogReader, QueryParam, StoredRow};
pub use schema::{schema_sql, schema_sql_for, Layout, SchemaError, TableName};
pub use spool::{spool_status, SpoolStatus};
pub use stogger_pg_proto::{
    GinOpclass, PartitionManager, Partitioning, PgSettings, SettingsError, WriteMode,
};
pub use writer::{OpenError, OpenStatus, Opened, Stats, Writer};

/// Checks that `dsn` is a connection string the writer can use, reading it
/// exactly as [`Writer::open`] does (TLS keys, `connect_timeout`, the
/// driver's own parser), without connecting. For tools that report a bad
/// DSN before trying it. The error names what is wrong and never shows the
/// password.
pub fn validate_dsn(dsn: &str) -> Result<(), SettingsError> {
    conn_settings::ConnSettings::parse(&PgSettings::new(dsn)).map(|_| ())
}
