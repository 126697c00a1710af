//! `stogger schema`: the DDL the PostgreSQL plugin runs for the configured
//! table, for a DBA to review or run by hand (`stogger schema | psql ...`).

/// Runs `stogger schema`; returns the exit code.
pub fn run() -> u8 {
    let loaded = match stogger_core::config::load(&[]) {
        Ok(l) => l,
        Err(e) => {
            crate::error(&format!("stogger configuration: {e}"));
            return crate::EXIT_USAGE;
        }
    };
    let table = &loaded.config.postgres_table;
    match stogger_postgres::schema_sql(table) {
        Ok(sql) => {
            print!("{sql}");
            0
        }
        Err(e) => {
            crate::error(&format!("postgres_table: {e}"));
            1
        }
    }
}
