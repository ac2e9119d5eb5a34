//! Recovery: the snapshot the manifest names, then every log record after it, in order.
//!
//! Recovery knows what it should find (`wal::manifest`): the snapshot, every segment, and
//! the last record each segment is known to hold. What a crash leaves (a final write cut
//! short) is truncated and reported. What damage leaves (a missing or damaged snapshot or
//! segment, a segment cut short below what it is known to hold, a gap in the sequence, a bad
//! frame followed by good ones) refuses the start with a message naming the file and the
//! records missing, because going on would silently drop acknowledged writes. With
//! `--accept-data-loss` the operator says to go on anyway: recovery keeps what it can, says
//! what it skipped, and moves the old files aside (see [`Run::settle`]).

use super::disk::Disk;
use super::feed;
use super::files::{segment_name, segments, snapshot_name, snapshots};
use super::manifest::{self, Manifest, Segment};
use super::record::{scan, Tail};
use super::snapshot::load;
use crate::changes::{Feed, Options as FeedOptions};
use crate::store::Store;
use std::io;
use std::path::{Path, PathBuf};

/// What a shard starts from.
pub struct Recovered {
    pub store: Store,
    /// The last sequence number applied.
    pub seq: u64,
    /// Records replayed from the log, and bytes of torn tail dropped.
    pub replayed: u64,
    pub dropped_bytes: u64,
    /// What the directory holds now; the log writer goes on appending to its last segment.
    pub manifest: Manifest,
    /// The change feed: its segments, and the records recovery wrote again.
    pub feed: Feed,
}

impl Default for Recovered {
    /// Nothing recovered, with the feed's default options.
    fn default() -> Recovered {
        Recovered::empty(FeedOptions::default())
    }
}

impl Recovered {
    fn empty(feed: FeedOptions) -> Recovered {
        Recovered {
            store: Store::default(),
            seq: 0,
            replayed: 0,
            dropped_bytes: 0,
            manifest: Manifest::default(),
            feed: Feed::new(feed, Default::default()),
        }
    }
}

/// How recovery treats damage.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Go on past missing or damaged files, keeping what remains (`--accept-data-loss`).
    pub accept_data_loss: bool,
    /// The change feed's options (retention 0: no feed).
    pub feed: FeedOptions,
}

/// One shard's recovery in progress.
struct Run<'a> {
    disk: &'a dyn Disk,
    dir: &'a Path,
    opts: Options,
    rec: Recovered,
    /// Something was skipped under `--accept-data-loss`.
    lost: bool,
    /// Records after this one are written to the feed again (it lost them in a crash).
    feed_last: Option<u64>,
}

/// Rebuilds one shard's state from `dir`, refusing on damage.
pub fn recover(disk: &dyn Disk, dir: &Path) -> io::Result<Recovered> {
    let opts = Options {
        accept_data_loss: false,
        feed: FeedOptions::default(),
    };
    recover_with(disk, dir, opts)
}

/// Rebuilds one shard's state from `dir`.
pub fn recover_with(disk: &dyn Disk, dir: &Path, opts: Options) -> io::Result<Recovered> {
    // Leftovers of a snapshot or manifest that never got renamed into place.
    for name in disk.list(dir)? {
        if name.ends_with(".tmp") {
            let _ = disk.remove(&dir.join(name));
        }
    }
    let feed_dir = feed::dir_of(dir);
    let mut found = if opts.feed.retention_ms > 0 {
        feed::find(disk, &feed_dir)?
    } else {
        feed::Found::default()
    };
    let mut rec = Recovered::empty(opts.feed);
    rec.feed = Feed::new(opts.feed, std::mem::take(&mut found.segments));
    let mut run = Run {
        disk,
        dir,
        opts,
        rec,
        lost: false,
        feed_last: found.last,
    };
    let manifest = run.manifest()?;
    run.load_snapshot(manifest.snapshot)?;
    let list = run.segment_list(&manifest)?;
    let present: Vec<u64> = segments(disk, dir)?.into_iter().map(|(f, _)| f).collect();
    let last = list.len().saturating_sub(1);
    for (n, seg) in list.iter().enumerate() {
        let path = dir.join(segment_name(seg.first));
        if !present.contains(&seg.first) {
            let held = match seg.known() {
                Some(r) => format!("records {}..={}", r.start(), r.end()),
                None => format!("the records from {} on", seg.first),
            };
            run.refuse(format!(
                "log segment {} is missing: it held {held}",
                path.display()
            ))?;
            continue;
        }
        run.replay(seg, &path, n == last)?;
    }
    run.rec.manifest = Manifest {
        snapshot: manifest.snapshot,
        segments: list
            .into_iter()
            .filter(|s| present.contains(&s.first))
            .collect(),
    };
    if run.lost {
        run.settle()?;
    }
    let mut rec = run.rec;
    if found.last.is_some_and(|f| f > rec.seq) {
        // The feed got records whose log records a crash took before they were synced.
        found.segments = rec.feed.into_segments();
        feed::cut_after(disk, &feed_dir, &mut found, rec.seq)?;
        rec.feed = Feed::new(opts.feed, found.segments);
    }
    rec.feed.ensure_open(rec.seq + 1);
    Ok(rec)
}

fn after(seq: Option<u64>) -> String {
    match seq {
        Some(s) => format!("after record {s}"),
        None => "before its first record".into(),
    }
}

impl Run<'_> {
    /// Refuses to start with `why`, or under `--accept-data-loss` says so and goes on.
    fn refuse(&mut self, why: String) -> io::Result<()> {
        if self.opts.accept_data_loss {
            crate::log::warn(
                "recovery",
                &format!("{why}; going on without it (--accept-data-loss)"),
                &[],
            );
            self.lost = true;
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{why}. Refusing to start rather than run with less than was acknowledged: \
                 restore the file from a backup, or start with --accept-data-loss to keep \
                 what remains"
            ),
        ))
    }

    /// The manifest, or (when there is none, or it is damaged, and that is accepted) one
    /// guessed from the files present.
    fn manifest(&mut self) -> io::Result<Manifest> {
        let (disk, dir) = (self.disk, self.dir);
        let segs = segments(disk, dir)?;
        let snaps = snapshots(disk, dir)?;
        let why = match Manifest::read(disk, dir) {
            Ok(Some(m)) => return Ok(m),
            Ok(None) if segs.is_empty() && snaps.is_empty() => return Ok(Manifest::default()),
            Ok(None) => format!(
                "{} holds log or snapshot files but no {}, so what they should hold is unknown",
                dir.display(),
                manifest::FILE
            ),
            Err(e) => e.to_string(),
        };
        self.refuse(why)?;
        Ok(Manifest {
            snapshot: snaps.first().map_or(0, |(s, _)| *s),
            segments: segs
                .iter()
                .map(|(first, _)| Segment {
                    first: *first,
                    through: 0,
                })
                .collect(),
        })
    }

    /// Loads snapshot `seq` (0: none); under `--accept-data-loss`, any other that loads.
    fn load_snapshot(&mut self, seq: u64) -> io::Result<()> {
        if seq == 0 {
            return Ok(());
        }
        let path = self.dir.join(snapshot_name(seq));
        let why = match self.disk.read(&path) {
            Ok(bytes) => match load(&bytes) {
                Ok((_, store)) => {
                    self.rec.store = store;
                    self.rec.seq = seq;
                    return Ok(());
                }
                Err(e) => format!("snapshot {} is damaged ({e})", path.display()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                format!("snapshot {} is missing", path.display())
            }
            Err(e) => format!("snapshot {} cannot be read ({e})", path.display()),
        };
        self.refuse(format!("{why}: it held every record through {seq}"))?;
        for (other, p) in snapshots(self.disk, self.dir)? {
            if let Ok((_, store)) = self
                .disk
                .read(&p)
                .map(|b| load(&b))
                .unwrap_or(Err(String::new()))
            {
                crate::log::info(
                    "recovery",
                    &format!("starting from the older snapshot {}", p.display()),
                    &[],
                );
                self.rec.store = store;
                self.rec.seq = other;
                break;
            }
        }
        Ok(())
    }

    /// The segments to replay, oldest first: the manifest's, and any newer one that a crash
    /// left before the manifest named it. Older unnamed ones (a crash between a snapshot's
    /// manifest and removing what it replaced) are removed.
    fn segment_list(&mut self, m: &Manifest) -> io::Result<Vec<Segment>> {
        let mut list = m.segments.clone();
        for (first, path) in segments(self.disk, self.dir)? {
            if list.iter().any(|s| s.first == first) {
                continue;
            }
            if first <= m.snapshot && !self.lost {
                self.disk.remove(&path)?;
                continue;
            }
            list.push(Segment { first, through: 0 });
        }
        list.sort_by_key(|s| s.first);
        Ok(list)
    }

    /// Replays one segment, checking it holds what the manifest says it held.
    fn replay(&mut self, seg: &Segment, path: &Path, is_last: bool) -> io::Result<()> {
        let bytes = self.disk.read(path)?;
        let scanned = scan(&bytes);
        drop(bytes);
        let mut last_seen = None;
        for e in scanned.entries {
            last_seen = Some(e.seq);
            if e.seq <= self.rec.seq {
                continue;
            }
            if e.seq != self.rec.seq + 1 {
                self.refuse(format!(
                    "{}: record {} follows record {}: records {}..={} are missing",
                    path.display(),
                    e.seq,
                    self.rec.seq,
                    self.rec.seq + 1,
                    e.seq - 1
                ))?;
            }
            let rewrite = e.tseq > 0 && self.feed_last.is_some_and(|f| e.seq > f);
            let rec = &mut self.rec;
            if rewrite {
                rec.feed.before(&rec.store, &e.change);
            }
            rec.store.apply_logged(e.change, e.seq, e.tseq);
            if rewrite {
                rec.feed.after(&rec.store, e.seq, e.tseq, e.ts);
            }
            self.rec.seq = e.seq;
            self.rec.replayed += 1;
        }
        if let Some(known) = seg.known() {
            if last_seen.is_none_or(|s| s < *known.end()) {
                let from = last_seen.map_or(seg.first, |s| s + 1);
                self.refuse(format!(
                    "{} ends {}, but it held records through {}: records {from}..={} are \
                     missing (the file was cut short or damaged)",
                    path.display(),
                    after(last_seen),
                    known.end(),
                    known.end()
                ))?;
            }
        }
        match scanned.tail {
            Tail::Clean => Ok(()),
            Tail::Torn { dropped } if is_last => {
                let msg = format!(
                    "{}: dropping a torn final write of {dropped} bytes {}: a crash cut it short \
                     before it was acknowledged",
                    path.display(),
                    after(last_seen)
                );
                crate::log::warn("recovery", &msg, &[]);
                if !self.lost {
                    self.disk.truncate(path, scanned.valid_len as u64)?;
                }
                self.rec.dropped_bytes += dropped as u64;
                Ok(())
            }
            Tail::Torn { .. } | Tail::Corrupt { .. } => self.refuse(format!(
                "{} is damaged at byte {} ({}); the records after that point in it were not applied",
                path.display(),
                scanned.valid_len,
                after(last_seen)
            )),
        }
    }

    /// After an accepted loss the directory no longer agrees with itself. Starts it afresh
    /// from what was recovered: a new snapshot of it and a manifest naming only that, with
    /// every old file moved to `damaged-<ms>/` for the operator to look at.
    fn settle(&mut self) -> io::Result<()> {
        let aside = self.dir.join(format!("damaged-{}", crate::clock::now_ms()));
        self.disk.create_dir_all(&aside)?;
        let mut moved: Vec<PathBuf> = segments(self.disk, self.dir)?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        moved.extend(snapshots(self.disk, self.dir)?.into_iter().map(|(_, p)| p));
        if self
            .disk
            .list(self.dir)?
            .iter()
            .any(|n| n == manifest::FILE)
        {
            moved.push(self.dir.join(manifest::FILE));
        }
        for path in &moved {
            if let Some(name) = path.file_name() {
                self.disk.rename(path, &aside.join(name))?;
            }
        }
        self.disk.sync_dir(&aside)?;
        let seq = self.rec.seq;
        let bytes = super::snapshot::encode(&super::snapshot::copy_all(&self.rec.store, seq));
        self.disk
            .write_synced(&self.dir.join(snapshot_name(seq)), &bytes)?;
        let fresh = Manifest {
            snapshot: seq,
            segments: Vec::new(),
        };
        fresh.write(self.disk, self.dir)?;
        crate::log::warn(
            "recovery",
            &format!(
                "{}: recovered through record {seq}; the old files are in {}",
                self.dir.display(),
                aside.display()
            ),
            &[],
        );
        self.rec.manifest = fresh;
        Ok(())
    }
}

/// Recovers every shard of `data_dir` for a server with `shards` shards. When the number of
/// shards changed since the last run, tenants are moved to their new owners: the new layout
/// is written as snapshots in `shards.next/`, then swapped in by renames, so a crash at any
/// point leaves either the old layout or the new one.
pub fn open_all(
    disk: &dyn Disk,
    data_dir: &Path,
    shards: usize,
    opts: Options,
    owner: impl Fn(&str) -> usize,
) -> io::Result<Vec<Recovered>> {
    let (base, next, old) = layout(data_dir);
    if !base.exists() && next.exists() {
        std::fs::rename(&next, &base)?;
    }
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if next.exists() {
        std::fs::remove_dir_all(&next)?;
    }
    let mut existing: Vec<usize> = disk
        .list(&base)?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    existing.sort_unstable();
    let dir_of = |root: &Path, n: usize| root.join(n.to_string());
    if existing.is_empty() || existing == (0..shards).collect::<Vec<_>>() {
        let mut out = Vec::with_capacity(shards);
        for n in 0..shards {
            disk.create_dir_all(&dir_of(&base, n))?;
        }
        disk.sync_dir(&base)?;
        // Shards recover in parallel: each reads only its own directory.
        std::thread::scope(|scope| {
            let base = &base;
            let handles: Vec<_> = (0..shards)
                .map(|n| {
                    scope.spawn(move || {
                        let r = recover_with(disk, &dir_of(base, n), opts);
                        crate::memory::release_freed();
                        r
                    })
                })
                .collect();
            for h in handles {
                out.push(
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("recovery panicked")))?,
                );
            }
            Ok::<_, io::Error>(())
        })?;
        return Ok(out);
    }
    rehome_all(disk, data_dir, &existing, shards, opts, owner)
}

/// The shard directories' parent, the new layout being written, and the old one being
/// removed.
fn layout(data_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        data_dir.join("shards"),
        data_dir.join("shards.next"),
        data_dir.join("shards.old"),
    )
}

/// Re-homes: recovers the old layout, moves tenants, writes the new one.
fn rehome_all(
    disk: &dyn Disk,
    data_dir: &Path,
    existing: &[usize],
    shards: usize,
    opts: Options,
    owner: impl Fn(&str) -> usize,
) -> io::Result<Vec<Recovered>> {
    let (base, next, old) = layout(data_dir);
    let mut stores: Vec<Store> = (0..shards).map(|_| Store::default()).collect();
    let mut seq = 0;
    for n in existing {
        let r = recover_with(disk, &base.join(n.to_string()), opts)?;
        seq = seq.max(r.seq);
        super::snapshot::rehome(r.store, &mut stores, &owner);
    }
    crate::log::warn(
        "recovery",
        &format!(
            "re-homing tenants from {} shards to {shards}",
            existing.len()
        ),
        &[],
    );
    disk.create_dir_all(&next)?;
    let manifest = Manifest {
        snapshot: seq,
        segments: Vec::new(),
    };
    for (n, store) in stores.iter().enumerate() {
        let dir = next.join(n.to_string());
        disk.create_dir_all(&dir)?;
        let bytes = super::snapshot::encode(&super::snapshot::copy_all(store, seq));
        disk.write_synced(&dir.join(snapshot_name(seq)), &bytes)?;
        manifest.write(disk, &dir)?;
    }
    disk.sync_dir(&next)?;
    std::fs::rename(&base, &old)?;
    std::fs::rename(&next, &base)?;
    disk.sync_dir(data_dir)?;
    std::fs::remove_dir_all(&old)?;
    Ok(stores
        .into_iter()
        .map(|store| {
            let mut r = Recovered::empty(opts.feed);
            r.store = store;
            r.seq = seq;
            r.manifest = manifest.clone();
            r.feed.ensure_open(seq + 1);
            r
        })
        .collect())
}
