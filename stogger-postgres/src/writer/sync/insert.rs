//! Sync mode's writing of a group on one connection: its rows in
//! statements of at most [`group::MAX_ROWS`] rows, each an autocommit
//! multi-row INSERT (an unnamed statement), and what every caller in the
//! group is told.
//!
//! - Before a statement: a connection made before the breaker last opened
//!   is dropped; one the server closed since its last use is noticed from
//!   what already arrived on its socket and replaced (within
//!   `connect_timeout`; a failed connect opens the breaker).
//! - The statement is bounded by `connect_timeout` (past it: uncertain, and
//!   the breaker opens) and abandoned as soon as the breaker opens.
//! - Refused with an ERROR (rolled back, nothing stored), classified as in
//!   batch mode (`conn::classify`): an error caused by the rows (bad data,
//!   a constraint, a trigger's exception, ...) drops the row of a one-row
//!   statement (rejected); a statement of several rows is sent again row
//!   by row, so that only the refused row's caller loses it. An error that
//!   says the table cannot take rows now (privileges, resources, a
//!   conflict) refuses every row alike: the group's rows not written yet
//!   are not delivered, and not tried one by one. A missing table (42P01)
//!   is created once and the statement sent again.
//! - No answer: every row of the statement is uncertain (all or nothing)
//!   and never sent again; the group's later rows are not sent.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::watch;

use crate::conn::{self, Failure, InsertStatement};
use crate::queue::Row;

use super::super::group::{self, Group};
use super::super::pool::{self, SlotConnection};
use super::super::state::{deadline_after, ready_table};
use super::{unavailable, DeferredWarnings, SyncPath, NOT_DELIVERED, NOT_SENT, UNCERTAIN};

/// What became of one statement.
enum Outcome {
    Committed,
    /// The server refused it for its rows ([`Failure::Rows`]): rolled back,
    /// nothing stored, the connection still usable.
    Refused(String),
    /// Certainly not stored: never sent, or refused in a way that holds
    /// for any row (the database unavailable, the table blocked). Nothing
    /// after it is sent either.
    NotSent(String),
    /// Sent; no answer.
    Unknown(String),
}

/// What became of one row of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Delivered,
    /// Refused for its content (counted `dropped_rejected`).
    Rejected,
    /// Not sent (not delivered); said in one warning with the reason.
    NotSent,
    /// Sent without an answer.
    Uncertain,
}

impl SyncPath {
    /// A group's rows, in statements of at most [`group::MAX_ROWS`] rows;
    /// then the counters, the warnings and each entry's result.
    pub(super) async fn write_group(
        &self,
        slot: &mut Option<SlotConnection>,
        group: &Group,
        opened: &mut watch::Receiver<u64>,
        deferred: &mut DeferredWarnings,
    ) {
        let rows = group.rows();
        let mut fates = vec![Fate::NotSent; rows.len()];
        let give_up_at = deadline_after(self.group_budget());
        // Why the rows not sent yet will not be sent.
        let mut stop: Option<String> = None;
        for range in group::statements(&rows) {
            if stop.is_some() {
                break;
            }
            let part = &rows[range.clone()];
            match self.send(slot, part, opened, deferred).await {
                Outcome::Committed => fates[range].fill(Fate::Delivered),
                Outcome::Refused(message) if part.len() == 1 => {
                    fates[range.start] = self.rejected(message, deferred);
                }
                Outcome::Refused(_) => {
                    // Rolled back: which row (or all)? Each alone says.
                    for i in range {
                        if Instant::now() >= give_up_at {
                            stop = Some(format!(
                                "gave up sending the rows of a refused multi-row INSERT one by \
                                 one after {} ms",
                                self.group_budget().as_millis()
                            ));
                        }
                        if stop.is_some() {
                            break;
                        }
                        fates[i] = match self.send(slot, &rows[i..=i], opened, deferred).await {
                            Outcome::Committed => Fate::Delivered,
                            Outcome::Refused(message) => self.rejected(message, deferred),
                            Outcome::NotSent(m) => {
                                stop = Some(m);
                                Fate::NotSent
                            }
                            Outcome::Unknown(m) => {
                                stop = Some(self.unknown(m, 1, deferred));
                                Fate::Uncertain
                            }
                        };
                    }
                }
                Outcome::NotSent(m) => stop = Some(m),
                Outcome::Unknown(m) => {
                    stop = Some(self.unknown(m, range.len(), deferred));
                    fates[range].fill(Fate::Uncertain);
                }
            }
        }
        self.finish_entries(group, &fates, stop, deferred);
    }

    /// Counts the fates, says the rows not sent, finishes each entry.
    fn finish_entries(
        &self,
        group: &Group,
        fates: &[Fate],
        stop: Option<String>,
        deferred: &mut DeferredWarnings,
    ) {
        let state = &*self.writer;
        let count = |f: Fate| fates.iter().filter(|x| **x == f).count() as u64;
        // Each entry's result from its rows' fates. With a spool, the
        // callers whose rows were all not sent spool them themselves (and
        // count them there).
        let spills = self.spills();
        let mut at = 0;
        let results: Vec<i64> = group
            .entries()
            .iter()
            .map(|e| {
                let mine = &fates[at..at + e.rows().len()];
                at += e.rows().len();
                if mine.contains(&Fate::Uncertain) {
                    UNCERTAIN
                } else if spills && mine.iter().all(|f| *f == Fate::NotSent) {
                    NOT_SENT
                } else if mine.contains(&Fate::NotSent) {
                    NOT_DELIVERED
                } else {
                    mine.iter().filter(|f| **f == Fate::Delivered).count() as i64
                }
            })
            .collect();
        let spilled: usize = (group.entries().iter().zip(&results))
            .filter(|(_, r)| **r == NOT_SENT)
            .map(|(e, _)| e.rows().len())
            .sum();
        let not_sent = count(Fate::NotSent) - spilled as u64;
        state
            .delivered
            .fetch_add(count(Fate::Delivered), Ordering::AcqRel);
        state
            .dropped_rejected
            .fetch_add(count(Fate::Rejected), Ordering::AcqRel);
        state
            .dropped_unavailable
            .fetch_add(not_sent, Ordering::AcqRel);
        state
            .uncertain
            .fetch_add(count(Fate::Uncertain), Ordering::AcqRel);
        if not_sent > 0 {
            let why = stop.unwrap_or_else(|| "not sent".to_string());
            deferred.push((
                "connect",
                format!("{why}; dropped {not_sent} row(s) (sync mode)"),
            ));
        }
        for (i, (e, &result)) in group.entries().iter().zip(&results).enumerate() {
            if group.finish(i, result) && result == NOT_SENT {
                // Its caller stopped waiting: the rows are the leader's to
                // hand to the spool (without waiting for the disk).
                self.hand_to_spool(e.rows());
            }
        }
    }

    /// A row refused alone for its content.
    fn rejected(&self, message: String, deferred: &mut DeferredWarnings) -> Fate {
        deferred.push((
            "rejected",
            format!(
                "dropped 1 row that {} rejected: {message}",
                self.writer.table
            ),
        ));
        Fate::Rejected
    }

    /// Says that `n` rows were sent without an answer; the reason the rows
    /// after them are not sent.
    fn unknown(&self, m: String, n: usize, deferred: &mut DeferredWarnings) -> String {
        deferred.push((
            "uncertain",
            format!(
                "{m}: {n} row(s) may or may not be stored in {} (they are not sent again)",
                self.writer.table
            ),
        ));
        "not sent after an INSERT before it got no answer".to_string()
    }

    /// One statement of `rows`: a trusted connection (made at most twice),
    /// the INSERT.
    async fn send(
        &self,
        slot: &mut Option<SlotConnection>,
        rows: &[&Row],
        opened: &mut watch::Receiver<u64>,
        deferred: &mut DeferredWarnings,
    ) -> Outcome {
        let state = &*self.writer;
        let bound = self.bound();
        let mut table_created = false;
        for _attempt in 0..3 {
            opened.mark_unchanged();
            if let Some(outage) = self.breaker.outage() {
                return Outcome::NotSent(unavailable(&outage));
            }
            // A connection made before the last outage is not trusted.
            let generation = self.breaker.generation();
            if slot.as_ref().is_some_and(|c| c.generation < generation) {
                *slot = None;
            }
            if let Some(c) = slot.as_mut() {
                // Lets the runtime read what arrived since this slot's last
                // use: a connection the server closed meanwhile ends here,
                // before anything is sent on it.
                pool::poll_with_io(&mut c.io, tokio::task::yield_now()).await;
                if !c.usable() {
                    *slot = None;
                }
            }
            if slot.is_none() {
                match self.connect(generation, opened).await {
                    Ok(c) => *slot = Some(c),
                    Err(m) => return Outcome::NotSent(m),
                }
            }
            let Some(SlotConnection {
                client,
                io,
                statements,
                ..
            }) = slot.as_mut()
            else {
                continue;
            };
            let insert = tokio::time::timeout(
                bound,
                pool::poll_with_io(io, self.insert(client, statements, rows)),
            );
            let sent = tokio::select! {
                biased;
                r = insert => Some(r),
                _ = opened.changed() => None,
            };
            let failure = match sent {
                Some(Ok(Ok(()))) => {
                    // A committed statement is sync mode's batch.
                    state.batches.fetch_add(1, Ordering::AcqRel);
                    return Outcome::Committed;
                }
                Some(Ok(Err(e))) if self.prepared && statement_vanished(&e) => {
                    // Refused before it ran: prepare again, send again.
                    if let Some(c) = slot.as_mut() {
                        c.statements.clear();
                    }
                    deferred.push((
                        "prepared",
                        "a statement prepared on a pooled connection was gone (a pooler in \
                         transaction mode in between? then set postgres_prepared_statements = \
                         false); prepared it again"
                            .to_string(),
                    ));
                    continue;
                }
                Some(Ok(Err(e))) if statement_failed(&e) => conn::classify(&e, client),
                Some(Ok(Err(e))) => {
                    *slot = None;
                    return Outcome::Unknown(format!(
                        "the connection to {} was lost while an INSERT was in flight ({})",
                        self.settings.display,
                        self.settings.redactor.apply(&conn::describe(&e))
                    ));
                }
                Some(Err(_)) => {
                    *slot = None;
                    let m = format!(
                        "an INSERT into {} got no answer within {} ms \
                         (postgres_connect_timeout_ms)",
                        state.table,
                        bound.as_millis()
                    );
                    self.trip(&m);
                    return Outcome::Unknown(m);
                }
                None => {
                    *slot = None;
                    return Outcome::Unknown(format!(
                        "an INSERT into {} in flight was abandoned: another sync write found \
                         the database unavailable",
                        state.table
                    ));
                }
            };
            match failure {
                Failure::Rows(m) => return Outcome::Refused(m),
                Failure::Blocked {
                    table_missing: true,
                    ..
                } if !table_created => {
                    table_created = true;
                    // Statements prepared on the dropped table go too.
                    if let Some(c) = slot.as_mut() {
                        c.statements.clear();
                    }
                    if let Err(m) = self.ready_table(slot, deferred).await {
                        return Outcome::NotSent(m);
                    }
                }
                Failure::Blocked { message, .. } => {
                    return Outcome::NotSent(format!("cannot write to {}: {message}", state.table))
                }
                Failure::Connection(m) => {
                    *slot = None;
                    return Outcome::NotSent(format!(
                        "the INSERT into {} failed: {m}",
                        state.table
                    ));
                }
            }
        }
        Outcome::NotSent(format!(
            "gave up writing to {} after connecting again twice",
            state.table
        ))
    }

    /// One INSERT of `rows` on `client`: an unnamed statement, or with
    /// `postgres_prepared_statements` the one prepared on this connection
    /// for that many rows (prepared first when it is the first).
    async fn insert(
        &self,
        client: &tokio_postgres::Client,
        statements: &mut Vec<Option<tokio_postgres::Statement>>,
        rows: &[&Row],
    ) -> Result<(), tokio_postgres::Error> {
        let sql = self.insert_sql(rows.len());
        if !self.prepared {
            return conn::insert(client, InsertStatement::Unnamed(sql), rows).await;
        }
        let at = rows.len().clamp(1, group::MAX_ROWS) - 1;
        if statements.len() <= at {
            statements.resize(at + 1, None);
        }
        let statement = match &statements[at] {
            Some(s) => s.clone(),
            None => {
                let s = conn::prepare_insert(client, sql, rows.len()).await?;
                statements[at] = Some(s.clone());
                s
            }
        };
        conn::insert(client, InsertStatement::Named(&statement), rows).await
    }

    /// Connects a slot within `connect_timeout`; a failure opens the
    /// breaker. Gives up when the breaker opens meanwhile.
    async fn connect(
        &self,
        generation: u64,
        opened: &mut watch::Receiver<u64>,
    ) -> Result<SlotConnection, String> {
        let attempt = tokio::select! {
            biased;
            r = conn::connect_parts(&self.settings) => Some(r),
            _ = opened.changed() => None,
        };
        match attempt {
            Some(Ok((client, io))) => {
                self.writer.connected.store(true, Ordering::Release);
                Ok(SlotConnection::new(client, io, generation))
            }
            Some(Err(m)) => {
                self.trip(&m);
                Err(m)
            }
            None => Err(self.outage_text()),
        }
    }

    /// Creates the table if missing and checks the privilege, on `slot`'s
    /// connection.
    pub(super) async fn ready_table(
        &self,
        slot: &mut Option<SlotConnection>,
        deferred: &mut DeferredWarnings,
    ) -> Result<(), String> {
        let Some(SlotConnection { client, io, .. }) = slot.as_mut() else {
            return Err("no connection to prepare the table on".to_string());
        };
        let bound = self.setup_bound();
        match tokio::time::timeout(
            bound,
            pool::poll_with_io(io, ready_table(&self.writer, &self.settings, client)),
        )
        .await
        {
            Ok(Ok(warnings)) => {
                deferred.extend(warnings.into_iter().map(|w| ("schema", w)));
                Ok(())
            }
            Ok(Err(m)) => Err(m),
            Err(_) => Err(format!(
                "connected to {}, but preparing writes to {} did not finish within {} ms",
                self.settings.display,
                self.writer.table,
                bound.as_millis()
            )),
        }
    }
}

/// The server does not know the prepared statement (26000): it was
/// deallocated (`DISCARD ALL`), or a pooler sent the Bind to another
/// server connection. Nothing ran.
fn statement_vanished(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::INVALID_SQL_STATEMENT_NAME)
}

/// Whether the server answered the statement with an ERROR (the statement
/// was rolled back and the connection is still usable), as opposed to a
/// lost connection or a FATAL error that ends it (outcome unknown).
fn statement_failed(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::Severity;
    e.as_db_error().is_some_and(|db| {
        matches!(
            db.parsed_severity(),
            Some(Severity::Error | Severity::Warning)
        )
    })
}
