//! Starting and stopping the server: one pinned thread per shard, each with its own
//! `monoio` runtime (io_uring, or epoll where io_uring is unavailable) and its own
//! SO_REUSEPORT listener on the shared port, so the kernel spreads connections over cores.

use crate::auth::load_or_create_token;
use crate::config::{Config, IoDriver};
use crate::conn;
use crate::log::{self, Field};
use crate::mesh::Mesh;
use crate::shard::{owner_of, Shard, ShardMsg};
use crate::wal::disk::{Disk, OsDisk};
use crate::wal::recovery::open_all;
use crate::wal::writer::WriterMsg;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Binds one listener per shard on the same address with SO_REUSEPORT. Port 0 is resolved
/// by the first bind and reused by the others.
fn bind_listeners(host: &str, port: u16, count: usize) -> io::Result<Vec<TcpListener>> {
    let mut addr: SocketAddr = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot resolve {host}"),
        )
    })?;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        let listener: TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to one CPU; failure only costs locality.
fn pin_to(cpu: usize) {
    // SAFETY: as above; the set names one CPU from the allowed list.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread (and the threads it spawns after), so
/// the main thread can wait for them with `sigwait`.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_stop_signal(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: `set` was built by block_stop_signals.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

/// Tells the main thread that a shard is serving, or why it could not start.
type Ready = mpsc::Sender<io::Result<()>>;

/// Runs one shard's event loop on the current thread until the process exits.
fn run_shard(shard: Rc<Shard>, listener: TcpListener, ready: Ready) -> io::Result<()> {
    use monoio::{FusionDriver, IoUringDriver, LegacyDriver, RuntimeBuilder};
    let entries = 1024;
    match shard.config.io_driver {
        IoDriver::Auto => {
            let uring = monoio::utils::detect_uring();
            if !uring && shard.id == 0 {
                crate::log::info("server", "io_uring is unavailable here; using epoll", &[]);
            }
            RuntimeBuilder::<FusionDriver>::new()
                .enable_timer()
                .with_entries(entries)
                .build()?
                .block_on(shard_main(shard, listener, ready))
        }
        IoDriver::Uring => RuntimeBuilder::<IoUringDriver>::new()
            .enable_timer()
            .with_entries(entries)
            .build()?
            .block_on(shard_main(shard, listener, ready)),
        IoDriver::Epoll => RuntimeBuilder::<LegacyDriver>::new()
            .enable_timer()
            .build()?
            .block_on(shard_main(shard, listener, ready)),
    }
}

/// Accepts connections forever, each served by its own task on this core.
async fn shard_main(shard: Rc<Shard>, listener: TcpListener, ready: Ready) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    shard.set_listener_fd(listener.as_raw_fd());
    let listener = monoio::net::TcpListener::from_std(listener)?;
    let _ = ready.send(Ok(()));
    monoio::spawn(shard.clone().serve_inbox());
    monoio::spawn(shard.clone().serve_log());
    monoio::spawn(shard.clone().serve_timers());
    monoio::spawn(shard.clone().serve_background());
    monoio::spawn(shard.clone().serve_feed_retention());
    monoio::spawn(shard.clone().serve_key_expiry());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                if shard.draining() {
                    continue; // Dropped: the server is stopping.
                }
                if shard.conns_full() {
                    monoio::spawn(conn::refuse(shard.clone(), stream));
                    continue;
                }
                monoio::spawn(conn::serve(shard.clone(), stream));
            }
            Err(_) if shard.draining() => {
                // Stopped accepting; the connections' tasks go on until the process ends.
                drop(listener);
                return std::future::pending().await;
            }
            Err(e) => {
                // Out of descriptors or a transient error: back off instead of spinning.
                crate::log::warn(
                    "server",
                    &format!("shard {}: accept failed: {e}", shard.id),
                    &[],
                );
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Asks every shard to stop (`shard::drain`): stop accepting, end its WebSockets with
/// `service.unavailable`, answer the requests in progress; waits at most `within`.
fn drain_shards(mesh: &Mesh<ShardMsg>, shards: usize, within: Duration) {
    let deadline = Instant::now() + within;
    let (ack, done) = mpsc::channel();
    let asked = (0..shards)
        .filter(|&n| {
            mesh.send(n, ShardMsg::Shutdown { ack: ack.clone() })
                .is_ok()
        })
        .count();
    for _ in 0..asked {
        if done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_err()
        {
            break;
        }
    }
}

/// Asks every log writer to finish its queued batches and sync, waiting at most `within`.
/// Acknowledged writes are already durable; this settles the ones in flight and, with
/// `--fsync off`, syncs what was acknowledged before reaching the disk.
fn stop_writers(writers: &[mpsc::Sender<WriterMsg>], within: Duration) {
    let deadline = Instant::now() + within;
    let acks: Vec<_> = writers
        .iter()
        .map(|w| {
            let (ack, done) = mpsc::channel();
            let _ = w.send(WriterMsg::Stop { ack });
            done
        })
        .collect();
    for done in acks {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = done.recv_timeout(left);
    }
}

/// Starts the server and blocks until SIGINT or SIGTERM.
pub fn run(config: Config) -> io::Result<()> {
    // Held until the process exits: one server per data directory.
    let _lock = crate::datadir::open(&config.data_dir)?;
    let token: Arc<str> = load_or_create_token(&config.data_dir)?.into();
    let listeners = bind_listeners(&config.host, config.port, config.shards)
        .map_err(|e| bind_error(&config, e))?;
    let port = listeners[0].local_addr()?.port();
    let signals = block_stop_signals();
    let config = Arc::new(config);
    let mesh = Arc::new(Mesh::new(config.shards, config.inbox_capacity));
    let cpus = allowed_cpus();
    // The app (if any) is loaded before anything listens: a bad app directory stops the start.
    let mut initial_app = load_initial_app(&config)?;
    let disk: Arc<dyn Disk> = Arc::new(OsDisk);
    let started = Instant::now();
    let shards = config.shards;
    let opts = crate::wal::recovery::Options {
        accept_data_loss: config.accept_data_loss,
        feed: feed_options(&config),
    };
    let recovered = open_all(&*disk, &config.data_dir, shards, opts, |t| {
        owner_of(t, shards)
    })?;
    let (docs_replayed, seq_max) = recovered
        .iter()
        .fold((0, 0), |(r, s), x| (r + x.replayed, s.max(x.seq)));
    let recovery_ms = started.elapsed().as_millis() as u64;
    log::info(
        "recovered",
        &format!("recovered in {recovery_ms} ms ({docs_replayed} log records replayed, last sequence {seq_max})"),
        &[
            ("recovery_ms", Field::U64(recovery_ms)),
            ("records_replayed", Field::U64(docs_replayed)),
            ("last_seq", Field::U64(seq_max)),
        ],
    );
    if !config.fsync {
        log::warn("fsync_off", "WARNING: --fsync off: acknowledged writes survive a crash of this process but NOT a power loss or OS crash", &[]);
    }
    let mut writers = Vec::with_capacity(shards);
    let mut opened = Vec::with_capacity(shards);
    for (id, rec) in recovered.into_iter().enumerate() {
        let dir = config.data_dir.join("shards").join(id.to_string());
        opened.push((dir, rec));
    }
    let procs = crate::proc::Procs::spawn()?;
    for (_, rec) in &opened {
        autostart(&config, &procs, &rec.store);
    }
    // Every shard checks every key: each starts with all of them.
    let keys: Vec<_> = opened
        .iter()
        .flat_map(|(_, rec)| rec.store.key_entries())
        .collect();
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    for ((id, listener), (dir, rec)) in listeners.into_iter().enumerate().zip(opened) {
        let (port, token, mesh) = (port, token.clone(), mesh.clone());
        let (seed, writer) = Shard::open(
            id,
            config.clone(),
            port,
            token,
            mesh,
            disk.clone(),
            dir,
            rec,
        )?;
        // The main thread keeps a handle on each writer to settle the log at shutdown.
        writers.push(writer);
        let ready = ready_tx.clone();
        let app = if id == 0 { initial_app.take() } else { None };
        let shard_procs = procs.clone();
        let keys = keys.clone();
        let cpu = (!cpus.is_empty()).then(|| cpus[id % cpus.len()]);
        std::thread::Builder::new()
            .name(format!("nimbus-shard-{id}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    pin_to(cpu);
                }
                let mut shard = match app {
                    Some(active) => seed.start_with_app(active),
                    None => seed.start(),
                };
                shard.set_procs(shard_procs);
                shard.set_keys(keys);
                let shard = Rc::new(shard);
                if let Err(e) = run_shard(shard, listener, ready.clone()) {
                    // Before start this fails `run`; after it, a lost shard ends the process.
                    log::error("shard_stopped", &format!("shard {id} stopped: {e}"), &[]);
                    if ready.send(Err(e)).is_err() {
                        std::process::exit(1);
                    }
                }
            })?;
    }
    for _ in 0..config.shards {
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("a shard thread died at start"))??;
    }
    drop(ready_rx);
    println!(
        "nimbus listening on http://{}:{} ({} shards, data {})",
        config.host,
        port,
        config.shards,
        config.data_dir.display()
    );
    use std::io::Write;
    let _ = io::stdout().flush();
    log_start(&config, port, recovery_ms);
    let sig = wait_for_stop_signal(&signals);
    let stopping = Instant::now();
    log::info(
        "stopping",
        &format!("signal {sig}, stopping"),
        &[("signal", Field::U64(u64::try_from(sig).unwrap_or(0)))],
    );
    shut_down(&mesh, shards, &procs, &writers);
    let ms = stopping.elapsed().as_millis() as u64;
    log::info(
        "stopped",
        &format!("stopped in {ms} ms"),
        &[("stop_ms", Field::U64(ms))],
    );
    Ok(())
}

/// The start line: where the token is, and (as JSON fields) the options the server runs with.
/// The change feed's options, per shard.
fn feed_options(config: &Config) -> crate::changes::Options {
    crate::changes::Options {
        retention_ms: config.changes_retention_ms,
        disk_max: config.changes_disk_max_bytes / config.shards as u64,
        memory_max: config.changes_memory_bytes,
        segment_max: config.changes_segment_bytes,
    }
}

fn log_start(config: &Config, port: u16, recovery_ms: u64) {
    let data_dir = config.data_dir.display().to_string();
    let origins = config.allowed_origins.join(",");
    log::info(
        "start",
        &format!(
            "admin token in {} (send it as `Authorization: Bearer <token>`)",
            crate::auth::token_path(&config.data_dir).display()
        ),
        &[
            ("host", Field::Str(&config.host)),
            ("port", Field::U64(u64::from(port))),
            ("shards", Field::U64(config.shards as u64)),
            ("data_dir", Field::Str(&data_dir)),
            ("fsync", Field::Bool(config.fsync)),
            ("allowed_origins", Field::Str(&origins)),
            ("slow_ms", Field::U64(config.slow_ms)),
            ("access_log", Field::Bool(config.access_log)),
            ("recovery_ms", Field::U64(recovery_ms)),
            ("version", Field::Str(env!("CARGO_PKG_VERSION"))),
        ],
    );
}

/// Children are stopped while the shards drain; the logs are settled last, after every
/// answered write is durable. All within the 5 s DECISIONS §1 allows.
fn shut_down(
    mesh: &Mesh<crate::shard::ShardMsg>,
    shards: usize,
    procs: &crate::proc::Procs,
    writers: &[mpsc::Sender<WriterMsg>],
) {
    let procs_deadline = Instant::now() + Duration::from_secs(2);
    let (ack, stopped) = mpsc::channel();
    let asked_procs = procs.send(crate::proc::ProcMsg::Stop { ack });
    drain_shards(
        mesh,
        shards,
        crate::shard::DRAIN_MAX + Duration::from_millis(200),
    );
    if asked_procs {
        let _ = stopped.recv_timeout(procs_deadline.saturating_duration_since(Instant::now()));
    }
    stop_writers(writers, Duration::from_millis(1500));
}

/// A bind error that names the address and what to do.
fn bind_error(config: &Config, e: io::Error) -> io::Error {
    let remedy = match e.kind() {
        io::ErrorKind::AddrInUse => {
            "another program listens there: stop it, or pass another --port"
        }
        io::ErrorKind::PermissionDenied => {
            "ports below 1024 need privileges: pass a --port of 1024 or more"
        }
        io::ErrorKind::AddrNotAvailable => "this host has no such address: pass another --host",
        _ => "check --host and --port",
    };
    io::Error::new(
        e.kind(),
        format!(
            "cannot listen on {}:{}: {e}; {remedy}",
            config.host, config.port
        ),
    )
}

/// The app of `--app`, loaded before anything listens: a bad app directory stops the start.
fn load_initial_app(config: &Config) -> io::Result<Option<crate::deploy::Active>> {
    let Some(dir) = &config.app_dir else {
        return Ok(None);
    };
    let app = crate::deploy::app::load_app_dir(dir).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--app {}: {}", dir.display(), e.message()),
        )
    })?;
    Ok(Some(crate::deploy::Active { generation: 1, app }))
}

/// Services marked autostart start now, from their durable definitions.
fn autostart(config: &Config, procs: &crate::proc::Procs, store: &crate::store::Store) {
    for tenant in store.tenant_ids() {
        let Ok(t) = store.tenant(tenant) else {
            continue;
        };
        for def in t.services.values().filter(|d| d.autostart) {
            let dir = config
                .data_dir
                .join("tenants")
                .join(tenant)
                .join("services")
                .join(&def.name);
            let (reply, _) = futures_channel::oneshot::channel();
            procs.send(crate::proc::ProcMsg::ServiceAction {
                tenant: tenant.to_string(),
                def: def.clone(),
                dir,
                action: crate::proc::Action::Start,
                reply,
            });
        }
    }
}
