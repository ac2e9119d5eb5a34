//! The file operations the log and snapshots need, behind a trait, so tests can use a disk
//! that forgets unsynced data at a simulated crash and fails on demand.
//!
//! LD_PRELOAD-style fault injection cannot see io_uring, and `kill -9` lets the kernel flush
//! what was written but not synced; [`SimDisk`] is how the tests show that syncing is right.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// An open log segment, written only at its end.
pub trait LogFile: Send {
    /// Appends `data` (all of it, or an error).
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// Directory and whole-file operations.
pub trait Disk: Send + Sync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// File names in `dir` (not paths); empty if `dir` does not exist.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Up to `max` bytes of a file from byte `from` (fewer at its end).
    fn read_range(&self, path: &Path, from: u64, max: usize) -> io::Result<Vec<u8>> {
        let all = self.read(path)?;
        let start = (from as usize).min(all.len());
        Ok(all[start..all.len().min(start.saturating_add(max))].to_vec())
    }
    /// A file's length.
    fn size(&self, path: &Path) -> io::Result<u64> {
        self.read(path).map(|b| b.len() as u64)
    }
    /// Opens (creating if needed) a file for appending.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// Writes a whole new file and syncs its data (the caller syncs the directory).
    fn write_synced(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Cuts a closed file back to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsDisk;

struct OsFile(fs::File);

impl LogFile for OsFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)?;
        self.0.sync_data()
    }
}

impl Disk for OsDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        match fs::read_dir(dir) {
            Ok(entries) => {
                let mut names = Vec::new();
                for e in entries {
                    names.push(e?.file_name().to_string_lossy().into_owned());
                }
                Ok(names)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    fn read_range(&self, path: &Path, from: u64, max: usize) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = fs::File::open(path)?;
        f.seek(SeekFrom::Start(from))?;
        let mut out = Vec::new();
        f.take(max as u64).read_to_end(&mut out)?;
        Ok(out)
    }
    fn size(&self, path: &Path) -> io::Result<u64> {
        fs::metadata(path).map(|m| m.len())
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(Box::new(OsFile(f)))
    }
    fn write_synced(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(data)?;
        f.sync_data()
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = fs::OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_data()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        fs::File::open(dir)?.sync_all()
    }
}

/// What a simulated file holds: what a crash keeps, and what reads see now.
#[derive(Debug, Default, Clone)]
struct SimFile {
    durable: Vec<u8>,
    current: Vec<u8>,
}

#[derive(Debug, Default)]
struct SimState {
    /// File contents by id.
    files: HashMap<u64, SimFile>,
    /// Directory entries as reads see them, and as a crash would leave them.
    names: HashMap<PathBuf, u64>,
    durable_names: HashMap<PathBuf, u64>,
    next_id: u64,
    ops: u64,
    /// Operations numbered from here on fail with EIO.
    fail_from_op: Option<u64>,
    /// Appends fail with ENOSPC after writing half of their bytes.
    full: bool,
    /// Bumped by a crash; handles opened before it fail from then on, as the process that
    /// held them would be gone.
    epoch: u64,
}

/// An in-memory disk for tests: [`SimDisk::crash`] drops everything not yet synced (file
/// data not `sync`ed, directory entries not `sync_dir`ed), and faults can be injected.
#[derive(Debug, Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<SimState>>,
    /// The simulated process this view belongs to: after a crash, every operation of the
    /// old process's threads fails, as they would be gone ([`SimDisk::restarted`]).
    epoch: u64,
}

fn eio() -> io::Error {
    io::Error::other("simulated I/O error")
}

impl SimDisk {
    /// A new, empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The disk as this view's process sees it: an error once that process has crashed.
    fn live(&self) -> io::Result<MutexGuard<'_, SimState>> {
        let s = self.lock();
        if s.epoch != self.epoch {
            return Err(io::Error::other("the simulated process crashed"));
        }
        Ok(s)
    }

    /// The same disk, for the process started after the last crash.
    pub fn restarted(&self) -> SimDisk {
        SimDisk {
            state: self.state.clone(),
            epoch: self.lock().epoch,
        }
    }

    /// Counts an operation; fails it if a fault is set for it.
    fn op(state: &mut SimState) -> io::Result<()> {
        state.ops += 1;
        match state.fail_from_op {
            Some(k) if state.ops >= k => Err(eio()),
            _ => Ok(()),
        }
    }

    /// Loses everything that was not made durable, as a power cut would.
    pub fn crash(&self) {
        let mut s = self.lock();
        s.names = s.durable_names.clone();
        for f in s.files.values_mut() {
            f.current = f.durable.clone();
        }
        s.fail_from_op = None;
        s.full = false;
        s.epoch += 1;
    }

    /// Makes operation number `k` (counting from now, 1-based) and all after it fail.
    pub fn fail_after(&self, k: u64) {
        let mut s = self.lock();
        s.fail_from_op = Some(s.ops + k);
    }

    /// Makes appends fail with "no space left on device" (after a partial write), or stops that.
    pub fn set_full(&self, full: bool) {
        self.lock().full = full;
    }

    /// Stops injected failures.
    pub fn heal(&self) {
        let mut s = self.lock();
        s.fail_from_op = None;
        s.full = false;
    }

    fn file_id(s: &SimState, path: &Path) -> io::Result<u64> {
        s.names
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

struct SimHandle {
    disk: SimDisk,
    id: u64,
    epoch: u64,
}

impl SimHandle {
    fn lock(&self) -> io::Result<MutexGuard<'_, SimState>> {
        let s = self.disk.lock();
        if s.epoch != self.epoch {
            return Err(io::Error::other("the simulated process crashed"));
        }
        Ok(s)
    }
}

impl LogFile for SimHandle {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut s = self.lock()?;
        SimDisk::op(&mut s)?;
        let full = s.full;
        let f = s.files.entry(self.id).or_default();
        if full {
            f.current.extend_from_slice(&data[..data.len() / 2]);
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        f.current.extend_from_slice(data);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.lock()?;
        SimDisk::op(&mut s)?;
        let f = s.files.entry(self.id).or_default();
        f.durable = f.current.clone();
        Ok(())
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut s = self.lock()?;
        SimDisk::op(&mut s)?;
        let f = s.files.entry(self.id).or_default();
        f.current.truncate(len as usize);
        f.durable = f.current.clone();
        Ok(())
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.live()?;
        Ok(s.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.live()?;
        let id = Self::file_id(&s, path)?;
        Ok(s.files
            .get(&id)
            .map(|f| f.current.clone())
            .unwrap_or_default())
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let mut s = self.live()?;
        SimDisk::op(&mut s)?;
        let id = match s.names.get(path) {
            Some(id) => *id,
            None => {
                s.next_id += 1;
                let id = s.next_id;
                s.names.insert(path.to_path_buf(), id);
                s.files.insert(id, SimFile::default());
                id
            }
        };
        let epoch = s.epoch;
        Ok(Box::new(SimHandle {
            disk: self.clone(),
            id,
            epoch,
        }))
    }
    fn write_synced(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut s = self.live()?;
        SimDisk::op(&mut s)?;
        s.next_id += 1;
        let id = s.next_id;
        s.names.insert(path.to_path_buf(), id);
        s.files.insert(
            id,
            SimFile {
                durable: data.to_vec(),
                current: data.to_vec(),
            },
        );
        Ok(())
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.live()?;
        SimDisk::op(&mut s)?;
        let id = Self::file_id(&s, path)?;
        if let Some(f) = s.files.get_mut(&id) {
            f.current.truncate(len as usize);
            f.durable = f.current.clone();
        }
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.live()?;
        SimDisk::op(&mut s)?;
        let id = s
            .names
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        s.names.insert(to.to_path_buf(), id);
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.live()?;
        SimDisk::op(&mut s)?;
        s.names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.live()?;
        SimDisk::op(&mut s)?;
        let (current, durable) = (s.names.clone(), &mut s.durable_names);
        durable.retain(|p, _| p.parent() != Some(dir));
        durable.extend(current.into_iter().filter(|(p, _)| p.parent() == Some(dir)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_keeps_only_what_was_synced() {
        let d = SimDisk::new();
        let dir = Path::new("/x");
        let p = dir.join("log");
        let mut f = d.open_append(&p).expect("open");
        f.append(b"abc").expect("append");
        d.sync_dir(dir).expect("dir");
        f.sync().expect("sync");
        f.append(b"def").expect("append");
        assert_eq!(d.read(&p).expect("read"), b"abcdef");
        d.crash();
        assert!(
            d.read(&p).is_err(),
            "the crashed process can do nothing more"
        );
        let d = d.restarted();
        assert_eq!(d.read(&p).expect("read"), b"abc");
        // A file whose directory entry was never synced disappears.
        let q = dir.join("new");
        d.write_synced(&q, b"x").expect("write");
        d.crash();
        let d = d.restarted();
        assert!(d.read(&q).is_err());
    }

    #[test]
    fn faults() {
        let d = SimDisk::new();
        let mut f = d.open_append(Path::new("/x/log")).expect("open");
        d.fail_after(2);
        assert!(f.append(b"a").is_ok());
        assert!(f.sync().is_err());
        d.heal();
        d.set_full(true);
        assert!(f.append(b"abcd").is_err());
        assert_eq!(d.read(Path::new("/x/log")).expect("read"), b"aab");
    }
}
