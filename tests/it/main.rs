//! The integration tests, one binary: the crate is linked once, not once a file. Each module
//! is what was a test file; `common` holds what they share. Tests that measure this process
//! (its memory) are binaries of their own beside this one.

mod common;

mod api;
mod auth;
mod backup;
mod browser;
mod caps;
mod cli;
mod compaction;
mod container;
mod crash;
mod db_writer;
mod e2e;
mod export_disconnect;
mod full_disk;
mod http_abuse;
mod import;
mod ingest_actor;
mod input_properties;
mod layers;
mod metrics;
mod openapi;
mod parser;
mod parser_properties;
mod push;
mod reader;
mod retention;
mod route_access;
mod stats;
mod storage_properties;
mod tail;
mod tls;
mod upgrade;
