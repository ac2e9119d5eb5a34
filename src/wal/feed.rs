//! The change feed's files, in `changes/` of a shard's directory: the writer's open
//! segment, what recovery finds there (cutting what a crash left), and reads of segments
//! for positions older than the feed's memory (on a helper thread, never the event loop).
//!
//! The feed is not synced with every batch: a crash can lose its newest records, and
//! recovery writes them again from the log records after the feed's last one (`recovery`).
//! So the feed must be synced before log segments are dropped: the shard asks the writer to
//! ([`super::writer::WriterMsg::SyncFeed`]) before a snapshot lets them go.

use super::disk::{Disk, LogFile};
use crate::changes::feed::{DiskRead, Want};
use crate::changes::record;
use crate::changes::segment::{file_name, first_of, index_name, SegMeta};
use crate::changes::Page;
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

/// The feed's directory inside a shard's directory.
pub fn dir_of(shard_dir: &Path) -> PathBuf {
    shard_dir.join("changes")
}

/// The writer's open segment.
pub struct FeedFile {
    dir: PathBuf,
    first: u64,
    file: Box<dyn LogFile>,
    /// Bytes known to be written whole.
    len: u64,
}

impl FeedFile {
    /// Opens segment `first` of `dir` for appending.
    pub fn open(disk: &dyn Disk, dir: &Path, first: u64) -> io::Result<FeedFile> {
        disk.create_dir_all(dir)?;
        let path = dir.join(file_name(first));
        let file = disk.open_append(&path)?;
        disk.sync_dir(dir)?;
        let len = disk.size(&path)?;
        Ok(FeedFile {
            dir: dir.to_path_buf(),
            first,
            file,
            len,
        })
    }

    /// Seals the open segment (synced, its index written) and starts segment `first`.
    pub fn rotate(&mut self, disk: &dyn Disk, first: u64, index: &[u8]) -> io::Result<()> {
        if first == self.first {
            return Ok(()); // A retry after the new segment was opened.
        }
        self.file.sync()?;
        disk.write_synced(&self.dir.join(index_name(self.first)), index)?;
        let next = disk.open_append(&self.dir.join(file_name(first)))?;
        disk.sync_dir(&self.dir)?;
        *self = FeedFile {
            dir: self.dir.clone(),
            first,
            file: next,
            len: 0,
        };
        Ok(())
    }

    /// Appends records.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.append(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// After a failed append: cuts off whatever part of it reached the file.
    pub fn cut_back(&mut self) {
        let _ = self.file.truncate(self.len);
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync()
    }

    /// Removes sealed segments and their indexes.
    pub fn drop_segments(&self, disk: &dyn Disk, firsts: &[u64]) {
        for first in firsts.iter().filter(|f| **f != self.first) {
            let _ = disk.remove(&self.dir.join(file_name(*first)));
            let _ = disk.remove(&self.dir.join(index_name(*first)));
        }
        let _ = disk.sync_dir(&self.dir);
    }
}

/// What recovery found in a feed directory.
#[derive(Debug, Default)]
pub struct Found {
    pub segments: VecDeque<SegMeta>,
    /// The shard sequence number of the last record there; `None` when the directory holds
    /// no feed yet (a new shard, or the first start of a version with feeds).
    pub last: Option<u64>,
}

/// Reads what `dir` holds: each sealed segment from its index (or from its bytes when the
/// index is missing or does not match), the open one from its bytes, its torn tail cut.
pub fn find(disk: &dyn Disk, dir: &Path) -> io::Result<Found> {
    let mut firsts: Vec<u64> = disk.list(dir)?.iter().filter_map(|n| first_of(n)).collect();
    firsts.sort_unstable();
    let mut found = Found::default();
    for (n, first) in firsts.iter().enumerate() {
        let path = dir.join(file_name(*first));
        let open = n + 1 == firsts.len();
        let indexed = if open {
            None
        } else {
            disk.read(&dir.join(index_name(*first)))
                .ok()
                .and_then(|b| SegMeta::decode(&b))
                .filter(|m| disk.size(&path).is_ok_and(|len| len == m.bytes))
        };
        let meta = match indexed {
            Some(m) => m,
            None => {
                let bytes = disk.read(&path)?;
                let (meta, valid) = SegMeta::of_bytes(*first, &bytes);
                if valid < bytes.len() {
                    let msg = format!(
                        "{}: dropping {} bytes of change-feed records after byte {valid} (cut short by a crash, or damaged); they are written again from the log where it still has them",
                        path.display(),
                        bytes.len() - valid
                    );
                    crate::log::warn("recovery", &msg, &[]);
                    disk.truncate(&path, valid as u64)?;
                }
                meta
            }
        };
        if meta.last > 0 {
            found.last = Some(meta.last);
        }
        found.segments.push_back(meta);
    }
    if found.last.is_none() && !firsts.is_empty() {
        // Segments, but empty ones: the feed began at the first of them.
        found.last = Some(firsts[0].saturating_sub(1));
    }
    Ok(found)
}

/// The log holds records only through `seq` (a crash took the rest before they were
/// synced): cuts the feed's records after it.
pub fn cut_after(disk: &dyn Disk, dir: &Path, found: &mut Found, seq: u64) -> io::Result<()> {
    while let Some(meta) = found.segments.back_mut() {
        if meta.last <= seq {
            break;
        }
        let path = dir.join(file_name(meta.first));
        let bytes = disk.read(&path)?;
        let mut pos = 0;
        while let Some((r, next)) = record::read(&bytes, pos) {
            if r.place.seq > seq {
                break;
            }
            pos = next;
        }
        disk.truncate(&path, pos as u64)?;
        *meta = SegMeta::of_bytes(meta.first, &bytes[..pos]).0;
        if pos == 0 && found.segments.len() > 1 {
            let _ = disk.remove(&path);
            found.segments.pop_back();
        }
    }
    found.last = found.segments.back().map(|m| m.last.min(seq));
    Ok(())
}

/// Bytes read from a segment at a time.
const BLOCK: usize = 1 << 20;

/// Reads `want`'s changes from the segments `read` names, up to where memory takes over.
pub fn read_segments(
    disk: &dyn Disk,
    dir: &Path,
    want: &Want,
    read: &DiskRead,
) -> io::Result<Page> {
    let mut page = Page::new(want.after, want.render);
    for (first, start) in &read.segments {
        let path = dir.join(file_name(*first));
        let mut offset = *start;
        let mut block = BLOCK;
        loop {
            let bytes = disk.read_range(&path, offset, block)?;
            let mut pos = 0;
            while let Some((r, next)) = record::read(&bytes, pos) {
                pos = next;
                if r.tenant != want.tenant
                    || r.place.epoch != want.epoch
                    || r.place.tseq <= page.last
                {
                    continue;
                }
                if r.place.tseq >= read.until {
                    return Ok(page);
                }
                if page.full(want.limit) {
                    page.has_more = true;
                    return Ok(page);
                }
                page.offer(&r, &want.filter);
            }
            if bytes.len() < block && pos == bytes.len() {
                break; // The segment's end.
            }
            if pos == 0 {
                if bytes.len() < block {
                    break; // A damaged record: the segment ends here for reads.
                }
                block = block.saturating_mul(4).min(128 << 20); // One record larger than a block.
                continue;
            }
            offset += pos as u64;
            block = BLOCK;
        }
    }
    Ok(page)
}
