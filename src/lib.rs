//! loggerator: collects HTTP access logs from loggerator sources into SQLite and serves them.
//!
//! Data flows one way: socket -> [`ingest::framing`] -> [`parse`] -> [`batch`] ->
//! [`db::writer`] transaction -> tables <- [`db::reader`] pool <- [`http`].
//!
//! The modules depend one way too. Each imports only modules on lines below its own
//! (`tests/layers.rs` fails the build when one does not; `../shared/tools/module-graph` prints
//! the graph):
//!
//! ```text
//! cli, demo                  command line: parse flags, run a command
//! service                    wiring: start-up order, shutdown that loses nothing
//! http                       the REST API: parameters, cursors, load limits, errors
//! ingest                     IngestActors: sockets, framing, replay, batching, source status
//! db                         DbWriter, readers, checkpointer: tables, queries, rows
//! batch                      what travels from ingest to the writer
//! emulator                   a stand-in source (uses parse in its tests only)
//! parse                      access-log lines
//! limits, priority, time     shared numbers and defaults, thread priority, RFC 3339
//! ```

pub mod batch;
pub mod cli;
pub mod db;
pub mod demo;
pub mod emulator;
pub mod http;
pub mod ingest;
pub mod limits;
pub mod parse;
pub mod priority;
pub mod service;
pub mod time;
