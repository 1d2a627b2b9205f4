//! loggerator: collects HTTP access logs from loggerator sources into SQLite and serves them.
//!
//! Data flows one way: socket -> [`ingest::framing`] -> [`parse`] -> batch ([`entry`]) ->
//! [`db::writer`] transaction -> tables <- [`db::reader`] pool <- [`http`].

pub mod bench;
pub mod cli;
pub mod db;
pub mod demo;
pub mod emulator;
pub mod entry;
pub mod http;
pub mod ingest;
pub mod parse;
pub mod priority;
pub mod service;
