//! Backup archives (DECISIONS §11): what `POST /api/admin/backup` streams, what
//! `nimbus restore` reads back, and the `nimbus backup` client.
//!
//! An archive is a POSIX tar file (so `tar tf` lists it), its entries in this order:
//!
//! ```text
//! nimbus-backup/shards/<n>/part.json           what the shard's part holds (JSON)
//! nimbus-backup/shards/<n>/snapshot-<S>.rkyv   the shard's state, copied from commit S on
//! nimbus-backup/shards/<n>/wal-<S+1>.log       the log records S+1 ..= T written meanwhile
//! ...                                          (every shard in turn)
//! nimbus-backup/MANIFEST.json                  versions, sequence numbers, SHA-256 per part
//! ```
//!
//! Each shard's part is its own snapshot format (a fuzzy copy labelled `S`) plus the records
//! committed while it was copied, so replaying them, as recovery does, gives the shard
//! exactly as it was at commit `T`: every tenant of it consistent at one of its commits. A
//! restore writes these files into a fresh data directory as the shard's own, with a
//! `MANIFEST` naming them, and the server's ordinary recovery does the rest (re-homing the
//! tenants if it runs with another number of shards).

pub mod client;
pub mod restore;

use std::fmt::Write as _;

/// The archive's top directory.
pub const ROOT: &str = "nimbus-backup";
/// The manifest's entry name.
pub const MANIFEST: &str = "nimbus-backup/MANIFEST.json";
/// The archive format's version.
pub const FORMAT_VERSION: u64 = 1;
/// Bytes of a tar block.
pub const BLOCK: usize = 512;

/// One shard's part of a backup, as the shard made it.
pub struct Part {
    pub shard: usize,
    /// The snapshot's label: the copy began after commit `seq`.
    pub seq: u64,
    /// The last commit in `tail`: the part is the shard at this commit.
    pub through: u64,
    /// A snapshot file (`wal::snapshot` format).
    pub snapshot: Vec<u8>,
    /// Log frames `seq+1 ..= through` (`wal::record` format).
    pub tail: Vec<u8>,
    pub tenants: u64,
    pub documents: u64,
    /// SHA-256 of `snapshot` and of `tail` (computed off the shard's thread).
    pub sums: [[u8; 32]; 2],
}

impl Part {
    /// The part's entries: (name, bytes, SHA-256 when known).
    pub fn entries(self) -> [(String, Vec<u8>, Option<[u8; 32]>); 3] {
        let dir = format!("{ROOT}/shards/{}", self.shard);
        let info = format!(
            "{{\"shard\":{},\"seq\":{},\"through\":{},\"tenants\":{},\"documents\":{}}}\n",
            self.shard, self.seq, self.through, self.tenants, self.documents
        );
        [
            (format!("{dir}/part.json"), info.into_bytes(), None),
            (
                format!("{dir}/{}", crate::wal::files::snapshot_name(self.seq)),
                self.snapshot,
                Some(self.sums[0]),
            ),
            (
                format!("{dir}/{}", crate::wal::files::segment_name(self.seq + 1)),
                self.tail,
                Some(self.sums[1]),
            ),
        ]
    }
}

/// One entry as the manifest lists it.
pub struct Listed {
    pub name: String,
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// The manifest's text: the format and server versions, the shards, and every entry with
/// its size and SHA-256.
pub fn manifest_json(shards: usize, created_ms: u64, listed: &[Listed]) -> Vec<u8> {
    let mut s = format!(
        "{{\"format\":\"nimbus-backup\",\"format_version\":{FORMAT_VERSION},\"server_version\":\"{}\",\"snapshot_format\":3,\"created_at\":\"{}\",\"shards\":{shards},\"entries\":[",
        env!("CARGO_PKG_VERSION"),
        crate::clock::rfc3339(created_ms)
    );
    for (n, l) in listed.iter().enumerate() {
        if n > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "\n{{\"name\":\"{}\",\"bytes\":{},\"sha256\":\"{}\"}}",
            l.name,
            l.bytes,
            hex(&l.sha256)
        );
    }
    s.push_str("\n]}\n");
    s.into_bytes()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The 512-byte ustar header of a regular file `name` of `size` bytes.
pub fn tar_header(name: &str, size: u64, mtime_s: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let put = |h: &mut [u8; BLOCK], at: usize, bytes: &[u8]| {
        h[at..at + bytes.len()].copy_from_slice(bytes);
    };
    // Names here are ASCII and short; longer ones use the prefix field.
    let (prefix, base) = match name.len() {
        0..=100 => ("", name),
        _ => name.rsplit_once('/').unwrap_or(("", name)),
    };
    put(&mut h, 0, &base.as_bytes()[..base.len().min(100)]);
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{size:011o}\0").as_bytes());
    put(&mut h, 136, format!("{mtime_s:011o}\0").as_bytes());
    put(&mut h, 148, b"        ");
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    put(&mut h, 345, &prefix.as_bytes()[..prefix.len().min(155)]);
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    h
}

/// Zero bytes after `size` bytes of data, up to the next block.
pub fn tar_padding(size: u64) -> usize {
    (BLOCK - (size as usize % BLOCK)) % BLOCK
}

/// The end of a tar archive: two zero blocks.
pub const TAR_END: [u8; 2 * BLOCK] = [0u8; 2 * BLOCK];

/// One entry read from an archive.
#[derive(Debug)]
pub struct Entry<'a> {
    pub name: String,
    pub data: &'a [u8],
}

/// Reads a tar file's entries; an error says where it stops making sense.
pub fn read_tar(bytes: &[u8]) -> Result<Vec<Entry<'_>>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let Some(h) = bytes.get(at..at + BLOCK) else {
            return Err(format!(
                "the archive ends at byte {} inside its entry list (it is truncated)",
                bytes.len()
            ));
        };
        if h.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).trim().to_string()
        };
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        if u32::from_str_radix(&field(148..156), 8).ok() != Some(sum) {
            return Err(format!("the entry header at byte {at} is damaged"));
        }
        let (base, prefix) = (field(0..100), field(345..500));
        let name = if prefix.is_empty() {
            base
        } else {
            format!("{prefix}/{base}")
        };
        let size = u64::from_str_radix(&field(124..136), 8)
            .map_err(|_| format!("entry `{name}` has a damaged size"))?;
        let start = at + BLOCK;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| format!("entry `{name}` is cut short (the archive is truncated)"))?;
        out.push(Entry {
            name,
            data: &bytes[start..end],
        });
        at = end + tar_padding(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_entries_round_trip() {
        let mut a = Vec::new();
        for (name, data) in [("x/a.json", &b"{}"[..]), ("x/b", &[7u8; 700][..])] {
            a.extend_from_slice(&tar_header(name, data.len() as u64, 0));
            a.extend_from_slice(data);
            a.extend(std::iter::repeat_n(0u8, tar_padding(data.len() as u64)));
        }
        a.extend_from_slice(&TAR_END);
        let e = read_tar(&a).expect("reads");
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].name.as_str(), e[0].data), ("x/a.json", &b"{}"[..]));
        assert_eq!(e[1].data.len(), 700);
        assert!(read_tar(&a[..600]).is_err(), "truncated");
        let mut bad = a.clone();
        bad[5] ^= 1;
        assert!(matches!(read_tar(&bad), Err(e) if e.contains("damaged")));
    }
}
