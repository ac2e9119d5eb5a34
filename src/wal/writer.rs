//! The log writer: one thread per shard that appends batches of records to the shard's
//! current segment and syncs them (and the change feed's records after them). The
//! shard-side [`Log`] that feeds it is in `wal::log`.
//!
//! Group commit: the shard hands the writer everything appended so far only when the
//! previous batch is durable, so all writes that arrive during a sync share the next one.
//! The shard's event loop never blocks on the disk; the writer reports progress through an
//! atomic sequence number and a waker.
//!
//! Disk failure: a batch that cannot be written or synced is cut back off the file and
//! retried (rewritten whole, since after a failed `fsync` the page cache cannot be trusted)
//! with backoff until the disk recovers. Meanwhile the shard refuses new writes with `503`,
//! and the writes in the failing batch answer `503` when their wait times out; reads go on.

use super::disk::{Disk, LogFile};
use super::feed::FeedFile;
use super::files::segment_name;
use super::manifest::{Manifest, Segment};
use crate::changes::feed::Batch as FeedBatch;
use atomic_waker::AtomicWaker;
use futures_channel::oneshot;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub use super::log::{Log, Progress};

/// What the writer tells the shard, lock-free.
#[derive(Debug, Default)]
pub struct Shared {
    /// Every record up to this sequence number is durable.
    pub durable_seq: AtomicU64,
    /// The last write or sync failed and is being retried.
    pub failing: AtomicBool,
    /// First sequence number of the segment being appended to.
    pub segment_first: AtomicU64,
    pub(super) waker: AtomicWaker,
    /// The directory's manifest, rewritten by the writer (rotation, stop) and the snapshot
    /// helper: never touched on the request path.
    pub manifest: Mutex<Manifest>,
    /// How long each append and sync took, by histogram bucket, and their sum in ns: kept by
    /// the writer thread, read by a metrics scrape.
    pub sync_counts: [AtomicU64; crate::metrics::BUCKETS.len() + 1],
    pub sync_sum_ns: AtomicU64,
}

impl Shared {
    /// Counts one append and sync that took `took`.
    fn count_sync(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let slot = crate::metrics::Histogram::slot_of(ns);
        self.sync_counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sync_sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The sync histogram so far.
    pub fn sync_histogram(&self) -> crate::metrics::Histogram {
        let counts = std::array::from_fn(|i| self.sync_counts[i].load(Ordering::Relaxed));
        crate::metrics::Histogram::from_parts(counts, self.sync_sum_ns.load(Ordering::Relaxed))
    }

    /// Changes the manifest with `f` and makes the result durable in `dir`; on failure the
    /// change is undone in memory too, so memory never claims what the disk does not hold.
    pub fn update_manifest(
        &self,
        disk: &dyn Disk,
        dir: &std::path::Path,
        f: impl FnOnce(&mut Manifest),
    ) -> io::Result<()> {
        let mut m = self.manifest.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = m.clone();
        f(&mut next);
        next.write(disk, dir)?;
        *m = next;
        Ok(())
    }
}

/// Messages to a writer thread, handled in order.
pub enum WriterMsg {
    /// Frames of records up to `last_seq`, and the change-feed records they made.
    Batch {
        data: Vec<u8>,
        last_seq: u64,
        feed: Option<FeedBatch>,
    },
    /// Sync the change feed's open segment (before log segments a snapshot covers go).
    SyncFeed {
        ack: oneshot::Sender<io::Result<()>>,
    },
    /// Remove these change-feed segments (retention let them go).
    DropFeed { firsts: Vec<u64> },
    /// Close the segment and start `wal-<first_seq>.log`.
    Rotate { first_seq: u64 },
    /// Sync and stop; answer on `ack`.
    Stop { ack: mpsc::Sender<()> },
}

struct Writer {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    fsync: bool,
    file: Box<dyn LogFile>,
    /// Bytes of the segment known to be good.
    len: u64,
    shared: Arc<Shared>,
    /// The change feed's open segment, when the feed is on.
    feed: Option<FeedFile>,
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((50u64 << attempt.min(5)).min(1000))
}

impl Writer {
    /// Opens `wal-<first_seq>.log` and makes its directory entry durable, retrying on failure;
    /// `false` if the shard went away meanwhile.
    fn open_segment(&mut self, first_seq: u64) -> bool {
        let path = self.dir.join(segment_name(first_seq));
        let mut attempt = 0;
        loop {
            let opened = self.disk.open_append(&path).and_then(|f| {
                self.disk.sync_dir(&self.dir)?;
                // The old segment is complete: it holds exactly the records before this one.
                self.shared.update_manifest(&*self.disk, &self.dir, |m| {
                    if let Some(last) = m.last_mut().filter(|s| s.first < first_seq) {
                        last.through = first_seq - 1;
                    }
                    if m.segments.last().is_none_or(|s| s.first != first_seq) {
                        m.segments.push(Segment {
                            first: first_seq,
                            through: 0,
                        });
                    }
                })?;
                Ok(f)
            });
            match opened {
                Ok(f) => {
                    self.file = f;
                    self.len = self.disk.read(&path).map(|b| b.len() as u64).unwrap_or(0);
                    self.shared
                        .segment_first
                        .store(first_seq, Ordering::Release);
                    self.set_failing(false);
                    return true;
                }
                Err(e) => {
                    if Arc::strong_count(&self.shared) == 1 {
                        return false;
                    }
                    self.report(&e, attempt);
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
            }
        }
    }

    fn set_failing(&self, failing: bool) {
        if self.shared.failing.swap(failing, Ordering::AcqRel) != failing {
            self.shared.waker.wake();
        }
    }

    fn report(&self, e: &io::Error, attempt: u32) {
        self.set_failing(true);
        if attempt == 0 {
            crate::log::warn(
                "wal",
                &format!(
                    "log write in {} failed: {e}; retrying, writes refused meanwhile",
                    self.dir.display()
                ),
                &[],
            );
        }
    }

    /// Runs `op` until it succeeds, backing off and reporting while it fails; `false` if
    /// the shard went away meanwhile. `undo` runs after each failure.
    fn retry(
        &mut self,
        mut op: impl FnMut(&mut Writer) -> io::Result<()>,
        mut undo: impl FnMut(&mut Writer),
    ) -> bool {
        let mut attempt = 0;
        while let Err(e) = op(self) {
            if Arc::strong_count(&self.shared) == 1 {
                return false;
            }
            self.report(&e, attempt);
            undo(self);
            std::thread::sleep(backoff(attempt));
            attempt += 1;
        }
        true
    }

    /// Writes the change-feed records of a batch whose log records are durable.
    fn write_feed(&mut self, batches: &mut Vec<FeedBatch>) -> bool {
        for b in batches.drain(..) {
            if let Some((first, idx)) = &b.rotate {
                let rotate = |w: &mut Writer| {
                    let disk = w.disk.clone();
                    w.feed_mut().rotate(&*disk, *first, idx)
                };
                if !self.retry(rotate, |_| {}) {
                    return false;
                }
            }
            let ok = self.retry(
                |w| w.feed_mut().append(&b.bytes),
                |w| w.feed_mut().cut_back(),
            );
            if !ok {
                return false;
            }
        }
        true
    }

    fn feed_mut(&mut self) -> &mut FeedFile {
        self.feed
            .as_mut()
            .expect("feed batches come only when the feed is on")
    }

    /// Says `last_seq` is durable.
    fn publish(&self, last_seq: u64) {
        self.shared.durable_seq.store(last_seq, Ordering::Release);
        self.set_failing(false);
        self.shared.waker.wake();
    }

    /// Appends and syncs `data` until it succeeds.
    /// Returns `false` if the shard went away while the disk was failing.
    fn write_durably(&mut self, data: &[u8]) -> bool {
        let mut attempt = 0;
        loop {
            let fsync = self.fsync;
            let began = std::time::Instant::now();
            let r = self
                .file
                .append(data)
                .and_then(|_| if fsync { self.file.sync() } else { Ok(()) });
            match r {
                Ok(()) => {
                    self.shared.count_sync(began.elapsed());
                    break;
                }
                Err(e) => {
                    if Arc::strong_count(&self.shared) == 1 {
                        return false; // The shard is gone: nobody waits for this batch.
                    }
                    self.report(&e, attempt);
                    // Cut off whatever part of the batch reached the file; rewrite it whole.
                    let _ = self.file.truncate(self.len);
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
            }
        }
        if attempt > 0 {
            crate::log::info(
                "wal",
                &format!("log in {} is writable again", self.dir.display()),
                &[],
            );
        }
        self.len += data.len() as u64;
        true
    }

    fn run(mut self, rx: mpsc::Receiver<WriterMsg>) {
        let mut pending: Option<WriterMsg> = None;
        let mut batch = Vec::new();
        let mut feeds = Vec::new();
        loop {
            let msg = match pending.take() {
                Some(m) => m,
                None => match rx.recv() {
                    Ok(m) => m,
                    Err(_) => return,
                },
            };
            match msg {
                WriterMsg::Batch {
                    data,
                    mut last_seq,
                    feed,
                } => {
                    // Batches queued behind this one share its sync.
                    batch.clear();
                    batch.extend_from_slice(&data);
                    feeds.extend(feed);
                    while let Ok(next) = rx.try_recv() {
                        match next {
                            WriterMsg::Batch {
                                data,
                                last_seq: s,
                                feed,
                            } => {
                                batch.extend_from_slice(&data);
                                feeds.extend(feed);
                                last_seq = s;
                            }
                            other => {
                                pending = Some(other);
                                break;
                            }
                        }
                    }
                    let data = std::mem::take(&mut batch);
                    if !self.write_durably(&data) || !self.write_feed(&mut feeds) {
                        return;
                    }
                    self.publish(last_seq);
                    batch = data;
                }
                WriterMsg::SyncFeed { ack } => {
                    let synced = match &mut self.feed {
                        Some(f) => f.sync(),
                        None => Ok(()),
                    };
                    let _ = ack.send(synced);
                }
                WriterMsg::DropFeed { firsts } => {
                    if let Some(f) = &self.feed {
                        f.drop_segments(&*self.disk, &firsts);
                    }
                }
                WriterMsg::Rotate { first_seq } => {
                    if !self.open_segment(first_seq) {
                        return;
                    }
                }
                WriterMsg::Stop { ack } => {
                    // A clean stop: the open segment is known to hold everything durable.
                    if let Some(f) = &mut self.feed {
                        let _ = f.sync();
                    }
                    if self.file.sync().is_ok() {
                        let durable = self.shared.durable_seq.load(Ordering::Acquire);
                        let _ = self.shared.update_manifest(&*self.disk, &self.dir, |m| {
                            if let Some(last) = m.last_mut().filter(|s| s.first <= durable) {
                                last.through = last.through.max(durable);
                            }
                        });
                    }
                    let _ = ack.send(());
                    return;
                }
            }
        }
    }
}

/// Starts a shard's writer after recovery found records through `seq` and `manifest`: it
/// goes on appending to the manifest's last segment (so restarts do not leave a new file
/// each), or starts `wal-<seq+1>.log` when there is none.
pub fn spawn_writer(
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    seq: u64,
    mut manifest: Manifest,
    fsync: bool,
    shared: Arc<Shared>,
    feed: Option<FeedFile>,
) -> io::Result<mpsc::Sender<WriterMsg>> {
    // A segment that starts past the next record can only be an empty one a crash left
    // right after a rotation; its records never came. Start the next one in its place.
    while let Some(last) = manifest.segments.last().copied() {
        if last.first <= seq + 1 {
            break;
        }
        let path = dir.join(segment_name(last.first));
        if disk.read(&path).is_ok_and(|b| !b.is_empty()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} starts past record {}", path.display(), seq + 1),
            ));
        }
        let _ = disk.remove(&path);
        manifest.segments.pop();
    }
    let first_seq = match manifest.segments.last() {
        Some(s) => s.first,
        None => {
            manifest.segments.push(Segment {
                first: seq + 1,
                through: 0,
            });
            seq + 1
        }
    };
    let path = dir.join(segment_name(first_seq));
    let mut file = disk.open_append(&path)?;
    // What recovery read may still be only in the page cache (after a crash of the
    // process): sync it before the manifest says the segment holds it.
    file.sync()?;
    disk.sync_dir(&dir)?;
    if let Some(last) = manifest.last_mut() {
        if seq >= last.first {
            last.through = last.through.max(seq);
        }
    }
    manifest.write(&*disk, &dir)?;
    *shared.manifest.lock().unwrap_or_else(|p| p.into_inner()) = manifest;
    let len = disk.read(&path).map(|b| b.len() as u64).unwrap_or(0);
    shared.durable_seq.store(seq, Ordering::Release);
    shared.segment_first.store(first_seq, Ordering::Release);
    let (tx, rx) = mpsc::channel();
    let writer = Writer {
        disk,
        dir,
        fsync,
        file,
        len,
        shared,
        feed,
    };
    std::thread::Builder::new()
        .name("nimbus-log".into())
        .spawn(move || writer.run(rx))?;
    Ok(tx)
}
