//! The data directory as a whole: made at start (0700), held by one server at a time, and
//! OS errors about it turned into messages that name the path and say what to do.
//!
//! Two servers on one directory would both acknowledge writes into the same logs, and after
//! a restart one's writes would be gone. So a server takes an exclusive `flock` on
//! `<data-dir>/LOCK` for its whole life; the kernel drops it when the process dies, even by
//! `kill -9`, so a crash never leaves a stale lock behind.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: fs::File,
}

/// Says what an OS error about `path` means for the operator and what to do about it.
pub fn explain(e: io::Error, doing: &str, path: &Path) -> io::Error {
    let remedy = match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "this user may not write there: fix its owner or mode, or pass another --data-dir"
        }
        Some(libc::EROFS) => "the file system is read-only: pass a --data-dir on a writable one",
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "the disk is full: free space, then start again",
        Some(libc::ENOTDIR) | Some(libc::EEXIST) => {
            "something that is not a directory is in the way: move it, or pass another --data-dir"
        }
        _ => "check the path, or pass another --data-dir",
    };
    io::Error::new(
        e.kind(),
        format!("cannot {doing} {}: {e}; {remedy}", path.display()),
    )
}

/// Creates the data directory if needed and takes its lock, or says who holds it.
pub fn open(data_dir: &Path) -> io::Result<DirLock> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| explain(e, "create the data directory", data_dir))?;
    let path = data_dir.join("LOCK");
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| explain(e, "open the lock file", &path))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            let who = if pid.is_empty() {
                "another nimbus process".to_string()
            } else {
                format!("another nimbus process (pid {pid})")
            };
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "data directory {} is in use by {who}; stop it first, or pass another --data-dir",
                    data_dir.display()
                ),
            ));
        }
        return Err(explain(e, "lock", &path));
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(|e| explain(e, "write", &path))?;
    Ok(DirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_and_names_the_holder() {
        let dir = std::env::temp_dir().join(format!("nimbus-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let held = open(&dir).expect("first lock");
        // flock locks belong to the open file description, so a second open in the same
        // process conflicts just as another process would.
        let err = open(&dir).expect_err("second lock");
        let msg = err.to_string();
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        open(&dir).expect("lock again once released");
        let _ = fs::remove_dir_all(&dir);
    }
}
