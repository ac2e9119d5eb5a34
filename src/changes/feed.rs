//! The shard's side of its change feed: what a commit wrote, encoded once as records; the
//! newest records in memory with an index per tenant; what each segment file holds; and who
//! waits for a tenant's next change.
//!
//! A commit calls [`Feed::before`] (what it will write, numbered before it is logged) and
//! [`Feed::after`] (the records, once applied). Records wait in `pending` until the log
//! hands its batch to the writer thread, which writes them to the feed's open segment right
//! after the log records they come from are synced; [`Feed::take_batch`] turns them into a
//! shared chunk. Readers see a record only once its log record is durable, so the feed never
//! shows a change a crash could take back.

use super::record::{self, Op, Place};
use super::segment::SegMeta;
use super::{Filter, Options, Page, Render};
use crate::ids::DocId;
use crate::store::{Change, Store};
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

type Map<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

/// One document a commit writes: its table (a range of `Feed::names`), id and op.
struct Touch {
    table: (usize, usize),
    id: DocId,
    op: Op,
}

/// A record in memory: its numbers, and where it is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    tseq: u64,
    seq: u64,
    chunk: u64,
    at: u32,
}

/// The records in memory of one tenant, oldest first, and who waits for more.
#[derive(Default)]
struct TenantTail {
    epoch: u64,
    locs: VecDeque<Loc>,
    /// (token, the log record of its newest record when the reader began to wait, waker)
    /// of each reader waiting.
    waiters: Vec<(u64, u64, Waker)>,
}

/// Records handed to the writer together, kept in memory until evicted.
struct Chunk {
    bytes: Arc<Vec<u8>>,
    last_seq: u64,
}

/// What the writer thread writes for one hand-off.
#[derive(Debug)]
pub struct Batch {
    /// Before writing: seal the open segment with this index and start
    /// `feed-<first>.log` (the first record of `bytes`).
    pub rotate: Option<(u64, Vec<u8>)>,
    pub bytes: Arc<Vec<u8>>,
}

/// Where a read goes on disk: segments (first seq, offset to start at) in order, and the
/// tenant sequence number the memory takes over from.
#[derive(Debug, Clone)]
pub struct DiskRead {
    pub segments: Vec<(u64, u64)>,
    pub until: u64,
}

/// What a read needs.
pub enum Plan {
    /// The position is older than what is retained, or ahead of the tenant.
    Gone,
    /// Read these segment files first (on a helper thread), then call again.
    Disk(DiskRead),
    /// The page, from memory.
    Page(Page),
}

/// A read of one tenant's changes.
#[derive(Debug, Clone)]
pub struct Want {
    pub tenant: String,
    pub epoch: u64,
    /// The tenant's sequence number now.
    pub now: u64,
    pub after: u64,
    pub limit: usize,
    pub filter: Filter,
    pub render: Render,
}

/// One shard's change feed.
pub struct Feed {
    pub opts: Options,
    tenant: String,
    names: String,
    touches: Vec<Touch>,
    pending: Vec<u8>,
    rotate: Option<(u64, Vec<u8>)>,
    chunks: VecDeque<Chunk>,
    /// The id of `chunks[0]`; `pending` becomes chunk `first_chunk + chunks.len()`.
    first_chunk: u64,
    mem_bytes: usize,
    tails: Map<Box<str>, TenantTail>,
    /// Every retained segment, oldest first; the last is the open one.
    segments: VecDeque<SegMeta>,
    /// Tenants with someone waiting.
    watched: Vec<Box<str>>,
    next_token: u64,
}

impl Feed {
    /// A feed whose segments are `segments` (the last one open; see [`Feed::ensure_open`]).
    pub fn new(opts: Options, segments: VecDeque<SegMeta>) -> Feed {
        Feed {
            opts,
            tenant: String::new(),
            names: String::new(),
            touches: Vec::new(),
            pending: Vec::new(),
            rotate: None,
            chunks: VecDeque::new(),
            first_chunk: 0,
            mem_bytes: 0,
            tails: Map::default(),
            segments,
            watched: Vec::new(),
            next_token: 0,
        }
    }

    /// Whether changes are kept at all (`--changes-retention-ms 0` turns them off).
    pub fn on(&self) -> bool {
        self.opts.retention_ms > 0
    }

    /// Its segments' metadata, giving up the rest.
    pub fn into_segments(self) -> VecDeque<SegMeta> {
        self.segments
    }

    /// The segments retained, oldest first (the last is open).
    pub fn segments(&self) -> impl Iterator<Item = &SegMeta> {
        self.segments.iter()
    }

    fn touch(&mut self, table: &str, id: DocId, op: Op) {
        let start = self.names.len();
        self.names.push_str(table);
        self.touches.push(Touch {
            table: (start, self.names.len()),
            id,
            op,
        });
    }

    /// Notes what `change` will write (before the store applies it); returns how many
    /// documents, which is how far it moves the tenant's sequence number.
    pub fn before(&mut self, store: &Store, change: &Change) -> u64 {
        self.touches.clear();
        self.names.clear();
        match change {
            Change::Import { tenant, import } => {
                for table in &import.replace {
                    let existing = store.tenant(tenant).ok().and_then(|t| t.table(table));
                    let ids: Vec<DocId> =
                        existing.map_or(Vec::new(), |t| t.docs.keys().copied().collect());
                    for id in ids {
                        self.touch(table, id, Op::Delete);
                    }
                }
                for d in &import.docs {
                    self.touch(&d.table, d.id, Op::Insert);
                }
            }
            Change::Insert { table, id, .. } => self.touch(table, *id, Op::Insert),
            Change::Patch { table, id, .. } => self.touch(table, *id, Op::Update),
            Change::Delete { table, id, .. } => self.touch(table, *id, Op::Delete),
            Change::RunJob {
                effect: Some(e), ..
            }
            | Change::RunCron {
                effect: Some(e), ..
            } => {
                let (table, id) = e.target();
                let op = match e {
                    crate::store::Effect::Insert { .. } => Op::Insert,
                    crate::store::Effect::Patch { .. } => Op::Update,
                    crate::store::Effect::Delete { .. } => Op::Delete,
                };
                self.touch(table, id, op);
            }
            _ => {}
        }
        if !self.touches.is_empty() {
            self.tenant.clear();
            self.tenant.push_str(change.tenant());
        }
        self.touches.len() as u64
    }

    /// Encodes the records of what [`Feed::before`] noted, now applied as log record `seq`
    /// whose last document is the tenant's `tseq`, committed at `ts`.
    pub fn after(&mut self, store: &Store, seq: u64, tseq: u64, ts: u64) {
        if self.touches.is_empty() || !self.on() {
            return;
        }
        let Ok(t) = store.tenant(&self.tenant) else {
            return;
        };
        self.ensure_open(seq);
        if self.pending.is_empty() && self.open().bytes >= self.opts.segment_max {
            self.start_segment(seq);
        }
        let first = tseq + 1 - self.touches.len() as u64;
        let chunk = self.first_chunk + self.chunks.len() as u64;
        let tail = match self.tails.get_mut(self.tenant.as_str()) {
            Some(tail) => tail,
            None => self.tails.entry(self.tenant.as_str().into()).or_default(),
        };
        if tail.epoch != t.epoch {
            tail.locs.clear();
            tail.epoch = t.epoch;
        }
        let seg = self
            .segments
            .back_mut()
            .expect("a feed always has an open segment");
        for (n, touch) in self.touches.iter().enumerate() {
            let table = &self.names[touch.table.0..touch.table.1];
            let document = match touch.op {
                Op::Delete => None,
                _ => t
                    .table(table)
                    .and_then(|tb| tb.docs.get(&touch.id))
                    .map(|d| d.json()),
            };
            let place = Place {
                seq,
                tseq: first + n as u64,
                epoch: t.epoch,
                ts,
            };
            let at = self.pending.len();
            record::encode(
                &record::Change {
                    place,
                    tenant: &self.tenant,
                    table,
                    id: touch.id,
                    op: touch.op,
                    document,
                },
                &mut self.pending,
            );
            // Its offset in the file: everything the segment holds before it (the records
            // still pending included).
            let len = (self.pending.len() - at) as u64;
            seg.note(&self.tenant, place, seg.bytes, len);
            tail.locs.push_back(Loc {
                tseq: place.tseq,
                seq,
                chunk,
                at: at as u32,
            });
        }
    }

    fn open(&self) -> &SegMeta {
        self.segments
            .back()
            .expect("a feed always has an open segment")
    }

    /// Makes sure there is an open segment, naming a new one after `next_seq` (the next
    /// record's number); returns the open segment's name.
    pub fn ensure_open(&mut self, next_seq: u64) -> u64 {
        if self.segments.is_empty() {
            self.segments.push_back(SegMeta::new(next_seq));
        }
        self.open().first
    }

    /// Seals the open segment (its index goes to the writer with the next batch) and opens
    /// one whose first record is `seq`.
    fn start_segment(&mut self, seq: u64) {
        if self.open().last == 0 {
            return; // Still empty: nothing to seal.
        }
        let idx = self.open().encode();
        self.rotate = Some((seq, idx));
        self.segments.push_back(SegMeta::new(seq));
    }

    /// Whether records wait for a hand-off (after recovery rebuilt some, with no log
    /// records to go with them).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The records since the last hand-off, for the writer; they stay readable in memory.
    pub fn take_batch(&mut self, last_seq: u64) -> Option<Batch> {
        if self.pending.is_empty() {
            return None;
        }
        let bytes = Arc::new(std::mem::take(&mut self.pending));
        self.mem_bytes += bytes.len();
        self.chunks.push_back(Chunk {
            bytes: bytes.clone(),
            last_seq,
        });
        Some(Batch {
            rotate: self.rotate.take(),
            bytes,
        })
    }

    /// The log is durable through `durable`: wakes the readers of tenants with new records,
    /// and lets the oldest chunks go once memory is over its budget (they are on disk).
    pub fn progress(&mut self, durable: u64) {
        let mut n = 0;
        while n < self.watched.len() {
            if let Some(t) = self.tails.get_mut(&self.watched[n]) {
                let newest = t
                    .locs
                    .iter()
                    .rev()
                    .find(|l| l.seq <= durable)
                    .map_or(0, |l| l.seq);
                t.waiters.retain(|(_, seen, w)| {
                    let wake = newest > *seen;
                    if wake {
                        w.wake_by_ref();
                    }
                    !wake
                });
                if !t.waiters.is_empty() {
                    n += 1;
                    continue;
                }
            }
            self.watched.swap_remove(n);
        }
        while self.mem_bytes > self.opts.memory_max
            && self.chunks.front().is_some_and(|c| c.last_seq <= durable)
        {
            self.evict();
        }
    }

    fn evict(&mut self) {
        let Some(chunk) = self.chunks.pop_front() else {
            return;
        };
        let gone = self.first_chunk;
        self.first_chunk += 1;
        self.mem_bytes -= chunk.bytes.len();
        let mut pos = 0;
        while let Some((r, next)) = record::read_trusted(&chunk.bytes, pos) {
            if let Some(t) = self.tails.get_mut(r.tenant) {
                while t.locs.front().is_some_and(|l| l.chunk <= gone) {
                    t.locs.pop_front();
                }
                if t.locs.is_empty() && t.waiters.is_empty() {
                    self.tails.remove(r.tenant);
                }
            }
            pos = next;
        }
    }

    /// Registers a reader of `tenant` to be woken by its next durable record; the token
    /// takes it back ([`Feed::unwait`]) when it stops waiting first.
    pub fn wait(&mut self, tenant: &str, epoch: u64, durable: u64, waker: &Waker) -> u64 {
        let t = match self.tails.get_mut(tenant) {
            Some(t) => t,
            None => self
                .tails
                .entry(tenant.into())
                .or_insert_with(|| TenantTail {
                    epoch,
                    ..TenantTail::default()
                }),
        };
        self.next_token += 1;
        let seen = t
            .locs
            .iter()
            .rev()
            .find(|l| l.seq <= durable)
            .map_or(0, |l| l.seq);
        t.waiters.push((self.next_token, seen, waker.clone()));
        if !self.watched.iter().any(|w| &**w == tenant) {
            self.watched.push(tenant.into());
        }
        self.next_token
    }

    /// A reader stopped waiting (its time ran out, or it went away).
    pub fn unwait(&mut self, tenant: &str, token: u64) {
        if let Some(t) = self.tails.get_mut(tenant) {
            t.waiters.retain(|(k, ..)| *k != token);
            if t.locs.is_empty() && t.waiters.is_empty() {
                self.tails.remove(tenant);
            }
        }
    }

    /// Wakes every waiting reader (the server is stopping: long polls answer now).
    pub fn wake_all(&mut self) {
        for t in self.tails.values_mut() {
            t.waiters.drain(..).for_each(|(.., w)| w.wake());
        }
        self.watched.clear();
    }

    /// The tenant was deleted: its memory goes, and its readers wake (to find it gone).
    pub fn drop_tenant(&mut self, tenant: &str) {
        if let Some(t) = self.tails.remove(tenant) {
            t.waiters.into_iter().for_each(|(.., w)| w.wake());
        }
        self.watched.retain(|w| &**w != tenant);
    }

    /// The first retained change of a tenant (its `now + 1` when none is).
    pub fn earliest(&self, tenant: &str, epoch: u64, now: u64) -> u64 {
        self.segments
            .iter()
            .find_map(|s| s.tenants.get(tenant).filter(|t| t.epoch == epoch))
            .map_or(now + 1, |t| t.first)
    }

    /// Plans a read: where its changes are, or that the position is gone.
    pub fn plan(&self, want: &Want, durable: u64) -> Plan {
        let earliest = self.earliest(&want.tenant, want.epoch, want.now);
        if want.after > want.now || (want.after != 0 && want.after + 1 < earliest) {
            return Plan::Gone;
        }
        let after = want.after.max(earliest - 1);
        let tail = self
            .tails
            .get(want.tenant.as_str())
            .filter(|t| t.epoch == want.epoch);
        let mem_first = tail.and_then(|t| t.locs.front()).map(|l| l.tseq);
        if mem_first.is_none_or(|m| after + 1 < m) {
            let segments: Vec<(u64, u64)> = self
                .segments
                .iter()
                .filter_map(|s| {
                    let t = s.tenants.get(want.tenant.as_str())?;
                    (t.epoch == want.epoch && t.last > after).then(|| (s.first, t.start_for(after)))
                })
                .collect();
            if !segments.is_empty() {
                return Plan::Disk(DiskRead {
                    segments,
                    until: mem_first.unwrap_or(u64::MAX),
                });
            }
        }
        Plan::Page(self.read_memory(want, after, durable))
    }

    /// The page of changes after `after` that memory holds.
    fn read_memory(&self, want: &Want, after: u64, durable: u64) -> Page {
        let mut page = Page::new(after, want.render);
        let Some(tail) = self
            .tails
            .get(want.tenant.as_str())
            .filter(|t| t.epoch == want.epoch)
        else {
            return page;
        };
        let start = tail.locs.partition_point(|l| l.tseq <= after);
        let pending = self.first_chunk + self.chunks.len() as u64;
        for loc in tail.locs.range(start..) {
            if loc.seq > durable || loc.chunk >= pending {
                break;
            }
            if page.full(want.limit) {
                page.has_more = true;
                break;
            }
            let Some(chunk) = self.chunks.get((loc.chunk - self.first_chunk) as usize) else {
                break;
            };
            if let Some((r, _)) = record::read_trusted(&chunk.bytes, loc.at as usize) {
                page.offer(&r, &want.filter);
            }
        }
        page
    }

    /// Segments retention lets go at `now_ms` (by age, then by the disk budget), oldest
    /// first: their metadata is dropped here, and the caller removes their files.
    pub fn trim(&mut self, now_ms: u64) -> Vec<u64> {
        let mut gone = Vec::new();
        let mut total: u64 = self.segments.iter().map(|s| s.bytes).sum();
        while self.segments.len() > 1 {
            let Some(oldest) = self.segments.front() else {
                break;
            };
            let old = oldest.last_ts + self.opts.retention_ms < now_ms;
            if !old && total <= self.opts.disk_max {
                break;
            }
            total -= oldest.bytes;
            gone.push(oldest.first);
            self.segments.pop_front();
        }
        gone
    }
}

#[cfg(test)]
mod tests;
