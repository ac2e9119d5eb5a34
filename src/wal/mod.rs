//! Durability: each shard's write-ahead log, its snapshots, and recovery.
//!
//! Invariant: a write is acknowledged only after its record is durable (unless the server
//! runs with `--fsync off`), and recovery never applies a record that fails its checksum.

pub mod disk;
pub mod feed;
pub mod files;
pub mod log;
pub mod manifest;
pub mod record;
pub mod recovery;
pub mod snapshot;
pub mod writer;
