//! Every option and limit of a running server, units in the names.

use std::path::PathBuf;

/// The server's configuration, fixed at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Where the token (and later the log and snapshots) live.
    pub data_dir: PathBuf,
    /// Number of shards, each a thread pinned to a core.
    pub shards: usize,
    /// Largest request head (request line and headers); larger is `431`.
    pub head_size_max: usize,
    /// Largest request body; larger is `413`, decided before the body is read.
    pub body_size_max: u64,
    /// Time allowed to receive a whole request head once it has begun.
    pub head_timeout_ms: u64,
    /// Time a keep-alive connection may sit idle between requests (and between body reads).
    pub idle_timeout_ms: u64,
    /// Messages one shard's inbox holds before senders get `503`.
    pub inbox_capacity: usize,
    /// Which I/O driver the shards' runtimes use.
    pub io_driver: IoDriver,
    /// Whether a write is acknowledged only after `fdatasync` (off: after the write reaches
    /// the OS, which survives a process crash but not power loss).
    pub fsync: bool,
    /// Log bytes since the last snapshot that trigger the next one.
    pub snapshot_log_bytes: u64,
    /// How long a write waits for its record to become durable before answering `503`.
    pub durable_wait_ms: u64,
    /// Time a WebSocket client has to send `client_hello` after `hello`.
    pub ws_handshake_timeout_ms: u64,
    /// A WebSocket connection whose client takes longer than this to accept one frame is
    /// closed (a reader that stopped reading).
    pub ws_write_timeout_ms: u64,
    /// Largest WebSocket message accepted from a client.
    pub ws_message_size_max: usize,
    /// Payload bytes a WebSocket connection's outbox holds for a client that reads slowly.
    pub ws_outbox_bytes_max: usize,
    /// Subscriptions one WebSocket connection may hold.
    pub ws_subscriptions_max: usize,
    /// Open client connections, all shards together; past it new ones get `503` and close.
    pub connections_max: usize,
    /// Largest query result (a response body or one live result), in bytes.
    pub result_bytes_max: usize,
    /// Documents one query (or one page) may read to find its result.
    pub query_docs_examined_max: usize,
    /// Origins besides loopback that may call the API (`--allowed-origins`), lowercased
    /// `scheme://host[:port]`.
    pub allowed_origins: Vec<String>,
    /// A request slower than this is logged (`--slow-ms`).
    pub slow_ms: u64,
    /// Log every request (`--access-log`).
    pub access_log: bool,
    /// The deploy bearer token (`NIMBUS_DEPLOY_TOKEN` at startup); `None` disables deploys.
    pub deploy_token: Option<String>,
    /// An app directory to start with (`--app`), as generation 1.
    pub app_dir: Option<PathBuf>,
    /// Start even when recovery finds files missing or damaged, keeping what remains
    /// (`--accept-data-loss`); without it such a start is refused.
    pub accept_data_loss: bool,
    /// Changes are kept at least this long (`--changes-retention-ms`; 0: no change feed).
    pub changes_retention_ms: u64,
    /// Bytes of change-feed files, all shards together, at most (`--changes-disk-max-bytes`).
    pub changes_disk_max_bytes: u64,
    /// Change-feed records each shard keeps in memory for readers, in bytes.
    pub changes_memory_bytes: usize,
    /// A change-feed segment file is sealed past this size.
    pub changes_segment_bytes: u64,
    /// A topic message consumed and not acked is delivered again after this long.
    pub topic_visibility_ms: u64,
}

/// The I/O driver of the shards' runtimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDriver {
    /// io_uring where the kernel allows it, else epoll.
    Auto,
    /// io_uring only (fails to start without it).
    Uring,
    /// epoll only.
    Epoll,
}

impl std::str::FromStr for IoDriver {
    type Err = String;
    fn from_str(s: &str) -> Result<IoDriver, String> {
        match s {
            "auto" => Ok(IoDriver::Auto),
            "uring" | "io_uring" => Ok(IoDriver::Uring),
            "epoll" => Ok(IoDriver::Epoll),
            _ => Err(format!("unknown io driver `{s}` (auto, uring, epoll)")),
        }
    }
}

impl Config {
    /// Defaults for everything but where to listen and store.
    pub fn new(host: String, port: u16, data_dir: PathBuf, shards: usize) -> Config {
        Config {
            host,
            port,
            data_dir,
            shards: shards.max(1),
            head_size_max: 64 * 1024,
            body_size_max: 16 * 1024 * 1024,
            head_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            inbox_capacity: 16 * 1024,
            io_driver: IoDriver::Auto,
            fsync: true,
            snapshot_log_bytes: 64 << 20,
            durable_wait_ms: 5_000,
            ws_handshake_timeout_ms: 10_000,
            ws_write_timeout_ms: 30_000,
            ws_message_size_max: 1 << 20,
            ws_outbox_bytes_max: 32 << 20,
            ws_subscriptions_max: 1000,
            connections_max: 50_000,
            allowed_origins: Vec::new(),
            slow_ms: 100,
            access_log: false,
            result_bytes_max: 16 << 20,
            query_docs_examined_max: 32_768,
            deploy_token: None,
            app_dir: None,
            accept_data_loss: false,
            changes_retention_ms: 7 * 24 * 3600 * 1000,
            changes_disk_max_bytes: 16 << 30,
            changes_memory_bytes: 32 << 20,
            changes_segment_bytes: 64 << 20,
            topic_visibility_ms: 30_000,
        }
    }
}

/// The default data directory: `$XDG_DATA_HOME/nimbus`, else `~/.local/share/nimbus`.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("nimbus");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local").join("share").join("nimbus")
}

/// How many cores this process may run on.
pub fn usable_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
