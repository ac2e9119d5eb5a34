//! Every shard's copy of the tenant keys, kept in step by message, and the WebSockets opened
//! with a key, which end when the key is revoked or expires.
//!
//! The owner of a key's tenant commits the change, then sends the update to every other
//! shard and waits for all of them to apply it before it answers: once a revocation's `204`
//! is sent, no core accepts the key.

use super::{Shard, ShardMsg};
use crate::auth::keys::{Directory, Entry, Update};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use futures_channel::oneshot;
use std::time::Duration;

/// How often a shard looks for expired keys among its WebSockets (an expired key's socket
/// ends within this, well inside the second DECISIONS §10 allows).
const EXPIRY_TICK: Duration = Duration::from_millis(250);
/// How long a full inbox is retried before a key update is given up (and logged).
const SEND_RETRY_FOR: Duration = Duration::from_secs(10);

/// The key a WebSocket connection was opened with.
#[derive(Debug, Clone, Copy)]
pub struct ConnKey {
    pub hash: [u8; 32],
    pub expires_at: Option<u64>,
}

impl Shard {
    /// This shard's copy of every live key.
    pub fn keys(&self) -> std::cell::Ref<'_, Directory> {
        self.keys.borrow()
    }

    /// Sets the directory recovery found (before the shard serves).
    pub fn set_keys(&mut self, entries: Vec<Entry>) {
        *self.keys.get_mut() = Directory::new(entries);
    }

    /// Applies `updates` here and on every other shard; resolves when all have.
    pub(super) async fn spread_keys(&self, updates: Vec<Update>) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut acks = Vec::new();
        for to in (0..self.mesh.cores()).filter(|&s| s != self.id) {
            let (ack, rx) = oneshot::channel();
            self.send_until_taken(
                to,
                ShardMsg::Keys {
                    updates: updates.clone(),
                    ack,
                },
            )
            .await?;
            acks.push(rx);
        }
        self.apply_keys(updates);
        for rx in acks {
            rx.await
                .map_err(|_| Error::Internal("a shard dropped a key update".into()))?;
        }
        Ok(())
    }

    /// Sends `msg`, waiting out a full inbox: a key update must not be dropped.
    async fn send_until_taken(&self, to: usize, mut msg: ShardMsg) -> Result<()> {
        let deadline = std::time::Instant::now() + SEND_RETRY_FOR;
        loop {
            match self.mesh.send(to, msg) {
                Ok(()) => return Ok(()),
                Err(back) if std::time::Instant::now() < deadline => {
                    msg = back;
                    monoio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(_) => {
                    crate::log::warn(
                        "keys",
                        &format!("shard {to} took no key update for 10 s"),
                        &[],
                    );
                    return Err(Error::Unavailable(format!(
                        "shard {to} is overloaded; the key change is stored but not yet seen everywhere"
                    )));
                }
            }
        }
    }

    /// Applies key updates to this shard's directory and ends the WebSockets whose key
    /// went.
    pub(super) fn apply_keys(&self, updates: Vec<Update>) {
        {
            let mut dir = self.keys.borrow_mut();
            for u in updates {
                dir.apply(u);
            }
        }
        self.end_keyless_sockets(now_ms());
    }

    /// Remembers that WebSocket `conn` was opened with `key`.
    pub fn keyed_conn(&self, conn: u64, key: ConnKey) {
        self.keyed.borrow_mut().insert(conn, key);
    }

    /// Ends every WebSocket here whose key is revoked or expired by `now`.
    fn end_keyless_sockets(&self, now: u64) {
        let gone: Vec<u64> = {
            let dir = self.keys.borrow();
            self.keyed
                .borrow()
                .iter()
                .filter(|(_, k)| k.expires_at.is_some_and(|at| at <= now) || !dir.has_hash(&k.hash))
                .map(|(conn, _)| *conn)
                .collect()
        };
        for conn in gone {
            self.keyed.borrow_mut().remove(&conn);
            let e = Error::UnauthorizedBecause(
                "the key this connection was opened with was revoked or has expired".into(),
            );
            self.end_conn(conn, &e);
        }
    }

    /// Ends WebSockets whose key expired, every [`EXPIRY_TICK`], while there are any.
    pub async fn serve_key_expiry(self: std::rc::Rc<Self>) {
        loop {
            monoio::time::sleep(EXPIRY_TICK).await;
            let any_expiring = self.keyed.borrow().values().any(|k| k.expires_at.is_some());
            if any_expiring {
                self.end_keyless_sockets(now_ms());
            }
        }
    }
}
