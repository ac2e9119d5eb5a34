//! Sessions: a client's presence on a tenant (DECISIONS §9). Opened over HTTP with a time to
//! live, or by every WebSocket connection (kind `ws`, its id the `session_id` of `hello`).
//! Kept on the shard that owns the tenant, in memory: a session does not outlive the process.

use crate::json::{write_str, write_u64, write_value};
use crate::subs::ConnRef;
use crate::value::Value;
use std::collections::VecDeque;

type Map<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

/// Closed sessions remembered per shard, for `GET`.
const CLOSED_KEPT: usize = 1000;

/// An HTTP session or a WebSocket connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Http,
    Ws(ConnRef),
}

/// One session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub tenant: String,
    pub kind: Kind,
    pub closed: bool,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub metadata: Value,
}

impl Session {
    /// `open`, `closed` or `expired` at `now`.
    pub fn state(&self, now: u64) -> &'static str {
        match (self.closed, self.expires_at) {
            (true, _) => "closed",
            (false, Some(at)) if now >= at => "expired",
            _ => "open",
        }
    }

    /// `{"id","tenant_id","kind","state","created_at","expires_at","metadata"}`
    pub fn write_json(&self, now: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_str(out, &self.id);
        out.extend_from_slice(b",\"tenant_id\":");
        write_str(out, &self.tenant);
        out.extend_from_slice(b",\"kind\":");
        write_str(
            out,
            if self.kind == Kind::Http {
                "http"
            } else {
                "ws"
            },
        );
        out.extend_from_slice(b",\"state\":");
        write_str(out, self.state(now));
        out.extend_from_slice(b",\"created_at\":");
        write_u64(out, self.created_at);
        out.extend_from_slice(b",\"expires_at\":");
        match self.expires_at {
            Some(at) => write_u64(out, at),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"metadata\":");
        write_value(out, &self.metadata);
        out.push(b'}');
    }
}

/// A shard's sessions.
#[derive(Default)]
pub struct Sessions {
    open: Map<String, Session>,
    /// The open session of each WebSocket connection, by connection.
    by_conn: Map<ConnRef, String>,
    closed: VecDeque<Session>,
}

impl Sessions {
    /// Records a session.
    pub fn open(&mut self, s: Session) {
        if let Kind::Ws(conn) = s.kind {
            self.by_conn.insert(conn, s.id.clone());
        }
        self.open.insert(s.id.clone(), s);
    }

    /// A session by id, open or recently closed.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.open
            .get(id)
            .or_else(|| self.closed.iter().rev().find(|s| s.id == id))
    }

    /// Closes a session; returns it (closed), and the connection to end if it is a WebSocket.
    pub fn close(&mut self, id: &str) -> Option<Session> {
        let mut s = self.open.remove(id)?;
        if let Kind::Ws(conn) = s.kind {
            self.by_conn.remove(&conn);
        }
        s.closed = true;
        self.remember(s.clone());
        Some(s)
    }

    /// A WebSocket connection ended: its session is closed.
    pub fn conn_ended(&mut self, conn: ConnRef) {
        if let Some(id) = self.by_conn.get(&conn).cloned() {
            self.close(&id);
        }
    }

    fn remember(&mut self, s: Session) {
        self.closed.push_back(s);
        while self.closed.len() > CLOSED_KEPT {
            self.closed.pop_front();
        }
    }

    /// Open (and expired but not closed) sessions of a tenant, oldest first.
    pub fn list(&self, tenant: &str) -> Vec<&Session> {
        let mut v: Vec<&Session> = self.open.values().filter(|s| s.tenant == tenant).collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        v
    }

    /// The tenant was deleted: its sessions go.
    pub fn drop_tenant(&mut self, tenant: &str) {
        self.open.retain(|_, s| s.tenant != tenant);
        let open = &self.open;
        self.by_conn.retain(|_, id| open.contains_key(id));
        self.closed.retain(|s| s.tenant != tenant);
    }
}
