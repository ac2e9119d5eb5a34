//! The shard's side of live queries: WebSocket connections registered here, subscriptions
//! kept on the shard that owns the tenant, and results carried back as shared bytes.

use super::{Shard, ShardMsg};
use crate::error::{Error, Result};
use crate::query::Query;
use crate::sessions::{Kind as SessionKind, Session};
use crate::subs::{Batch, ConnRef, Delivery};
use crate::ws::frames;
use crate::ws::outbox::Outbox;
use futures_channel::oneshot;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn unavailable(to: usize) -> Error {
    Error::Unavailable(format!("shard {to} is overloaded"))
}

fn dropped() -> Error {
    Error::Internal("a shard dropped a request".into())
}

impl Shard {
    fn owner(&self, tenant: &str) -> usize {
        super::owner_of(tenant, self.mesh.cores())
    }

    /// A number for a new connection on this shard.
    pub fn new_conn_id(&self) -> u64 {
        let n = self.next_conn.get();
        self.next_conn.set(n + 1);
        n
    }

    /// Makes a connection reachable by deliveries and by ends.
    pub fn register_conn(&self, conn: u64, outbox: Rc<Outbox>) {
        self.conns.borrow_mut().insert(conn, outbox);
    }

    /// Forgets a closed connection.
    pub fn unregister_conn(&self, conn: u64) {
        self.conns.borrow_mut().remove(&conn);
        self.keyed.borrow_mut().remove(&conn);
    }

    /// Records a new connection (and its session) with the tenant's owner; fails if the
    /// tenant does not exist.
    pub async fn attach(&self, tenant: &str, conn: ConnRef, session_id: &str) -> Result<()> {
        let owner = self.owner(tenant);
        if owner == self.id {
            return self.attach_here(tenant, conn, session_id);
        }
        let (reply, rx) = oneshot::channel();
        let msg = ShardMsg::Attach {
            tenant: tenant.to_string(),
            conn,
            session_id: session_id.to_string(),
            reply,
        };
        self.mesh.send(owner, msg).map_err(|_| unavailable(owner))?;
        rx.await.map_err(|_| dropped())?
    }

    fn attach_here(&self, tenant: &str, conn: ConnRef, session_id: &str) -> Result<()> {
        let mut state = self.state.borrow_mut();
        state.store.tenant(tenant)?;
        state.subs.attach(tenant, conn);
        state.sessions.open(Session {
            id: session_id.to_string(),
            tenant: tenant.to_string(),
            kind: SessionKind::Ws(conn),
            closed: false,
            created_at: crate::clock::now_ms(),
            expires_at: None,
            metadata: crate::value::Value::Object(vec![]),
        });
        Ok(())
    }

    fn detach_here(&self, tenant: &str, conn: ConnRef) {
        let mut state = self.state.borrow_mut();
        state.subs.detach(tenant, conn);
        state.sessions.conn_ended(conn);
    }

    /// This shard's answer for a session id: its JSON (after closing it, with `close`).
    /// With `only`, a session of another tenant is not found.
    fn session_here(&self, id: &str, close: bool, only: Option<&str>) -> Option<Vec<u8>> {
        let now = crate::clock::now_ms();
        let mut out = Vec::new();
        let mut state = self.state.borrow_mut();
        let theirs = state.sessions.get(id)?.tenant != only.unwrap_or_default();
        if only.is_some() && theirs {
            return None;
        }
        if !close {
            state.sessions.get(id)?.write_json(now, &mut out);
            return Some(out);
        }
        let existing = state.sessions.get(id)?.clone();
        let session = state.sessions.close(id).unwrap_or(existing);
        session.write_json(now, &mut out);
        drop(state);
        if let SessionKind::Ws(conn) = session.kind {
            let e = Error::Protocol {
                code: "session.closed",
                message: format!("session `{id}` was closed"),
            };
            self.end_conns(vec![conn], e);
        }
        Some(out)
    }

    /// A session by id from whichever shard has it (closing it with `close`); with `only`,
    /// only a session of that tenant (what a tenant key may see).
    pub async fn session_by_id(
        &self,
        id: &str,
        close: bool,
        only: Option<&str>,
    ) -> Result<Vec<u8>> {
        if let Some(found) = self.session_here(id, close, only) {
            return Ok(found);
        }
        let mut waiting = Vec::new();
        for to in (0..self.mesh.cores()).filter(|&s| s != self.id) {
            let (reply, rx) = oneshot::channel();
            let msg = ShardMsg::FindSession {
                id: id.to_string(),
                close,
                only: only.map(str::to_string),
                reply,
            };
            self.mesh.send(to, msg).map_err(|_| unavailable(to))?;
            waiting.push(rx);
        }
        for rx in waiting {
            if let Some(found) = rx.await.map_err(|_| dropped())? {
                return Ok(found);
            }
        }
        Err(Error::NotFound(format!("session `{id}` does not exist")))
    }

    /// Tells the tenant's owner that a connection closed.
    pub fn detach(&self, tenant: &str, conn: ConnRef) {
        let owner = self.owner(tenant);
        if owner == self.id {
            self.detach_here(tenant, conn);
        } else {
            // If the owner's inbox is full, the subscriptions stay until the tenant is
            // deleted; results for a closed connection are dropped on arrival.
            let _ = self.mesh.send(
                owner,
                ShardMsg::Detach {
                    tenant: tenant.to_string(),
                    conn,
                },
            );
        }
    }

    /// Subscribes on the tenant's owner; returns the current result.
    pub async fn subscribe(
        &self,
        tenant: &str,
        conn: ConnRef,
        sub: u32,
        query: Query,
    ) -> Result<Arc<Delivery>> {
        let owner = self.owner(tenant);
        if owner == self.id {
            return self.subscribe_here(tenant, conn, sub, query);
        }
        let (reply, rx) = oneshot::channel();
        let msg = ShardMsg::Subscribe {
            tenant: tenant.to_string(),
            conn,
            sub,
            query,
            reply,
        };
        self.mesh.send(owner, msg).map_err(|_| unavailable(owner))?;
        rx.await.map_err(|_| dropped())?
    }

    fn subscribe_here(
        &self,
        tenant: &str,
        conn: ConnRef,
        sub: u32,
        query: Query,
    ) -> Result<Arc<Delivery>> {
        let mut state = self.state.borrow_mut();
        state.store.tenant(tenant)?;
        let seq = state.log.seq();
        let super::State { store, subs, .. } = &mut *state;
        Ok(subs.subscribe(store, tenant, conn, sub, query, seq))
    }

    /// Ends a subscription on the tenant's owner.
    pub fn unsubscribe(&self, tenant: &str, conn: ConnRef, sub: u32) {
        let owner = self.owner(tenant);
        if owner == self.id {
            self.state.borrow_mut().subs.unsubscribe(tenant, conn, sub);
        } else {
            let _ = self.mesh.send(
                owner,
                ShardMsg::Unsubscribe {
                    tenant: tenant.to_string(),
                    conn,
                    sub,
                },
            );
        }
    }

    /// Sends new results to the shards of their subscribers (this one directly).
    pub(super) fn fan_out(&self, batches: Vec<Batch>) {
        for (to, batch) in batches.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            if to == self.id {
                self.deliver(batch);
                continue;
            }
            if let Err(ShardMsg::Deliver { batch }) =
                self.mesh.send(to, ShardMsg::Deliver { batch })
            {
                // A full inbox: try again shortly rather than lose the latest result. A later
                // result overtaking this one is fine: the outbox drops older versions.
                let mesh = self.mesh.clone();
                monoio::spawn(async move {
                    let mut msg = ShardMsg::Deliver { batch };
                    for _ in 0..5000 {
                        monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                        match mesh.send(to, msg) {
                            Ok(()) => return,
                            Err(back) => msg = back,
                        }
                    }
                    crate::log::warn(
                        "live",
                        &format!("inbox of shard {to} stayed full for 5 s; live results dropped"),
                        &[],
                    );
                });
            }
        }
    }

    fn deliver(&self, batch: Batch) {
        let conns = self.conns.borrow();
        for (conn, sub, delivery) in batch {
            let Some(outbox) = conns.get(&conn) else {
                continue;
            };
            let Some(e) = &delivery.error else {
                outbox.push_result(sub, delivery);
                continue;
            };
            // The query passed a bound: its last word, and the subscription is over (what
            // results of it still wait are dropped; the error says why).
            let trace = self.request_id();
            let frame = outbox.with_request_id(sub, |request_id| {
                frames::subscription_error(
                    &frames::sub_id(sub),
                    request_id,
                    e,
                    trace.as_str(),
                    delivery.version,
                )
            });
            if let Some(frame) = frame {
                outbox.remove_sub(sub);
                outbox.push_text(frame);
            }
        }
    }

    /// Ends connections (here or on their shards) with `fatal_error` `error`.
    pub(super) fn end_conns(&self, conns: Vec<ConnRef>, error: Error) {
        for c in conns {
            if c.shard == self.id {
                self.end_conn(c.conn, &error);
            } else {
                let _ = self.mesh.send(
                    c.shard,
                    ShardMsg::EndConn {
                        conn: c.conn,
                        error: error.clone(),
                    },
                );
            }
        }
    }

    pub(super) fn end_conn(&self, conn: u64, error: &Error) {
        let outbox = self.conns.borrow().get(&conn).cloned();
        if let Some(outbox) = outbox {
            let code = if matches!(error, Error::Unavailable(_)) {
                1001
            } else {
                1008
            };
            outbox.fatal(error, self.request_id().as_str(), code);
        }
    }

    /// Ends every WebSocket on this shard with `service.unavailable` and waits (at most a
    /// second) for their queues to drain.
    pub async fn close_all_sockets(&self) {
        let all: Vec<Rc<Outbox>> = self.conns.borrow().values().cloned().collect();
        let e = Error::Unavailable("the server is shutting down".into());
        for o in &all {
            o.fatal(&e, self.request_id().as_str(), 1001);
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline && !self.conns.borrow().is_empty() {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs a deploy request on shard 0, which owns the active app.
    pub async fn deploy(&self, request: crate::value::Value) -> Result<Vec<u8>> {
        if self.id == 0 {
            return self.deploy_here(request).await;
        }
        let (reply, rx) = oneshot::channel();
        self.mesh
            .send(0, ShardMsg::Deploy { request, reply })
            .map_err(|_| unavailable(0))?;
        rx.await.map_err(|_| dropped())?
    }

    /// Stages on a helper thread, then diffs and (unless a dry run) activates in one step.
    async fn deploy_here(&self, request: crate::value::Value) -> Result<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("nimbus-deploy".into())
            .spawn(move || {
                let _ = tx.send(crate::deploy::stage(&request));
            })
            .map_err(|e| Error::Internal(format!("cannot start staging: {e}")))?;
        let staged = rx
            .await
            .map_err(|_| Error::Internal("staging thread died".into()))??;
        let mut out = Vec::new();
        self.deploy.borrow_mut().apply(staged, &mut out);
        Ok(out)
    }

    /// Handles the live-query messages of the inbox.
    pub(super) fn handle_live(self: Rc<Self>, msg: ShardMsg) {
        match msg {
            ShardMsg::Attach {
                tenant,
                conn,
                session_id,
                reply,
            } => {
                let _ = reply.send(self.attach_here(&tenant, conn, &session_id));
            }
            ShardMsg::FindSession {
                id,
                close,
                only,
                reply,
            } => {
                let _ = reply.send(self.session_here(&id, close, only.as_deref()));
            }
            ShardMsg::Detach { tenant, conn } => self.detach_here(&tenant, conn),
            ShardMsg::Subscribe {
                tenant,
                conn,
                sub,
                query,
                reply,
            } => {
                let _ = reply.send(self.subscribe_here(&tenant, conn, sub, query));
            }
            ShardMsg::Unsubscribe { tenant, conn, sub } => {
                self.state.borrow_mut().subs.unsubscribe(&tenant, conn, sub);
            }
            ShardMsg::Deliver { batch } => self.deliver(batch),
            ShardMsg::EndConn { conn, error } => self.end_conn(conn, &error),
            ShardMsg::Shutdown { ack } => {
                monoio::spawn(async move {
                    self.drain().await;
                    let _ = ack.send(());
                });
            }
            ShardMsg::Deploy { request, reply } => {
                monoio::spawn(async move {
                    let _ = reply.send(self.deploy_here(request).await);
                });
            }
            ShardMsg::Keys { updates, ack } => {
                self.apply_keys(updates);
                let _ = ack.send(());
            }
            // Answered by `serve_inbox` itself.
            ShardMsg::Execute { .. }
            | ShardMsg::ListTenants { .. }
            | ShardMsg::Report { .. }
            | ShardMsg::Export { .. }
            | ShardMsg::ExportEnd { .. }
            | ShardMsg::BackupClaim { .. }
            | ShardMsg::BackupPart { .. }
            | ShardMsg::Changes { .. }
            | ShardMsg::Topic { .. } => {}
        }
    }
}
