//! The WalCheckpointer actor: copies committed pages from the WAL back into the database file
//! on a thread and connection of its own, so the writer's thread spends its time inserting.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the threshold, on the
//! writer's thread: about an eighth of its time at full ingest speed. Here the writer only
//! nudges this actor after each commit, and keeps a far larger automatic threshold as a
//! backstop should these passive checkpoints fall behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::time::Instant;

use actix::prelude::*;
use diesel::connection::SimpleConnection;
use diesel::SqliteConnection;
use log::warn;
use prometheus_client::metrics::histogram::Histogram;

use super::connection::open_checkpointer;
use super::sync_actors::{start_sync_actors, ThreadPriority};
use super::DbError;

pub struct WalCheckpointer {
    conn: SqliteConnection,
    /// Each checkpoint's time, when measured.
    timing: Option<Histogram>,
    /// Set by the writer when it asks for a checkpoint, cleared when one starts: at most one
    /// request waits in the mailbox, however fast the writer commits.
    requested: Arc<AtomicBool>,
}

/// The writer's side: a cheap, non-blocking way to ask for a checkpoint.
#[derive(Clone)]
pub struct CheckpointHandle {
    addr: Addr<WalCheckpointer>,
    requested: Arc<AtomicBool>,
}

impl CheckpointHandle {
    pub fn request(&self) {
        if !self.requested.swap(true, Ordering::AcqRel) {
            self.addr.do_send(CatchUp);
        }
    }
}

impl WalCheckpointer {
    /// Starts the checkpointer on a thread of its own, at a lower priority, with a connection
    /// of its own (a fresh one should it ever stop).
    pub fn start(path: &Path, timing: Option<Histogram>) -> Result<CheckpointHandle, DbError> {
        let requested = Arc::new(AtomicBool::new(false));
        let flag = requested.clone();
        let path: PathBuf = path.to_owned();
        let addr = start_sync_actors("checkpointer", 1, ThreadPriority::Lower, move || {
            Ok(WalCheckpointer {
                conn: open_checkpointer(&path)?,
                requested: flag.clone(),
                timing: timing.clone(),
            })
        })?;
        Ok(CheckpointHandle { addr, requested })
    }
}

impl Actor for WalCheckpointer {
    type Context = SyncContext<Self>;
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CatchUp;

impl Handler<CatchUp> for WalCheckpointer {
    type Result = ();

    fn handle(&mut self, _: CatchUp, _: &mut Self::Context) {
        self.requested.store(false, Ordering::Release);
        // PASSIVE never waits for the writer or readers; what it cannot copy now, the next
        // request will.
        let started = Instant::now();
        if let Err(e) = self.conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
            warn!("background checkpoint failed: {e}");
        }
        if let Some(timing) = &self.timing {
            timing.observe(started.elapsed().as_secs_f64());
        }
    }
}
