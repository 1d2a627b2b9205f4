//! `loggerator backup`: a consistent copy of the database while the service runs. `VACUUM
//! INTO` reads one snapshot (a read transaction, so the writer is never held up in WAL mode)
//! and writes it compacted to a new file, which is then a database of its own.

use std::path::Path;

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::connection::{create_private_new, establish};
use super::DbError;

/// Copies the database at `db` to `out`, a file that must not exist yet; returns its size.
pub fn backup(db: &Path, out: &Path) -> Result<u64, DbError> {
    if out.exists() {
        return Err(DbError::Backup(format!(
            "{} exists already; a backup goes to a new file",
            out.display()
        )));
    }
    if !db.exists() {
        return Err(DbError::Backup(format!(
            "there is no database at {}",
            db.display()
        )));
    }
    let mut conn = establish(db)?;
    // Made empty and private first (VACUUM INTO takes an empty file): SQLite would make it
    // as the umask says.
    // Created here, once: another process that made the file meanwhile gets an error, not a
    // copy written over its file.
    create_private_new(out).map_err(|e| DbError::Backup(format!("{}: {e}", out.display())))?;
    let copied = diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(out.to_string_lossy().into_owned())
        .execute(&mut conn);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(out);
        return Err(e.into());
    }
    Ok(std::fs::metadata(out).map_or(0, |m| m.len()))
}
