//! Exports (DECISIONS §11): the tenant's owner keeps each export's view
//! (`store::export::View`) and writes it a page at a time; the connection streaming the
//! export asks for each page, by message when the tenant lives on another shard.

use super::{owner_of, Shard, ShardMsg};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::store::export::View;
use futures_channel::oneshot;

/// Documents per page: one page is one message and one chunk of the answer.
const PAGE_DOCS: usize = 2000;
/// A view no page was asked of for this long is dropped (its client went away).
const ABANDONED_MS: u64 = 60_000;
/// Exports in progress per shard at most.
const EXPORTS_MAX: usize = 64;

impl Shard {
    /// A new export id, unique in the process (the shard's number in the high bits).
    pub fn export_id(&self) -> u64 {
        let n = self.next_conn.get();
        self.next_conn.set(n + 1);
        ((self.id as u64) << 48) | n
    }

    /// Writes the next page of export `id` of `tenant` into `out` (the `first` call starts
    /// it); returns whether the export is complete.
    pub async fn export_page(
        &self,
        tenant: &str,
        id: u64,
        first: bool,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        let owner = owner_of(tenant, self.mesh.cores());
        if owner == self.id {
            return self.export_page_here(tenant, id, first, out);
        }
        let (reply, rx) = oneshot::channel();
        let msg = ShardMsg::Export {
            tenant: tenant.to_string(),
            id,
            first,
            reply,
        };
        self.mesh
            .send(owner, msg)
            .map_err(|_| Error::Unavailable(format!("shard {owner} is overloaded")))?;
        let (page, done) = rx
            .await
            .map_err(|_| Error::Internal(format!("shard {owner} dropped an export")))??;
        out.extend_from_slice(&page);
        Ok(done)
    }

    /// Forgets export `id` (its client went away), wherever it is.
    pub fn export_end(&self, tenant: &str, id: u64) {
        let owner = owner_of(tenant, self.mesh.cores());
        if owner == self.id {
            self.state.borrow_mut().exports.retain(|(i, _)| *i != id);
        } else {
            // Lost if the inbox is full: the owner drops the view once it is abandoned.
            let _ = self.mesh.send(owner, ShardMsg::ExportEnd { id });
        }
    }

    /// The owner's side of [`Shard::export_page`].
    pub(super) fn export_page_here(
        &self,
        tenant: &str,
        id: u64,
        first: bool,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let now = now_ms();
        state
            .exports
            .retain(|(_, v)| now.saturating_sub(v.touched_ms) < ABANDONED_MS);
        let t = state.store.tenant(tenant)?;
        let at = state.exports.iter().position(|(i, _)| *i == id);
        let done = match at {
            None if !first => {
                return Err(Error::Conflict(format!(
                    "the export was dropped: no page was read for {} s",
                    ABANDONED_MS / 1000
                )));
            }
            None => {
                if state.exports.len() >= EXPORTS_MAX {
                    return Err(Error::Unavailable(format!(
                        "this shard runs {EXPORTS_MAX} exports already; retry later"
                    )));
                }
                let mut view = View::new(tenant, t, t.seq, now, out);
                let done = view.page(t, PAGE_DOCS, out);
                if !done {
                    state.exports.push((id, view));
                }
                done
            }
            Some(at) => {
                let view = &mut state.exports[at].1;
                if let Some(why) = view.broken.take() {
                    state.exports.remove(at);
                    return Err(Error::Conflict(why));
                }
                view.touched_ms = now;
                let done = view.page(t, PAGE_DOCS, out);
                if done {
                    state.exports.remove(at);
                }
                done
            }
        };
        Ok(done)
    }
}
