//! Index hygiene: the table's indexes compared with what stogger expects
//! by definition (method, columns, operator class, predicate) rather than
//! by name, with the statement that fixes each difference; and building
//! what is missing without blocking writers.
//!
//! - **missing**: no valid index has the expected definition. Fix: built
//!   with `CREATE INDEX CONCURRENTLY` (writers go on). On a partitioned
//!   table, which cannot be indexed concurrently as a whole: the parent's
//!   index `ON ONLY` the parent (invalid at first), each partition's
//!   concurrently, each attached; the parent's index becomes valid with
//!   the last one.
//! - **duplicate**: a second valid index with the same definition (every
//!   write pays for both). Fix: `DROP INDEX CONCURRENTLY` (plain `DROP
//!   INDEX` on a partitioned table).
//! - **invalid**: left by a failed concurrent build, or a partitioned
//!   index some partition lacks. Fix: drop it, then build again.
//! - **unexpected**: not one of stogger's (a DBA's expression index on a
//!   key of `data`, say). Listed with the statement to drop it, not a
//!   problem: queries may need it.

use serde::Serialize;
use tokio_postgres::Client;

use crate::catalog::{self, IndexInfo, TableKind};
use crate::schema::{quote_ident, IndexSpec, Layout, TableName};

/// What became of one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexStatus {
    /// Present as expected.
    Ok,
    /// Expected, not there (or only invalid).
    Missing,
    /// A second index with an expected definition.
    Duplicate,
    /// Not valid (a failed concurrent build).
    Invalid,
    /// Not one of stogger's.
    Unexpected,
}

impl IndexStatus {
    /// Whether it is worth a warning (`unexpected` is not: it may serve
    /// the user's queries).
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            IndexStatus::Missing | IndexStatus::Duplicate | IndexStatus::Invalid
        )
    }
}

/// One expected index, or one index found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexCheck {
    /// What the index is for in stogger's schema: `primary key`,
    /// `timestamp`, `level`, `event`, `data`; None for an index stogger
    /// does not know.
    pub role: Option<String>,
    /// The index's name: the one found, or for a missing one the name
    /// `stogger schema --apply` would give it.
    pub name: String,
    /// The expected definition (after `USING `), for stogger's indexes.
    pub expected: Option<String>,
    /// The definition found (after `USING `), None when missing.
    pub definition: Option<String>,
    /// The verdict.
    pub status: IndexStatus,
    /// The SQL that fixes it; None when nothing is to be done.
    pub fix: Option<String>,
}

impl IndexCheck {
    /// The verdict on `index`, found in the catalog; `role` is the role
    /// and definition stogger expected it to have (None: not one of
    /// stogger's).
    fn found(
        index: &IndexInfo,
        role: Option<(&str, &str)>,
        status: IndexStatus,
        fix: Option<String>,
    ) -> IndexCheck {
        IndexCheck {
            role: role.map(|(role, _)| role.to_string()),
            name: index.name.clone(),
            expected: role.map(|(_, expected)| expected.to_string()),
            definition: Some(index.definition.clone()),
            status,
            fix,
        }
    }

    /// An index of stogger's schema that is not there: in the role `role`,
    /// to be named `name` with the definition `expected`, made by `fix`.
    fn missing(role: &str, name: String, expected: &str, fix: String) -> IndexCheck {
        IndexCheck {
            role: Some(role.to_string()),
            name,
            expected: Some(expected.to_string()),
            definition: None,
            status: IndexStatus::Missing,
            fix: Some(fix),
        }
    }
}

fn drop_sql(t: &TableName, name: &str, partitioned: bool) -> String {
    let index = t.sibling(name.to_string()).quoted();
    if partitioned {
        // DROP INDEX CONCURRENTLY cannot drop a partitioned index.
        format!("DROP INDEX {index};")
    } else {
        format!("DROP INDEX CONCURRENTLY {index};")
    }
}

/// The statement building `spec` on a plain table, or for a partitioned
/// one what `stogger schema --apply` does (several statements).
fn create_fix(t: &TableName, spec: &IndexSpec, name: &str, partitioned: bool) -> String {
    if partitioned {
        format!(
            "stogger schema --apply (builds {} on every partition concurrently, then on the table)",
            quote_ident(name)
        )
    } else {
        create_concurrently(name, t, spec) + ";"
    }
}

/// `CREATE INDEX CONCURRENTLY` of `spec` on `t`, named `name`.
fn create_concurrently(name: &str, t: &TableName, spec: &IndexSpec) -> String {
    format!(
        "CREATE INDEX CONCURRENTLY {} ON {} {}",
        quote_ident(name),
        t.quoted(),
        spec.ddl()
    )
}

/// Runs `sql` and adds it to the statements `done`.
async fn run(
    client: &Client,
    done: &mut Vec<String>,
    sql: String,
) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(&sql).await?;
    done.push(sql);
    Ok(())
}

/// Compares the indexes found on `t` (of `kind`) with those of `layout`.
/// The primary key is expected as the table's kind needs it (`(id)` on a
/// plain table, `(id, "timestamp")` on a partitioned one).
pub fn compare(
    t: &TableName,
    kind: TableKind,
    layout: &Layout,
    found: &[IndexInfo],
) -> Vec<IndexCheck> {
    let partitioned = kind == TableKind::Partitioned;
    let mut used = vec![false; found.len()];
    let mut out = Vec::new();
    // The primary key: whatever its definition, it is the table's key.
    let pk_expected = if partitioned {
        "btree (id, \"timestamp\")"
    } else {
        "btree (id)"
    };
    let pk = "primary key";
    match found.iter().position(|i| i.primary) {
        Some(k) => {
            used[k] = true;
            let role = Some((pk, pk_expected));
            out.push(IndexCheck::found(&found[k], role, IndexStatus::Ok, None));
        }
        None => out.push(IndexCheck::missing(
            pk,
            format!("{}_pkey", t.table()),
            pk_expected,
            format!(
                "ALTER TABLE {} ADD PRIMARY KEY ({});",
                t.quoted(),
                if partitioned {
                    "id, \"timestamp\""
                } else {
                    "id"
                }
            ),
        )),
    }
    for spec in layout.indexes() {
        let standard = t.index_name(spec.suffix);
        let definition = spec.definition();
        let mut matching: Vec<usize> = (0..found.len())
            .filter(|&k| !used[k] && found[k].valid && found[k].definition == definition)
            .collect();
        // The one with stogger's name is the keeper, when there is one.
        matching.sort_by_key(|&k| found[k].name != standard);
        let Some((&keep, extra)) = matching.split_first() else {
            let fix = create_fix(t, &spec, &standard, partitioned);
            let missing = IndexCheck::missing(spec.suffix, standard, &definition, fix);
            out.push(missing);
            continue;
        };
        let role = Some((spec.suffix, definition.as_str()));
        used[keep] = true;
        out.push(IndexCheck::found(&found[keep], role, IndexStatus::Ok, None));
        for &k in extra {
            used[k] = true;
            let fix = Some(drop_sql(t, &found[k].name, partitioned));
            out.push(IndexCheck::found(
                &found[k],
                role,
                IndexStatus::Duplicate,
                fix,
            ));
        }
    }
    for (k, index) in found.iter().enumerate() {
        if used[k] {
            continue;
        }
        let (status, fix) = if index.valid {
            (
                IndexStatus::Unexpected,
                format!(
                    "{} (only if no query needs it: every index slows writes)",
                    drop_sql(t, &index.name, partitioned)
                ),
            )
        } else {
            (
                IndexStatus::Invalid,
                format!(
                    "{} then `stogger schema --apply`",
                    drop_sql(t, &index.name, partitioned)
                ),
            )
        };
        out.push(IndexCheck::found(index, None, status, Some(fix)));
    }
    out
}

/// A name for a new index in `t`'s schema: `wanted`, or `wanted_2`, ...
/// when another relation has it.
async fn free_name(
    client: &Client,
    t: &TableName,
    wanted: &str,
) -> Result<String, tokio_postgres::Error> {
    for n in 1..100 {
        let candidate = if n == 1 {
            wanted.to_string()
        } else {
            let tail = format!("_{n}");
            let mut base = wanted.to_string();
            while base.len() + tail.len() > crate::schema::MAX_IDENT_BYTES {
                base.pop();
            }
            base + &tail
        };
        let taken = catalog::table_kind(client, &t.sibling(candidate.clone())).await?;
        if taken == TableKind::Missing {
            return Ok(candidate);
        }
    }
    Ok(wanted.to_string())
}

/// Builds `spec` on `t` without blocking writers; returns the statements
/// run, in order.
pub async fn build(
    client: &Client,
    t: &TableName,
    kind: TableKind,
    spec: &IndexSpec,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let mut done = Vec::new();
    let name = free_name(client, t, &t.index_name(spec.suffix)).await?;
    if kind != TableKind::Partitioned {
        run(client, &mut done, create_concurrently(&name, t, spec)).await?;
        return Ok(done);
    }
    let parent_sql = format!(
        "CREATE INDEX {} ON ONLY {} {}",
        quote_ident(&name),
        t.quoted(),
        spec.ddl()
    );
    run(client, &mut done, parent_sql).await?;
    let parent_index = t.sibling(name).quoted();
    let definition = spec.definition();
    for part in catalog::partitions(client, t).await? {
        let p = part.table;
        let existing = catalog::indexes(client, &p)
            .await?
            .into_iter()
            .find(|i| i.valid && i.definition == definition);
        let index_name = match existing {
            Some(i) => i.name,
            None => {
                let n = free_name(client, &p, &p.index_name(spec.suffix)).await?;
                run(client, &mut done, create_concurrently(&n, &p, spec)).await?;
                n
            }
        };
        let attach = format!(
            "ALTER INDEX {parent_index} ATTACH PARTITION {}",
            p.sibling(index_name).quoted()
        );
        run(client, &mut done, attach).await?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stogger_pg_proto::{GinOpclass, Partitioning};

    /// What `compare` reports for the table `logs` of `kind` and `layout`
    /// when the catalog lists `found` (name, definition; a `_pkey` is the
    /// primary key, an `invalid` one is not valid).
    fn compare_logs(kind: TableKind, layout: &Layout, found: &[(&str, &str)]) -> Vec<IndexCheck> {
        let found: Vec<IndexInfo> = found
            .iter()
            .map(|&(name, definition)| IndexInfo {
                name: name.into(),
                statement: String::new(),
                definition: definition.into(),
                primary: name.ends_with("_pkey"),
                unique: name.ends_with("_pkey"),
                valid: !name.contains("invalid"),
            })
            .collect();
        compare(&TableName::parse("logs").unwrap(), kind, layout, &found)
    }

    fn status_of<'a>(checks: &'a [IndexCheck], name: &str) -> &'a IndexCheck {
        checks.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn indexes_are_compared_by_definition_not_name() {
        let checks = compare_logs(
            TableKind::Plain,
            &Layout::SEED,
            &[
                ("logs_pkey", "btree (id)"),
                ("renamed_ts", "btree (\"timestamp\" DESC)"),
                ("idx_logs_level", "btree (level)"),
                ("idx_logs_level_copy", "btree (level)"),
                ("user_id_expr", "btree (((data ->> 'user_id'::text)))"),
                ("gin_invalid", "gin (data jsonb_path_ops)"),
            ],
        );
        // (index, verdict, the fix offered). The only GIN is invalid: the
        // data index is missing too.
        let expected = [
            ("logs_pkey", IndexStatus::Ok, None),
            ("renamed_ts", IndexStatus::Ok, None),
            ("idx_logs_level", IndexStatus::Ok, None),
            (
                "idx_logs_level_copy",
                IndexStatus::Duplicate,
                Some("DROP INDEX CONCURRENTLY \"idx_logs_level_copy\";"),
            ),
            ("user_id_expr", IndexStatus::Unexpected, None),
            ("gin_invalid", IndexStatus::Invalid, None),
            (
                "idx_logs_event",
                IndexStatus::Missing,
                Some("CREATE INDEX CONCURRENTLY \"idx_logs_event\" ON \"logs\" (event);"),
            ),
            ("idx_logs_data", IndexStatus::Missing, None),
        ];
        for (name, status, fix) in expected {
            let check = status_of(&checks, name);
            assert_eq!(check.status, status, "{name}");
            if fix.is_some() {
                assert_eq!(check.fix.as_deref(), fix, "{name}");
            }
        }
        assert_eq!(
            status_of(&checks, "renamed_ts").role.as_deref(),
            Some("timestamp")
        );
    }

    #[test]
    fn the_configured_opclass_decides_what_is_expected() {
        let found = [
            ("logs_pkey", "btree (id, \"timestamp\")"),
            ("idx_logs_timestamp", "btree (\"timestamp\" DESC)"),
            ("idx_logs_level", "btree (level)"),
            ("idx_logs_event", "btree (event)"),
            ("idx_logs_data", "gin (data jsonb_path_ops)"),
        ];
        let layout = Layout {
            partitioning: Partitioning::Daily,
            gin_opclass: GinOpclass::None,
            default_partition: true,
        };
        let checks = compare_logs(TableKind::Partitioned, &layout, &found);
        let gin = status_of(&checks, "idx_logs_data");
        assert_eq!(gin.status, IndexStatus::Unexpected);
        assert!(gin
            .fix
            .as_deref()
            .unwrap()
            .starts_with("DROP INDEX \"idx_logs_data\";"));
        assert!(checks.iter().all(|c| !c.status.is_problem()), "{checks:?}");
        let layout = Layout {
            gin_opclass: GinOpclass::JsonbOps,
            ..layout
        };
        let checks = compare_logs(TableKind::Partitioned, &layout, &found);
        let missing: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == IndexStatus::Missing)
            .map(|c| c.expected.as_deref().unwrap())
            .collect();
        assert_eq!(missing, ["gin (data)"]);
    }
}
