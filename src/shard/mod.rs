//! What one core owns: its tenants' store, its inbox, and the handle connections use to
//! reach any tenant, here or on another core.
//!
//! A tenant belongs to shard `fnv1a(tenant_id) % shards`. A request for a local tenant runs
//! directly; one for another shard's tenant goes there as a [`ShardMsg`] and its answer comes
//! back through a one-shot channel. Shard state is `!Send` (`RefCell`), and a borrow never
//! spans an `.await`.

mod backup;
mod changes;
mod drain;
mod export;
mod inbox;
mod keys;
mod live;
mod log;
mod metrics;
mod procs;
mod timer;
mod topics;

pub use crate::state::State;
pub use backup::Backup;
pub use drain::DRAIN_MAX;
pub use keys::ConnKey;
pub use metrics::Answered;
pub use topics::TopicRequest;

use crate::api::{self, Op};
use crate::auth::keys::Update;
use crate::clock::{http_date, now_ms};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::json::Parser;
use crate::mesh::Mesh;
use crate::query::Query;
use crate::store::Store;
use crate::subs::{Batch, ConnRef, Delivery, Subs};
use crate::wal::disk::Disk;
use crate::wal::writer::{Log, Shared};
use crate::ws::outbox::Outbox;
use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Everything one shard can ask of another. Reading this enum shows all cross-core traffic.
pub enum ShardMsg {
    /// Run an op on a tenant this shard owns.
    Execute {
        op: Op,
        reply: oneshot::Sender<Reply>,
    },
    /// List this shard's tenants.
    ListTenants { reply: oneshot::Sender<Vec<String>> },
    /// A WebSocket connection of a tenant this shard owns opened (fails if no such tenant).
    Attach {
        tenant: String,
        conn: ConnRef,
        session_id: String,
        reply: oneshot::Sender<Result<()>>,
    },
    /// That connection closed: forget it and its subscriptions.
    Detach { tenant: String, conn: ConnRef },
    /// Subscribe a connection to a query on a tenant this shard owns.
    Subscribe {
        tenant: String,
        conn: ConnRef,
        sub: u32,
        query: Query,
        reply: oneshot::Sender<Result<Arc<Delivery>>>,
    },
    /// End one subscription.
    Unsubscribe {
        tenant: String,
        conn: ConnRef,
        sub: u32,
    },
    /// New live-query results for connections on this shard.
    Deliver { batch: Batch },
    /// End a connection on this shard with a `fatal_error`.
    EndConn { conn: u64, error: Error },
    /// The server is stopping: end every WebSocket with `service.unavailable`, then ack.
    Shutdown { ack: std::sync::mpsc::Sender<()> },
    /// Find (and with `close`, close) a session by id: every shard is asked.
    FindSession {
        id: String,
        close: bool,
        /// Only a session of this tenant counts.
        only: Option<String>,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    /// Apply these changes to the key directory, then ack (sent by the owner of the keys'
    /// tenant, which answers its client only after every ack).
    Keys {
        updates: Vec<crate::auth::keys::Update>,
        ack: oneshot::Sender<()>,
    },
    /// This shard's metrics, for a scrape.
    Report {
        reply: oneshot::Sender<crate::metrics::Report>,
    },
    /// The next page of an export of a tenant this shard owns (the first starts it).
    Export {
        tenant: String,
        id: u64,
        first: bool,
        reply: oneshot::Sender<Result<(Vec<u8>, bool)>>,
    },
    /// That export's client went away.
    ExportEnd { id: u64 },
    /// Take (`take`) or give back the one backup slot (shard 0 holds it).
    BackupClaim {
        take: bool,
        reply: oneshot::Sender<bool>,
    },
    /// This shard's part of a backup.
    BackupPart {
        reply: oneshot::Sender<Result<crate::backup::Part>>,
    },
    /// A page of the change feed of a tenant this shard owns.
    Changes {
        read: crate::api::changes::Read,
        render: crate::changes::Render,
        reply: oneshot::Sender<Result<crate::changes::Page>>,
    },
    /// A topic consume or ack on a tenant this shard owns.
    Topic {
        req: TopicRequest,
        reply: oneshot::Sender<Result<Vec<u8>>>,
    },
    /// A deploy request, for shard 0, which owns the active app.
    Deploy {
        request: crate::value::Value,
        reply: oneshot::Sender<Result<Vec<u8>>>,
    },
}

/// The answer to [`ShardMsg::Execute`]: the status or error, and the response body.
pub struct Reply {
    pub result: Result<u16>,
    pub body: Vec<u8>,
}

/// The shard a tenant lives on: FNV-1a of its id, stable across builds and restarts.
pub fn owner_of(tenant: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tenant.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}

/// A request id: `req-` and a ULID that grows by one per request on this shard.
pub struct RequestId([u8; 30]);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("req-")
    }
}

/// A random start for a shard's request ids: they count up from it, and carry neither
/// the start time nor how many requests came before.
fn request_id_seed() -> u128 {
    let s = ahash::RandomState::new();
    (u128::from(s.hash_one(1u8)) << 64) | u128::from(s.hash_one(2u8))
}

/// Documents indexed per step of an index build, between requests.
const INDEX_BUILD_STEP_DOCS: usize = 4096;
/// How often an idle shard looks for an index to build.
const INDEX_BUILD_IDLE: std::time::Duration = std::time::Duration::from_millis(10);
/// Every this many looks (100 ms) without an index to build, freed memory goes back to the
/// system: the allocator would otherwise keep what a burst of connections or requests freed
/// resident until this thread allocates again. A collection took under 0.1 ms with a million
/// documents (measured once, on an otherwise idle shard).
const RELEASE_EVERY_TICKS: u32 = 10;

/// Where a shard's log and snapshots live.
pub struct Wal {
    pub disk: Arc<dyn Disk>,
    pub dir: PathBuf,
    pub shared: Arc<Shared>,
}

/// Everything a shard starts from, made on the main thread and sent to the shard's own
/// thread, where [`Seed::start`] makes the (`!Send`) shard.
pub struct Seed {
    id: usize,
    config: Arc<Config>,
    port: u16,
    token: Arc<str>,
    mesh: Arc<Mesh<ShardMsg>>,
    store: Store,
    log: Log,
    wal: Wal,
}

impl Seed {
    /// The shard, with `active` as its app (shard 0 only).
    pub fn start_with_app(self, active: crate::deploy::Active) -> Shard {
        let shard = self.start();
        *shard.deploy.borrow_mut() = active;
        shard
    }

    /// The shard, on the thread that will run it.
    pub fn start(self) -> Shard {
        let Seed {
            id,
            config,
            port,
            token,
            mesh,
            store,
            log,
            wal,
        } = self;
        Shard::new(id, config, port, token, mesh, store, log, wal)
    }
}

/// One core's state and its view of the mesh.
pub struct Shard {
    /// This shard's index.
    pub id: usize,
    pub config: Arc<Config>,
    /// The port the server actually listens on (for the Origin rule).
    pub port: u16,
    /// The admin token.
    pub token: Arc<str>,
    mesh: Arc<Mesh<ShardMsg>>,
    state: RefCell<State>,
    wal: Wal,
    snapshotting: Cell<bool>,
    /// After a failed snapshot (a full disk), the next is not tried before this.
    snapshot_retry_at: Cell<Option<std::time::Instant>>,
    /// Size of the last snapshot written: the log must grow at least this much before the
    /// next one, so snapshot work stays proportional to the writes, however big the store.
    snapshot_bytes: Cell<u64>,
    /// This shard's WebSocket connections.
    conns: RefCell<hashbrown::HashMap<u64, Rc<Outbox>>>,
    next_conn: Cell<u64>,
    /// The active app generation (used on shard 0 only).
    deploy: RefCell<crate::deploy::Active>,
    /// The process supervisor (sandboxes), when the server runs one.
    procs: Option<crate::proc::Procs>,
    /// JSON parser scratch space, reused by every request on this core.
    pub parser: RefCell<Parser>,
    next_request: Cell<u128>,
    date: RefCell<(u64, String)>,
    /// Stopping: see `shard::drain`.
    draining: Cell<bool>,
    /// Connections with a request in progress or an answer not yet written.
    busy_conns: Cell<u32>,
    listener_fd: Cell<i32>,
    /// Open client connections (HTTP and WebSocket) on this shard.
    open_conns: Cell<u32>,
    /// Every live key of every tenant (see `shard::keys`).
    keys: RefCell<crate::auth::keys::Directory>,
    /// WebSockets of this shard opened with a key, by connection number.
    keyed: RefCell<hashbrown::HashMap<u64, ConnKey>>,
    /// What this shard counts for metrics (see `shard::metrics`).
    metrics: RefCell<crate::metrics::Counters>,
    /// A backup is running (kept on shard 0 only; see `shard::backup`).
    backup_held: Cell<bool>,
    /// Reads of change-feed files in flight (see `shard::changes`).
    feed_reads: Cell<u32>,
}

fn run_guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::Internal("a request handler panicked".into())))
}

impl Shard {
    /// A shard serving `store`, whose changes go to `log`, kept in `wal`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        config: Arc<Config>,
        port: u16,
        token: Arc<str>,
        mesh: Arc<Mesh<ShardMsg>>,
        store: Store,
        log: Log,
        wal: Wal,
    ) -> Shard {
        let limits = crate::query::Limits {
            docs_examined_max: config.query_docs_examined_max,
            result_bytes_max: config.result_bytes_max,
        };
        Shard {
            id,
            config,
            port,
            token,
            mesh,
            state: RefCell::new(State {
                sessions: Default::default(),
                deleted: Vec::new(),
                timers: crate::schedule::Timers::from_store(&store),
                store,
                log,
                subs: Subs::new(limits),
                ended: Vec::new(),
                limits,
                key_updates: Vec::new(),
                exports: Vec::new(),
                groups: Default::default(),
            }),
            wal,
            snapshotting: Cell::new(false),
            snapshot_retry_at: Cell::new(None),
            snapshot_bytes: Cell::new(0),
            conns: RefCell::new(hashbrown::HashMap::new()),
            next_conn: Cell::new(1),
            deploy: RefCell::new(crate::deploy::Active::default()),
            procs: None,
            parser: RefCell::new(Parser::default()),
            next_request: Cell::new(request_id_seed()),
            date: RefCell::new((0, String::new())),
            draining: Cell::new(false),
            busy_conns: Cell::new(0),
            listener_fd: Cell::new(-1),
            open_conns: Cell::new(0),
            keys: RefCell::new(Default::default()),
            keyed: RefCell::new(hashbrown::HashMap::new()),
            metrics: RefCell::new(metrics::counters()),
            backup_held: Cell::new(false),
            feed_reads: Cell::new(0),
        }
    }

    /// Starts shard `id` on what recovery found in `dir`, with its log writer; returns the
    /// writer's channel too, for shutdown.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        id: usize,
        config: Arc<Config>,
        port: u16,
        token: Arc<str>,
        mesh: Arc<Mesh<ShardMsg>>,
        disk: Arc<dyn Disk>,
        dir: PathBuf,
        recovered: crate::wal::recovery::Recovered,
    ) -> std::io::Result<(Seed, std::sync::mpsc::Sender<crate::wal::writer::WriterMsg>)> {
        let shared = Arc::new(Shared::default());
        let mut feed = recovered.feed;
        let feed_file = if feed.on() {
            let first = feed.ensure_open(recovered.seq + 1);
            let feed_dir = crate::wal::feed::dir_of(&dir);
            Some(crate::wal::feed::FeedFile::open(&*disk, &feed_dir, first)?)
        } else {
            None
        };
        let tx = crate::wal::writer::spawn_writer(
            disk.clone(),
            dir.clone(),
            recovered.seq,
            recovered.manifest,
            config.fsync,
            shared.clone(),
            feed_file,
        )?;
        let mut log = Log::new(tx.clone(), shared.clone(), recovered.seq, feed);
        // Feed records recovery wrote again are readable once handed to the writer.
        log.kick();
        let wal = Wal { disk, dir, shared };
        let seed = Seed {
            id,
            config,
            port,
            token,
            mesh,
            store: recovered.store,
            log,
            wal,
        };
        Ok((seed, tx))
    }

    /// Gives the shard the process supervisor.
    pub fn set_procs(&mut self, procs: crate::proc::Procs) {
        self.procs = Some(procs);
    }

    /// A fresh request id.
    pub fn request_id(&self) -> RequestId {
        let n = self.next_request.get().wrapping_add(1);
        self.next_request.set(n);
        let mut buf = *b"req-00000000000000000000000000";
        let mut ulid = [0u8; 26];
        buf[4..].copy_from_slice(crate::ids::DocId(n).encode(&mut ulid));
        RequestId(buf)
    }

    /// Calls `f` with the current HTTP `Date` value, formatted at most once a second.
    pub fn with_date<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        let secs = now_ms() / 1000;
        let mut date = self.date.borrow_mut();
        if date.0 != secs {
            *date = (secs, http_date(secs));
        }
        f(&date.1)
    }

    /// Runs `op` on the tenant's shard; the body is written to (or swapped into) `out`.
    pub async fn execute(&self, op: Op, out: &mut Vec<u8>) -> Result<u16> {
        let owner = owner_of(op.tenant(), self.mesh.cores());
        if owner == self.id {
            let (status, seq, keys) = self.run_local(op, out)?;
            self.settle(seq, keys).await?;
            return Ok(status);
        }
        let (tx, rx) = oneshot::channel();
        self.mesh
            .send(owner, ShardMsg::Execute { op, reply: tx })
            .map_err(|_| Error::Unavailable(format!("shard {owner} is overloaded")))?;
        let reply = rx
            .await
            .map_err(|_| Error::Internal(format!("shard {owner} dropped a request")))?;
        *out = reply.body;
        reply.result
    }

    /// The ids of the tenants this shard owns.
    fn local_tenant_ids(&self) -> Vec<String> {
        self.state
            .borrow()
            .store
            .tenant_ids()
            .map(str::to_string)
            .collect()
    }

    /// Every tenant id on every shard, sorted.
    pub async fn list_tenants(&self) -> Result<Vec<String>> {
        let mut waiting = Vec::new();
        for to in (0..self.mesh.cores()).filter(|&s| s != self.id) {
            let (tx, rx) = oneshot::channel();
            self.mesh
                .send(to, ShardMsg::ListTenants { reply: tx })
                .map_err(|_| Error::Unavailable(format!("shard {to} is overloaded")))?;
            waiting.push(rx);
        }
        let mut all = self.local_tenant_ids();
        for rx in waiting {
            all.extend(
                rx.await
                    .map_err(|_| Error::Internal("a shard dropped a request".into()))?,
            );
        }
        all.sort_unstable();
        Ok(all)
    }

    /// Executes an op on this shard's own data; returns its status, the sequence number of
    /// its write (0 for none) and the key updates every shard must see before it answers.
    fn run_local(&self, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64, Vec<Update>)> {
        let result = run_guarded(|| api::execute(&mut self.state.borrow_mut(), op, out));
        let (ended, deleted, keys) = {
            let mut state = self.state.borrow_mut();
            (
                std::mem::take(&mut state.ended),
                std::mem::take(&mut state.deleted),
                std::mem::take(&mut state.key_updates),
            )
        };
        if !ended.is_empty() {
            self.end_conns(ended, Error::TenantNotFound("(deleted)".into()));
        }
        for tenant in deleted {
            if let Some(p) = &self.procs {
                p.send(crate::proc::ProcMsg::DropTenant { tenant });
            }
        }
        result.map(|(status, seq)| (status, seq, keys))
    }

    /// What a write waits for before it is answered: every shard's key directory updated,
    /// and its record durable.
    async fn settle(&self, seq: u64, keys: Vec<Update>) -> Result<()> {
        self.spread_keys(keys).await?;
        self.durable(seq).await
    }

    /// Background work between requests: builds new indexes (after a schema change or
    /// recovery) a bounded number of documents at a time, yielding between steps so requests
    /// keep being served, and while no index is building hands freed memory back to the
    /// system every 100 ms.
    pub async fn serve_background(self: Rc<Self>) {
        let mut idle_ticks = 0u32;
        loop {
            let building = {
                let mut state = self.state.borrow_mut();
                state.store.build_step(INDEX_BUILD_STEP_DOCS);
                state.store.building()
            };
            if building {
                YieldNow(false).await;
            } else {
                idle_ticks += 1;
                if idle_ticks.is_multiple_of(RELEASE_EVERY_TICKS) {
                    crate::memory::release_freed();
                }
                monoio::time::sleep(INDEX_BUILD_IDLE).await;
            }
        }
    }
}

/// Gives the event loop one turn.
pub(super) struct YieldNow(pub(super) bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_spread_and_stay_put() {
        assert_eq!(owner_of("demo", 1), 0);
        let counts = (0..1000).fold([0usize; 4], |mut c, i| {
            c[owner_of(&format!("tenant-{i}"), 4)] += 1;
            c
        });
        assert!(counts.iter().all(|&n| n > 150), "{counts:?}");
        assert_eq!(owner_of("demo", 4), owner_of("demo", 4));
    }
}
