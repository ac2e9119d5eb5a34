//! Nimbus: a multi-tenant realtime document database, one shard per core.
//!
//! The crate map, ground floor first (each module uses only those above it in this list):
//!
//! - [`value`]   JSON values and their total order
//! - [`json`]    JSON text ↔ values (`simd-json` in, a small writer out)
//! - [`clock`]   epoch milliseconds, RFC 3339 and HTTP dates
//! - [`ids`]     tenant and table names, ULID document ids
//! - [`error`]   the one error type and its envelope
//! - [`mesh`]    bounded inboxes between cores; knows no shard
//! - [`config`]  options and limits
//! - [`auth`]    the admin token and the access rules
//! - [`store`]   a shard's tenants, tables, documents, schemas; changes as records
//! - [`query`]   query objects, evaluation, pagination cursors
//! - [`http`]    HTTP/1.1 parsing, chunked bodies, routing, responses
//! - [`ops`]     requests decoded into typed operations
//! - [`shard`]   what one core owns, and how it reaches other cores
//! - [`conn`]    one connection's request loop
//! - [`server`]  pinned threads, runtimes, listeners, signals

pub mod auth;
pub mod clock;
pub mod config;
pub mod conn;
pub mod deploy;
pub mod error;
pub mod http;
pub mod ids;
pub mod json;
pub mod mesh;
pub mod ops;
pub mod proc;
pub mod query;
pub mod schedule;
pub mod server;
pub mod sessions;
pub mod shard;
pub mod store;
pub mod subs;
pub mod value;
pub mod wal;
pub mod ws;
