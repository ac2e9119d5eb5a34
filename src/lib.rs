//! Nimbus: a multi-tenant realtime document database, one shard per core.
//!
//! The crate map, ground floor first (each module uses only those above it in this list):
//!
//! - [`value`]    JSON values and their total order
//! - [`json`]     JSON text ↔ values (`simd-json` in, a small writer out)
//! - [`clock`]    epoch milliseconds, RFC 3339 and HTTP dates
//! - [`log`]      the server's log lines on stderr, text or JSON
//! - [`metrics`]  per-shard counters and histograms, the Prometheus text of a scrape
//! - [`ids`]      tenant and table names, ULID document ids
//! - [`error`]    the one error type and its envelope
//! - [`mesh`]     bounded inboxes between cores; knows no shard
//! - [`config`]   options and limits
//! - [`datadir`]  the data directory: its lock, and OS errors about it explained
//! - [`auth`]     the admin token and the access rules
//! - [`memory`]   handing freed pages back to the system
//! - [`proc`]     the supervisor thread: services and sandboxes
//! - [`store`]    a shard's tenants, tables, documents, schemas, jobs, crons, service
//!   definitions; every change is one record
//! - [`query`]    query objects, evaluation, pagination cursors
//! - [`schedule`] when each job and cron is next due
//! - [`subs`]     live queries: groups, members, shared results
//! - [`sessions`] HTTP and WebSocket sessions
//! - [`functions`] deployed apps that run: the JavaScript engine, the syscalls of a
//!   function over its tenant's store, its transaction, its argument checks
//! - [`changes`]  the change feed: its records, the newest of them in memory, what each
//!   segment file holds, pages of changes
//! - [`wal`]      write-ahead log, group commit, snapshots, recovery
//! - [`backup`]   backup archives: their format, restore, the CLI client
//! - [`deploy`]   app directories, deploy staging, diff and activation; the CLI client
//! - [`state`]    what one shard owns, and the commit path every write takes
//! - [`http`]     HTTP/1.1 parsing, chunked bodies, routing, responses
//! - [`api`]      the native API by resource family: each family's operations, their
//!   decoding from HTTP and their execution against a shard's state
//! - [`ws`]       WebSocket framing, frames and each connection's outbox
//! - [`shard`]    what one core owns, and how it reaches other cores
//! - [`conn`]     one connection: its request loop, access checks, the WebSocket session
//! - [`server`]   recovery, pinned threads, runtimes, listeners, signals, shutdown

pub mod api;
pub mod auth;
pub mod backup;
pub mod changes;
pub mod clock;
pub mod config;
pub mod conn;
pub mod datadir;
pub mod deploy;
pub mod error;
pub mod functions;
pub mod http;
pub mod ids;
pub mod json;
pub mod log;
pub mod memory;
pub mod mesh;
pub mod metrics;
pub mod proc;
pub mod query;
pub mod schedule;
pub mod server;
pub mod sessions;
pub mod shard;
pub mod state;
pub mod store;
pub mod subs;
pub mod value;
pub mod wal;
pub mod ws;
