//! A table: its documents in `_id` order and the indexes its schema declares, kept in step
//! with every write.

use super::{Doc, Index, IndexDef};
use crate::ids::DocId;
use std::collections::BTreeMap;

/// A table: its documents in `_id` order, which is creation order, and the indexes its
/// schema declares.
#[derive(Debug, Default)]
pub struct Table {
    pub docs: BTreeMap<DocId, Doc>,
    /// Declared indexes, in declaration order; every write keeps them in step.
    pub indexes: Vec<Index>,
    /// Bytes of the documents' JSON text (usage), kept by `put` and `remove`.
    bytes: u64,
}

impl Table {
    /// Inserts or replaces a document.
    pub fn put(&mut self, doc: Doc) {
        let old = self.docs.get(&doc.id);
        for ix in &mut self.indexes {
            ix.update(old, Some(&doc));
        }
        let old_len = old.map_or(0, |d| d.json().len() as u64);
        self.bytes = self.bytes - old_len.min(self.bytes) + doc.json().len() as u64;
        self.docs.insert(doc.id, doc);
    }

    /// Bytes of the documents' JSON text.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Counts the bytes again (after documents were put in `docs` directly: recovery).
    pub fn recount(&mut self) {
        self.bytes = self.docs.values().map(|d| d.json().len() as u64).sum();
    }

    /// Removes a document.
    pub fn remove(&mut self, id: DocId) {
        if let Some(old) = self.docs.remove(&id) {
            self.bytes = self.bytes.saturating_sub(old.json().len() as u64);
            for ix in &mut self.indexes {
                ix.update(Some(&old), None);
            }
        }
    }

    /// Makes the indexes those `defs` declare: unchanged ones stay, new ones start empty and
    /// are built by [`Table::build_step`]. True when some index still has to be built.
    pub fn sync_indexes(&mut self, defs: &[IndexDef]) -> bool {
        let mut old = std::mem::take(&mut self.indexes);
        for def in defs {
            let kept = old
                .iter()
                .position(|ix| ix.name == def.name && ix.fields == def.fields);
            let mut ix = match kept {
                Some(at) => old.swap_remove(at),
                None => Index::new(&def.name, &def.fields),
            };
            ix.build_step(&self.docs, 0); // an empty table's index is ready at once
            self.indexes.push(ix);
        }
        self.indexes.iter().any(|ix| !ix.ready())
    }

    /// Builds unfinished indexes by up to `budget` documents; true when all are ready.
    pub fn build_step(&mut self, budget: usize) -> bool {
        let mut done = true;
        for ix in self.indexes.iter_mut().filter(|ix| !ix.ready()) {
            done &= ix.build_step(&self.docs, budget);
        }
        done
    }
}
