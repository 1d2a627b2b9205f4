//! Starting the actors that own a database connection (writer, checkpointer, readers) on
//! threads of their own, in a way that can replace one.
//!
//! actix's `SyncArbiter` calls its factory on each thread when the thread starts and again
//! whenever that thread's actor stops. So the factory here opens a fresh connection every time:
//! the first actors are built up front (an error is reported to the caller before anything
//! runs), and any later call, which means an actor stopped, builds a replacement, retrying
//! while the database cannot be opened.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use log::{error, info};

use super::DbError;

/// Between attempts to open a replacement connection: long enough not to spin on a database
/// that stays unreachable, short enough that ingest resumes soon after it comes back.
const REOPEN_DELAY: Duration = Duration::from_secs(1);

/// The CPU priority of an actor's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadPriority {
    /// Readers: queries come first.
    Normal,
    /// The writer, the checkpointer and the compactor: ingest takes the time queries leave
    /// (`crate::priority`).
    Lower,
}

/// Starts `threads` actors built by `open`, each on its own thread at `priority`.
pub fn start_sync_actors<A, F>(
    name: &'static str,
    threads: usize,
    priority: ThreadPriority,
    open: F,
) -> Result<Addr<A>, DbError>
where
    A: Actor<Context = SyncContext<A>> + Send,
    F: Fn() -> Result<A, DbError> + Send + Sync + 'static,
{
    let threads = threads.max(1);
    let first: Vec<A> = (0..threads).map(|_| open()).collect::<Result<_, _>>()?;
    let first = Mutex::new(first);
    let open = Arc::new(open);
    Ok(SyncArbiter::start(threads, move || {
        crate::priority::name_thread(name);
        if priority == ThreadPriority::Lower {
            crate::priority::lower_priority(name);
        }
        let prepared = first.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(actor) = prepared {
            return actor;
        }
        info!("{name}: replacing a stopped actor with a fresh connection");
        loop {
            match open() {
                Ok(actor) => return actor,
                Err(e) => {
                    error!("{name}: cannot open a connection for a replacement: {e}");
                    std::thread::sleep(REOPEN_DELAY);
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Counts how many were built; stops when told to.
    struct Probe {
        serial: u32,
    }

    impl Actor for Probe {
        type Context = SyncContext<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "u32")]
    struct Serial;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Stop;

    impl Handler<Serial> for Probe {
        type Result = u32;

        fn handle(&mut self, _: Serial, _: &mut SyncContext<Self>) -> u32 {
            self.serial
        }
    }

    impl Handler<Stop> for Probe {
        type Result = ();

        fn handle(&mut self, _: Stop, ctx: &mut SyncContext<Self>) {
            ctx.stop();
        }
    }

    #[actix_rt::test]
    async fn a_stopped_actor_is_replaced_by_a_fresh_one() {
        let built = Arc::new(AtomicU32::new(0));
        let counter = built.clone();
        let addr = start_sync_actors("probe", 1, ThreadPriority::Normal, move || {
            Ok(Probe {
                serial: counter.fetch_add(1, Ordering::SeqCst) + 1,
            })
        })
        .unwrap();
        assert_eq!(addr.send(Serial).await.unwrap(), 1);
        addr.send(Stop).await.unwrap();
        // The same address answers, from an actor built after the first one stopped.
        assert_eq!(addr.send(Serial).await.unwrap(), 2);
        assert_eq!(built.load(Ordering::SeqCst), 2);
    }

    #[actix_rt::test]
    async fn a_failure_to_build_the_first_actors_is_reported() {
        let result = start_sync_actors::<Probe, _>("probe", 2, ThreadPriority::Normal, || {
            Err(DbError::Migration("no".to_owned()))
        });
        assert!(matches!(result, Err(DbError::Migration(_))));
    }
}
