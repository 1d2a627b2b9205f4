//! loggerator: collects HTTP access logs from loggerator sources into SQLite and serves them.
//!
//! Data flows one way: socket -> [`ingest::framing`] -> [`parse`] -> [`batch`] ->
//! [`db::write::writer`] transaction -> tables <- [`db::read::reader`] pool <- [`http`].
//!
//! The modules depend one way too: a module imports only modules of the layers below its own.
//! The layers, top to bottom (`tests/it/layers.rs` reads this list and fails when an import goes
//! up or sideways, or a module is in no layer; `../shared/tools/module-graph` prints the graph):
//!
//! ```text
//! demo                       `loggerator demo`: emulated sources and the service in one process
//! cli, healthcheck, import   command line: flags and their defaults; the container's health probe;
//!                            log files into the service or a database
//! service                    wiring: start-up order, shutdown that loses nothing
//! http                       the REST API: parameters, cursors, load limits, errors
//! ingest                     IngestActors: sockets, framing, replay, batching, source status
//! db                         DbWriter, readers, checkpointer: tables, queries, rows
//! batch, emulator            what travels from ingest to the writer; a stand-in source
//! parse                      access-log lines
//! allocator, limits, priority, reason, time, tls, tokens   the allocator's tuning, numbers and
//!                            defaults, thread priority, reason codes, RFC 3339, HTTPS, API tokens
//! ```

pub mod allocator;
pub mod batch;
pub mod cli;
pub mod db;
pub mod demo;
pub mod emulator;
pub mod healthcheck;
pub mod http;
pub mod import;
pub mod ingest;
pub mod limits;
pub mod parse;
pub mod priority;
pub mod reason;
pub mod service;
pub mod time;
pub mod tls;
pub mod tokens;
