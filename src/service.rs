//! Wires the actors and the HTTP server together, and takes them down in an order that loses
//! nothing: stop taking requests, flush every source, checkpoint the database.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::ServerHandle;
use actix_web::{middleware, web, App, HttpServer};
use futures_util::future::join_all;
use log::{error, info, warn};
use thiserror::Error;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use utoipa_actix_web::AppExt;

use crate::batch::StreamMark;
use crate::db::blocks::cache::BlockCache;
use crate::db::checkpointer::WalCheckpointer;
use crate::db::connection::open_writer;
use crate::db::health::StorageHealth;
use crate::db::lock::{DbLock, LockError};
use crate::db::metrics::CompactionMetrics;
use crate::db::metrics::StorageMetrics;
use crate::db::read::reader::Reader;
use crate::db::read::tail::tail_channel;
use crate::db::write::compactor::{self, CompactionConfig};
use crate::db::write::retention::RetentionRules;
use crate::db::write::retention_schedule;
use crate::db::write::writer::{
    pushed_sources, Checkpoint, DbWriter, RegisterSource, WriterHooks, PUSHED_PREFIX,
};
use crate::db::DbError;
use crate::http::auth::AllowedHosts;
use crate::http::caps::{Caps, CapsConfig};
use crate::http::metrics::{FilesCollector, HttpMetrics, SourcesCollector};
use crate::http::{self, AppState, ReaderPool};
use crate::ingest::push::PushConfig;
use crate::ingest::{IngestActor, IngestConfig, Shutdown, SourceList, SourceStatus};
use crate::tls::{server_config, TlsError};
use crate::tokens::{TokenStore, TokensError};
use prometheus_client::registry::Registry;

/// How long shutdown waits for the sources' last lines to be committed.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub sources: Vec<String>,
    pub db: PathBuf,
    pub listen: String,
    pub readers: usize,
    pub http_workers: usize,
    pub query_timeout: Duration,
    pub max_queries_in_flight: usize,
    /// How often an idle live-tail stream gets a keep-alive comment.
    pub tail_keep_alive: Duration,
    /// Tokens and their scopes; `None`: no access control.
    pub tokens_file: Option<PathBuf>,
    /// Serve beyond loopback without tokens.
    pub allow_unauthenticated: bool,
    /// Host names a request without tokens may give, besides loopback ones and the listen
    /// address's.
    pub allowed_hosts: Vec<String>,
    /// What clients can make the service hold.
    pub caps: CapsConfig,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<TlsFiles>,
    /// Bytes of lines one `POST /ingest` body may hold.
    pub max_push_bytes: u64,
    /// Rows per storage segment (see `db::write::store`).
    pub segment_rows: u64,
    /// An open segment idle this long is sealed, and then compacted (see `db::write::compactor`).
    pub seal_idle: Duration,
    /// Bytes of decoded blocks the readers keep.
    pub block_cache_bytes: u64,
    /// What to delete, and how often to look (see `db::write::retention`).
    pub retention: RetentionRules,
    pub retention_check: Duration,
    pub ingest: IngestConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("the database writer stopped during start-up")]
    WriterGone,
    #[error(
        "--source {address}: addresses starting with {PUSHED_PREFIX:?} name pushed sources; \
         give the host by another name or its IP address"
    )]
    ReservedSource { address: String },
    #[error(transparent)]
    Tokens(#[from] TokensError),
    #[error(
        "refusing to serve {address} without tokens: anyone who can reach it could read every \
         log. Give --tokens-file (see `loggerator token new`), listen on a loopback address, or \
         pass --allow-unauthenticated if the network is trusted"
    )]
    Unauthenticated { address: String },
    #[error("cannot resolve the listen address {address}: {source}")]
    Resolve {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

pub struct Service {
    pub http_addr: SocketAddr,
    pub sources: Vec<Arc<SourceStatus>>,
    server: ServerHandle,
    ingesters: Vec<Addr<IngestActor>>,
    ingest_thread: Arbiter,
    /// Cancelled at shutdown: every source stops reading at once, whatever it is busy with.
    halt: CancellationToken,
    writer: Addr<DbWriter>,
    pub health: Arc<StorageHealth>,
    /// Released last, once the writer is done with the database.
    lock: DbLock,
}

/// The tokens, if configured; refuses to listen beyond loopback without them unless allowed,
/// and warns of tokens sent in clear text beyond loopback.
fn access_control(config: &ServiceConfig) -> Result<Option<Arc<TokenStore>>, StartError> {
    let tokens = match &config.tokens_file {
        Some(path) => Some(Arc::new(TokenStore::open(path)?)),
        None => None,
    };
    let addresses: Vec<SocketAddr> = config
        .listen
        .to_socket_addrs()
        .map_err(|source| StartError::Resolve {
            address: config.listen.clone(),
            source,
        })?
        .collect();
    let exposed = addresses.iter().any(|a| !a.ip().is_loopback());
    match (&tokens, exposed) {
        (None, true) if !config.allow_unauthenticated => {
            return Err(StartError::Unauthenticated {
                address: config.listen.clone(),
            })
        }
        (None, true) => warn!(
            "!!! serving {} WITHOUT ACCESS CONTROL (--allow-unauthenticated): anyone who can \
             reach it can read every log line !!!",
            config.listen
        ),
        (Some(_), true) if config.tls.is_none() => warn!(
            "tokens reach {} over plain HTTP, readable by anyone on the path: put a TLS \
             proxy in front beyond a trusted network",
            config.listen
        ),
        _ => {}
    }
    if let Some(tokens) = &tokens {
        info!("access control on: {} tokens", tokens.current().len());
    }
    Ok(tokens)
}

/// Reads the tokens file again at each SIGHUP, until `halt`; a file that does not load leaves
/// the tokens in force.
async fn reload_on_hangup(tokens: Arc<TokenStore>, halt: CancellationToken) {
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => return warn!("SIGHUP will not reload the tokens file: {e}"),
    };
    loop {
        tokio::select! {
            _ = halt.cancelled() => return,
            _ = hangups.recv() => match tokens.reload() {
                Ok(count) => info!("SIGHUP: tokens file read again, {count} tokens"),
                Err(e) => error!("SIGHUP: the tokens in force stay: {e}"),
            },
        }
    }
}

/// Why the service ended badly, for the exit code.
#[derive(Debug, Error)]
pub enum Failed {
    #[error("{0} received lines could not be stored")]
    LinesLost(u64),
    #[error("{reason}; {lost} received lines could not be stored")]
    GaveUp { reason: String, lost: u64 },
}

/// The storage side of a running service: the writer and what feeds and watches it.
struct Storage {
    writer: Addr<DbWriter>,
    readers: Addr<Reader>,
    block_cache: Arc<BlockCache>,
    health: Arc<StorageHealth>,
    tail: crate::db::read::tail::TailSender,
    storage_metrics: StorageMetrics,
    compaction_metrics: CompactionMetrics,
    /// Sources that push lines, with their counters as stored.
    pushed: Vec<(String, crate::db::write::writer::SourceRecord)>,
}

/// A source to ingest from, and its stream as last committed.
type Resumed = (Arc<SourceStatus>, Option<StreamMark>);

impl Storage {
    /// Creates and migrates the database first, so that its errors are reported before any
    /// of the actors' threads starts (they open connections of their own).
    fn open(config: &ServiceConfig) -> Result<Storage, StartError> {
        let pushed = pushed_sources(&mut open_writer(&config.db)?)?;
        let storage_metrics = StorageMetrics::default();
        let compaction_metrics = CompactionMetrics::default();
        let checkpointer =
            WalCheckpointer::start(&config.db, Some(storage_metrics.checkpoint_seconds.clone()))?;
        let health = Arc::new(StorageHealth::default());
        let tail = tail_channel();
        let writer = DbWriter::start_with_hooks(
            &config.db,
            config.segment_rows,
            Some(checkpointer),
            health.clone(),
            WriterHooks {
                tail: Some(tail.clone()),
                metrics: Some(storage_metrics.clone()),
                compaction: Some(compaction_metrics.clone()),
            },
        )?;
        let block_cache = Arc::new(BlockCache::new(config.block_cache_bytes));
        let readers = Reader::start_pool(&config.db, config.readers, block_cache.clone())?;
        Ok(Storage {
            writer,
            readers,
            block_cache,
            health,
            tail,
            storage_metrics,
            compaction_metrics,
            pushed,
        })
    }

    /// Each configured source once, registered, with its stream as last committed.
    async fn register_sources(&self, addresses: &[String]) -> Result<Vec<Resumed>, StartError> {
        let mut sources: Vec<Resumed> = Vec::new();
        for address in addresses {
            if sources.iter().any(|(s, _)| &s.address == address) {
                warn!("source {address} is listed twice; connecting once");
                continue;
            }
            let record = self
                .writer
                .send(RegisterSource {
                    address: address.clone(),
                })
                .await
                .map_err(|_| StartError::WriterGone)??;
            sources.push((
                SourceStatus::resumed(
                    record.id,
                    address.clone(),
                    record.lines_stored,
                    record.lines_rejected,
                ),
                record.committed,
            ));
        }
        Ok(sources)
    }

    /// Every source's status, pushed ones included, for the API and `/metrics`.
    fn source_list(&self, sources: &[Resumed]) -> SourceList {
        let list = SourceList::new(sources.iter().map(|(s, _)| s.clone()).collect());
        for (address, record) in &self.pushed {
            list.pushed(
                record.id,
                address,
                record.lines_stored,
                record.lines_rejected,
            );
        }
        list
    }

    /// The registry `/metrics` encodes: storage, compaction, HTTP, sources and files.
    fn registry(
        &self,
        config: &ServiceConfig,
        http: &HttpMetrics,
        sources: &SourceList,
    ) -> Registry {
        let mut registry = Registry::with_prefix("loggerator");
        self.storage_metrics.register(&mut registry);
        self.compaction_metrics.register(&mut registry);
        registry.register(
            "block_corrupt_reads",
            "Reads of a compacted block that failed its checksum",
            self.block_cache.corrupt_reads.clone(),
        );
        http.register(&mut registry);
        registry.register_collector(Box::new(SourcesCollector(sources.clone())));
        registry.register_collector(Box::new(FilesCollector(config.db.clone())));
        registry
    }
}

/// What the HTTP handlers share.
fn app_state(
    config: &ServiceConfig,
    storage: &Storage,
    sources: SourceList,
    tokens: Option<Arc<TokenStore>>,
    halt: &CancellationToken,
) -> web::Data<AppState> {
    let http_metrics = HttpMetrics::default();
    let registry = storage.registry(config, &http_metrics, &sources);
    web::Data::new(AppState {
        readers: ReaderPool::new(
            storage.readers.clone(),
            config.max_queries_in_flight,
            config.query_timeout,
        ),
        sources,
        health: storage.health.clone(),
        block_cache: storage.block_cache.clone(),
        tail: storage.tail.clone(),
        tail_keep_alive: config.tail_keep_alive,
        halt: halt.clone(),
        tokens,
        allowed_hosts: AllowedHosts::new(&config.listen, &config.allowed_hosts),
        metrics: Arc::new(registry),
        http_metrics,
        writer: storage.writer.clone(),
        push: PushConfig {
            batch_lines: config.ingest.batch_size,
            batch_bytes: config.ingest.batch_bytes,
            max_line_bytes: config.ingest.max_line_bytes,
            max_body_bytes: config.max_push_bytes,
        },
        pushes: Default::default(),
        caps: Caps::new(config.caps),
    })
}

/// Binds the listen address and serves the API on the current System; returns the bound
/// address and the server's handle.
fn serve_http(
    config: &ServiceConfig,
    state: web::Data<AppState>,
    tls: Option<rustls::ServerConfig>,
) -> Result<(SocketAddr, ServerHandle), StartError> {
    let listen_error = |source| StartError::Listen {
        address: config.listen.clone(),
        source,
    };
    let server = HttpServer::new(move || {
        let (app, document) = App::new()
            .into_utoipa_app()
            .openapi(http::document())
            .configure(http::routes)
            .split_for_parts();
        app.app_data(state.clone())
            .configure(http::ui::routes)
            .configure(|cfg| http::docs(cfg, document))
            // No answer is ever to be sniffed into something it is not (a line as HTML).
            .wrap(middleware::DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
            .wrap(middleware::from_fn(http::metrics::record))
            .wrap(middleware::Compress::default())
            // The request line without tokens (`%r` would log an `access_token`).
            .wrap(
                middleware::Logger::new(http::request_log::FORMAT)
                    .custom_request_replace("request", http::request_log::logged_request_line),
            )
    })
    // Signals are ours to handle: shutdown must also flush the sources.
    .disable_signals()
    .shutdown_timeout(5)
    .workers(config.http_workers.max(1));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = match tls {
        Some(tls) => server.bind_rustls_0_23(&config.listen, tls),
        None => server.bind(&config.listen),
    }
    .map_err(listen_error)?;
    let http_addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(async move {
        if let Err(e) = server.await {
            error!("HTTP server failed: {e}");
        }
    });
    info!("serving the API on {scheme}://{http_addr}");
    Ok((http_addr, handle))
}

/// Compaction and retention, each its own actor or task at ingest's priority.
fn start_background(
    config: &ServiceConfig,
    storage: &Storage,
    halt: &CancellationToken,
) -> Result<(), StartError> {
    compactor::start(
        &config.db,
        storage.writer.clone(),
        CompactionConfig {
            seal_idle: config.seal_idle,
        },
        storage.compaction_metrics.clone(),
        halt.clone(),
    )?;
    retention_schedule::start(
        storage.writer.clone(),
        config.retention,
        config.retention_check,
        halt.clone(),
    );
    Ok(())
}

/// One supervised IngestActor per source, on a thread of its own: framing and parsing run at a
/// lower priority, like the writer, so that under load queries come first.
fn start_ingest(
    config: &ServiceConfig,
    sources: &[Resumed],
    writer: &Addr<DbWriter>,
    halt: &CancellationToken,
) -> (Arbiter, Vec<Addr<IngestActor>>) {
    let ingest_thread = Arbiter::new();
    ingest_thread.spawn_fn(|| {
        crate::priority::name_thread("ingest");
        crate::priority::lower_priority("ingest");
    });
    let ingesters = sources
        .iter()
        .map(|(status, committed)| {
            IngestActor::new(
                status.clone(),
                writer.clone().recipient(),
                config.ingest.clone(),
                halt.clone(),
                committed.clone(),
            )
            .start_supervised_in(&ingest_thread.handle())
        })
        .collect();
    (ingest_thread, ingesters)
}

impl Service {
    /// Starts the service in the order that lets it answer for everything it receives: storage,
    /// the API, background work, and the sources last. Must run inside an actix System.
    pub async fn start(config: ServiceConfig) -> Result<Service, StartError> {
        if let Some(address) = config.sources.iter().find(|a| a.starts_with(PUSHED_PREFIX)) {
            return Err(StartError::ReservedSource {
                address: address.clone(),
            });
        }
        let tokens = access_control(&config)?;
        let tls = match &config.tls {
            Some(files) => Some(server_config(&files.cert, &files.key)?),
            None => None,
        };
        let lock = DbLock::acquire(&config.db)?;
        let storage = Storage::open(&config)?;
        let sources = storage.register_sources(&config.sources).await?;
        // Cancelled at shutdown: every source stops reading, and every live tail ends.
        let halt = CancellationToken::new();
        if let Some(tokens) = &tokens {
            actix_rt::spawn(reload_on_hangup(tokens.clone(), halt.clone()));
        }
        let state = app_state(
            &config,
            &storage,
            storage.source_list(&sources),
            tokens,
            &halt,
        );
        let (http_addr, server) = serve_http(&config, state, tls)?;
        start_background(&config, &storage, &halt)?;
        // Ingest starts last, so nothing is received before the service can answer for it.
        let (ingest_thread, ingesters) = start_ingest(&config, &sources, &storage.writer, &halt);
        Ok(Service {
            http_addr,
            sources: sources.into_iter().map(|(status, _)| status).collect(),
            server,
            ingesters,
            ingest_thread,
            halt,
            writer: storage.writer,
            health: storage.health,
            lock,
        })
    }

    /// Stops accepting requests and reading sources, stores every line already received, and
    /// checkpoints the WAL. Returns how many received lines could not be stored.
    pub async fn shutdown(self) -> u64 {
        info!(
            "shutting down: stopping the HTTP server and flushing {} sources",
            self.ingesters.len()
        );
        // Every source stops reading at once; each then commits what it holds.
        self.halt.cancel();
        let flushes = join_all(self.ingesters.iter().map(|i| i.send(Shutdown)));
        let (_, flushed) = tokio::join!(
            self.server.stop(true),
            // A database that keeps refusing writes must not keep the process from exiting.
            tokio::time::timeout(FLUSH_TIMEOUT, flushes)
        );
        match flushed {
            Err(_) => error!(
                "sources could not store their last lines within {} s",
                FLUSH_TIMEOUT.as_secs()
            ),
            Ok(results) if results.iter().any(Result::is_err) => {
                error!("an ingest actor was gone before it could flush")
            }
            Ok(_) => {}
        }
        self.ingest_thread.stop();
        match self.writer.send(Checkpoint).await {
            Ok(Ok(())) => info!("database checkpointed"),
            Ok(Err(e)) => warn!("final checkpoint failed (the data is safe in the WAL): {e}"),
            Err(_) => error!("the database writer was gone before the final checkpoint"),
        }
        // The writer's thread may still be closing its connection; the next holder of the lock
        // only needs the committed data, which the checkpoint above has made whole.
        drop(self.lock);
        self.sources
            .iter()
            .map(|s| {
                let s = s.snapshot();
                info!(
                    "source {}: received {}, stored {}, rejected {}, replayed {}, lost {}",
                    s.address,
                    s.lines_received,
                    s.lines_stored,
                    s.lines_rejected,
                    s.lines_replayed,
                    s.lines_lost
                );
                // Lines still held by a source that did not finish flushing are lost too.
                s.lines_lost
                    + s.lines_received.saturating_sub(
                        s.lines_stored + s.lines_rejected + s.lines_replayed + s.lines_lost,
                    )
            })
            .sum()
    }
}

/// Runs until SIGINT or SIGTERM (or until the database cannot be opened again), then shuts
/// down; a second signal exits at once. Fails when received lines could not be stored.
pub async fn run_until_signal(
    service: Service,
    mut signals: ShutdownSignals,
) -> Result<(), Failed> {
    let health = service.health.clone();
    tokio::select! {
        _ = signals.recv() => {}
        _ = health.given_up() => error!("the database cannot be opened again: shutting down"),
    }
    actix_rt::spawn(async move {
        signals.recv().await;
        error!("second signal: exiting without waiting for the flush");
        std::process::exit(130);
    });
    let lost = service.shutdown().await;
    match health.gave_up() {
        Some(reason) => Err(Failed::GaveUp { reason, lost }),
        None if lost > 0 => Err(Failed::LinesLost(lost)),
        None => Ok(()),
    }
}

/// SIGINT (Ctrl-C) and SIGTERM. Listening starts when this is made, so a signal that arrives
/// between two waits is not lost.
pub struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
