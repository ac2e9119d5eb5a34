//! A tenant's export in progress (DECISIONS §11): JSON Lines of one tenant as it was at one
//! commit, written a page at a time while writes go on.
//!
//! Nothing is copied up front. The view walks the tenant's tables in name order and each
//! table's documents in `_id` order; a write that lands ahead of that cursor first saves the
//! document as it was (its JSON text, or "absent" for an insert) in `pre`, and the walk
//! prefers the saved version. So the lines are the tenant at the export's commit, and what
//! the view holds beyond the cursor is only what was written during the export.

use super::{Change, Tenant};
use crate::ids::DocId;
use std::collections::BTreeMap;

/// One export's place in its tenant.
#[derive(Debug)]
pub struct View {
    pub tenant: String,
    /// The tenant's sequence number the export shows (a change feed resumes after it).
    pub seq: u64,
    /// Tables still to walk, in order (the first is the current one).
    tables: std::collections::VecDeque<String>,
    /// Inside the current table: the last document written.
    after: Option<DocId>,
    /// Documents ahead of the cursor as they were at `seq` (`None`: not there then).
    pre: BTreeMap<(String, DocId), Option<Box<[u8]>>>,
    /// Documents written so far.
    pub documents: u64,
    /// Why the export cannot go on (its tenant was deleted, or a table it walks replaced).
    pub broken: Option<String>,
    /// When a page was last asked for (ms): an abandoned view is dropped.
    pub touched_ms: u64,
}

impl View {
    /// Starts an export of `t` at `seq`, writing its schema lines into `out`.
    pub fn new(tenant: &str, t: &Tenant, seq: u64, now_ms: u64, out: &mut Vec<u8>) -> View {
        for s in t.schemas.values() {
            out.extend_from_slice(b"{\"schema\":");
            s.write_json(out, |_| false);
            out.extend_from_slice(b"}\n");
        }
        let mut tables: Vec<String> = t.tables.keys().map(|k| k.to_string()).collect();
        tables.sort_unstable();
        View {
            tenant: tenant.to_string(),
            seq,
            tables: tables.into(),
            after: None,
            pre: BTreeMap::new(),
            documents: 0,
            broken: None,
            touched_ms: now_ms,
        }
    }

    /// Whether `(table, id)` is still ahead of the cursor.
    fn ahead(&self, table: &str, id: DocId) -> bool {
        match self.tables.front() {
            Some(cur) if cur == table => self.after.is_none_or(|a| id > a),
            Some(_) => self.tables.iter().skip(1).any(|t| t == table),
            None => false,
        }
    }

    fn save(&mut self, t: &Tenant, table: &str, id: DocId) {
        if !self.ahead(table, id) {
            return;
        }
        let key = (table.to_string(), id);
        self.pre
            .entry(key)
            .or_insert_with(|| t.doc(table, id).map(|d| Box::from(d.json())));
    }

    /// Called with every change to this view's tenant before it is applied.
    pub fn before(&mut self, t: &Tenant, change: &Change) {
        if self.broken.is_some() {
            return;
        }
        if let Some((_, table, id)) = change.doc_target() {
            self.save(t, table, id);
            return;
        }
        match change {
            Change::DeleteTenant { .. } => {
                self.broken = Some("the tenant was deleted during the export".into());
            }
            Change::Import { import, .. } => {
                if let Some(r) = import.replace.iter().find(|r| self.tables.contains(*r)) {
                    self.broken = Some(format!(
                        "table `{r}` was replaced by an import during the export"
                    ));
                    return;
                }
                for d in &import.docs {
                    self.save(t, &d.table, d.id);
                }
            }
            _ => {}
        }
    }

    /// Writes up to `budget` document lines into `out`, and the end line when the walk is
    /// done; returns whether it is done.
    pub fn page(&mut self, t: &Tenant, mut budget: usize, out: &mut Vec<u8>) -> bool {
        while budget > 0 {
            let Some(table) = self.tables.front().cloned() else {
                out.extend_from_slice(b"{\"end\":true,\"documents\":");
                out.extend_from_slice(itoa::Buffer::new().format(self.documents).as_bytes());
                out.extend_from_slice(b",\"seq\":");
                out.extend_from_slice(itoa::Buffer::new().format(self.seq).as_bytes());
                out.extend_from_slice(b"}\n");
                return true;
            };
            match self.next_doc(t, &table) {
                Some(id) => {
                    self.after = Some(id);
                    budget -= 1;
                    let saved = self.pre.remove(&(table.clone(), id));
                    let json = match &saved {
                        Some(was) => was.as_deref(),
                        None => t.doc(&table, id).map(|d| d.json()),
                    };
                    if let Some(json) = json {
                        out.extend_from_slice(b"{\"table\":");
                        crate::json::write_str(out, &table);
                        out.extend_from_slice(b",\"document\":");
                        out.extend_from_slice(json);
                        out.extend_from_slice(b"}\n");
                        self.documents += 1;
                    }
                }
                None => {
                    self.tables.pop_front();
                    self.after = None;
                }
            }
        }
        false
    }

    /// The next id after the cursor in `table`: the smaller of the next live document and
    /// the next saved one.
    fn next_doc(&self, t: &Tenant, table: &str) -> Option<DocId> {
        let from = match self.after {
            Some(a) => std::ops::Bound::Excluded(a),
            None => std::ops::Bound::Unbounded,
        };
        let live = t
            .table(table)
            .and_then(|tb| tb.docs.range((from, std::ops::Bound::Unbounded)).next())
            .map(|(id, _)| *id);
        let lo = (table.to_string(), self.after.unwrap_or(DocId(0)));
        let saved = self
            .pre
            .range(lo..)
            .take_while(|((tb, _), _)| tb == table)
            .map(|((_, id), _)| *id)
            .find(|id| self.after.is_none_or(|a| *id > a));
        match (live, saved) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests;
