//! Child processes: one supervisor thread owns every sandbox (and reaps every child), so no
//! shard's event loop ever blocks on a process. Shards talk to it by message and get their
//! answers on one-shot channels.
//!
//! Invariant: every child the supervisor starts is waited for (no zombies), and is killed when
//! its tenant is deleted or the server stops.

pub mod sandbox;

use crate::clock::now_ms;
use futures_channel::oneshot;
use sandbox::{Sandbox, Spec, State};
use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Duration;

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

#[derive(Default)]
struct Supervisor {
    running: Vec<Sandbox>,
    finished: VecDeque<Sandbox>,
}

impl Supervisor {
    fn run(mut self, rx: mpsc::Receiver<ProcMsg>) {
        loop {
            let msg = if self.running.is_empty() {
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
                let _ = reply.send(out);
            }
            ProcMsg::StopSandbox { tenant, id, reply } => {
                if let Some(s) = self.find(&tenant, &id) {
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
                let _ = reply.send(self.find(&tenant, &id).map(|s| Self::json(s)));
            }
            ProcMsg::DropTenant { tenant } => {
                for s in self.running.iter_mut().filter(|s| s.tenant == tenant) {
                    s.kill(State::Killed);
                }
                self.reap_until_done(Duration::from_secs(5));
                self.running.retain(|s| s.tenant != tenant);
                self.finished.retain(|s| s.tenant != tenant);
            }
            ProcMsg::Stop { ack } => {
                self.kill_all();
                let _ = ack.send(());
                return false;
            }
        }
        true
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

    fn kill_all(&mut self) {
        for s in self.running.iter_mut() {
            s.kill(State::Killed);
        }
        self.reap_until_done(Duration::from_secs(5));
        // Whatever is left is killed and waited for on drop.
        self.running.clear();
    }
}
