//! Opening connections with the settings each role needs.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbError;
use crate::limits::BUSY_TIMEOUT;

/// Applied migrations are never edited: diesel records only their version, so a change would
/// reach new databases and silently skip existing ones. What their literals mean is said here.
///
/// `2026-11-28-000002_segmented_keys` puts the rows it moves over from the first schema into
/// segments of 500,000 (`(l.id - 1) / 500000`): SQL cannot read `--segment-rows`, and 500,000
/// was the default segment size when it was written. The writer fills later segments with
/// whatever `--segment-rows` says; segments need not all be the same size.
///
/// `2026-11-28-000005_keys_for_queries` calls SQL functions that only loggerator's writer
/// connection defines (`line_functions.rs`), so it runs here and not from diesel's CLI.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

/// Opens a connection that waits up to [`BUSY_TIMEOUT`] for another's lock.
pub(crate) fn establish(path: &Path) -> Result<SqliteConnection, DbError> {
    let url = path.to_string_lossy();
    let mut conn = SqliteConnection::establish(&url).map_err(|source| DbError::Open {
        path: url.into_owned(),
        source,
    })?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {};",
        BUSY_TIMEOUT.as_millis()
    ))?;
    Ok(conn)
}

/// Creates `path` empty, readable and writable by its owner only, unless it exists. The
/// service's files hold people's access logs: SQLite gives the WAL and shared-memory files the
/// database file's mode, so a database made here keeps all of them private whatever the umask.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    match create_private_new(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        created => created,
    }
}

/// Creates `path` empty and owner-only; fails if it exists.
pub fn create_private_new(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // The umask may have taken bits from the mode asked for (even the owner's).
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// The single writing connection. Migrations only ever add: existing data is never dropped.
pub fn open_writer(path: &Path) -> Result<SqliteConnection, DbError> {
    create_private(path).map_err(|e| DbError::Create {
        path: path.display().to_string(),
        source: e,
    })?;
    let mut conn = establish(path)?;
    // Before the first table is created (afterwards it changes nothing): a new database gives
    // back the pages compaction and retention free, a step at a time (the compactor's steps
    // run `PRAGMA incremental_vacuum`). An older file keeps its size until a `VACUUM`.
    conn.batch_execute("PRAGMA auto_vacuum = INCREMENTAL;")?;
    // WAL lets the readers query while the writer commits; NORMAL sync is durable across
    // process crashes in WAL mode and only risks the last commits on power loss.
    let mode =
        diesel::sql_query("PRAGMA journal_mode = WAL").get_result::<JournalMode>(&mut conn)?;
    if !mode.journal_mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::NoWal(mode.journal_mode));
    }
    conn.batch_execute(
        "PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -32768;
         PRAGMA temp_store = MEMORY;",
    )?;
    // Checkpoints run on their own thread (`checkpointer.rs`); this threshold, 64 MiB of WAL
    // instead of SQLite's 4 MiB, is only the backstop should they fall behind.
    conn.batch_execute("PRAGMA wal_autocheckpoint = 16384;")?;
    // Migrations may call them (see `line_functions.rs`).
    super::line_functions::register(&mut conn)?;
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(conn)
}

/// The background checkpointer's connection: it writes nothing but the database file's pages.
pub fn open_checkpointer(path: &Path) -> Result<SqliteConnection, DbError> {
    let mut conn = establish(path)?;
    conn.batch_execute("PRAGMA wal_autocheckpoint = 0;")?;
    Ok(conn)
}

/// A reading connection: it can never write, whatever query reaches it. Its page cache is
/// small (2 MiB): the pages queries revisit (the tops of the key trees) fit, and the lines a
/// page or an export fetches are scattered over the whole table, so a larger cache held
/// more memory (16 MiB a reader, 64 MiB for four after one export) for no measured speed.
pub fn open_reader(path: &Path) -> Result<SqliteConnection, DbError> {
    let mut conn = establish(path)?;
    conn.batch_execute(
        "PRAGMA query_only = ON;
         PRAGMA cache_size = -2048;",
    )?;
    Ok(conn)
}
