//! The IngestActor: connects to one source, frames and parses its lines, and hands them to the
//! DbWriter in batches.
//!
//! It runs under actix's `Supervisor`: on a refused or broken connection it flushes what it has,
//! then stops, and the supervisor restarts it (same state) to reconnect after a backoff delay.
//! While a batch is being committed the actor waits (`ctx.wait`), so it reads nothing more from
//! the socket: memory stays bounded and TCP pushes back on a fast source.
//!
//! Shutdown comes in two steps. The service first cancels the `halt` token shared by all sources:
//! socket readers report end of stream, a connect in progress is abandoned, and retries of a
//! refused batch stop after a few attempts, even while the actor is busy inside `ctx.wait`.
//! Then [`Shutdown`] is answered once the lines already in the read buffer are committed.

use std::io;
use std::mem;
use std::sync::Arc;

use actix::prelude::*;
use log::{error, info, warn};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::config::IngestConfig;
use super::framing::{Frame, LineCodec};
use super::replay::ReplayGuard;
use super::status::{SourceState, SourceStatus};
use super::stoppable::StopOnCancel;
use crate::batch::{Entry, StreamMark, StreamProgress, WriteBatch, WriteSummary};
use crate::limits::READ_BUFFER_BYTES;

/// Stop reading, store every line already received, and answer once they are committed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Retries for a batch during shutdown: an operator stopping the service expects it to exit.
const SHUTDOWN_WRITE_ATTEMPTS: u32 = 3;

/// Where the actor is in a source's life; [`Phase::state`] is what `GET /sources` shows.
enum Phase {
    /// Starting, or connecting now.
    Connecting,
    Streaming(Connection),
    /// The connection ended: storing what it delivered before deciding what comes next.
    Closing,
    /// Waiting out the backoff delay before reconnecting (the supervisor restarts the actor
    /// in this phase, and `started` waits).
    BackingOff,
    /// The source closed the connection after its lines; it is not reconnected.
    Finished,
    /// Shutdown was asked for: the last lines are being stored.
    Stopping,
    /// Shut down with the service.
    Stopped,
}

/// One open connection to the source.
struct Connection {
    /// Stops the socket reader: cancelled by Shutdown (or, as a child, by the halt token).
    stop: CancellationToken,
    /// Whether it delivered anything: one closed before any line did not reach the source.
    delivered: bool,
    /// The read error that ended it, if one did.
    error: Option<String>,
}

impl Phase {
    fn state(&self) -> SourceState {
        match self {
            Phase::Connecting => SourceState::Connecting,
            // Still this connection's lines, as far as an operator is concerned.
            Phase::Streaming(_) | Phase::Closing => SourceState::Streaming,
            Phase::BackingOff => SourceState::BackingOff,
            Phase::Finished => SourceState::Finished,
            Phase::Stopping => SourceState::Stopping,
            Phase::Stopped => SourceState::Stopped,
        }
    }

    fn is_shutting_down(&self) -> bool {
        matches!(self, Phase::Stopping | Phase::Stopped)
    }
}

/// A batch given up on: its lines were received and will not be stored.
#[derive(Debug, Error)]
#[error("{lines} received lines could not be stored: {reason}")]
struct LinesLost {
    lines: usize,
    reason: String,
}

/// The lines waiting to be sent, their size, and the timer that sends them if no more come.
struct Pending {
    entries: Vec<Entry>,
    /// The lines' bytes: a batch is sent at `batch_bytes` too, so long lines cannot make one
    /// batch hold gigabytes.
    bytes: usize,
    timer: Option<SpawnHandle>,
}

impl Pending {
    fn push(&mut self, entry: Entry) {
        self.bytes += entry.line_bytes().len();
        self.entries.push(entry);
    }
}

pub struct IngestActor {
    status: Arc<SourceStatus>,
    writer: Recipient<WriteBatch>,
    config: IngestConfig,
    /// Cancelled by the service when shutdown begins.
    halt: CancellationToken,
    phase: Phase,
    backoff: Backoff,
    replay: ReplayGuard,
    pending: Pending,
    /// Answered once the last lines are committed.
    shutdown_replies: Vec<oneshot::Sender<()>>,
}

impl IngestActor {
    /// `committed` is the source's stream as the database last recorded it, if it did: the
    /// first connection then skips what was committed before (unless replays are kept).
    pub fn new(
        status: Arc<SourceStatus>,
        writer: Recipient<WriteBatch>,
        config: IngestConfig,
        halt: CancellationToken,
        committed: Option<StreamMark>,
    ) -> Self {
        let replay = match committed {
            Some(mark) if config.skip_replayed => ReplayGuard::resume(true, mark),
            _ => ReplayGuard::new(config.skip_replayed),
        };
        Self {
            status,
            writer,
            backoff: Backoff::new(config.backoff),
            replay,
            pending: Pending {
                entries: Vec::with_capacity(config.batch_size),
                bytes: 0,
                timer: None,
            },
            config,
            halt,
            phase: Phase::Connecting,
            shutdown_replies: Vec::new(),
        }
    }

    /// Starts the actor under a `Supervisor`, on the current arbiter.
    pub fn start_supervised(self) -> Addr<IngestActor> {
        Supervisor::start(move |_| self)
    }

    /// The same on `arbiter` (the service runs every source on one thread of its own).
    pub fn start_supervised_in(self, arbiter: &ArbiterHandle) -> Addr<IngestActor> {
        Supervisor::start_in_arbiter(arbiter, move |_| self)
    }

    /// Every change of phase goes through here, so `GET /sources` always shows the phase (the
    /// one exception, `finished` moving Streaming to Closing, shows the same state).
    fn enter(&mut self, phase: Phase) {
        self.status.set_state(phase.state());
        self.phase = phase;
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.phase.is_shutting_down() || self.halt.is_cancelled() {
            return;
        }
        self.enter(Phase::Connecting);
        self.status.add_attempt();
        let address = self.status.address.clone();
        let timeout = self.config.connect_timeout;
        let halt = self.halt.clone();
        let connecting = async move {
            tokio::select! {
                result = tokio::time::timeout(timeout, TcpStream::connect(address)) => Some(result),
                _ = halt.cancelled() => None,
            }
        };
        ctx.wait(
            connecting
                .into_actor(self)
                .map(|result, act, ctx| match result {
                    // Shutting down: the Shutdown message, next in line, answers.
                    None => {}
                    Some(Ok(Ok(socket))) => act.stream_from(socket, ctx),
                    Some(Ok(Err(e))) => act.fail(format!("connect: {e}"), ctx),
                    Some(Err(_)) => act.fail("connect: timed out".to_owned(), ctx),
                }),
        );
    }

    fn stream_from(&mut self, socket: TcpStream, ctx: &mut Context<Self>) {
        info!("source {}: connected", self.status.address);
        self.replay.connected();
        let stop = self.halt.child_token();
        let reader = StopOnCancel::new(socket, stop.clone());
        let codec = LineCodec::new(self.config.max_line_bytes);
        // The stream ends with the context should the supervisor restart the actor.
        ctx.add_stream(FramedRead::with_capacity(reader, codec, READ_BUFFER_BYTES));
        self.enter(Phase::Streaming(Connection {
            stop,
            delivered: false,
            error: None,
        }));
    }

    /// Gives up on this connection: the supervisor restarts the actor, which reconnects later.
    fn fail(&mut self, reason: String, ctx: &mut Context<Self>) {
        warn!("source {}: {reason}", self.status.address);
        self.status.record_error(reason);
        self.enter(Phase::BackingOff);
        ctx.stop();
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.flush_then(ctx, |_, _| {});
    }

    /// Sends the pending lines and waits for their commit before anything else happens here,
    /// then runs `after`.
    fn flush_then<F>(&mut self, ctx: &mut Context<Self>, after: F)
    where
        F: FnOnce(&mut Self, &mut Context<Self>) + 'static,
    {
        if let Some(timer) = self.pending.timer.take() {
            ctx.cancel_future(timer);
        }
        if self.pending.entries.is_empty() {
            after(self, ctx);
            return;
        }
        let write = self.write();
        ctx.wait(write.into_actor(self).map(move |result, act, ctx| {
            act.record(result);
            after(act, ctx);
        }));
    }

    /// Takes the pending lines and writes them. Whatever the failure (a full disk, a locked or
    /// read-only database, a batch refused, a writer recovering from a panic or gone), the same batch is sent
    /// again after a capped, growing pause, and nothing else happens here meanwhile: the
    /// socket is not read, so TCP pushes back on the source, and ingest resumes by itself once
    /// the database takes the batch. Lines are given up on only at shutdown, after a few
    /// attempts: an operator stopping the service expects it to exit.
    fn write(&mut self) -> impl std::future::Future<Output = Result<WriteSummary, LinesLost>> {
        let entries = Arc::new(mem::replace(
            &mut self.pending.entries,
            Vec::with_capacity(self.config.batch_size),
        ));
        self.pending.bytes = 0;
        let halt = self.halt.clone();
        let writer = self.writer.clone();
        let status = self.status.clone();
        let mut backoff = Backoff::new(self.config.write_retry);
        let stream = self.replay.mark();
        async move {
            let mut attempts = 0;
            loop {
                attempts += 1;
                let batch = WriteBatch {
                    source_id: status.id,
                    entries: entries.clone(),
                    stream: StreamProgress::Source(stream.clone()),
                };
                let sent = writer.send(batch);
                let reason = match status.waiting_for_writer(sent).await {
                    Ok(Ok(summary)) => {
                        if attempts > 1 {
                            info!(
                                "source {}: stored after {attempts} attempts; reading on",
                                status.address
                            );
                        }
                        return Ok(summary);
                    }
                    Ok(Err(e)) => e.to_string(),
                    // A closed mailbox: the writer is gone. Tried again all the same, and
                    // counted lost only at shutdown, like any other failure.
                    Err(e) => format!("the database writer is unavailable: {e}"),
                };
                error!(
                    "source {}: storing {} lines failed (attempt {attempts}): {reason}",
                    status.address,
                    entries.len()
                );
                status.record_error(format!("store: {reason}"));
                if halt.is_cancelled() && attempts >= SHUTDOWN_WRITE_ATTEMPTS {
                    return Err(LinesLost {
                        lines: entries.len(),
                        reason,
                    });
                }
                let pause = backoff.next_delay();
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = halt.cancelled(), if attempts < SHUTDOWN_WRITE_ATTEMPTS => {}
                }
            }
        }
    }

    fn record(&mut self, result: Result<WriteSummary, LinesLost>) {
        match result {
            Ok(summary) => self.status.add_committed(summary.stored, summary.rejected),
            Err(lost) => {
                error!("source {}: {lost}", self.status.address);
                self.status.add_lost(lost.lines as u64);
                self.status.record_error(lost.to_string());
            }
        }
    }

    /// Whether the current connection's reader was stopped by us (Shutdown or halt), rather than
    /// the stream ending by itself.
    fn reader_stopped(&self) -> bool {
        matches!(&self.phase, Phase::Streaming(c) if c.stop.is_cancelled())
    }

    /// The last lines are committed (or given up on): answer the Shutdown.
    fn answer_shutdown(&mut self) {
        if !matches!(self.phase, Phase::Finished) {
            self.enter(Phase::Stopped);
        }
        for reply in self.shutdown_replies.drain(..) {
            let _ = reply.send(());
        }
    }

    /// Adds a received line to the batch; sends the batch when full, or arms its timer.
    fn take(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        match frame {
            Frame::Unterminated { length, .. } if self.reader_stopped() => {
                // The reader was stopped in the middle of a line: it was never received whole.
                info!(
                    "source {}: {length} bytes of an incomplete line left at shutdown",
                    self.status.address
                );
                return;
            }
            Frame::Unterminated { .. } => {
                self.status.add_received(1);
                if self.replay.keep_cut_short() {
                    self.pending.push(frame.into_entry());
                } else {
                    self.status.add_replayed(1);
                }
            }
            frame => {
                self.status.add_received(1);
                let pending = &mut self.pending;
                let admitted = self.replay.admit(frame, |f| pending.push(f.into_entry()));
                if admitted.replayed > 0 {
                    self.status.add_replayed(admitted.replayed);
                }
                if admitted.new > 0 {
                    // Only new lines show the source is healthy: a connection that breaks after
                    // replaying what was already stored must keep backing off.
                    self.backoff.reset();
                }
            }
        }
        if self.pending.entries.len() >= self.config.batch_size
            || self.pending.bytes >= self.config.batch_bytes
        {
            self.flush(ctx);
        } else if self.pending.timer.is_none() {
            self.pending.timer = Some(ctx.run_later(self.config.flush_interval, |act, ctx| {
                act.pending.timer = None;
                act.flush(ctx);
            }));
        }
    }
}

impl Actor for IngestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.phase.is_shutting_down() || self.halt.is_cancelled() {
            return;
        }
        if !matches!(self.phase, Phase::BackingOff) {
            self.connect(ctx);
            return;
        }
        let delay = self.backoff.next_delay();
        info!(
            "source {}: reconnecting in {} ms",
            self.status.address,
            delay.as_millis()
        );
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
    }
}

impl Supervised for IngestActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // Handles belong to the context that was just torn down; `started` waits out the
        // backoff before connecting again.
        self.pending.timer = None;
        if !self.phase.is_shutting_down() {
            self.enter(Phase::BackingOff);
        }
    }
}

impl StreamHandler<Result<Frame, io::Error>> for IngestActor {
    fn handle(&mut self, item: Result<Frame, io::Error>, ctx: &mut Context<Self>) {
        let Phase::Streaming(connection) = &mut self.phase else {
            return;
        };
        match item {
            Ok(frame) => {
                connection.delivered = true;
                self.take(frame, ctx);
            }
            // FramedRead ends the stream after an I/O error; `finished` reconnects.
            Err(e) => connection.error = Some(e.to_string()),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        let Phase::Streaming(connection) = mem::replace(&mut self.phase, Phase::Closing) else {
            return;
        };
        self.status.add_replayed(self.replay.disconnected());
        if connection.stop.is_cancelled() {
            // Stopped for shutdown: store what was read; Shutdown is answered once that is done.
            self.enter(Phase::Stopping);
            self.flush_then(ctx, |act, _| act.answer_shutdown());
            return;
        }
        match connection.error {
            Some(e) => self.flush_then(ctx, move |act, ctx| act.fail(format!("read: {e}"), ctx)),
            // A proxy in front of a source that is not up yet (Docker's, for one) accepts and
            // closes at once: that is not the end of the source's lines.
            None if !connection.delivered => {
                self.fail("connection closed before any line".to_owned(), ctx)
            }
            None => self.flush_then(ctx, |act, ctx| {
                info!(
                    "source {}: end of stream after {} lines",
                    act.status.address,
                    act.status.snapshot().lines_received
                );
                if act.config.reconnect_after_eof {
                    act.enter(Phase::BackingOff);
                    ctx.stop();
                } else {
                    act.enter(Phase::Finished);
                }
            }),
        }
    }
}

impl Handler<Shutdown> for IngestActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, replied) = oneshot::channel();
        self.shutdown_replies.push(reply);
        match &self.phase {
            // `finished` runs once the buffered lines are handled; it flushes and answers.
            Phase::Streaming(connection) => connection.stop.cancel(),
            Phase::Finished => self.flush_then(ctx, |act, _| act.answer_shutdown()),
            _ => {
                self.enter(Phase::Stopping);
                self.flush_then(ctx, |act, _| act.answer_shutdown());
            }
        }
        Box::pin(async move {
            let _ = replied.await;
        })
    }
}
