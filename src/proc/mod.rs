//! Child processes: one supervisor thread owns every sandbox (and reaps every child), so no
//! shard's event loop ever blocks on a process. Shards talk to it by message and get their
//! answers on one-shot channels.
//!
//! Invariant: every child the supervisor starts is waited for (no zombies), and is killed when
//! its tenant is deleted or the server stops.

pub mod sandbox;
pub mod service;

use crate::clock::now_ms;
use futures_channel::oneshot;
use sandbox::{Sandbox, Spec, State};
use service::{RunState, Service, ServiceDef};
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// In a child between fork and exec: unblock every signal (the server blocks SIGINT and
/// SIGTERM in its threads, and a mask survives exec) and restore default dispositions, so
/// SIGTERM stops a service as it should. Only async-signal-safe calls.
pub(crate) fn reset_signals_in_child() {
    // SAFETY: plain libc calls on this process's own signal state.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in [
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGPIPE,
            libc::SIGHUP,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// Finished sandboxes remembered, for `GET`.
const FINISHED_KEPT: usize = 1000;
/// How often running children are checked on.
const TICK: Duration = Duration::from_millis(10);

/// Requests to the supervisor.
pub enum ProcMsg {
    RunSandbox {
        tenant: String,
        spec: Spec,
        reply: oneshot::Sender<Vec<u8>>,
    },
    GetSandbox {
        tenant: String,
        id: String,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    ListSandboxes {
        tenant: String,
        reply: oneshot::Sender<Vec<u8>>,
    },
    StopSandbox {
        tenant: String,
        id: String,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    /// Creates or updates a service's definition (it keeps running as it is).
    ServiceDefine {
        tenant: String,
        def: ServiceDef,
        dir: PathBuf,
    },
    /// Starts, stops or restarts a service, or just reads it; answers the service object
    /// once the action has taken effect.
    ServiceAction {
        tenant: String,
        def: ServiceDef,
        dir: PathBuf,
        action: Action,
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// The service objects of a tenant's definitions.
    ServiceList {
        tenant: String,
        defs: Vec<(ServiceDef, PathBuf)>,
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// The service was deleted: stop and forget it.
    ServiceRemove { tenant: String, name: String },
    /// The tenant was deleted: kill and forget its processes.
    DropTenant { tenant: String },
    /// The server stops: kill everything, reap it, then ack.
    Stop { ack: mpsc::Sender<()> },
}

/// A handle on the supervisor thread (cheap to clone; every shard has one).
#[derive(Clone)]
pub struct Procs {
    tx: mpsc::Sender<ProcMsg>,
}

impl Procs {
    /// Starts the supervisor thread.
    pub fn spawn() -> std::io::Result<Procs> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("nimbus-procs".into())
            .spawn(move || Supervisor::default().run(rx))?;
        Ok(Procs { tx })
    }

    /// Sends a request; `false` if the supervisor is gone (shutdown).
    pub fn send(&self, msg: ProcMsg) -> bool {
        self.tx.send(msg).is_ok()
    }
}

/// What a service request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Start,
    Stop,
    Restart,
}

/// A reply owed once a service settles (stopped, or running again).
struct Owed {
    key: (String, String),
    /// `Some(n)`: answer once the service has started more than `n` processes;
    /// `None`: answer once it has no process.
    started_after: Option<u64>,
    reply: oneshot::Sender<Vec<u8>>,
}

#[derive(Default)]
struct Supervisor {
    running: Vec<Sandbox>,
    finished: VecDeque<Sandbox>,
    services: BTreeMap<(String, String), Service>,
    /// Services to start again as soon as their process has ended (API restart).
    restart_after_stop: Vec<(String, String)>,
    owed: Vec<Owed>,
}

impl Supervisor {
    fn run(mut self, rx: mpsc::Receiver<ProcMsg>) {
        loop {
            let busy = !self.running.is_empty()
                || !self.owed.is_empty()
                || self
                    .services
                    .values()
                    .any(|s| s.child.is_some() || s.restart_at.is_some());
            let msg = if !busy {
                rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(TICK)
            };
            match msg {
                Ok(m) => {
                    if !self.handle(m) {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.kill_all();
                    return;
                }
            }
            self.poll();
        }
    }

    fn poll(&mut self) {
        let now = now_ms();
        for (key, svc) in self.services.iter_mut() {
            svc.poll(now);
            if svc.child.is_none() {
                if let Some(i) = self.restart_after_stop.iter().position(|k| k == key) {
                    self.restart_after_stop.swap_remove(i);
                    svc.wanted = true;
                    svc.spawn(now);
                }
            }
        }
        let services = &self.services;
        let restarting = &self.restart_after_stop;
        let (ready, waiting): (Vec<Owed>, Vec<Owed>) = std::mem::take(&mut self.owed)
            .into_iter()
            .partition(|o| match (services.get(&o.key), o.started_after) {
                (None, _) => true,
                (Some(s), Some(n)) => s.spawns > n && !restarting.contains(&o.key),
                (Some(s), None) => s.child.is_none(),
            });
        self.owed = waiting;
        for o in ready {
            let mut out = Vec::new();
            if let Some(s) = self.services.get(&o.key) {
                s.write_json(&mut out);
            }
            let _ = o.reply.send(out);
        }
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].poll(now) {
                let done = self.running.swap_remove(i);
                self.finished.push_back(done);
                while self.finished.len() > FINISHED_KEPT {
                    self.finished.pop_front();
                }
            } else {
                i += 1;
            }
        }
    }

    fn find(&mut self, tenant: &str, id: &str) -> Option<&mut Sandbox> {
        self.running
            .iter_mut()
            .chain(self.finished.iter_mut())
            .find(|s| s.tenant == tenant && s.id == id)
    }

    fn json(s: &Sandbox) -> Vec<u8> {
        let mut out = Vec::new();
        s.write_json(&mut out);
        out
    }

    fn handle(&mut self, msg: ProcMsg) -> bool {
        match msg {
            ProcMsg::RunSandbox {
                tenant,
                spec,
                reply,
            } => {
                let id = crate::ids::DocId(ulid::Ulid::new().0).to_string();
                let sb = Sandbox::start(id, tenant, spec, now_ms());
                let _ = reply.send(Self::json(&sb));
                if sb.state == State::Running {
                    self.running.push(sb);
                } else {
                    self.finished.push_back(sb);
                }
            }
            ProcMsg::GetSandbox { tenant, id, reply } => {
                self.poll();
                let _ = reply.send(self.find(&tenant, &id).map(|s| Self::json(s)));
            }
            ProcMsg::ListSandboxes { tenant, reply } => {
                let _ = reply.send(self.list_sandboxes(&tenant));
            }
            ProcMsg::StopSandbox { tenant, id, reply } => {
                let _ = reply.send(self.stop_sandbox(&tenant, &id));
            }
            ProcMsg::ServiceDefine { tenant, def, dir } => {
                let key = (tenant.clone(), def.name.clone());
                match self.services.get_mut(&key) {
                    Some(s) => s.def = def,
                    None => {
                        self.services.insert(key, Service::new(tenant, def, dir));
                    }
                }
            }
            ProcMsg::ServiceAction {
                tenant,
                def,
                dir,
                action,
                reply,
            } => self.service_action(tenant, def, dir, action, reply),
            ProcMsg::ServiceList {
                tenant,
                defs,
                reply,
            } => {
                let _ = reply.send(self.list_services(&tenant, defs));
            }
            ProcMsg::ServiceRemove { tenant, name } => {
                let key = (tenant, name);
                if let Some(s) = self.services.get_mut(&key) {
                    s.stop(now_ms());
                }
                self.stop_services(
                    |k| *k == key,
                    std::time::Duration::from_millis(service::STOP_GRACE_MS + 500),
                );
                self.services.remove(&key);
            }
            ProcMsg::DropTenant { tenant } => self.drop_tenant(&tenant),
            ProcMsg::Stop { ack } => {
                self.kill_all();
                let _ = ack.send(());
                return false;
            }
        }
        true
    }

    /// `{"sandboxes":[...]}` of a tenant, by id.
    fn list_sandboxes(&mut self, tenant: &str) -> Vec<u8> {
        self.poll();
        let mut all: Vec<&Sandbox> = self
            .running
            .iter()
            .chain(self.finished.iter())
            .filter(|s| s.tenant == tenant)
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let mut out = b"{\"sandboxes\":[".to_vec();
        for (n, s) in all.into_iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            s.write_json(&mut out);
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// Kills a sandbox and answers its final state (`None`: no such sandbox).
    fn stop_sandbox(&mut self, tenant: &str, id: &str) -> Option<Vec<u8>> {
        if let Some(s) = self.find(tenant, id) {
            s.kill(State::Killed);
        }
        // Wait (briefly) for the kill to land, so the answer shows the final state.
        for _ in 0..200 {
            self.poll();
            if self
                .running
                .iter()
                .all(|s| s.tenant != tenant || s.id != id)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.find(tenant, id).map(|s| Self::json(s))
    }

    /// Starts, stops, restarts or shows a service; a change is answered once it took effect
    /// (see [`Owed`]).
    fn service_action(
        &mut self,
        tenant: String,
        def: ServiceDef,
        dir: PathBuf,
        action: Action,
        reply: oneshot::Sender<Vec<u8>>,
    ) {
        let key = (tenant.clone(), def.name.clone());
        let now = now_ms();
        let svc = self
            .services
            .entry(key.clone())
            .or_insert_with(|| Service::new(tenant, def.clone(), dir));
        svc.def = def;
        let spawns = svc.spawns;
        let want_running = match action {
            Action::Get => {
                let mut out = Vec::new();
                svc.write_json(&mut out);
                let _ = reply.send(out);
                return;
            }
            Action::Start => {
                svc.wanted = true;
                if svc.child.is_none() {
                    svc.spawn(now);
                }
                true
            }
            Action::Stop => {
                svc.stop(now);
                false
            }
            Action::Restart => {
                if svc.child.is_some() {
                    svc.stop(now);
                    self.restart_after_stop.push(key.clone());
                } else {
                    svc.wanted = true;
                    svc.spawn(now);
                }
                true
            }
        };
        let started_after = want_running.then_some(spawns);
        self.owed.push(Owed {
            key,
            started_after,
            reply,
        });
    }

    /// `{"services":[...]}`: each definition with its process's state.
    fn list_services(&mut self, tenant: &str, defs: Vec<(ServiceDef, PathBuf)>) -> Vec<u8> {
        let mut out = b"{\"services\":[".to_vec();
        for (n, (def, dir)) in defs.into_iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let key = (tenant.to_string(), def.name.clone());
            let svc = self
                .services
                .entry(key)
                .or_insert_with(|| Service::new(tenant.to_string(), def.clone(), dir));
            svc.def = def;
            svc.write_json(&mut out);
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// Stops and forgets every service and sandbox of a deleted tenant.
    fn drop_tenant(&mut self, tenant: &str) {
        let now = now_ms();
        for (_, s) in self.services.iter_mut().filter(|(k, _)| k.0 == tenant) {
            s.stop(now);
        }
        let grace = std::time::Duration::from_millis(service::STOP_GRACE_MS + 500);
        self.stop_services(|k| k.0 == tenant, grace);
        self.services.retain(|k, _| k.0 != tenant);
        for s in self.running.iter_mut().filter(|s| s.tenant == tenant) {
            s.kill(State::Killed);
        }
        self.reap_until_done(Duration::from_secs(5));
        self.running.retain(|s| s.tenant != tenant);
        self.finished.retain(|s| s.tenant != tenant);
    }

    fn reap_until_done(&mut self, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        while !self.running.iter().all(|s| s.state != State::Running)
            && std::time::Instant::now() < deadline
        {
            self.poll();
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits (at most `within`) for the selected services' processes to end after their stop
    /// began, then kills what is left; every child is reaped.
    fn stop_services(&mut self, which: impl Fn(&(String, String)) -> bool, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let now = now_ms();
            let mut left = false;
            for (k, s) in self.services.iter_mut().filter(|(k, _)| which(k)) {
                let _ = k;
                s.poll(now);
                left |= s.child.is_some();
            }
            if !left {
                return;
            }
            if std::time::Instant::now() >= deadline {
                for (_, s) in self.services.iter_mut().filter(|(k, _)| which(k)) {
                    if let Some(mut child) = s.child.take() {
                        if let Some(pid) = s.pid.take() {
                            // SAFETY: our own child's process group.
                            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
                        }
                        let _ = child.wait();
                        s.state = RunState::Stopped;
                    }
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_all(&mut self) {
        // Services get SIGTERM and a short grace (the whole shutdown has 5 s), then SIGKILL.
        let now = now_ms();
        for s in self.services.values_mut() {
            s.stop(now);
        }
        self.stop_services(|_| true, Duration::from_millis(1500));
        for s in self.running.iter_mut() {
            s.kill(State::Killed);
        }
        self.reap_until_done(Duration::from_secs(5));
        // Whatever is left is killed and waited for on drop.
        self.running.clear();
    }
}
