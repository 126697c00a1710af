//! What the server's catalog says about the log table: whether it exists
//! and is partitioned, its columns, its indexes by definition, and its
//! partitions with their time ranges and sizes.
//!
//! Every query here is one unnamed statement with typed parameters
//! (`query_typed`: parse, bind and execute in one round trip), so it works
//! through pgbouncer in transaction pooling mode, where a named prepared
//! statement may live on another server connection than the next query.

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Error, Row};

use crate::schema::TableName;

/// Runs `sql` with the table's quoted name (what `to_regclass` takes) as
/// the text parameter `$1`.
pub async fn query_table(client: &Client, sql: &str, t: &TableName) -> Result<Vec<Row>, Error> {
    let quoted = t.quoted();
    client
        .query_typed(sql, &[(&quoted as &(dyn ToSql + Sync), Type::TEXT)])
        .await
}

/// What kind of relation the table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// No relation of that name.
    Missing,
    /// An ordinary table (the seed's).
    Plain,
    /// A partitioned table.
    Partitioned,
    /// Something else (a view, a foreign table...): `relkind`.
    Other(char),
}

/// The kind of relation `t` names.
pub async fn table_kind(client: &Client, t: &TableName) -> Result<TableKind, Error> {
    let rows = query_table(
        client,
        "SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)",
        t,
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok(TableKind::Missing);
    };
    let kind: String = row.try_get(0)?;
    Ok(match kind.as_str() {
        "r" => TableKind::Plain,
        "p" => TableKind::Partitioned,
        other => TableKind::Other(other.chars().next().unwrap_or('?')),
    })
}

/// The table's columns: name and type as `format_type` prints it.
pub async fn columns(client: &Client, t: &TableName) -> Result<Vec<(String, String)>, Error> {
    let rows = query_table(
        client,
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        t,
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// One index on the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    /// Its name (unquoted).
    pub name: String,
    /// `pg_get_indexdef`'s full text.
    pub statement: String,
    /// The definition after `USING ` (method, columns, opclass, predicate):
    /// what two indexes that do the same job have in common.
    pub definition: String,
    /// The primary key's index.
    pub primary: bool,
    /// A unique index.
    pub unique: bool,
    /// `indisvalid`: false for a failed `CREATE INDEX CONCURRENTLY`, or a
    /// partitioned table's index that some partition lacks.
    pub valid: bool,
}

/// The indexes on the table (on a partitioned table: the parent's
/// partitioned indexes).
pub async fn indexes(client: &Client, t: &TableName) -> Result<Vec<IndexInfo>, Error> {
    let rows = query_table(
        client,
        "SELECT ic.relname::text, pg_get_indexdef(i.indexrelid), \
         quote_ident(n.nspname) || '.' || quote_ident(tc.relname), \
         i.indisprimary, i.indisunique, i.indisvalid \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace n ON n.oid = tc.relnamespace \
         WHERE i.indrelid = to_regclass($1) ORDER BY ic.relname",
        t,
    )
    .await?;
    rows.iter()
        .map(|r| {
            let statement: String = r.try_get(1)?;
            let qualified: String = r.try_get(2)?;
            Ok(IndexInfo {
                name: r.try_get(0)?,
                definition: definition_of(&statement, &qualified),
                statement,
                primary: r.try_get(3)?,
                unique: r.try_get(4)?,
                valid: r.try_get(5)?,
            })
        })
        .collect()
}

/// The part of `CREATE [UNIQUE] INDEX <name> ON [ONLY] <table> USING ...`
/// after `USING `; found after the table's name (as the server quotes it),
/// so an index or table name containing ` USING ` cannot mislead it.
pub fn definition_of(statement: &str, qualified_table: &str) -> String {
    for on in [" ON ONLY ", " ON "] {
        let marker = format!("{on}{qualified_table} USING ");
        if let Some(at) = statement.find(&marker) {
            return statement[at + marker.len()..].to_string();
        }
    }
    statement
        .split_once(" USING ")
        .map_or(statement, |(_, rest)| rest)
        .to_string()
}

/// One partition of a partitioned table.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionInfo {
    /// The partition (in its own schema).
    pub table: TableName,
    /// The DEFAULT partition.
    pub is_default: bool,
    /// Its range in seconds since the epoch (`-inf` for MINVALUE, `+inf`
    /// for MAXVALUE); None for the default partition.
    pub range: Option<(f64, f64)>,
    /// `pg_total_relation_size`: the table, its indexes and TOAST.
    pub bytes: i64,
    /// The planner's row estimate (`reltuples`; -1 before the first ANALYZE).
    pub rows_estimate: i64,
}

/// The partitions of the table, oldest range first (the default last). An
/// error when a bound is not a time range (a table partitioned otherwise).
pub async fn partitions(client: &Client, t: &TableName) -> Result<Vec<PartitionInfo>, Error> {
    // pg_get_expr prints the bounds as literals in this session's DateStyle
    // and TimeZone, and the cast reads them back in the same session.
    let rows = query_table(
        client,
        "WITH p AS ( \
           SELECT n.nspname::text AS schema, c.relname::text AS name, \
                  pg_get_expr(c.relpartbound, c.oid) AS bound, \
                  pg_total_relation_size(c.oid) AS bytes, c.reltuples::bigint AS rows \
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE i.inhparent = to_regclass($1)), \
         m AS (SELECT *, regexp_match(bound, '^FOR VALUES FROM \\((.+)\\) TO \\((.+)\\)$') AS r FROM p) \
         SELECT schema, name, bound = 'DEFAULT', \
           CASE WHEN r IS NULL THEN NULL WHEN r[1] = 'MINVALUE' THEN '-Infinity'::float8 \
                ELSE extract(epoch FROM btrim(r[1], '''')::timestamptz)::float8 END, \
           CASE WHEN r IS NULL THEN NULL WHEN r[2] = 'MAXVALUE' THEN 'Infinity'::float8 \
                ELSE extract(epoch FROM btrim(r[2], '''')::timestamptz)::float8 END, \
           bytes, rows \
         FROM m ORDER BY 4 NULLS LAST, 2",
        t,
    )
    .await?;
    rows.iter()
        .map(|r| {
            let schema: String = r.try_get(0)?;
            let name: String = r.try_get(1)?;
            let lo: Option<f64> = r.try_get(3)?;
            let hi: Option<f64> = r.try_get(4)?;
            Ok(PartitionInfo {
                table: TableName::from_parts(Some(schema), name),
                is_default: r.try_get(2)?,
                range: lo.zip(hi),
                bytes: r.try_get(5)?,
                rows_estimate: r.try_get(6)?,
            })
        })
        .collect()
}

/// The advisory lock key of maintenance work on `t` (partitions, index
/// builds, migration): one 64-bit key per table, so that of many services
/// sharing the table one works at a time. Taken with
/// `pg_try_advisory_xact_lock` inside a transaction: held only until it
/// ends, which is all pgbouncer's transaction pooling allows.
pub const LOCK_KEY_SQL: &str = "(x'5354474d'::bigint << 32) | to_regclass($1)::oid::bigint";

/// Tries the table's maintenance lock for the current transaction.
pub async fn try_xact_lock(client: &Client, t: &TableName) -> Result<bool, Error> {
    let rows = query_table(
        client,
        &format!("SELECT pg_try_advisory_xact_lock({LOCK_KEY_SQL})"),
        t,
    )
    .await?;
    match rows.first() {
        Some(r) => r.try_get::<_, Option<bool>>(0).map(|b| b.unwrap_or(false)),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_cut_after_the_table_name() {
        let def = definition_of(
            "CREATE INDEX idx_t_level ON public.t USING btree (level)",
            "public.t",
        );
        assert_eq!(def, "btree (level)");
        let def = definition_of(
            "CREATE UNIQUE INDEX t_pkey ON ONLY public.t USING btree (id, \"timestamp\")",
            "public.t",
        );
        assert_eq!(def, "btree (id, \"timestamp\")");
        // A hostile name holding " USING " does not cut early.
        let q = "public.\"a USING b\"";
        let def = definition_of(
            &format!("CREATE INDEX \"x USING y\" ON {q} USING gin (data jsonb_path_ops)"),
            q,
        );
        assert_eq!(def, "gin (data jsonb_path_ops)");
    }
}
