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
use std::time::Duration;

use actix::prelude::*;
use log::{error, info, warn};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::backoff::{Backoff, BackoffConfig};
use super::framing::{Frame, LineCodec};
use super::replay::ReplayGuard;
use super::status::{SourceState, SourceStatus};
use super::stoppable::StopOnCancel;
use crate::db::writer::{WriteBatch, WriteSummary};
use crate::entry::Entry;

#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Lines per batch; a batch is sent when it is full...
    pub batch_size: usize,
    /// ...or this long after its first line arrived, whichever comes first.
    pub flush_interval: Duration,
    pub max_line_bytes: usize,
    pub connect_timeout: Duration,
    pub backoff: BackoffConfig,
    /// Reconnect after the source closes the connection cleanly (by default a clean close means
    /// the source has sent everything, as loggerator does after `--count` lines).
    pub reconnect_after_eof: bool,
    /// Pause before retrying a batch the database refused.
    pub write_retry: Duration,
    /// Skip the lines a reconnection replays (see `replay.rs`) instead of storing them again.
    pub skip_replayed: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            batch_size: 50_000,
            flush_interval: Duration::from_millis(500),
            max_line_bytes: 64 * 1024,
            connect_timeout: Duration::from_secs(5),
            backoff: BackoffConfig {
                initial: Duration::from_millis(250),
                max: Duration::from_secs(30),
            },
            reconnect_after_eof: false,
            write_retry: Duration::from_secs(1),
            skip_replayed: true,
        }
    }
}

/// Stop reading, store every line already received, and answer once they are committed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Retries for a batch during shutdown: an operator stopping the service expects it to exit.
const SHUTDOWN_WRITE_ATTEMPTS: u32 = 3;

pub struct IngestActor {
    status: Arc<SourceStatus>,
    writer: Recipient<WriteBatch>,
    config: IngestConfig,
    backoff: Backoff,
    replay: ReplayGuard,
    pending: Vec<Entry>,
    /// The current connection's stream, and the token that stops its reader.
    stream: Option<(SpawnHandle, CancellationToken)>,
    flush_timer: Option<SpawnHandle>,
    /// The read error that ended the current stream, if one did.
    stream_error: Option<String>,
    /// Whether the current connection has delivered anything: one closed before any line did
    /// not reach the source.
    delivered: bool,
    /// Set by the supervisor's restart: the next start waits for the backoff delay.
    restarted: bool,
    shutting_down: bool,
    /// Cancelled by the service when shutdown begins.
    halt: CancellationToken,
    /// Answered once the last lines are committed.
    shutdown_replies: Vec<oneshot::Sender<()>>,
}

impl IngestActor {
    pub fn new(
        status: Arc<SourceStatus>,
        writer: Recipient<WriteBatch>,
        config: IngestConfig,
        halt: CancellationToken,
    ) -> Self {
        Self {
            status,
            writer,
            backoff: Backoff::new(config.backoff),
            replay: ReplayGuard::new(config.skip_replayed),
            pending: Vec::with_capacity(config.batch_size),
            config,
            stream: None,
            flush_timer: None,
            stream_error: None,
            delivered: false,
            restarted: false,
            shutting_down: false,
            halt,
            shutdown_replies: Vec::new(),
        }
    }

    pub fn start_supervised(
        status: Arc<SourceStatus>,
        writer: Recipient<WriteBatch>,
        config: IngestConfig,
        halt: CancellationToken,
    ) -> Addr<IngestActor> {
        Supervisor::start(move |_| IngestActor::new(status, writer, config, halt))
    }

    /// The same, on another arbiter (the service runs every source on one thread of its own).
    pub fn start_supervised_in(
        arbiter: &ArbiterHandle,
        status: Arc<SourceStatus>,
        writer: Recipient<WriteBatch>,
        config: IngestConfig,
        halt: CancellationToken,
    ) -> Addr<IngestActor> {
        Supervisor::start_in_arbiter(arbiter, move |_| {
            IngestActor::new(status, writer, config, halt)
        })
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.shutting_down || self.halt.is_cancelled() {
            return;
        }
        self.status.set_state(SourceState::Connecting);
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
        self.status.set_state(SourceState::Streaming);
        self.delivered = false;
        self.stream_error = None;
        self.replay.connected();
        let stop = self.halt.child_token();
        let reader = StopOnCancel::new(socket, stop.clone());
        let codec = LineCodec::new(self.config.max_line_bytes);
        let handle = ctx.add_stream(FramedRead::with_capacity(reader, codec, 64 * 1024));
        self.stream = Some((handle, stop));
    }

    /// Gives up on this connection: the supervisor restarts the actor, which reconnects later.
    fn fail(&mut self, reason: String, ctx: &mut Context<Self>) {
        warn!("source {}: {reason}", self.status.address);
        self.status.record_error(reason);
        self.status.set_state(SourceState::BackingOff);
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
        if let Some(timer) = self.flush_timer.take() {
            ctx.cancel_future(timer);
        }
        if self.pending.is_empty() {
            after(self, ctx);
            return;
        }
        let write = self.write();
        ctx.wait(write.into_actor(self).map(move |result, act, ctx| {
            act.record(result);
            after(act, ctx);
        }));
    }

    /// Takes the pending lines and writes them, retrying while the database refuses them
    /// (a few times only once shutdown has begun).
    fn write(
        &mut self,
    ) -> impl std::future::Future<Output = Result<WriteSummary, usize>> + 'static {
        let entries = Arc::new(mem::replace(
            &mut self.pending,
            Vec::with_capacity(self.config.batch_size),
        ));
        let halt = self.halt.clone();
        let writer = self.writer.clone();
        let status = self.status.clone();
        let retry = self.config.write_retry;
        async move {
            let mut attempts = 0;
            loop {
                attempts += 1;
                let batch = WriteBatch {
                    source_id: status.id,
                    entries: entries.clone(),
                };
                match writer.send(batch).await {
                    Ok(Ok(summary)) => return Ok(summary),
                    Ok(Err(e)) => {
                        error!(
                            "source {}: storing {} lines failed (attempt {attempts}): {e}",
                            status.address,
                            entries.len()
                        );
                        status.record_error(format!("store: {e}"));
                    }
                    Err(e) => {
                        error!(
                            "source {}: database writer unavailable: {e}",
                            status.address
                        );
                        return Err(entries.len());
                    }
                }
                if halt.is_cancelled() && attempts >= SHUTDOWN_WRITE_ATTEMPTS {
                    return Err(entries.len());
                }
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = halt.cancelled(), if attempts < SHUTDOWN_WRITE_ATTEMPTS => {}
                }
            }
        }
    }

    fn record(&mut self, result: Result<WriteSummary, usize>) {
        match result {
            Ok(summary) => self.status.add_committed(summary.stored, summary.rejected),
            Err(lost) => {
                error!(
                    "source {}: {lost} received lines could not be stored",
                    self.status.address
                );
                self.status.add_lost(lost as u64);
                self.status
                    .record_error(format!("{lost} received lines could not be stored"));
            }
        }
    }

    /// Whether the current connection's reader was stopped by us (Shutdown or halt), rather than
    /// the stream ending by itself.
    fn reader_stopped(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|(_, stop)| stop.is_cancelled())
    }

    /// The last lines are committed (or given up on): answer the Shutdown.
    fn stopped(&mut self) {
        if self.status.state() != SourceState::Finished {
            self.status.set_state(SourceState::Stopped);
        }
        for reply in self.shutdown_replies.drain(..) {
            let _ = reply.send(());
        }
    }
}

impl Actor for IngestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.shutting_down || self.halt.is_cancelled() {
            return;
        }
        if !self.restarted {
            self.connect(ctx);
            return;
        }
        let delay = self.backoff.next_delay();
        self.status.set_state(SourceState::BackingOff);
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
        self.restarted = true;
        // Handles belong to the context that was just torn down.
        self.stream = None;
        self.flush_timer = None;
    }
}

impl StreamHandler<Result<Frame, io::Error>> for IngestActor {
    fn handle(&mut self, item: Result<Frame, io::Error>, ctx: &mut Context<Self>) {
        let frame = match item {
            Ok(frame) => frame,
            Err(e) => {
                // FramedRead ends the stream after an I/O error; `finished` reconnects.
                self.stream_error = Some(e.to_string());
                return;
            }
        };
        self.delivered = true;
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
                self.pending.push(Entry::from_frame(frame));
            }
            frame => {
                self.status.add_received(1);
                let pending = &mut self.pending;
                let admitted = self
                    .replay
                    .admit(frame, |f| pending.push(Entry::from_frame(f)));
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
        if self.pending.len() >= self.config.batch_size {
            self.flush(ctx);
        } else if self.flush_timer.is_none() {
            self.flush_timer = Some(ctx.run_later(self.config.flush_interval, |act, ctx| {
                act.flush_timer = None;
                act.flush(ctx);
            }));
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        let stopped = self.reader_stopped();
        self.stream = None;
        self.status.add_replayed(self.replay.disconnected());
        if stopped {
            // Stopped for shutdown: store what was read; Shutdown is answered once that is done.
            self.flush_then(ctx, |act, _| act.stopped());
            return;
        }
        match self.stream_error.take() {
            Some(e) => self.flush_then(ctx, move |act, ctx| act.fail(format!("read: {e}"), ctx)),
            // A proxy in front of a source that is not up yet (Docker's, for one) accepts and
            // closes at once: that is not the end of the source's lines.
            None if !self.delivered => {
                self.fail("connection closed before any line".to_owned(), ctx)
            }
            None => self.flush_then(ctx, |act, ctx| {
                info!(
                    "source {}: end of stream after {} lines",
                    act.status.address,
                    act.status.snapshot().lines_received
                );
                if act.config.reconnect_after_eof {
                    act.status.set_state(SourceState::BackingOff);
                    ctx.stop();
                } else {
                    act.status.set_state(SourceState::Finished);
                }
            }),
        }
    }
}

impl Handler<Shutdown> for IngestActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        let (reply, replied) = oneshot::channel();
        self.shutdown_replies.push(reply);
        match &self.stream {
            // `finished` runs once the buffered lines are handled; it flushes and answers.
            Some((_, stop)) => stop.cancel(),
            None => self.flush_then(ctx, |act, _| act.stopped()),
        }
        Box::pin(async move {
            let _ = replied.await;
        })
    }
}
