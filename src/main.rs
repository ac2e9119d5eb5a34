//! The `nimbus` command: parses the command line into a [`Config`] and runs the server.

use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;
use nimbus::config::{default_data_dir, usable_cores, Config, IoDriver};
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(
    name = "nimbus",
    version,
    about = "A self-hosted, multi-tenant realtime document database"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Start(Box<StartArgs>),
    /// Send an app directory to a running server (deploy admin API).
    Deploy(DeployArgs),
    /// Write an online backup of a running server (an archive; see `nimbus restore`).
    Backup(BackupArgs),
    /// Fill an empty data directory from a backup archive.
    Restore(RestoreArgs),
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The server.
    #[arg(long, env = "NIMBUS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Where to write the archive [default: stdout].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the local admin token file is, when NIMBUS_TOKEN is not set.
    #[arg(long, env = "NIMBUS_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// The archive `nimbus backup` wrote.
    file: PathBuf,
    /// The data directory to fill: it must be empty or absent.
    #[arg(long)]
    data_dir: PathBuf,
}

#[derive(clap::Args)]
struct DeployArgs {
    /// The app directory (convex/ and/or cloud_functions/).
    dir: PathBuf,
    /// The server.
    #[arg(long, env = "NIMBUS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Validate and diff without activating.
    #[arg(long)]
    dry_run: bool,
    /// Print the server's JSON answer instead of a readable diff.
    #[arg(long)]
    json: bool,
    /// Where the local admin token file is, when NIMBUS_TOKEN is not set.
    #[arg(long, env = "NIMBUS_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct StartArgs {
    /// Address to listen on.
    #[arg(long, env = "NIMBUS_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free port).
    #[arg(long, env = "NIMBUS_PORT", default_value_t = 8080)]
    port: u16,
    /// Data directory [default: $XDG_DATA_HOME/nimbus or ~/.local/share/nimbus].
    #[arg(long, env = "NIMBUS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Number of shards, one pinned thread each [default: usable cores].
    #[arg(long, env = "NIMBUS_SHARDS")]
    shards: Option<usize>,
    /// Time allowed to receive a request head, in milliseconds.
    #[arg(long, env = "NIMBUS_HEAD_TIMEOUT_MS", default_value_t = 10_000)]
    head_timeout_ms: u64,
    /// Time an idle keep-alive connection is kept, in milliseconds.
    #[arg(long, env = "NIMBUS_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Largest request body, in bytes.
    #[arg(long, env = "NIMBUS_BODY_SIZE_MAX", default_value_t = 16 * 1024 * 1024)]
    body_size_max: u64,
    /// `on`: a write is acknowledged once its log record is synced to disk. `off` (for
    /// benchmarks only): acknowledged once written to the OS; a power loss can lose it.
    #[arg(long, env = "NIMBUS_FSYNC", default_value = "on", value_parser = ["on", "off"])]
    fsync: String,
    /// Log bytes after which a shard takes a snapshot and drops the log it covers.
    #[arg(long, env = "NIMBUS_SNAPSHOT_LOG_BYTES", default_value_t = 64 << 20)]
    snapshot_log_bytes: u64,
    /// Milliseconds after which a WebSocket client that does not accept a frame is cut off.
    #[arg(long, env = "NIMBUS_WS_WRITE_TIMEOUT_MS", default_value_t = 30_000)]
    ws_write_timeout_ms: u64,
    /// Open client connections allowed, all shards together; past it, new ones get `503`.
    #[arg(long, env = "NIMBUS_CONNECTIONS_MAX", default_value_t = 50_000)]
    connections_max: usize,
    /// Largest query result (response body or live result), in bytes.
    #[arg(long, env = "NIMBUS_RESULT_BYTES_MAX", default_value_t = 16 << 20)]
    result_bytes_max: usize,
    /// Documents one query or page may read to find its result (past it: `400
    /// op.limit_exceeded`, naming the index to declare).
    #[arg(long, env = "NIMBUS_QUERY_DOCS_EXAMINED_MAX", default_value_t = 32_768)]
    query_docs_examined_max: usize,
    /// Bytes queued for a WebSocket client that reads slowly, at most.
    #[arg(long, env = "NIMBUS_WS_OUTBOX_BYTES_MAX", default_value_t = 32 << 20)]
    ws_outbox_bytes_max: usize,
    /// Subscriptions one WebSocket connection may hold.
    #[arg(long, env = "NIMBUS_WS_SUBSCRIPTIONS_MAX", default_value_t = 1000)]
    ws_subscriptions_max: usize,
    /// Origins besides loopback that web pages may call from, comma-separated
    /// `scheme://host[:port]` (e.g. https://app.example.com), matched exactly.
    #[arg(long, env = "NIMBUS_ALLOWED_ORIGINS", default_value = "")]
    allowed_origins: String,
    /// Log lines on stderr as `text` or `json` (one object per line).
    #[arg(long, env = "NIMBUS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log every request slower than this many milliseconds.
    #[arg(long, env = "NIMBUS_SLOW_MS", default_value_t = 100)]
    slow_ms: u64,
    /// Log every request (method, route, status, duration, request id).
    #[arg(long, env = "NIMBUS_ACCESS_LOG")]
    access_log: bool,
    /// Start with this app directory active (generation 1).
    #[arg(long)]
    app: Option<PathBuf>,
    /// Start even if recovery finds a snapshot or log segment missing or damaged, keeping
    /// what remains (the old files are moved aside). Without it such a start is refused.
    #[arg(long, env = "NIMBUS_ACCEPT_DATA_LOSS")]
    accept_data_loss: bool,
    /// Keep every document change for the change feed at least this long, in
    /// milliseconds (0: no change feed).
    #[arg(long, env = "NIMBUS_CHANGES_RETENTION_MS", default_value_t = 7 * 24 * 3600 * 1000)]
    changes_retention_ms: u64,
    /// Disk the change feed may use, all shards together, in bytes (the oldest changes go
    /// first past it, even inside the retention).
    #[arg(long, env = "NIMBUS_CHANGES_DISK_MAX_BYTES", default_value_t = 16 << 30)]
    changes_disk_max_bytes: u64,
    /// Size at which a change-feed file is sealed and a new one started, in bytes.
    #[arg(long, env = "NIMBUS_CHANGES_SEGMENT_BYTES", default_value_t = 64 << 20)]
    changes_segment_bytes: u64,
    /// Milliseconds after which topic messages consumed and not acked are delivered again.
    #[arg(long, env = "NIMBUS_TOPIC_VISIBILITY_MS", default_value_t = 30_000)]
    topic_visibility_ms: u64,
    /// I/O driver: auto (io_uring, else epoll), uring, or epoll.
    #[arg(long = "io", env = "NIMBUS_IO", default_value = "auto")]
    io_driver: IoDriver,
}

/// The admin token (from NIMBUS_TOKEN, else the data dir's token file) and where it was
/// found; `None` after saying why there is none.
fn admin_token(cmd: &str, data_dir: Option<PathBuf>) -> Option<(String, String)> {
    if let Some(t) = std::env::var("NIMBUS_TOKEN").ok().filter(|t| !t.is_empty()) {
        return Some((t, "the variable NIMBUS_TOKEN".to_string()));
    }
    let dir = data_dir.unwrap_or_else(default_data_dir);
    match nimbus::auth::read_token(&dir) {
        Ok(t) => Some((t, dir.join("auth/token").display().to_string())),
        Err(e) => {
            eprintln!("nimbus {cmd}: no NIMBUS_TOKEN and no readable token file: {e}");
            None
        }
    }
}

fn backup(args: BackupArgs) -> i32 {
    match admin_token("backup", args.data_dir) {
        Some((token, _)) => nimbus::backup::client::run(&args.url, args.out.as_deref(), &token),
        None => 1,
    }
}

fn restore(args: RestoreArgs) -> i32 {
    match nimbus::backup::restore::restore(&args.file, &args.data_dir) {
        Ok(r) => {
            eprintln!(
                "restored {} shards, {} tenants, {} documents ({} bytes) into {}; start the server with --data-dir {}",
                r.shards,
                r.tenants,
                r.documents,
                r.bytes,
                args.data_dir.display(),
                args.data_dir.display()
            );
            0
        }
        Err(e) => {
            eprintln!("nimbus restore: {e}");
            1
        }
    }
}

fn deploy(args: DeployArgs) -> i32 {
    let Some(deploy_token) = std::env::var("NIMBUS_DEPLOY_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    else {
        eprintln!(
            "nimbus deploy: set NIMBUS_DEPLOY_TOKEN to the deploy token the server was started \
             with (the NIMBUS_DEPLOY_TOKEN of its `nimbus start`)"
        );
        return 1;
    };
    let Some((admin_token, admin_token_from)) = admin_token("deploy", args.data_dir.clone()) else {
        return 1;
    };
    nimbus::deploy::client::run(&nimbus::deploy::client::DeployArgs {
        dir: &args.dir,
        url: &args.url,
        dry_run: args.dry_run,
        json: args.json,
        deploy_token: &deploy_token,
        admin_token: &admin_token,
        admin_token_from: &admin_token_from,
    })
}

fn main() {
    let args = match Cli::parse().command {
        Command::Start(args) => *args,
        Command::Deploy(args) => std::process::exit(deploy(args)),
        Command::Backup(args) => std::process::exit(backup(args)),
        Command::Restore(args) => std::process::exit(restore(args)),
    };
    let shards = args.shards.unwrap_or_else(usable_cores);
    if shards == 0 || shards > 1024 {
        eprintln!("nimbus: --shards must be between 1 and 1024");
        std::process::exit(2);
    }
    let mut config = Config::new(
        args.host,
        args.port,
        args.data_dir.unwrap_or_else(default_data_dir),
        shards,
    );
    config.head_timeout_ms = args.head_timeout_ms.max(1);
    config.idle_timeout_ms = args.idle_timeout_ms.max(1);
    config.body_size_max = args.body_size_max;
    config.io_driver = args.io_driver;
    config.fsync = args.fsync == "on";
    config.ws_write_timeout_ms = args.ws_write_timeout_ms.max(1);
    config.app_dir = args.app;
    config.accept_data_loss = args.accept_data_loss;
    config.connections_max = args.connections_max.max(1);
    config.result_bytes_max = args.result_bytes_max.max(1024);
    config.query_docs_examined_max = args.query_docs_examined_max.max(1);
    config.ws_outbox_bytes_max = args.ws_outbox_bytes_max.max(64 * 1024);
    config.ws_subscriptions_max = args.ws_subscriptions_max.max(1);
    config.deploy_token = std::env::var("NIMBUS_DEPLOY_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    config.snapshot_log_bytes = args.snapshot_log_bytes.max(4096);
    config.slow_ms = args.slow_ms;
    config.access_log = args.access_log;
    config.changes_retention_ms = args.changes_retention_ms;
    config.changes_disk_max_bytes = args.changes_disk_max_bytes;
    config.changes_segment_bytes = args.changes_segment_bytes.max(4096);
    config.topic_visibility_ms = args.topic_visibility_ms.max(1);
    if let Some(f) = nimbus::log::Format::parse(&args.log_format) {
        nimbus::log::set_format(f);
    }
    config.allowed_origins = match nimbus::auth::origin::parse_list(&args.allowed_origins) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("nimbus: --allowed-origins: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = nimbus::server::run(config) {
        eprintln!("nimbus: {e}");
        std::process::exit(1);
    }
}
