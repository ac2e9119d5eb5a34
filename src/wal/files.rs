//! The names of a shard directory's files, and listing them.
//!
//! Kept apart from recovery, the writer and snapshots so that each of those uses this
//! instead of one another.

use super::disk::Disk;
use std::io;
use std::path::{Path, PathBuf};

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
