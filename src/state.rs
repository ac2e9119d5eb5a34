//! What one shard owns (its store, log, live queries, timers and sessions) and the one path
//! every write takes through them: [`State::commit`].
//!
//! Synchronous and I/O-free: the shard runs it between awaits. A write becomes a
//! [`Change`] that the store checks, the log records and the store applies, so every write
//! has exactly one record; the caller acknowledges it once the record is durable.

use crate::auth::keys::Update;
use crate::error::{Error, Result};
use crate::query::Limits;
use crate::schedule::Timers;
use crate::sessions::Sessions;
use crate::store::export::View;
use crate::store::{Change, Store};
use crate::subs::{ConnRef, Subs};
use crate::wal::writer::Log;

/// What one shard owns: its data, its log and its live queries.
pub struct State {
    pub store: Store,
    pub log: Log,
    pub subs: Subs,
    /// Connections to end because their tenant was deleted (drained by the shard).
    pub ended: Vec<ConnRef>,
    /// When this shard's jobs and crons are next due.
    pub timers: Timers,
    /// Sessions of this shard's tenants.
    pub sessions: Sessions,
    /// Tenants deleted by the last op (their processes are stopped by the shard).
    pub deleted: Vec<String>,
    /// How much one request may read and answer.
    pub limits: Limits,
    /// Changes to the key directories the last op made: the shard sends them to every
    /// shard before it answers.
    pub key_updates: Vec<Update>,
    /// Exports in progress on this shard's tenants, by id (see `store::export`).
    pub exports: Vec<(u64, View)>,
    /// What each topic's consumer groups were handed and have not acked.
    pub groups: crate::changes::groups::Groups,
}

impl State {
    /// Checks a change, logs it, applies it, and lets live queries see it; returns its
    /// sequence number, which the caller waits to be durable before acknowledging.
    pub fn commit(&mut self, change: Change) -> Result<u64> {
        if self.log.failing() {
            return Err(Error::Unavailable(
                "the shard's log cannot be written right now (disk failing or full); writes are refused until it recovers".into(),
            ));
        }
        self.store.check(&change)?;
        // Numbered before it is logged: the record carries the tenant's number after it.
        let docs = self.log.feed.before(&self.store, &change);
        let tseq = match self.store.tenant(change.tenant()) {
            Ok(t) if docs > 0 => t.seq + docs,
            _ => 0,
        };
        let ts = crate::clock::now_ms();
        let watched = change
            .doc_target()
            .filter(|(t, ..)| self.subs.watches(t))
            .map(|(t, tb, id)| (t.to_string(), tb.to_string(), id));
        if let Some((t, tb, id)) = &watched {
            self.subs.before(&self.store, t, tb, *id);
        }
        // An import writes many documents at once: its tables' live queries are evaluated
        // again after it.
        let imported = match &change {
            Change::Import { tenant, import } if self.subs.watches(tenant) => {
                let mut tables: Vec<String> = import.replace.clone();
                tables.extend(import.docs.iter().map(|d| d.table.clone()));
                tables.sort_unstable();
                tables.dedup();
                Some((tenant.clone(), tables))
            }
            _ => None,
        };
        let (seq, change) = self.log.append(change, tseq, ts);
        let deleted_tenant = match &change {
            Change::DeleteTenant { tenant } => Some(tenant.clone()),
            _ => None,
        };
        self.note_key_update(&change);
        if !self.exports.is_empty() {
            self.note_exports(&change);
        }
        self.store.apply_logged(change, seq, tseq);
        self.log.feed.after(&self.store, seq, tseq, ts);
        if let Some((t, tb, id)) = watched {
            self.subs.after(&self.store, &t, &tb, id, seq);
        }
        if let Some((t, tables)) = imported {
            self.subs.tables_changed(&self.store, &t, &tables, seq);
        }
        if let Some(t) = deleted_tenant {
            self.log.feed.drop_tenant(&t);
            self.groups.forget(&t, None);
            self.ended.extend(self.subs.drop_tenant(&t));
            self.sessions.drop_tenant(&t);
            self.deleted.push(t);
        }
        Ok(seq)
    }

    /// Lets the exports of the change's tenant save what it is about to overwrite.
    fn note_exports(&mut self, change: &Change) {
        let Ok(t) = self.store.tenant(change.tenant()) else {
            return;
        };
        for (_, view) in self.exports.iter_mut() {
            if view.tenant == change.tenant() {
                view.before(t, change);
            }
        }
    }

    /// What a committed change (not yet applied) does to every shard's key directory.
    fn note_key_update(&mut self, change: &Change) {
        let update = match change {
            Change::CreateKey { tenant, key } => Update::Add(key.entry(tenant)),
            Change::RevokeKey { tenant, id } => {
                let key = self.store.tenant(tenant).ok().and_then(|t| t.keys.get(id));
                match key {
                    Some(k) => Update::Revoke { hash: k.hash },
                    None => return,
                }
            }
            // Only a tenant with keys costs the other shards a message.
            Change::DeleteTenant { tenant }
                if self.store.tenant(tenant).is_ok_and(|t| !t.keys.is_empty()) =>
            {
                Update::DropTenant {
                    tenant: tenant.clone(),
                }
            }
            _ => return,
        };
        self.key_updates.push(update);
    }
}
