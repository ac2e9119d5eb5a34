//! What one core owns: its tenants' store, its inbox, and the handle connections use to
//! reach any tenant, here or on another core.
//!
//! A tenant belongs to shard `fnv1a(tenant_id) % shards`. A request for a local tenant runs
//! directly; one for another shard's tenant goes there as a [`ShardMsg`] and its answer comes
//! back through a one-shot channel. Shard state is `!Send` (`RefCell`), and a borrow never
//! spans an `.await`.

mod exec;

use crate::clock::{http_date, now_ms};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::json::Parser;
use crate::mesh::Mesh;
use crate::ops::Op;
use crate::store::Store;
use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

/// Everything one shard can ask of another. Reading this enum shows all cross-core traffic.
pub enum ShardMsg {
    /// Run an op on a tenant this shard owns.
    Execute {
        op: Op,
        reply: oneshot::Sender<Reply>,
    },
    /// List this shard's tenants.
    ListTenants { reply: oneshot::Sender<Vec<String>> },
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
    store: RefCell<Store>,
    /// JSON parser scratch space, reused by every request on this core.
    pub parser: RefCell<Parser>,
    next_request: Cell<u128>,
    date: RefCell<(u64, String)>,
}

fn run_guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::Internal("a request handler panicked".into())))
}

impl Shard {
    /// A shard with an empty store.
    pub fn new(
        id: usize,
        config: Arc<Config>,
        port: u16,
        token: Arc<str>,
        mesh: Arc<Mesh<ShardMsg>>,
    ) -> Shard {
        Shard {
            id,
            config,
            port,
            token,
            mesh,
            store: RefCell::new(Store::default()),
            parser: RefCell::new(Parser::default()),
            next_request: Cell::new(ulid::Ulid::new().0),
            date: RefCell::new((0, String::new())),
        }
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
            return run_guarded(|| exec::execute(&mut self.store.borrow_mut(), op, out));
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
        let mut all: Vec<String> = self
            .store
            .borrow()
            .tenant_ids()
            .map(str::to_string)
            .collect();
        for rx in waiting {
            all.extend(
                rx.await
                    .map_err(|_| Error::Internal("a shard dropped a request".into()))?,
            );
        }
        all.sort_unstable();
        Ok(all)
    }

    /// Answers messages from other shards until the mesh closes.
    pub async fn serve_inbox(self: Rc<Self>) {
        while let Some(msg) = self.mesh.recv(self.id).await {
            match msg {
                ShardMsg::Execute { op, reply } => {
                    let mut body = Vec::new();
                    let result =
                        run_guarded(|| exec::execute(&mut self.store.borrow_mut(), op, &mut body));
                    let _ = reply.send(Reply { result, body });
                }
                ShardMsg::ListTenants { reply } => {
                    let _ = reply.send(
                        self.store
                            .borrow()
                            .tenant_ids()
                            .map(str::to_string)
                            .collect(),
                    );
                }
            }
        }
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
