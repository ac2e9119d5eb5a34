//! Recovery: the newest valid snapshot, then every log record after it, in order.
//!
//! A torn tail (a final write cut short) is truncated and reported; damage in the middle of
//! a log refuses the start with a message naming the file and offset, because skipping it
//! would silently drop acknowledged writes that follow it.

use super::disk::Disk;
use super::record::{scan, Tail};
use super::snapshot::load;
use crate::store::Store;
use std::io;
use std::path::{Path, PathBuf};

/// What a shard starts from.
#[derive(Debug, Default)]
pub struct Recovered {
    pub store: Store,
    /// The last sequence number applied.
    pub seq: u64,
    /// Records replayed from the log, and bytes of torn tail dropped.
    pub replayed: u64,
    pub dropped_bytes: u64,
}

/// `snapshot-<seq>.rkyv`
pub fn snapshot_name(seq: u64) -> String {
    format!("snapshot-{seq:020}.rkyv")
}

/// `wal-<first seq>.log`
pub fn segment_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

fn number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

/// Segments of `dir`, oldest first.
pub fn segments(disk: &dyn Disk, dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out: Vec<(u64, PathBuf)> = disk
        .list(dir)?
        .into_iter()
        .filter_map(|n| number(&n, "wal-", ".log").map(|s| (s, dir.join(n))))
        .collect();
    out.sort();
    Ok(out)
}

/// Snapshots of `dir`, newest first.
pub fn snapshots(disk: &dyn Disk, dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out: Vec<(u64, PathBuf)> = disk
        .list(dir)?
        .into_iter()
        .filter_map(|n| number(&n, "snapshot-", ".rkyv").map(|s| (s, dir.join(n))))
        .collect();
    out.sort_by(|a, b| b.cmp(a));
    Ok(out)
}

fn damaged(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Rebuilds one shard's state from `dir`.
pub fn recover(disk: &dyn Disk, dir: &Path) -> io::Result<Recovered> {
    let mut rec = Recovered::default();
    // Leftovers of a snapshot that never got renamed into place.
    for name in disk.list(dir)? {
        if name.ends_with(".tmp") {
            let _ = disk.remove(&dir.join(name));
        }
    }
    for (seq, path) in snapshots(disk, dir)? {
        match load(&disk.read(&path)?) {
            Ok((_, store)) => {
                rec.store = store;
                rec.seq = seq;
                break;
            }
            // An older snapshot (if one is still there) is the fallback; the log still
            // holds everything after it only if its segments were not yet dropped, which
            // the sequence check below verifies.
            Err(e) => eprintln!("nimbus: ignoring damaged snapshot {}: {e}", path.display()),
        }
    }
    let segs = segments(disk, dir)?;
    let last = segs.len().saturating_sub(1);
    for (n, (_, path)) in segs.iter().enumerate() {
        let bytes = disk.read(path)?;
        let scanned = scan(&bytes);
        for e in scanned.entries {
            if e.seq <= rec.seq {
                continue;
            }
            if e.seq != rec.seq + 1 {
                return Err(damaged(format!(
                    "{}: record {} follows {}: records are missing; refusing to start",
                    path.display(),
                    e.seq,
                    rec.seq
                )));
            }
            rec.store.apply(e.change);
            rec.seq = e.seq;
            rec.replayed += 1;
        }
        match scanned.tail {
            Tail::Clean => {}
            Tail::Torn { dropped } if n == last => {
                eprintln!(
                    "nimbus: {}: dropping a torn final write of {dropped} bytes (never acknowledged)",
                    path.display()
                );
                disk.truncate(path, scanned.valid_len as u64)?;
                rec.dropped_bytes += dropped as u64;
            }
            Tail::Torn { .. } | Tail::Corrupt { .. } => {
                return Err(damaged(format!(
                    "{} is damaged at byte {}; the records after it were not applied. Refusing to \
                     start: restore the file, or move it aside to start without them",
                    path.display(),
                    scanned.valid_len
                )));
            }
        }
    }
    Ok(rec)
}

/// Recovers every shard of `data_dir` for a server with `shards` shards. When the number of
/// shards changed since the last run, tenants are moved to their new owners: the new layout
/// is written as snapshots in `shards.next/`, then swapped in by renames, so a crash at any
/// point leaves either the old layout or the new one.
pub fn open_all(
    disk: &dyn Disk,
    data_dir: &Path,
    shards: usize,
    owner: impl Fn(&str) -> usize,
) -> io::Result<Vec<Recovered>> {
    let base = data_dir.join("shards");
    let next = data_dir.join("shards.next");
    let old = data_dir.join("shards.old");
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
                        let r = recover(disk, &dir_of(base, n));
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
    // Re-home: recover the old layout, move tenants, write the new one.
    let mut stores: Vec<Store> = (0..shards).map(|_| Store::default()).collect();
    let mut seq = 0;
    for n in &existing {
        let r = recover(disk, &dir_of(&base, *n))?;
        seq = seq.max(r.seq);
        super::snapshot::rehome(r.store, &mut stores, &owner);
    }
    eprintln!(
        "nimbus: re-homing tenants from {} shards to {shards}",
        existing.len()
    );
    disk.create_dir_all(&next)?;
    for (n, store) in stores.iter().enumerate() {
        let dir = dir_of(&next, n);
        disk.create_dir_all(&dir)?;
        let bytes = super::snapshot::encode(&super::snapshot::copy_all(store, seq));
        disk.write_synced(&dir.join(snapshot_name(seq)), &bytes)?;
        disk.sync_dir(&dir)?;
    }
    disk.sync_dir(&next)?;
    std::fs::rename(&base, &old)?;
    std::fs::rename(&next, &base)?;
    disk.sync_dir(data_dir)?;
    std::fs::remove_dir_all(&old)?;
    Ok(stores
        .into_iter()
        .map(|store| Recovered {
            store,
            seq,
            replayed: 0,
            dropped_bytes: 0,
        })
        .collect())
}
