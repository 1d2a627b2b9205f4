//! The DbWriter actor: the one owner of the writing connection. Every batch is one transaction,
//! so a batch is either stored whole or not at all, and the sender may safely retry it.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use diesel::connection::SimpleConnection;
use diesel::dsl::Eq;
use diesel::prelude::*;

use super::schema::{logs, rejected_lines, sources};
use super::DbError;
use crate::entry::Entry;
use crate::parse::LogRecord;

/// Rows per INSERT statement: 12 bound values a row keeps a statement well under SQLite's
/// limit of 32,766 variables, and larger statements gain nothing measurable.
pub const ROWS_PER_STATEMENT: usize = 500;

pub struct DbWriter {
    conn: SqliteConnection,
}

impl DbWriter {
    pub fn new(conn: SqliteConnection) -> Self {
        Self { conn }
    }

    /// Starts the writer on a thread of its own. The connection is opened (and migrated) by the
    /// caller, so start-up errors are reported before anything runs.
    pub fn start(conn: SqliteConnection) -> Addr<DbWriter> {
        // SyncArbiter wants a factory; with one thread it is called once, and the slot hands over
        // the connection opened up front.
        let slot = Mutex::new(Some(conn));
        SyncArbiter::start(1, move || {
            let conn = slot
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("DbWriter runs on exactly one thread");
            DbWriter::new(conn)
        })
    }
}

impl Actor for DbWriter {
    type Context = SyncContext<Self>;
}

/// Store one batch of a source's lines in one transaction.
#[derive(Debug, Message)]
#[rtype(result = "Result<WriteSummary, DbError>")]
pub struct WriteBatch {
    pub source_id: i64,
    /// Shared so the sender keeps the batch to retry if the write fails.
    pub entries: Arc<Vec<Entry>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    pub stored: u64,
    pub rejected: u64,
}

/// Returns the id of a source address, creating it the first time it is seen.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct RegisterSource {
    pub address: String,
}

/// Sent once at shutdown, after the last batch: folds the WAL back into the database file.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct Checkpoint;

/// One `logs` row as column assignments. A derived `Insertable` would turn each `None` into
/// DEFAULT, and with DEFAULT possible diesel's SQLite backend inserts one row per statement;
/// explicit `column = value` pairs bind NULL instead and keep the multi-row INSERT.
pub type NewLog<'a> = (
    Eq<logs::source_id, i64>,
    Eq<logs::ip, &'a str>,
    Eq<logs::user, Option<&'a str>>,
    Eq<logs::date, i64>,
    Eq<logs::method, &'a str>,
    Eq<logs::url, &'a str>,
    Eq<logs::protocol, &'a str>,
    Eq<logs::code, i32>,
    Eq<logs::size, Option<i64>>,
    Eq<logs::referer, Option<&'a str>>,
    Eq<logs::user_agent, Option<&'a str>>,
    Eq<logs::line, &'a str>,
);

fn new_log<'a>(source_id: i64, r: &'a LogRecord, line: &'a str) -> NewLog<'a> {
    (
        logs::source_id.eq(source_id),
        logs::ip.eq(r.ip.as_str()),
        logs::user.eq(r.user.as_deref()),
        logs::date.eq(r.date),
        logs::method.eq(r.method.as_str()),
        logs::url.eq(r.url.as_str()),
        logs::protocol.eq(r.protocol.as_str()),
        logs::code.eq(r.code),
        logs::size.eq(r.size),
        logs::referer.eq(r.referer.as_deref()),
        logs::user_agent.eq(r.user_agent.as_deref()),
        logs::line.eq(line),
    )
}

#[derive(Insertable)]
#[diesel(table_name = rejected_lines)]
struct NewRejected<'a> {
    source_id: i64,
    received_at: i64,
    line: &'a [u8],
    reason: &'a str,
}

/// Splits a batch into the rows of both tables, borrowing from the entries.
pub fn rows_of(source_id: i64, entries: &[Entry]) -> (Vec<NewLog<'_>>, Vec<(&[u8], &str)>) {
    let mut parsed = Vec::with_capacity(entries.len());
    let mut rejected = Vec::new();
    for entry in entries {
        match entry {
            Entry::Parsed { record, line } => parsed.push(new_log(source_id, record, line)),
            Entry::Rejected { line, reason } => rejected.push((line.as_slice(), reason.as_str())),
        }
    }
    (parsed, rejected)
}

pub fn write_batch(
    conn: &mut SqliteConnection,
    source_id: i64,
    entries: &[Entry],
) -> Result<WriteSummary, DbError> {
    let (parsed, rejected) = rows_of(source_id, entries);
    let received_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    conn.transaction(|conn| {
        for chunk in parsed.chunks(ROWS_PER_STATEMENT) {
            diesel::insert_into(logs::table)
                .values(chunk)
                .execute(conn)?;
        }
        let rejected_rows: Vec<NewRejected> = rejected
            .iter()
            .map(|&(line, reason)| NewRejected {
                source_id,
                received_at,
                line,
                reason,
            })
            .collect();
        for chunk in rejected_rows.chunks(ROWS_PER_STATEMENT) {
            diesel::insert_into(rejected_lines::table)
                .values(chunk)
                .execute(conn)?;
        }
        Ok::<_, DbError>(())
    })?;
    Ok(WriteSummary {
        stored: parsed.len() as u64,
        rejected: rejected.len() as u64,
    })
}

pub fn register_source(conn: &mut SqliteConnection, address: &str) -> Result<i64, DbError> {
    diesel::insert_into(sources::table)
        .values(sources::address.eq(address))
        .on_conflict(sources::address)
        .do_nothing()
        .execute(conn)?;
    Ok(sources::table
        .filter(sources::address.eq(address))
        .select(sources::id)
        .first(conn)?)
}

impl Handler<WriteBatch> for DbWriter {
    type Result = Result<WriteSummary, DbError>;

    fn handle(&mut self, msg: WriteBatch, _: &mut Self::Context) -> Self::Result {
        write_batch(&mut self.conn, msg.source_id, &msg.entries)
    }
}

impl Handler<RegisterSource> for DbWriter {
    type Result = Result<i64, DbError>;

    fn handle(&mut self, msg: RegisterSource, _: &mut Self::Context) -> Self::Result {
        register_source(&mut self.conn, &msg.address)
    }
}

impl Handler<Checkpoint> for DbWriter {
    type Result = Result<(), DbError>;

    fn handle(&mut self, _: Checkpoint, _: &mut Self::Context) -> Self::Result {
        self.conn
            .batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")?;
        Ok(())
    }
}
