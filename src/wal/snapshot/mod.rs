//! Snapshots: a shard's whole state, archived with `rkyv`, written to a temporary file,
//! synced, renamed into place, and the directory synced.
//!
//! A snapshot is *fuzzy*: the shard copies its state a few thousand documents at a time
//! between requests, so writes land while it is taken. It is labelled with the sequence
//! number `seq` at which copying began, and recovery replays every record after `seq` on top
//! of it. That is correct because applying a change is a redo: replaying, in order, the
//! records from `seq` on over any state between "before them" and "after some of them" gives
//! the state after all of them (inserts and patches set values, deletes remove, and each
//! record carries its own id and time). The property test in this module checks it.
//!
//! File layout: `NIMBSNP4`, payload length (u64 LE), crc32c of the payload (u32 LE), 4 bytes
//! of padding, then the archived [`Snapshot`]. Older versions load too: version 3 has no
//! tenant sequence numbers or topics (they start at 0 and none), version 2 not even keys.

use super::files::{segments, snapshot_name, snapshots};
use crate::ids::DocId;
use crate::store::{Cron, Doc, Job, JobResult, Key, Store, TableSchema, Tenant, TopicDef};
use rkyv::rancor;
use rkyv::util::AlignedVec;
use std::collections::BTreeMap;

/// Version 4 adds each tenant's sequence number, epoch and topics; version 3 added tenant
/// keys; each document is kept as its JSON text since version 2.
const MAGIC: &[u8; 8] = b"NIMBSNP4";
const MAGIC_V3: &[u8; 8] = b"NIMBSNP3";
const MAGIC_V2: &[u8; 8] = b"NIMBSNP2";
const HEADER_LEN: usize = 24;

/// One document as archived.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct DocSnap {
    pub id: DocId,
    /// The document's text, as the store keeps it.
    pub json: Vec<u8>,
}

/// One table as archived.
#[derive(Debug, Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TableSnap {
    pub name: String,
    pub docs: Vec<DocSnap>,
}

/// One tenant as archived.
#[derive(Debug, Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TenantSnap {
    pub id: String,
    /// The id generator's high-water mark.
    pub id_last: u128,
    pub schemas: Vec<TableSchema>,
    pub tables: Vec<TableSnap>,
    pub jobs: Vec<Job>,
    pub history: Vec<JobResult>,
    pub crons: Vec<Cron>,
    pub services: Vec<crate::proc::service::ServiceDef>,
}

/// A shard's state as of (at least) sequence number `seq`.
#[derive(Debug, Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Snapshot {
    pub seq: u64,
    pub tenants: Vec<TenantSnap>,
    /// Every tenant's keys: (tenant, key).
    pub keys: Vec<(String, Key)>,
    /// Every tenant's change-feed state.
    pub feeds: Vec<FeedSnap>,
}

/// A tenant's sequence number, epoch and topics (see `store::Tenant`).
#[derive(Debug, Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct FeedSnap {
    pub tenant: String,
    pub seq: u64,
    pub epoch: u64,
    pub topics: Vec<TopicDef>,
}

/// A version 3 snapshot: the same tenants and keys, no feed state.
#[derive(Debug, Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct SnapshotV3 {
    seq: u64,
    tenants: Vec<TenantSnap>,
    keys: Vec<(String, Key)>,
}

/// A version 2 snapshot: the same tenants, no keys.
#[derive(Debug, Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct SnapshotV2 {
    seq: u64,
    tenants: Vec<TenantSnap>,
}

/// Encodes a snapshot file.
pub fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let payload = match rkyv::to_bytes::<rancor::Error>(snapshot) {
        Ok(p) => p,
        Err(e) => panic!("archiving a snapshot failed: {e}"),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&payload);
    out
}

/// Reads a snapshot file (checking its length and checksum) into a store, and the
/// sequence number it covers.
///
/// Documents are copied straight out of the archived bytes: no owned copy of the whole
/// snapshot is made on the way, so recovering a large store peaks at the file plus the
/// store rather than twice that.
pub fn load(bytes: &[u8]) -> Result<(u64, Store), String> {
    let magic = bytes.get(..8).unwrap_or_default();
    let (v2, v3) = (magic == MAGIC_V2, magic == MAGIC_V3);
    if bytes.len() < HEADER_LEN || (magic != MAGIC && !v2 && !v3) {
        return Err("not a snapshot file".into());
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[8..16]);
    let len = u64::from_le_bytes(len8) as usize;
    let mut crc4 = [0u8; 4];
    crc4.copy_from_slice(&bytes[16..20]);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != len {
        return Err(format!(
            "snapshot is {} bytes, header says {len}",
            payload.len()
        ));
    }
    if crc32c::crc32c(payload) != u32::from_le_bytes(crc4) {
        return Err("snapshot checksum mismatch".into());
    }
    let mut aligned: AlignedVec<16> = AlignedVec::with_capacity(len);
    aligned.extend_from_slice(payload);
    let mut store = Store::default();
    if v2 {
        let snap = rkyv::access::<ArchivedSnapshotV2, rancor::Error>(&aligned).map_err(bad)?;
        load_tenants(&snap.tenants, &mut store)?;
        return Ok((snap.seq.to_native(), store));
    }
    if v3 {
        let snap = rkyv::access::<ArchivedSnapshotV3, rancor::Error>(&aligned).map_err(bad)?;
        load_tenants(&snap.tenants, &mut store)?;
        load_keys(&snap.keys, &mut store)?;
        return Ok((snap.seq.to_native(), store));
    }
    let snap = rkyv::access::<ArchivedSnapshot, rancor::Error>(&aligned).map_err(bad)?;
    load_tenants(&snap.tenants, &mut store)?;
    load_keys(&snap.keys, &mut store)?;
    let feeds: Vec<FeedSnap> = rkyv::deserialize(&snap.feeds).map_err(bad)?;
    for f in feeds {
        if let Ok(t) = store.tenant_mut(&f.tenant) {
            t.seq = f.seq;
            t.epoch = f.epoch;
            t.topics = f
                .topics
                .iter()
                .map(|d| (d.name.clone(), d.topic()))
                .collect();
        }
    }
    Ok((snap.seq.to_native(), store))
}

fn load_keys(
    archived: &rkyv::Archived<Vec<(String, Key)>>,
    store: &mut Store,
) -> Result<(), String> {
    let keys: Vec<(String, Key)> = rkyv::deserialize(archived).map_err(bad)?;
    for (tenant, key) in keys {
        if let Ok(t) = store.tenant_mut(&tenant) {
            t.keys.insert(key.id, key);
        }
    }
    Ok(())
}

fn bad(e: rancor::Error) -> String {
    format!("snapshot does not decode: {e}")
}

/// Puts the archived `tenants` into `store`.
fn load_tenants(tenants: &[ArchivedTenantSnap], store: &mut Store) -> Result<(), String> {
    for t in tenants {
        let mut tenant = Tenant::default();
        tenant.ids.observe(DocId(t.id_last.to_native()));
        let schemas: Vec<TableSchema> = rkyv::deserialize(&t.schemas).map_err(bad)?;
        let jobs: Vec<Job> = rkyv::deserialize(&t.jobs).map_err(bad)?;
        let history: Vec<JobResult> = rkyv::deserialize(&t.history).map_err(bad)?;
        let crons: Vec<Cron> = rkyv::deserialize(&t.crons).map_err(bad)?;
        let services: Vec<crate::proc::service::ServiceDef> =
            rkyv::deserialize(&t.services).map_err(bad)?;
        tenant.schemas = schemas.into_iter().map(|s| (s.table.clone(), s)).collect();
        tenant.jobs = jobs.into_iter().map(|j| (j.id, j)).collect();
        tenant.history = history.into_iter().collect();
        tenant.crons = crons.into_iter().map(|c| (c.name.clone(), c)).collect();
        tenant.services = services.into_iter().map(|d| (d.name.clone(), d)).collect();
        for table in t.tables.iter() {
            let docs = &mut tenant
                .tables
                .entry(table.name.as_str().into())
                .or_default()
                .docs;
            for d in table.docs.iter() {
                let id: DocId = rkyv::deserialize::<DocId, rancor::Error>(&d.id).map_err(bad)?;
                docs.insert(id, Doc::from_json(id, Box::from(d.json.as_slice())));
            }
        }
        store.restore_tenant(t.id.as_str().to_string(), tenant);
    }
    Ok(())
}

/// Copies a live store into a [`Snapshot`] a bounded number of documents per step, so the
/// shard can serve requests between steps.
#[derive(Debug)]
pub struct Copier {
    snapshot: Snapshot,
    /// Tenants still to copy, in order.
    todo: Vec<String>,
    /// The tenant being copied: its table names still to copy.
    tables: Vec<String>,
    /// Inside the current table: the last document copied.
    after: Option<DocId>,
}

impl Copier {
    /// Starts a snapshot labelled `seq` of `store`'s current tenants.
    pub fn new(store: &Store, seq: u64) -> Copier {
        let mut todo: Vec<String> = store.tenant_ids().map(str::to_string).collect();
        todo.sort_unstable_by(|a, b| b.cmp(a));
        Copier {
            snapshot: Snapshot {
                seq,
                ..Snapshot::default()
            },
            todo,
            tables: Vec::new(),
            after: None,
        }
    }

    /// Copies up to about `budget` documents; returns the snapshot when everything is copied.
    pub fn step(&mut self, store: &Store, mut budget: usize) -> Option<Snapshot> {
        while budget > 0 {
            if self.tables.is_empty() && !self.start_next_tenant(store) {
                return Some(std::mem::take(&mut self.snapshot));
            }
            let Some(snap) = self.snapshot.tenants.last_mut() else {
                continue;
            };
            let Ok(tenant) = store.tenant(&snap.id) else {
                // Deleted while we copied: the log replays the deletion.
                self.tables.clear();
                continue;
            };
            let Some(name) = self.tables.last().cloned() else {
                continue;
            };
            let Some(table) = tenant.table(&name) else {
                self.tables.pop();
                self.after = None;
                continue;
            };
            if snap.tables.last().is_none_or(|t| t.name != name) {
                snap.tables.push(TableSnap {
                    name: name.clone(),
                    docs: Vec::new(),
                });
            }
            let out = snap.tables.last_mut().map(|t| &mut t.docs);
            let range = match self.after {
                Some(id) => table
                    .docs
                    .range((std::ops::Bound::Excluded(id), std::ops::Bound::Unbounded)),
                None => table.docs.range(..),
            };
            let mut copied = 0;
            if let Some(out) = out {
                for (id, d) in range.take(budget) {
                    out.push(DocSnap {
                        id: *id,
                        json: d.json().to_vec(),
                    });
                    self.after = Some(*id);
                    copied += 1;
                }
            }
            if copied < budget {
                self.tables.pop();
                self.after = None;
            }
            budget = budget.saturating_sub(copied.max(1));
        }
        None
    }

    fn start_next_tenant(&mut self, store: &Store) -> bool {
        while let Some(id) = self.todo.pop() {
            let Ok(tenant) = store.tenant(&id) else {
                continue;
            };
            let mut names: Vec<String> = tenant.tables.keys().map(|k| k.to_string()).collect();
            names.sort_unstable_by(|a, b| b.cmp(a));
            let keys = tenant.keys.values().map(|k| (id.clone(), k.clone()));
            self.snapshot.keys.extend(keys);
            self.snapshot.feeds.push(FeedSnap {
                tenant: id.clone(),
                seq: tenant.seq,
                epoch: tenant.epoch,
                topics: tenant
                    .topics
                    .iter()
                    .map(|(n, t)| TopicDef::of(n, t))
                    .collect(),
            });
            self.snapshot.tenants.push(TenantSnap {
                id,
                id_last: tenant.ids.last(),
                schemas: tenant.schemas.values().cloned().collect(),
                tables: Vec::new(),
                jobs: tenant.jobs.values().cloned().collect(),
                history: tenant.history.iter().cloned().collect(),
                crons: tenant.crons.values().cloned().collect(),
                services: tenant.services.values().cloned().collect(),
            });
            if names.is_empty() {
                continue;
            }
            self.tables = names;
            self.after = None;
            return true;
        }
        false
    }
}

/// Makes `snapshot` durable in `dir` and drops what it replaces: the log segments whose
/// records it covers (once the writer has moved past them) and older snapshots. On failure
/// (a full disk) nothing it wrote is left behind, so the space is free again and the next
/// attempt starts clean.
pub fn persist(
    disk: &dyn super::disk::Disk,
    dir: &std::path::Path,
    snapshot: &Snapshot,
    shared: &super::writer::Shared,
) -> std::io::Result<u64> {
    use std::sync::atomic::Ordering;
    let seq = snapshot.seq;
    let named = shared.manifest.lock().map_or(0, |m| m.snapshot);
    if named >= seq {
        // Nothing new since the snapshot in place; writing over it could only lose it.
        return Ok(0);
    }
    let name = snapshot_name(seq);
    let (tmp, path) = (dir.join(format!("{name}.tmp")), dir.join(&name));
    let bytes = encode(snapshot);
    let size = bytes.len() as u64;
    let placed = disk
        .write_synced(&tmp, &bytes)
        .and_then(|()| disk.rename(&tmp, &path))
        .and_then(|()| disk.sync_dir(dir));
    drop(bytes);
    if let Err(e) = placed {
        let _ = disk.remove(&tmp);
        let _ = disk.remove(&path);
        return Err(e);
    }
    // The writer rotates to `wal-<seq+1>` before this snapshot began copying; wait until it
    // has, so the manifest never drops the segment being appended to.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while shared.segment_first.load(Ordering::Acquire) <= seq {
        if std::time::Instant::now() > deadline {
            let _ = disk.remove(&path);
            return Err(std::io::Error::other(
                "the log writer did not rotate in 30 s",
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // From here on recovery loads this snapshot; only then may what it replaces go.
    // A failed update may still have put the new manifest in place (its rename done, the
    // directory sync failed), so the snapshot stays: it is whole, and harmless if unnamed.
    shared.update_manifest(disk, dir, |m| {
        m.snapshot = seq;
        m.segments.retain(|s| s.first > seq);
    })?;
    for (first, path) in segments(disk, dir)? {
        if first <= seq {
            disk.remove(&path)?;
        }
    }
    for (older, path) in snapshots(disk, dir)? {
        if older < seq {
            disk.remove(&path)?;
        }
    }
    disk.sync_dir(dir)?;
    Ok(size)
}

/// A snapshot of a whole store at once (re-homing, tests).
pub fn copy_all(store: &Store, seq: u64) -> Snapshot {
    let mut c = Copier::new(store, seq);
    loop {
        if let Some(s) = c.step(store, usize::MAX) {
            return s;
        }
    }
}

/// Moves every tenant of `from` into the stores of `to`, by owner.
pub fn rehome(from: Store, to: &mut [Store], owner: impl Fn(&str) -> usize) {
    let mut from = from;
    let ids: Vec<String> = from.tenant_ids().map(str::to_string).collect();
    for id in ids {
        if let Some(t) = from.take_tenant(&id) {
            let n = owner(&id);
            to[n].restore_tenant(id, t);
        }
    }
}

/// Equality of two stores' visible state, for tests: the JSON of every document, schemas and
/// id high-water marks.
pub fn fingerprint(store: &Store) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for id in store.tenant_ids() {
        let Ok(t) = store.tenant(id) else { continue };
        let mut text = String::new();
        for (name, s) in &t.schemas {
            text += &format!("schema {name}={s:?};");
        }
        for j in t.jobs.values() {
            text += &format!("job {j:?};");
        }
        for r in &t.history {
            text += &format!("result {r:?};");
        }
        for c in t.crons.values() {
            text += &format!("cron {c:?};");
        }
        for d in t.services.values() {
            text += &format!("service {d:?};");
        }
        for k in t.keys.values() {
            text += &format!("key {k:?};");
        }
        text += &format!("seq {} epoch {} topics {:?};", t.seq, t.epoch, t.topics);
        let mut names: Vec<&Box<str>> = t.tables.keys().collect();
        names.sort();
        for name in names {
            if let Some(table) = t.table(name) {
                for d in table.docs.values() {
                    text += &format!("{name}:{};", String::from_utf8_lossy(d.json()));
                }
            }
        }
        out.insert(id.to_string(), text);
    }
    out
}

#[cfg(test)]
mod tests;
